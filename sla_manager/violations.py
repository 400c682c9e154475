"""Past and predicted violations of one series against an allowed range (pure functions).

Past violations
---------------
The samples are those of one range query at the step, ending at an aligned time ``end``.
A window ``w`` holds the samples with ``end - w <= t <= end``, both ends included as in
Prometheus 2's ``[w:step]`` subqueries and in the ETL (``monitoring_core.windows``; 1h at
15 s is 241 samples). A sample is outside when it is below ``min`` or
above ``max`` (a missing bound is open); NaN samples count as missing, as PromQL's ``>``
drops them, while +Inf and -Inf are present and outside a bound on their side (PromQL's
``+Inf > max`` is true). Each sample stands for one step of time, so the seconds in
violation are the samples outside times the step. An episode is a run of samples outside
with no sample in range between them and no missing sample (a gap of more than one step
ends it: what happened in the gap is unknown). The error budget figure is the share of the present
samples that were within range.

Predicted violations
--------------------
The series as 1-minute means (``to_buckets``, complete minutes only), the shared
``forecast`` at the period ``estimate_period`` finds, and per forecast minute the
probability of falling outside the range under the forecast's normal distribution
(``probability_outside``). A minute is a likely violation when that probability is at
least ``likely_probability`` (0.5 by default: a violation is more likely than not).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitoring_core.analytics import (
    estimate_period,
    finite_or_none,
    forecast,
    probability_outside,
    to_buckets,
)
from monitoring_core.analytics._results import ResultMixin

BUCKET = "1min"
MIN_PERIOD_BUCKETS = 4
MAX_PERIOD_BUCKETS = 240


@dataclass(frozen=True)
class WindowViolations(ResultMixin):
    """Violations of one series in one window."""

    window: str
    samples: int
    samples_outside: int
    samples_below: int
    samples_above: int
    episodes: int
    seconds_outside: float
    within_range_ratio: float | None  # error budget: share of present samples within range
    worst_value: float | None  # the sample furthest beyond (or nearest to) a bound
    worst_at: pd.Timestamp | None
    worst_excess: float | None  # how far beyond its bound; negative: the smallest margin
    last_value: float | None
    last_at: pd.Timestamp | None
    in_range_now: bool | None  # the last sample of the window is within range
    last_episode_start: pd.Timestamp | None  # when the latest episode in the window began


@dataclass(frozen=True)
class PredictedMinute(ResultMixin):
    at: pd.Timestamp | None  # start of the forecast minute
    value: float | None
    lower_80: float | None
    upper_80: float | None
    lower_95: float | None
    upper_95: float | None
    probability_outside: float | None


@dataclass(frozen=True)
class Prediction(ResultMixin):
    """The forecast minutes of one series and when a violation first becomes likely."""

    model: str | None
    period_minutes: int | None
    period_reason: str | None
    minutes: tuple[PredictedMinute, ...]
    max_probability: float | None
    likely: bool
    first_likely_violation: pd.Timestamp | None
    reason: str | None = None
    detail: str | None = None


def outside_mask(values: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    """True where a value is below ``low`` or above ``high``; NaN is never outside."""
    mask = np.zeros(values.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        if low is not None:
            mask |= values < low
        if high is not None:
            mask |= values > high
    return mask


def excess(values: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    """How far each value lies beyond the nearer bound (negative inside, NaN for NaN)."""
    below = (low - values) if low is not None else np.full(values.shape, -np.inf)
    above = (values - high) if high is not None else np.full(values.shape, -np.inf)
    return np.maximum(below, above)


def assess_windows(
    values: pd.Series,
    end: pd.Timestamp,
    windows: Sequence[tuple[str, float]],
    step_seconds: float,
    low: float | None,
    high: float | None,
) -> list[WindowViolations]:
    """Violations in each window ``(name, seconds)`` ending at ``end``, from one sample series."""
    stamps = pd.DatetimeIndex(values.index).as_unit("ns").asi8
    v = values.to_numpy(dtype=float, na_value=np.nan)
    # Only NaN is missing: PromQL's `+Inf > max` and `-Inf < min` are true, so an infinite
    # sample is present and outside (the masks below see to it).
    present = ~np.isnan(v)
    stamps, v = stamps[present], v[present]
    order = np.argsort(stamps, kind="stable")
    stamps, v = stamps[order], v[order]
    end_ns = pd.Timestamp(end).as_unit("ns").value
    keep = stamps <= end_ns
    stamps, v = stamps[keep], v[keep]

    below = outside_mask(v, low, None) if low is not None else np.zeros(v.shape, dtype=bool)
    above = outside_mask(v, None, high) if high is not None else np.zeros(v.shape, dtype=bool)
    outside = below | above
    beyond = excess(v, low, high)
    step_ns = int(round(step_seconds * 1e9))
    # A sample starts an episode when it is outside and the one before is in range or
    # more than one step (plus rounding slack) earlier.
    follows = np.zeros(v.shape, dtype=bool)
    if v.size > 1:
        follows[1:] = outside[:-1] & (np.diff(stamps) <= step_ns * 3 // 2)

    results = []
    for name, seconds in windows:
        first = int(np.searchsorted(stamps, end_ns - int(round(seconds * 1e9)), side="left"))
        sl = slice(first, None)
        n = int(v.size - first)
        out_w = outside[sl]
        count = int(out_w.sum())
        starts = out_w & ~follows[sl]
        if n and out_w[0]:
            starts[0] = True  # an episode running into the window counts once within it
        worst = first + int(np.argmax(beyond[sl])) if n else None
        episode_starts = np.flatnonzero(starts)
        results.append(
            WindowViolations(
                window=name,
                samples=n,
                samples_outside=count,
                samples_below=int(below[sl].sum()),
                samples_above=int(above[sl].sum()),
                episodes=int(starts.sum()),
                seconds_outside=count * step_seconds,
                within_range_ratio=(n - count) / n if n else None,
                worst_value=float(v[worst]) if worst is not None else None,
                worst_at=_stamp(stamps[worst]) if worst is not None else None,
                worst_excess=finite_or_none(beyond[worst]) if worst is not None else None,
                last_value=float(v[-1]) if n else None,
                last_at=_stamp(stamps[-1]) if n else None,
                in_range_now=bool(not outside[-1]) if n else None,
                last_episode_start=(
                    _stamp(stamps[first + episode_starts[-1]]) if episode_starts.size else None
                ),
            )
        )
    return results


def predict_violations(
    values: pd.Series,
    end: pd.Timestamp,
    step_seconds: float,
    low: float | None,
    high: float | None,
    horizon_minutes: int,
    likely_probability: float = 0.5,
) -> Prediction:
    """Forecast the next ``horizon_minutes`` 1-minute means and their chance of violation."""
    # Only complete minutes: the minute still running has a partial mean (biased on a ramp).
    width_ns = int(pd.Timedelta(BUCKET).value)
    end_ns = pd.Timestamp(end).as_unit("ns").value + int(round(step_seconds * 1e9))
    limit = pd.Timestamp(end_ns // width_ns * width_ns, unit="ns", tz="UTC")
    history = values[pd.DatetimeIndex(values.index) < limit]
    buckets = to_buckets(history, BUCKET)
    means = buckets.frame["mean"]
    if means.empty:
        return Prediction(None, None, None, (), None, False, None, "empty", "no sample to forecast")
    estimate = estimate_period(
        means.to_numpy(), min_period=MIN_PERIOD_BUCKETS, max_period=MAX_PERIOD_BUCKETS
    )
    result = forecast(means, horizon_minutes, estimate.period)
    if not result.points:
        return Prediction(
            None,
            estimate.period,
            estimate.reason,
            (),
            None,
            False,
            None,
            result.reason,
            result.detail,
        )
    minutes = []
    for point in result.points:
        intervals = {round(i.level, 2): i for i in point.intervals}
        p = probability_outside(point, low, high) if point.value is not None else None
        minutes.append(
            PredictedMinute(
                at=point.timestamp,
                value=point.value,
                lower_80=intervals[0.8].lower,
                upper_80=intervals[0.8].upper,
                lower_95=intervals[0.95].lower,
                upper_95=intervals[0.95].upper,
                probability_outside=p,
            )
        )
    probabilities = [m.probability_outside for m in minutes if m.probability_outside is not None]
    first = next(
        (m.at for m in minutes if (m.probability_outside or 0.0) >= likely_probability), None
    )
    likely = any(p >= likely_probability for p in probabilities)
    return Prediction(
        model=result.model,
        period_minutes=estimate.period,
        period_reason=estimate.reason,
        minutes=tuple(minutes),
        max_probability=max(probabilities) if probabilities else None,
        likely=likely,
        first_likely_violation=first,
        reason=result.reason,
        detail=result.detail,
    )


def _stamp(ns: int) -> pd.Timestamp:
    return pd.Timestamp(int(ns), unit="ns", tz="UTC")
