"""Augmented Dickey-Fuller test, equal to statsmodels ``adfuller(x, autolag='AIC')`` but faster."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg import lapack
from statsmodels.tsa.adfvalues import mackinnoncrit, mackinnonp

from monitoring_core.json_values import ResultMixin, finite_or_none

from ._results import (
    CONSTANT_SERIES,
    DEGENERATE,
    EMPTY,
    NON_FINITE,
    TOO_FEW_SAMPLES,
    finite_values,
    quiet_numpy,
)

SIGNIFICANCE = 0.05
_LOG_2PI = math.log(2 * math.pi)
# A pivot of R smaller than this (relative to the largest) means a rank-deficient
# design; statsmodels then solves with a pseudo-inverse, which we defer to.
_RANK_TOL = 1e-10


@dataclass(frozen=True)
class Adf(ResultMixin):
    """Result of the ADF unit-root test (constant, no trend).

    Attributes
    ----------
    statistic : float or None
        t-statistic of the lagged level in the test regression.
    p_value : float or None
        MacKinnon's (1994, 2010) approximate p-value.
    used_lag : int or None
        Number of lagged differences chosen by AIC.
    nobs : int or None
        Observations in the final regression.
    critical_value_1, critical_value_5, critical_value_10 : float or None
        MacKinnon critical values at 1, 5 and 10 %.
    ic_best : float or None
        AIC of the chosen lag length.
    stationary : bool or None
        True when ``p_value < 0.05`` (the unit root is rejected at 5 %).
    verdict : str or None
        ``"stationary at 5 %"`` or ``"unit root not rejected at 5 %"``.
    reason, detail : str or None
        ``"empty"``, ``"too_few_samples"``, ``"constant_series"``, ``"degenerate_regression"``,
        ``"non_finite"`` (samples so large that the regression overflows).
    """

    statistic: float | None
    p_value: float | None
    used_lag: int | None
    nobs: int | None
    critical_value_1: float | None
    critical_value_5: float | None
    critical_value_10: float | None
    ic_best: float | None
    stationary: bool | None
    verdict: str | None
    reason: str | None = None
    detail: str | None = None


def _no_adf(reason: str, detail: str) -> Adf:
    return Adf(None, None, None, None, None, None, None, None, None, None, reason, detail)


def _design(x: np.ndarray, xdiff: np.ndarray, lags: int, level_first: bool) -> np.ndarray:
    """Regression matrix ``[1, x_{t-1}, dx_{t-1}..dx_{t-lags}, dx_t]`` on the sample t >= lags.

    With ``level_first`` False the level moves just before ``dx_t`` (the last column,
    the regressand), so that its t-statistic falls out of the R factor directly.
    """
    nobs = xdiff.size - lags
    out = np.empty((nobs, lags + 3), order="F")
    out[:, 0] = 1.0
    level_col = 1 if level_first else lags + 1
    first_lag = 2 if level_first else 1
    out[:, level_col] = x[-nobs - 1 : -1]
    for j in range(1, lags + 1):
        out[:, first_lag + j - 1] = xdiff[lags - j : xdiff.size - j]
    out[:, -1] = xdiff[lags:]
    return out


def _r_factor(a: np.ndarray) -> np.ndarray:
    """Householder QR of ``a`` in place (LAPACK dgeqrf); only the upper triangle is R."""
    qr, _tau, _work, info = lapack.dgeqrf(a, overwrite_a=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"dgeqrf failed with info={info}")
    return qr


def _full_rank(r: np.ndarray, k: int) -> bool:
    diag = np.abs(np.diag(r)[:k])
    return bool(diag.min() > _RANK_TOL * diag.max())


@quiet_numpy
def compute_adf(values: ArrayLike) -> Adf:
    """Augmented Dickey-Fuller test with a constant, lag length chosen by AIC.

    Method: statsmodels' ``adfuller(x, regression='c', autolag='AIC')``.  The maximum
    lag is Schwert's ``ceil(12 (n/100)^(1/4))`` capped at ``n // 2 - 2``; every
    candidate lag 0..maxlag is fitted on the same sample (the last n - 1 - maxlag
    differences) and scored by ``AIC = n (log(2 pi) + log(SSR/n) + 1) + 2 k``.  Because
    the candidates are nested, one QR factorisation of ``[X | y]`` gives every SSR
    (``SSR_j = r_yy^2 + sum_{i >= j} z_i^2``) instead of one OLS fit per lag.  The final
    regression on the chosen lag uses the longest sample, as statsmodels does, and
    its t-statistic for the lagged level is read off a second QR.  p-value and
    critical values are statsmodels' ``mackinnonp`` / ``mackinnoncrit``.  Assumes
    evenly spaced samples; NaN/inf are dropped.  A rank-deficient design (rare:
    e.g. a series that moves once) is handed to statsmodels itself.

    Parameters
    ----------
    values : array_like
        The samples, in time order.

    Returns
    -------
    Adf
        The test, or a ``reason`` where ``adfuller`` would raise.
    """
    x, _ = finite_values(values)
    n = int(x.size)
    if n == 0:
        return _no_adf(EMPTY, "no finite sample")
    maxlag = min(n // 2 - 2, int(math.ceil(12.0 * (n / 100.0) ** 0.25)))
    if maxlag < 0:
        return _no_adf(TOO_FEW_SAMPLES, f"{n} samples: the ADF test needs at least 4")
    if x.max() == x.min():
        return _no_adf(CONSTANT_SERIES, "the ADF regression is undefined for a constant series")
    # The t-statistic and the lag choice are invariant under x -> (x - c) / s; only
    # extreme scales are standardised (and the AIC corrected back), so that ordinary
    # data is computed exactly as statsmodels does.
    ic_shift = 0.0
    spread = float(np.abs(x - x.mean()).max())
    if not math.isfinite(spread):
        # Samples near the float64 limit (~1.8e308) overflow the mean or the deviations:
        # bring them to [-1, 1] first, then centre; the scale still enters the AIC.
        peak = float(np.abs(x).max())
        x = x / peak
        spread = float(np.abs(x - x.mean()).max())
        if not (math.isfinite(spread) and spread > 0.0):
            return _no_adf(NON_FINITE, "the samples overflow float64 in the ADF regression")
        ic_shift = 2.0 * math.log(peak)
    if not 1e-50 < spread < 1e50:
        x = (x - x.mean()) / spread
        ic_shift += 2.0 * math.log(spread)
    xdiff = np.diff(x)

    # Lag search: columns [const, level, lags 1..maxlag], regressand last.
    k_full = maxlag + 2
    nobs = xdiff.size - maxlag
    if nobs <= k_full:
        return _no_adf(TOO_FEW_SAMPLES, f"{n} samples are too few for the ADF regression")
    r = _r_factor(_design(x, xdiff, maxlag, level_first=True))
    if not _full_rank(r, k_full):
        return _adf_by_statsmodels(x)
    z = r[:k_full, k_full]
    ssr_full = r[k_full, k_full] ** 2 if r.shape[0] > k_full else 0.0
    # SSR of the model with the first j columns, j = 2..k_full.
    tail = np.cumsum((z**2)[::-1])[::-1]
    ssr = ssr_full + np.append(tail[2:], 0.0)
    ks = np.arange(2, k_full + 1)
    with np.errstate(divide="ignore"):
        aic = nobs * (_LOG_2PI + np.log(ssr / nobs) + 1.0) + 2.0 * ks
    best = int(np.argmin(aic))
    lag = best
    ic_best = float(aic[best]) + nobs * ic_shift

    # Final regression: columns [const, lags 1..lag, level], regressand last.
    k = lag + 2
    nobs = xdiff.size - lag
    r = _r_factor(_design(x, xdiff, lag, level_first=False))
    if not _full_rank(r, k) or nobs <= k:
        return _adf_by_statsmodels(x)
    ssr_final = r[k, k] ** 2 if r.shape[0] > k else 0.0
    sigma = math.sqrt(ssr_final / (nobs - k))
    if sigma == 0.0:
        return _adf_by_statsmodels(x)
    statistic = float(np.sign(r[k - 1, k - 1]) * r[k - 1, k] / sigma)
    return _finish(statistic, lag, nobs, ic_best)


def _finish(statistic: float, lag: int, nobs: int, ic_best: float | None) -> Adf:
    p_value = float(mackinnonp(statistic, regression="c", N=1))
    crit = mackinnoncrit(N=1, regression="c", nobs=nobs)
    stationary = bool(p_value < SIGNIFICANCE)
    return Adf(
        statistic=finite_or_none(statistic),
        p_value=finite_or_none(p_value),
        used_lag=int(lag),
        nobs=int(nobs),
        critical_value_1=finite_or_none(crit[0]),
        critical_value_5=finite_or_none(crit[1]),
        critical_value_10=finite_or_none(crit[2]),
        ic_best=finite_or_none(ic_best),
        stationary=stationary,
        verdict="stationary at 5 %" if stationary else "unit root not rejected at 5 %",
    )


def _adf_by_statsmodels(x: np.ndarray) -> Adf:
    """Slow path for rank-deficient designs, where statsmodels' pseudo-inverse decides."""
    from statsmodels.tools.sm_exceptions import MissingDataError
    from statsmodels.tsa.stattools import adfuller

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stat, _p, lag, nobs, _crit, icbest = adfuller(x, autolag="AIC", result_object=False)
    except MissingDataError as exc:
        # statsmodels refuses NaN/inf in the regression (an overflow the checks above missed).
        return _no_adf(NON_FINITE, f"the ADF regression is not finite: {exc}")
    except (ValueError, np.linalg.LinAlgError) as exc:
        return _no_adf(DEGENERATE, f"the ADF regression is degenerate: {exc}")
    if not math.isfinite(stat):
        return _no_adf(DEGENERATE, "the ADF regression is degenerate (no finite t-statistic)")
    return _finish(float(stat), int(lag), int(nobs), float(icbest))
