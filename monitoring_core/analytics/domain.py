"""Where a series' values can lie, and forecasts and probabilities that stay there.

A load average, a byte count or a rate cannot go below 0, a ratio leaves [0, 1] never, a
percentage [0, 100] never. Each series gets a domain, inferred from its type, unit, name and
history (or set by an operator), and its forecasts are the model's normal predictive
distribution truncated to the domain: far from a bound nothing changes; near one, the point
forecast (the median) and both intervals stay inside it, and so does every probability.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri

from .forecasting import Forecast, PredictionInterval

FREE, NON_NEGATIVE, UNIT_INTERVAL, PERCENT = "free", "non_negative", "unit_interval", "percent"
BOUNDS: dict[str, tuple[float, float]] = {
    FREE: (-math.inf, math.inf),
    NON_NEGATIVE: (0.0, math.inf),
    UNIT_INTERVAL: (0.0, 1.0),
    PERCENT: (0.0, 100.0),
}
TRUNCATED_NORMAL = "truncated_normal"
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


def truncated_quantile(
    q: ArrayLike, mu: ArrayLike, sigma: ArrayLike, lower: float, upper: float
) -> np.ndarray:
    """Quantile ``q`` of N(mu, sigma^2) truncated to [lower, upper].

    ``mu + sigma Phi^-1(Phi(a) + q (Phi(b) - Phi(a)))`` with ``a, b`` the standardised
    bounds; clipped to the bounds against rounding. ``sigma == 0`` gives ``mu`` clipped.
    """
    q, mu, sigma = (np.asarray(v, dtype=float) for v in (q, mu, sigma))
    with np.errstate(divide="ignore", invalid="ignore"):
        a = ndtr((lower - mu) / sigma)
        b = ndtr((upper - mu) / sigma)
        p = a + q * (b - a)
        value = mu + sigma * ndtri(p)
    # No mass inside the domain (mu many sigmas outside): the nearest bound.
    value = np.where(b - a > 0, value, np.where(mu < lower, lower, upper))
    value = np.where(sigma > 0, value, mu)
    return np.clip(value, lower, upper)


def probability_outside_within(
    mu: float, sigma: float, lo: float | None, hi: float | None, domain: Domain
) -> float:
    """P(value < lo or value > hi) when the value is N(mu, sigma^2) truncated to the domain.

    A bound the domain never reaches has probability 0 (no warning below a minimum of 0 on
    a non-negative metric).
    """
    lower, upper = domain.bounds
    if not sigma > 0:
        x = min(max(mu, lower), upper)
        return float((lo is not None and x < lo) or (hi is not None and x > hi))
    cdf_lower, cdf_upper = float(ndtr((lower - mu) / sigma)), float(ndtr((upper - mu) / sigma))
    mass = cdf_upper - cdf_lower
    if mass <= 0.0:
        x = lower if mu < lower else upper
        return float((lo is not None and x < lo) or (hi is not None and x > hi))
    below = above = 0.0
    if lo is not None and lo > lower:
        below = float(ndtr((min(lo, upper) - mu) / sigma)) - cdf_lower
    if hi is not None and hi < upper:
        above = cdf_upper - float(ndtr((max(hi, lower) - mu) / sigma))
    return min(1.0, max(0.0, (below + above) / mass))


def bound_forecast(result: Forecast, domain: Domain) -> Forecast:
    """The forecast with its predictive distribution truncated to the domain.

    Each point's value becomes the truncated median and each interval the truncated central
    interval of the same level; ``sigma`` stays the model's (untruncated) scale. A free
    domain, or a forecast without points, is returned as it is.
    """
    lower, upper = domain.bounds
    if domain.name == FREE or not result.points:
        return result
    points = []
    for point in result.points:
        if point.value is None or point.sigma is None:
            points.append(point)
            continue
        mu, sigma = point.value, point.sigma
        value = float(truncated_quantile(0.5, mu, sigma, lower, upper))
        intervals = tuple(
            PredictionInterval(
                level=interval.level,
                lower=float(truncated_quantile((1 - interval.level) / 2, mu, sigma, lower, upper)),
                upper=float(truncated_quantile((1 + interval.level) / 2, mu, sigma, lower, upper)),
            )
            for interval in point.intervals
        )
        points.append(replace(point, value=value, intervals=intervals))
    return replace(result, points=tuple(points))
