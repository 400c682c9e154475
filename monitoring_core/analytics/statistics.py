"""Descriptive statistics of one series window, matching Prometheus' ``*_over_time``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from monitoring_core.json_values import ResultMixin, finite_or_none

from ._results import EMPTY, NON_FINITE, TOO_FEW_SAMPLES, finite_values, quiet_numpy

PERCENTILES = (0.50, 0.95, 0.99)


@dataclass(frozen=True)
class Statistics(ResultMixin):
    """Statistics of the finite samples of a window.

    Attributes
    ----------
    count : int
        Number of finite samples used.
    max, min, mean : float or None
        As Prometheus ``max_over_time``, ``min_over_time``, ``avg_over_time``.
    std : float or None
        Sample standard deviation (ddof=1, as pandas ``Series.std``).  Prometheus'
        ``stddev_over_time`` is the population one: ``std * sqrt((n - 1) / n)``.
    p50, p95, p99 : float or None
        As Prometheus ``quantile_over_time`` (see ``prometheus_quantiles``).
    non_finite : int
        Samples dropped because they were NaN or infinite.
    reason : str or None
        Why a field is None: ``"empty"`` (no finite sample), ``"too_few_samples"``
        (one sample: no sample std) or ``"non_finite"`` (values so large that the
        mean or std overflow).
    detail : str or None
        The same in words.
    """

    count: int
    max: float | None
    min: float | None
    mean: float | None
    std: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    non_finite: int = 0
    reason: str | None = None
    detail: str | None = None


def prometheus_quantiles(x: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """Quantiles at Prometheus' ``quantile_over_time`` ranks, without overflow.

    Rank ``r = q (n - 1)`` between the order statistics ``lo = floor(r)`` and
    ``hi = min(lo + 1, n - 1)``, weight ``w = r - lo`` (promql ``quantile``; numpy's default
    ``'linear'`` method, Hyndman and Fan's type 7, has the same rank). Prometheus then takes
    ``x[lo] (1 - w) + x[hi] w``; numpy ``x[lo] + (x[hi] - x[lo]) w`` (from the upper end when
    ``w >= 0.5``), which is monotone in ``q`` but overflows when the difference leaves the
    float range (``[1e308, -1e308]``: numpy's median is NaN, Prometheus' 0). Here: numpy's
    interpolation while the difference is finite (the two agree to rounding), Prometheus'
    weighted sum when it is not.
    """
    ordered = np.sort(x)
    n = ordered.size
    out = []
    for q in qs:
        rank = q * (n - 1)
        lo = max(0, int(np.floor(rank)))
        hi = min(n - 1, lo + 1)
        w = rank - np.floor(rank)
        a, b = ordered[lo], ordered[hi]
        diff = b - a
        if np.isfinite(diff):
            value = a + diff * w if w < 0.5 else b - diff * (1 - w)
        else:
            value = a * (1 - w) + b * w
        out.append(float(value))
    return out


@quiet_numpy
def compute_statistics(values: ArrayLike) -> Statistics:
    """Compute max, min, mean, sample std, count and the 50/95/99th percentiles.

    Method: NaN and infinite samples are dropped (and counted); the mean and the
    two-pass sample standard deviation (ddof=1) are numpy's; percentiles are
    ``prometheus_quantiles``: Prometheus' ``quantile_over_time`` formula.

    Parameters
    ----------
    values : array_like
        The samples of one window, in any order.

    Returns
    -------
    Statistics
        Values, or ``reason`` ``"empty"`` / ``"too_few_samples"`` for the fields
        that cannot be computed.  Never raises on numeric input.
    """
    x, dropped = finite_values(values)
    n = int(x.size)
    if n == 0:
        return Statistics(
            count=0,
            max=None,
            min=None,
            mean=None,
            std=None,
            p50=None,
            p95=None,
            p99=None,
            non_finite=dropped,
            reason=EMPTY,
            detail="no finite sample in the window",
        )
    mean = float(x.mean())
    p50, p95, p99 = prometheus_quantiles(x, PERCENTILES)
    reason = detail = None
    if n == 1:
        std = None
        reason, detail = TOO_FEW_SAMPLES, "one sample: the sample standard deviation needs two"
    else:
        std = float(x.std(ddof=1))
    fields = {
        "max": finite_or_none(x.max()),
        "min": finite_or_none(x.min()),
        "mean": finite_or_none(mean),
        "std": finite_or_none(std),
        "p50": finite_or_none(p50),
        "p95": finite_or_none(p95),
        "p99": finite_or_none(p99),
    }
    overflowed = [k for k, v in fields.items() if v is None and not (k == "std" and n == 1)]
    if overflowed:
        reason = NON_FINITE
        detail = f"{', '.join(overflowed)} overflowed the float range"
    return Statistics(count=n, non_finite=dropped, reason=reason, detail=detail, **fields)
