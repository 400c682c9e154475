"""Past and predicted violations of one series against an allowed range (pure functions).

Past violations
---------------
The samples are the raw samples Prometheus stored, read once for the longest window ending
at an aligned time ``end`` (``PrometheusClient.read_samples``; an expression that is not a
plain selector is evaluated on the step grid instead). A window ``w`` holds the samples with
``end - w <= t <= end``, both ends included, as the ETL's (``monitoring_core.windows``).
Out-of-order and duplicate timestamps are put right first (``analytics.clean_samples``,
which also learns the scrape interval: the median spacing). A sample is outside when it is
below ``min`` or above ``max`` (a missing bound is open); NaN samples count as missing, as
PromQL's ``>`` drops them, while +Inf and -Inf are present and outside a bound on their side
(PromQL's ``+Inf > max`` is true).

Seconds outside are time-weighted: a sample stands for the time until the next sample (the
last one: until ``end``). Across a gap, a spacing of more than 1.5 scrape intervals, it
stands for one interval only, as Prometheus' staleness marker at the next missed scrape
would end it; the rest of the gap, and the time before the window's first sample, is
``seconds_unknown`` (neither in nor outside the range). An episode is a run of samples
outside with no sample in range between them and no gap (what happened in a gap is
unknown). The error budget figure is the share of the present samples that were within
range. Each window says what its samples' coverage found (``reason``: ``ended``, ``gaps``,
``duplicate_timestamps``, ``out_of_order``, ``too_few_samples``).

Predicted violations
--------------------
The series as 1-minute means (``to_buckets``, complete minutes only), the shared
``forecast`` at the period ``estimate_period`` finds (looked for up to a third of the
history: a longer one leaves too few cycles to fit), censored to the series' domain
(``infer_domain``: a load or a byte count never goes below 0). Without a season, an AR(1)
that reverts to the series' mean replaces the smoothing forecast when its multi-step error
from the series' own past origins is lower; else Holt's trend is kept only when its error
is lower than the last minute carried on (a random walk) beyond chance
(``sla_manager.reversion``). Per forecast minute, the probability of being outside the
range; over the whole horizon, the probability of leaving it at least once and the first
exit's median and 80 % range (``exit_forecast``: paths whose steps move together as the
model's own past forecast errors did, so that a drift towards a bound is seen even when no
single minute is more likely out than in, and a wave the model did not capture is not taken
for independent noise at every minute). A violation is *likely* when that exit probability
is at least ``likely_probability``. A series whose latest sample is already outside is
*violating*, never *likely*: a prediction is about what has not happened yet.
Forecast minutes start at the current minute, never before, even when the latest minutes
have no samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from monitoring_core.analytics import (
    clean_samples,
    estimate_period,
    forecast,
    to_buckets,
)
from monitoring_core.analytics.domain import (
    Domain,
    bound_forecast,
    infer_domain,
    probability_outside_within,
)
from monitoring_core.analytics.exits import exit_forecast
from monitoring_core.analytics.forecasting import Forecast, ForecastPoint, PredictionInterval
from monitoring_core.analytics.samples import GAP_FACTOR
from monitoring_core.analytics.seasonality import ANCHORED_MAX_HORIZON_MINUTES
from monitoring_core.json_values import ResultMixin, finite_or_none
from sla_manager.reversion import RANDOM_WALK, Reversion, beats, fit_reversion, smoothing_losses

BUCKET = "1min"
MIN_PERIOD_BUCKETS = 4
MAX_PERIOD_BUCKETS = 240
# A season is looked for only up to a third of the history: Holt-Winters needs two full
# periods and a few minutes more, and a longer one would leave the forecast without season.
HISTORY_PER_PERIOD = 3
MEAN_REVERTING = "ar1_mean_reverting"
NAIVE = "random_walk"
# A forecast looks ahead at most half the history it learned from: a 30-minute horizon needs
# an hour of complete minutes (fewer: no prediction, and the reason says why).
HISTORY_PER_HORIZON = 2
HISTORY_TOO_SHORT = "history_too_short"


@dataclass(frozen=True)
class WindowViolations(ResultMixin):
    """Violations of one series in one window."""

    window: str
    samples: int
    samples_outside: int
    samples_below: int
    samples_above: int
    episodes: int
    seconds_outside: float  # time-weighted: see hold_seconds
    seconds_unknown: float  # the window's time no sample stands for (before the first, gaps)
    interval_seconds: float | None  # the scrape interval learned from the samples
    within_range_ratio: float | None  # error budget: share of present samples within range
    worst_value: float | None  # the sample furthest beyond (or nearest to) a bound
    worst_at: pd.Timestamp | None
    worst_excess: float | None  # how far beyond its bound; negative: the smallest margin
    last_value: float | None
    last_at: pd.Timestamp | None
    in_range_now: bool | None  # the last sample is within range; None: none, or it ended
    last_episode_start: pd.Timestamp | None  # when the latest episode in the window began
    reason: str | None = None  # what the samples' coverage found (analytics.clean_samples)
    detail: str | None = None


@dataclass(frozen=True)
class PredictedMinute(ResultMixin):
    at: pd.Timestamp | None  # start of the forecast minute
    value: float | None
    lower_80: float | None
    upper_80: float | None
    lower_95: float | None
    upper_95: float | None
    probability_outside: float | None


# What a prediction says of the horizon.
VIOLATING, LIKELY, UNLIKELY, UNKNOWN = "violating", "likely", "unlikely", "unknown"


@dataclass(frozen=True)
class Prediction(ResultMixin):
    """The forecast minutes of one series, and whether and when it will leave its range.

    ``state``: ``violating`` (the latest sample is outside: a violation, not a prediction),
    ``likely`` (``exit_probability >= likely_probability``), ``unlikely`` or ``unknown`` (no
    forecast). ``first_likely_violation`` is the first exit's median minute when likely,
    ``first_exit_earliest``/``first_exit_latest`` its 80 % range; none is ever in the past.
    """

    model: str | None
    period_minutes: int | None
    period_reason: str | None
    minutes: tuple[PredictedMinute, ...]
    max_probability: float | None
    likely: bool
    first_likely_violation: pd.Timestamp | None
    reason: str | None = None
    detail: str | None = None
    state: str = UNKNOWN
    exit_probability: float | None = None
    first_exit_earliest: pd.Timestamp | None = None
    first_exit_latest: pd.Timestamp | None = None
    horizon_minutes: int | None = None
    domain: str | None = None
    domain_source: str | None = None


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
    """How far each value lies beyond the nearer bound (negative inside, NaN for NaN); a
    difference beyond the float range is infinite (and reported as null)."""
    with np.errstate(over="ignore", invalid="ignore"):
        below = (low - values) if low is not None else np.full(values.shape, -np.inf)
        above = (values - high) if high is not None else np.full(values.shape, -np.inf)
        return np.maximum(below, above)


def hold_seconds(stamps: np.ndarray, end_ns: int, interval: float | None) -> np.ndarray:
    """How long each sample (sorted ns stamps) stands for, in seconds, before ``end_ns``.

    A sample holds until the next one, or until ``end_ns`` for the last; across a gap (more
    than ``GAP_FACTOR`` intervals) only for one interval, where Prometheus' staleness marker
    would end it; the rest of the gap is unknown. Without an interval (fewer than two
    samples in the series) nothing is known: 0.
    """
    if interval is None or stamps.size == 0:
        return np.zeros(stamps.shape)
    spacing = np.diff(np.append(stamps, end_ns)) / 1e9
    return np.where(spacing <= GAP_FACTOR * interval, spacing, interval)


def assess_windows(
    values: pd.Series,
    end: pd.Timestamp,
    windows: Sequence[tuple[str, float]],
    low: float | None,
    high: float | None,
    interval_seconds: float | None = None,
) -> list[WindowViolations]:
    """Violations in each window ``(name, seconds)`` ending at ``end``, from one sample series."""
    end_ns = pd.Timestamp(end).as_unit("ns").value
    clean, whole = clean_samples(values, pd.Timestamp(end), interval_seconds)
    interval = whole.interval_seconds
    stamps = pd.DatetimeIndex(clean.index).as_unit("ns").asi8
    v = clean.to_numpy(dtype=float, na_value=np.nan)
    keep = stamps <= end_ns
    stamps, v = stamps[keep], v[keep]
    # Only NaN is missing: PromQL's `+Inf > max` and `-Inf < min` are true, so an infinite
    # sample is present and outside (the masks below see to it).
    present = ~np.isnan(v)
    stamps, v = stamps[present], v[present]

    below = outside_mask(v, low, None) if low is not None else np.zeros(v.shape, dtype=bool)
    above = outside_mask(v, None, high) if high is not None else np.zeros(v.shape, dtype=bool)
    outside = below | above
    beyond = excess(v, low, high)
    hold = hold_seconds(stamps, end_ns, interval)
    # A sample starts an episode when it is outside and the one before is in range or a gap
    # away (what happened in the gap is unknown).
    follows = np.zeros(v.shape, dtype=bool)
    if v.size > 1 and interval is not None:
        follows[1:] = outside[:-1] & (np.diff(stamps) <= GAP_FACTOR * interval * 1e9)

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
        known = float(hold[sl].sum())
        # The window's coverage from the samples as given: its duplicates and disorder too.
        given = pd.DatetimeIndex(values.index)
        given = given.tz_localize("UTC") if given.tz is None else given
        since = pd.Timestamp(end) - pd.Timedelta(seconds=seconds)
        inside = (given >= since) & (given <= pd.Timestamp(end))
        _, coverage = clean_samples(values[inside], pd.Timestamp(end), interval)
        results.append(
            WindowViolations(
                window=name,
                samples=n,
                samples_outside=count,
                samples_below=int(below[sl].sum()),
                samples_above=int(above[sl].sum()),
                episodes=int(starts.sum()),
                seconds_outside=float(hold[sl][out_w].sum()),
                seconds_unknown=max(0.0, seconds - known),
                interval_seconds=interval,
                within_range_ratio=(n - count) / n if n else None,
                worst_value=float(v[worst]) if worst is not None else None,
                worst_at=_stamp(stamps[worst]) if worst is not None else None,
                worst_excess=finite_or_none(beyond[worst]) if worst is not None else None,
                last_value=float(v[-1]) if n else None,
                last_at=_stamp(stamps[-1]) if n else None,
                # A series that ended has no current value (Prometheus: stale): neither.
                in_range_now=(bool(not outside[-1]) if n and coverage.ended_at is None else None),
                last_episode_start=(
                    _stamp(stamps[first + episode_starts[-1]]) if episode_starts.size else None
                ),
                reason=coverage.reason,
                detail=coverage.detail,
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
    metric: str = "",
    domain: Domain | None = None,
) -> Prediction:
    """Forecast the next ``horizon_minutes`` 1-minute means, their chance of violation, and
    the chance and time of leaving the range within the horizon.

    ``metric`` names the series for its domain (see ``infer_domain``) unless ``domain`` is
    given.
    """
    # Only complete minutes: the minute still running has a partial mean (biased on a ramp).
    width = pd.Timedelta(BUCKET)
    width_ns = int(width.value)
    end_ns = pd.Timestamp(end).as_unit("ns").value + int(round(step_seconds * 1e9))
    limit = pd.Timestamp(end_ns // width_ns * width_ns, unit="ns", tz="UTC")
    history = values[pd.DatetimeIndex(values.index) < limit]
    buckets = to_buckets(history, BUCKET)
    means = buckets.frame["mean"]
    if means.empty:
        return Prediction(None, None, None, (), None, False, None, "empty", "no sample to forecast")
    minutes_seen = int(means.notna().sum())
    if minutes_seen < HISTORY_PER_HORIZON * horizon_minutes:
        return Prediction(
            None, None, None, (), None, False, None, HISTORY_TOO_SHORT,
            f"a {horizon_minutes}-minute horizon needs at least "
            f"{HISTORY_PER_HORIZON * horizon_minutes} minutes of history; the series has "
            f"{minutes_seen}" + (f" ({buckets.detail})" if buckets.detail else ""),
            horizon_minutes=horizon_minutes,
        )  # fmt: skip
    domain = domain or infer_domain(metric, history.to_numpy())
    longest = max(MIN_PERIOD_BUCKETS, min(MAX_PERIOD_BUCKETS, minutes_seen // HISTORY_PER_PERIOD))
    # Candidates are scored 5 minutes ahead whatever the horizon (scored at the SLA's own
    # horizon, skill fell at 30 and 60 minutes: docs/sla_manager.md, "Tried and not kept").
    estimate = estimate_period(
        means.to_numpy(),
        min_period=MIN_PERIOD_BUCKETS,
        max_period=longest,
        anchored=horizon_minutes <= ANCHORED_MAX_HORIZON_MINUTES,
    )
    # Minutes between the last complete minute with data and the current one are forecast
    # too (they shape the paths and widen the spread) but not reported: they are past.
    lag = max(int((limit - (means.index[-1] + width)) // width), 0)
    raw = forecast(means, horizon_minutes + lag, estimate.period, with_error_paths=True)
    raw, weights, paths = _season_less(raw, means.to_numpy(dtype=float), horizon_minutes)
    common: dict[str, Any] = {
        "model": raw.model,
        "period_minutes": estimate.period,
        "period_reason": estimate.reason,
        "horizon_minutes": horizon_minutes,
        **dict(zip(("domain", "domain_source"), (domain.name, domain.source), strict=True)),
    }
    if not raw.points:
        return Prediction(
            minutes=(), max_probability=None, likely=False, first_likely_violation=None,
            reason=raw.reason, detail=raw.detail, **common,
        )  # fmt: skip
    shown = bound_forecast(raw, domain).points[lag:]
    minutes = []
    for model_point, point in zip(raw.points[lag:], shown, strict=True):
        intervals = {round(i.level, 2): i for i in point.intervals}
        p = None
        if model_point.value is not None and model_point.sigma is not None:
            p = probability_outside_within(model_point.value, model_point.sigma, low, high, domain)
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
    floor, ceiling = domain.bounds
    exit = exit_forecast(
        np.array([p.value for p in raw.points], dtype=float),
        np.array([p.sigma for p in raw.points], dtype=float),
        alpha=raw.alpha or 0.0, beta=raw.beta, gamma=raw.gamma, period=raw.period,
        low=low, high=high, floor=floor, ceiling=ceiling, skip=lag, weights=weights,
        error_paths=paths,
    )  # fmt: skip
    latest = values[pd.DatetimeIndex(values.index) <= pd.Timestamp(end)].dropna().to_numpy()[-1:]
    violating = bool(outside_mask(latest, low, high).any())
    likely = not violating and exit.probability >= likely_probability
    state = VIOLATING if violating else LIKELY if likely else UNLIKELY

    def minute(step: float | None) -> pd.Timestamp | None:
        # Step 1 is the current minute; a fractional median rounds down to its minute.
        return None if step is None else limit + int(step - 1) * width

    return Prediction(
        minutes=tuple(minutes),
        max_probability=max(probabilities) if probabilities else None,
        likely=likely,
        first_likely_violation=minute(exit.first_exit_median) if likely else None,
        reason=raw.reason,
        detail=raw.detail,
        state=state,
        exit_probability=exit.probability,
        first_exit_earliest=minute(exit.first_exit_p10),
        first_exit_latest=minute(exit.first_exit_p90),
        **common,
    )


def _season_less(
    raw: Forecast, means: np.ndarray, horizon: int
) -> tuple[Forecast, np.ndarray | None, np.ndarray | None]:
    """Without a season: the AR(1) that reverts to the mean when its multi-step loss on the
    series' own history is lower than the smoothing forecast's; else Holt's trend only when
    it beats the random walk beyond chance (else the random walk); else ``raw`` unchanged
    (``sla_manager.reversion``).

    Returns the forecast, its paths' innovation weights (None: the smoothing model's) and
    its in-sample error paths (``exit_forecast`` learns the steps' correlation from them).
    """
    if raw.period is not None or not raw.points or raw.alpha is None:
        return raw, None, raw.error_paths
    gaps = np.flatnonzero(~np.isfinite(means))
    tail = means[gaps[-1] + 1 :] if gaps.size else means  # as forecast(): after the last gap
    steps = len(raw.points)
    losses = smoothing_losses(tail, raw.alpha, raw.beta, horizon)
    reverting = fit_reversion(tail, steps, horizon)
    if reverting is not None and np.nanmean(reverting.losses) < np.nanmean(losses):
        return _from_fit(raw, reverting, MEAN_REVERTING)
    if raw.beta is not None:  # a trend: chance, on a random walk, unless it beats one
        walk = fit_reversion(tail, steps, horizon, phi=RANDOM_WALK)
        if walk is not None and not beats(losses, walk.losses, horizon):
            return _from_fit(raw, walk, NAIVE)
    return raw, None, raw.error_paths


def _from_fit(raw: Forecast, fit: Reversion, model: str) -> tuple[Forecast, np.ndarray, np.ndarray]:
    """``raw``'s minutes with the AR(1) (or random walk) ``fit``'s centres and scales."""
    levels = [i.level for i in raw.points[0].intervals]
    points = tuple(
        ForecastPoint(
            point.timestamp,
            point.step,
            float(mu),
            float(sd),
            tuple(
                PredictionInterval(lv, float(mu - z * sd), float(mu + z * sd))
                for lv, z in zip(levels, norm.ppf((1 + np.array(levels)) / 2), strict=True)
            ),
        )
        for point, mu, sd in zip(raw.points, fit.values, fit.sigmas, strict=True)
    )
    chosen = replace(raw, model=model, alpha=None, beta=None, gamma=None, points=points)
    return chosen, fit.weights, fit.error_paths


def _stamp(ns: int) -> pd.Timestamp:
    return pd.Timestamp(int(ns), unit="ns", tz="UTC")
