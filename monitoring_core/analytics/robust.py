"""Robust pre-filters for bucketed series: a Hampel filter for spikes, a moving-median detrend."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter

# Hampel filter: a bucket is an outlier when it is further than HAMPEL_SIGMAS robust
# standard deviations (1.4826 x the median absolute residual, over the whole series)
# from the median of the HAMPEL_HALF_WINDOW buckets either side.  6 sigma: Gaussian
# noise almost never trips it (2e-9 per bucket), a spike at a few times the noise does.
HAMPEL_HALF_WINDOW = 3
HAMPEL_SIGMAS = 6.0
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Cleaned:
    """A series with its outliers replaced, and where they were."""

    values: np.ndarray
    outliers: np.ndarray  # bool mask, same shape as ``values``

    @property
    def count(self) -> int:
        return int(self.outliers.sum())


def _extreme(x: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Where ``x`` is a local extreme in the direction of its residual ``r``: a spike is; a
    bucket half-way down a sharp seasonal drop (e.g. a sawtooth's) is not, though far
    from its median."""
    padded = np.concatenate((x[..., :1], x, x[..., -1:]), axis=-1)
    up = (x >= padded[..., :-2]) & (x >= padded[..., 2:])
    down = (x <= padded[..., :-2]) & (x <= padded[..., 2:])
    return np.where(r > 0.0, up, down)


def _hampel_pass(x: np.ndarray, size: int, n_sigmas: float) -> Cleaned:
    shape = (1, size) if x.ndim == 2 else (size,)
    med = median_filter(x, size=shape, mode="nearest")
    r = x - med
    # Noise scale: the larger of the MAD of r and of the first differences (/ sqrt 2).
    # Both estimate the noise sd of white noise; the second grows with the series'
    # local slope, where the running median misses turning points (a sawtooth's top).
    scale = MAD_TO_SIGMA * np.maximum(
        np.median(np.abs(r), axis=-1, keepdims=True),
        np.median(np.abs(np.diff(x, axis=-1)), axis=-1, keepdims=True) / math.sqrt(2.0),
    )
    with np.errstate(invalid="ignore"):
        far = (np.abs(r) > n_sigmas * scale) & (scale > 0.0) & np.isfinite(scale)
    mask = far & _extreme(x, r)
    if not mask.any():
        return Cleaned(x, mask)
    return Cleaned(np.where(mask, med, x), mask)


def hampel(
    values: np.ndarray,
    *,
    half_window: int = HAMPEL_HALF_WINDOW,
    n_sigmas: float = HAMPEL_SIGMAS,
) -> Cleaned:
    """Replace spikes by the rolling median (Hampel filter with a global MAD scale).

    Method: ``med`` = centred running median over ``2 * half_window + 1`` values
    (edges repeat the end values); residual ``r = x - med``; scale ``s = 1.4826 *
    max(median |r|, median |diff x| / sqrt 2)`` over the series (one scale: a local
    MAD over 7 values is too noisy; the differences widen it where the series is steep);
    values with ``|r| > n_sigmas * s`` that are also a local maximum (above the
    median) or minimum (below it) are replaced by ``med``.  Two passes, so that a
    spike two buckets wide goes too.  The running median keeps steps (level shifts)
    and smooth seasons; only isolated excursions go.  When more than half the
    residuals are 0 (``s == 0``: a flat or integer-valued series) nothing is
    replaced: there is no scale to judge by.  Works along the last axis of a 1-D or
    2-D array.
    """
    x = np.asarray(values, dtype=float)
    size = 2 * half_window + 1
    if x.shape[-1] < size:
        return Cleaned(x, np.zeros(x.shape, dtype=bool))
    first = _hampel_pass(x, size, n_sigmas)
    if not first.outliers.any():
        return first
    second = _hampel_pass(first.values, size, n_sigmas)
    return Cleaned(second.values, first.outliers | second.outliers)


def moving_median(values: np.ndarray, window: int) -> np.ndarray:
    """Centred running median over ``window`` values (odd; edges repeat the end values)."""
    window = max(1, int(window) | 1)
    return np.asarray(median_filter(values, size=window, mode="nearest"), dtype=float)


def phase_hampel(
    values: np.ndarray, period: int, *, cycles: int = 2, n_sigmas: float = HAMPEL_SIGMAS
) -> Cleaned:
    """Replace spikes by the median of their phase (a Hampel filter across cycles).

    Method: ``med[t]`` = median of the values ``t + j period`` for ``0 < |j| <= cycles``
    that exist (not ``t`` itself: its own value would pull the median towards it);
    residual ``r = x - med``; scale ``s = 1.4826 median |r|``; values with ``|r| >
    n_sigmas * s`` that are a local extreme in the direction of ``r`` (as ``hampel``)
    are replaced by ``med``.  Where the
    season moves faster than the running median's window, a spike that stays inside the
    season's range (at a trough, say) escapes ``hampel``; against its own phase it is
    as far out as against flat noise.  Meant for detrended series (a trend makes cycles
    differ); nothing is replaced when ``s == 0``.
    """
    x = np.asarray(values, dtype=float)
    n = x.size
    p = int(period)
    if p < 1 or n <= p:
        return Cleaned(x, np.zeros(x.shape, dtype=bool))
    others = [j for j in range(-cycles, cycles + 1) if j]
    same = np.full((len(others), n), np.nan)
    for row, j in enumerate(others):
        lo, hi = max(0, -j * p), min(n, n - j * p)
        if lo < hi:
            same[row, lo:hi] = x[lo + j * p : hi + j * p]
    med = np.nanmedian(same, axis=0)
    r = x - med
    scale = MAD_TO_SIGMA * float(np.nanmedian(np.abs(r)))
    if not (scale > 0.0 and math.isfinite(scale)):
        return Cleaned(x, np.zeros(x.shape, dtype=bool))
    with np.errstate(invalid="ignore"):
        mask = (np.abs(r) > n_sigmas * scale) & _extreme(x, r)
    return Cleaned(np.where(mask, med, x), mask)
