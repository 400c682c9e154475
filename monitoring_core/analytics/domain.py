"""Where a series' values can lie, and forecasts and probabilities that stay there.

A load average, a byte count or a rate cannot go below 0, a ratio leaves [0, 1] never, a
percentage [0, 100] never. Each series gets a domain, inferred from its type, unit, name and
history (or set by an operator), and its forecasts are censored to it: each quantile of the
model's predictive distribution (the point forecast, the interval bounds) is clipped to the
domain, which is exactly the quantile of the distribution whose mass beyond a bound sits at
the bound. Far from a bound nothing changes, calibrated intervals included; near one, the
point and both intervals stay inside, and so does every probability.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr

from .forecasting import Forecast, PredictionInterval

FREE, NON_NEGATIVE, UNIT_INTERVAL, PERCENT = "free", "non_negative", "unit_interval", "percent"
BOUNDS: dict[str, tuple[float, float]] = {
    FREE: (-math.inf, math.inf),
    NON_NEGATIVE: (0.0, math.inf),
    UNIT_INTERVAL: (0.0, 1.0),
    PERCENT: (0.0, 100.0),
}
# Names (or metadata units) that say what a metric measures. Checked against the history:
# a name that the data contradicts (a "_ratio" at 3.5) decides nothing.
_RATIO = re.compile(r"(^|[_:])ratio$|Ratio$")
_PERCENT = re.compile(r"(^|[_:])percent(age)?$|Percent(age)?$|(^|[_:])pct$")
_NON_NEGATIVE = re.compile(
    r"(^|[_:])(bytes|seconds|total|count|sum|bucket|celsius|joules|volts|amperes|watts|hertz)$"
    r"|(^|[_:])load\d*$|^node_load"
)
_UNITS = {
    "ratio": UNIT_INTERVAL,
    "percent": PERCENT,
    "bytes": NON_NEGATIVE,
    "seconds": NON_NEGATIVE,
}


@dataclass(frozen=True)
class Domain:
    """A series' domain and what decided it: ``setting``, ``type``, ``unit``, ``name``,
    ``history`` or ``default`` (free)."""

    name: str
    source: str

    @property
    def bounds(self) -> tuple[float, float]:
        return BOUNDS[self.name]

    def to_dict(self) -> dict[str, str]:
        return {"domain": self.name, "domain_source": self.source}


def infer_domain(
    metric: str,
    values: ArrayLike,
    *,
    transform: str = "raw",
    unit: str | None = None,
    override: str | None = None,
) -> Domain:
    """The domain of one series.

    In order: the operator's ``override``; a counter analysed as a rate (``transform ==
    "rate"``) is non-negative; the metadata ``unit``, then the name's suffix (``_ratio``,
    ``_percent``, ``_bytes``, ``_seconds``, ``load``...), each only where the history agrees;
    a history that never went below 0 is non-negative; else free.
    """
    if override is not None:
        if override not in BOUNDS:
            raise ValueError(f"unknown domain {override!r}; one of {', '.join(BOUNDS)}")
        return Domain(override, "setting")
    if transform == "rate":
        return Domain(NON_NEGATIVE, "type")
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    lowest = float(x.min()) if x.size else math.nan
    highest = float(x.max()) if x.size else math.nan

    def fits(domain: str) -> bool:
        lower, upper = BOUNDS[domain]
        return x.size == 0 or (lowest >= lower and highest <= upper)

    by_unit = _UNITS.get((unit or "").lower())
    if by_unit is not None and fits(by_unit):
        return Domain(by_unit, "unit")
    for pattern, domain in (
        (_RATIO, UNIT_INTERVAL),
        (_PERCENT, PERCENT),
        (_NON_NEGATIVE, NON_NEGATIVE),
    ):
        if pattern.search(metric) and fits(domain):
            return Domain(domain, "name")
    if x.size and lowest >= 0.0:
        return Domain(NON_NEGATIVE, "history")
    return Domain(FREE, "default")


def probability_outside_within(
    mu: float, sigma: float, lo: float | None, hi: float | None, domain: Domain
) -> float:
    """P(value < lo or value > hi) when the value is N(mu, sigma^2) censored to the domain.

    The mass beyond a domain bound sits at the bound, so a range bound the domain never
    reaches (``lo <= lower``, ``hi >= upper``) has probability 0: no warning below a minimum
    of 0 on a non-negative metric. Otherwise the normal tail beyond it.
    """
    lower, upper = domain.bounds
    # A bound at or beyond the domain's edge can never be crossed: as if it were open.
    low = lo if lo is not None and lo > lower else None
    high = hi if hi is not None and hi < upper else None
    if not sigma > 0:
        x = min(max(mu, lower), upper)
        return float((low is not None and x < low) or (high is not None and x > high))
    p = 0.0
    if low is not None:
        p += float(ndtr((low - mu) / sigma))
    if high is not None:
        p += float(ndtr((mu - high) / sigma))
    return min(1.0, p)


def bound_forecast(result: Forecast, domain: Domain) -> Forecast:
    """The forecast censored to the domain: each point's value and interval bounds clipped.

    ``sigma`` stays the model's. A free domain, or a forecast without points, is returned as
    it is.
    """
    lower, upper = domain.bounds
    if domain.name == FREE or not result.points:
        return result

    def clip(x: float | None) -> float | None:
        return None if x is None else min(max(x, lower), upper)

    points = tuple(
        replace(
            point,
            value=clip(point.value),
            intervals=tuple(
                PredictionInterval(level=i.level, lower=clip(i.lower), upper=clip(i.upper))
                for i in point.intervals
            ),
        )
        for point in result.points
    )
    return replace(result, points=points)
