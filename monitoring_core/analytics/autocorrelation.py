"""Sample autocorrelation function (ACF), equal to statsmodels ``acf`` with default arguments."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from monitoring_core.json_values import ResultMixin, floats_or_none

from ._results import (
    CONSTANT_SERIES,
    EMPTY,
    NON_FINITE,
    TOO_FEW_SAMPLES,
    finite_values,
    quiet_numpy,
)


@dataclass(frozen=True)
class Acf(ResultMixin):
    """Autocorrelations at lags 1..k.

    Attributes
    ----------
    lags : tuple of int
        1..k (k may be lower than asked when the series is short: at most n - 1).
    values : tuple of float
        The autocorrelation at each lag (empty when ``reason`` is set).
    nobs : int
        Number of finite samples used.
    white_noise_band : float or None
        ``1.96 / sqrt(nobs)``: the approximate 95 % band of the ACF of white noise.
    reason, detail : str or None
        ``"empty"``, ``"too_few_samples"`` or ``"constant_series"`` when there are no values.
    """

    lags: tuple[int, ...]
    values: tuple[float | None, ...]
    nobs: int
    white_noise_band: float | None
    reason: str | None = None
    detail: str | None = None


def default_nlags(nobs: int) -> int:
    """statsmodels' default number of lags: ``min(int(10 * log10(nobs)), nobs - 1)``."""
    if nobs <= 1:
        return 0
    return min(int(10 * np.log10(nobs)), nobs - 1)


def autocorrelation(x: np.ndarray, nlags: int) -> np.ndarray:
    """Biased sample autocorrelation at lags 0..nlags of a finite 1-d array (FFT method).

    This is statsmodels' ``acf(x, nlags=nlags)`` (``adjusted=False``, ``fft=True``):
    autocovariances ``sum((x_t - m)(x_{t+k} - m)) / n`` divided by the lag-0 one.
    The caller must make sure that ``x`` is not constant.
    """
    n = x.size
    xo = x - x.mean()
    # The ACF is scale-free; scaling keeps c_0 away from overflow and underflow.
    xo /= np.abs(xo).max()
    nfft = 1 << int(math.ceil(math.log2(2 * n + 1)))
    spectrum = np.fft.rfft(xo, n=nfft)
    acov = np.fft.irfft(spectrum * np.conjugate(spectrum), n=nfft)[: nlags + 1]
    return acov / acov[0]


@quiet_numpy
def compute_acf(values: ArrayLike, nlags: int | None = None) -> Acf:
    """Compute the autocorrelation function at lags 1..nlags.

    Method: the biased estimator ``r_k = c_k / c_0`` with
    ``c_k = (1/n) sum_t (x_t - xbar)(x_{t+k} - xbar)``, computed by FFT; equal to
    statsmodels ``acf(x, nlags=k)`` with its defaults.  Assumes evenly spaced
    samples; NaN/inf samples are dropped first.

    Parameters
    ----------
    values : array_like
        The samples, in time order.
    nlags : int, optional
        Highest lag; default statsmodels' ``min(int(10 log10 n), n - 1)``.  Capped at n - 1.

    Returns
    -------
    Acf
        Values, or a ``reason``.  Never raises on numeric input.
    """
    x, _ = finite_values(values)
    n = int(x.size)
    if n == 0:
        return Acf((), (), 0, None, EMPTY, "no finite sample")
    band = 1.96 / math.sqrt(n)
    if n < 2:
        return Acf((), (), n, band, TOO_FEW_SAMPLES, "the ACF needs at least two samples")
    if x.max() == x.min():
        return Acf((), (), n, band, CONSTANT_SERIES, "a constant series has no autocorrelation")
    k = default_nlags(n) if nlags is None else max(0, min(int(nlags), n - 1))
    r = autocorrelation(x, k)
    if not np.all(np.isfinite(r)):
        return Acf((), (), n, band, NON_FINITE, "the autocovariances overflowed")
    return Acf(tuple(range(1, k + 1)), floats_or_none(r[1:]), n, band)
