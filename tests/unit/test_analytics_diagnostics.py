"""ACF and ADF equal statsmodels ``acf`` and ``adfuller`` called directly on the same samples."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.tsa.stattools import acf, adfuller

from monitoring_core.analytics import (
    CONSTANT_SERIES,
    EMPTY,
    NON_FINITE,
    TOO_FEW_SAMPLES,
    compute_acf,
    compute_adf,
)
from monitoring_core.analytics.stationarity import _adf_by_statsmodels
from monitoring_core.analytics.synthetic import seasonal_series


def _ar1(n: int, phi: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    e = rng.normal(size=n)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x


SERIES = {
    "white_noise_2880": np.random.default_rng(1).normal(size=2880),
    "random_walk_2880": np.random.default_rng(2).normal(size=2880).cumsum(),
    "trend_2880": 0.01 * np.arange(2880) + np.random.default_rng(3).normal(size=2880),
    "seasonal_2880_offset": seasonal_series(30, seed=4).to_numpy() + 1e6,
    "ar1_720": _ar1(720, 0.9, 5),
    "seasonal_240": seasonal_series(10, hours=1, seed=6).to_numpy(),
    "short_12": np.random.default_rng(7).normal(size=12),
    "tiny_4": np.array([1.0, 3.0, 2.0, 5.0]),
}


@pytest.mark.parametrize("name", sorted(SERIES))
def test_acf_equals_statsmodels(name: str) -> None:
    x = SERIES[name]
    nlags = min(40, x.size - 1)
    got = compute_acf(x, nlags)
    expected = acf(x, nlags=nlags)  # statsmodels, default arguments (fft=True)
    assert got.lags == tuple(range(1, nlags + 1))
    np.testing.assert_allclose(got.values, expected[1:], rtol=1e-9, atol=1e-12)


def test_acf_default_nlags_is_statsmodels_default() -> None:
    x = SERIES["white_noise_2880"]
    got = compute_acf(x)
    expected = acf(x)  # statsmodels' default nlags = min(int(10 log10 n), n - 1)
    np.testing.assert_allclose(got.values, expected[1:], rtol=1e-9, atol=1e-12)


def test_acf_reasons() -> None:
    assert compute_acf(np.full(50, 3.0), 5).reason == CONSTANT_SERIES
    assert compute_acf([1.0], 5).reason == TOO_FEW_SAMPLES
    assert compute_acf([], 5).reason == EMPTY
    assert compute_acf([1.0, 2.0, 4.0], 10).lags == (1, 2)  # capped at n - 1


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_acf_of_white_noise_is_near_zero(seed: int) -> None:
    got = compute_acf(np.random.default_rng(seed).normal(size=2000), 10)
    # Bartlett: each r_k ~ N(0, 1/n); 5 standard errors is a loose bound.
    assert max(abs(v) for v in got.values) < 5 / np.sqrt(2000)


@pytest.mark.parametrize("name", sorted(SERIES))
def test_adf_equals_statsmodels(name: str) -> None:
    x = SERIES[name]
    got = compute_adf(x)
    # statsmodels adfuller with its defaults: regression='c', autolag='AIC', Schwert maxlag.
    stat, pvalue, usedlag, nobs, crit, icbest = adfuller(x, autolag="AIC", result_object=False)
    assert got.reason is None
    assert got.used_lag == usedlag and got.nobs == nobs
    assert got.statistic == pytest.approx(stat, rel=1e-9)
    assert got.p_value == pytest.approx(pvalue, rel=1e-9, abs=1e-300)
    assert got.critical_value_1 == pytest.approx(crit["1%"], rel=1e-9)
    assert got.critical_value_5 == pytest.approx(crit["5%"], rel=1e-9)
    assert got.critical_value_10 == pytest.approx(crit["10%"], rel=1e-9)
    assert got.ic_best == pytest.approx(icbest, rel=1e-9)
    assert got.stationary == (pvalue < 0.05)
    assert got.verdict == (
        "stationary at 5 %" if pvalue < 0.05 else "unit root not rejected at 5 %"
    )


def test_adf_verdicts_on_known_processes() -> None:
    assert compute_adf(SERIES["white_noise_2880"]).stationary is True
    assert compute_adf(SERIES["random_walk_2880"]).stationary is False


def test_adf_rank_deficient_design_matches_statsmodels() -> None:
    # A series that moves once: the lagged differences are nearly all zero.
    x = np.r_[np.zeros(100), np.ones(100)]
    got = compute_adf(x)
    stat, *_ = adfuller(x, autolag="AIC", result_object=False)
    assert got.statistic == pytest.approx(stat, rel=1e-9) or got.reason is not None
    json.dumps(got.to_dict(), allow_nan=False)


def test_adf_reasons_instead_of_exceptions() -> None:
    # adfuller raises ValueError on each of these (constant, too short).
    assert compute_adf(np.full(500, 2.0)).reason == CONSTANT_SERIES
    assert compute_adf([1.0, 2.0, 1.5]).reason == TOO_FEW_SAMPLES
    assert compute_adf([]).reason == EMPTY
    for x in (np.full(500, 2.0), [1.0, 2.0]):
        json.dumps(compute_adf(x).to_dict(), allow_nan=False)


def test_adf_drops_nan_samples() -> None:
    x = SERIES["ar1_720"].copy()
    with_nan = x.copy()
    with_nan[100:110] = np.nan
    got = compute_adf(with_nan)
    stat, *_ = adfuller(x[np.isfinite(with_nan)], autolag="AIC", result_object=False)
    assert got.statistic == pytest.approx(stat, rel=1e-9)


@pytest.mark.parametrize("low", [0.6, -1.1])
def test_adf_near_the_float64_limit_equals_statsmodels_on_the_unscaled_series(low: float) -> None:
    # Samples up to 1.76e308: their sum (low 0.6) or their deviations from the mean (low
    # -1.1) overflow float64, which once made statsmodels raise MissingDataError.  The
    # t-statistic is invariant under x -> s x, so the expected numbers are statsmodels
    # `adfuller` called directly on the unscaled samples.
    base = np.random.default_rng(9).uniform(low, 1.1, size=720)
    got = compute_adf(base * 1.6e308)
    stat, pvalue, usedlag, nobs, _crit, _ic = adfuller(base, autolag="AIC", result_object=False)
    assert got.reason is None
    assert got.statistic == pytest.approx(stat, rel=1e-9)
    assert got.p_value == pytest.approx(pvalue, rel=1e-9, abs=1e-15)
    assert (got.used_lag, got.nobs) == (usedlag, nobs)
    json.dumps(got.to_dict(), allow_nan=False)


def test_adf_states_non_finite_where_statsmodels_refuses_the_regression() -> None:
    # The slow path's guard: statsmodels raises MissingDataError on NaN in the design.
    x = SERIES["ar1_720"].copy()
    x[5] = np.nan
    got = _adf_by_statsmodels(x)
    assert got.reason == NON_FINITE and got.statistic is None
