"""The mean-reverting candidate of the SLA manager's forecasts and the loss that chooses it.

Oracles: statsmodels' ``AutoReg`` for the AR(1) least-squares fit; the multi-step loss of
the naive forecast (SES with alpha = 1) computed directly from differences of the series.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.ar_model import AutoReg

from sla_manager.reversion import FIRST_ORIGIN, fit_reversion, smoothing_loss
from sla_manager.violations import MEAN_REVERTING, predict_violations

END = pd.Timestamp("2026-01-01T12:00:00Z")


def ar1(phi: float, n: int, seed: int, mean: float = 50.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.empty(n)
    x[0] = mean
    for t in range(1, n):
        x[t] = mean + phi * (x[t - 1] - mean) + rng.normal()
    return x


def test_the_ar1_fit_is_the_least_squares_autoregression() -> None:
    y = ar1(0.8, 180, seed=1)
    fit = fit_reversion(y, steps=10, horizon=10)
    reference = AutoReg(y, lags=1, trend="c").fit()  # OLS on (1, y_{t-1})
    constant, phi = reference.params
    assert fit is not None
    assert fit.phi == pytest.approx(phi, rel=1e-9)
    assert fit.mean == pytest.approx(constant / (1 - phi), rel=1e-9)
    # The forecast reverts: mu + phi^h (y_T - mu), and its paths' weights are phi^j.
    h = np.arange(1, 11)
    assert fit.values == pytest.approx(fit.mean + phi**h * (y[-1] - fit.mean), rel=1e-9)
    assert fit.weights == pytest.approx(phi ** np.arange(10), rel=1e-9)
    # Scales grow with the step, never below the theory's.
    s = np.std(reference.resid, ddof=2)
    theory = s * np.sqrt((1 - phi ** (2 * h)) / (1 - phi**2))
    assert np.all(np.diff(fit.sigmas) >= -1e-9 * fit.sigmas[:-1])
    assert np.all(fit.sigmas >= theory * (1 - 1e-9))


def test_the_error_paths_are_each_past_origins_ar1_forecast_errors() -> None:
    # Oracle: statsmodels' AutoReg refitted on the minutes up to each origin t alone, its
    # h-step forecast mu + phi^h (y_t - mu) against y[t + h]; a column is one origin's
    # whole path, h = 1..5, for every origin whose five steps are in the history.
    y = ar1(0.7, 60, seed=8)
    fit = fit_reversion(y, steps=5, horizon=5)
    assert fit is not None
    origins = range(FIRST_ORIGIN, 60 - 5)
    assert fit.error_paths.shape == (5, len(origins))
    for i, t in enumerate(origins):
        constant, phi = AutoReg(y[: t + 1], lags=1, trend="c").fit().params
        mu = constant / (1 - phi)
        expected = [y[t + h] - (mu + phi**h * (y[t] - mu)) for h in range(1, 6)]
        assert fit.error_paths[:, i] == pytest.approx(expected, rel=1e-7, abs=1e-9)


def test_the_smoothing_loss_of_alpha_one_is_the_naive_forecasts_error() -> None:
    # SES with alpha = 1 forecasts the last value: errors y[t + h] - y[t].
    y = np.random.default_rng(2).normal(0, 1, 80).cumsum()
    errors = [y[t + h] - y[t] for h in (1, 2, 3) for t in range(FIRST_ORIGIN, 79) if t + h < 80]
    assert smoothing_loss(y, 1.0, None, 3) == pytest.approx(np.mean(np.square(errors)))


def test_too_short_or_constant_has_no_reverting_fit() -> None:
    assert fit_reversion(ar1(0.5, 20, seed=3), 5, 5) is None
    assert fit_reversion(np.full(100, 7.0), 5, 5) is None


def samples(minute_means: np.ndarray, seed: int) -> pd.Series:
    """Four 15 s samples per minute around each mean, ending just before END."""
    rng = np.random.default_rng(seed)
    values = np.repeat(minute_means, 4) + rng.normal(0, 0.05, 4 * minute_means.size)
    stamps = pd.date_range(end=END - pd.Timedelta(seconds=15), periods=values.size, freq="15s")
    return pd.Series(values, index=stamps)


def test_a_mean_reverting_series_near_its_bound_is_forecast_back_towards_its_mean() -> None:
    # AR(1) at phi 0.8 per minute, its latest minute pushed 4 sd above the mean, the bound
    # just above: a random-walk model (SES) keeps it there and warns; the series' own past
    # says it comes back, so the AR(1) is chosen, its forecast falls towards the mean and
    # leaving the range is less likely than the level alone would say.
    y = ar1(0.8, 180, seed=4)
    y[-1] = 50 + 4 / np.sqrt(1 - 0.8**2)
    result = predict_violations(samples(y, 5), END, 15.0, None, y[-1] + 1.0, 30, metric="q")
    assert result.model == MEAN_REVERTING
    values = [m.value for m in result.minutes]
    assert values[0] < y[-1] and values[-1] < values[0]
    assert abs(values[-1] - 50.0) < 1.5
    assert result.state == "unlikely"


def test_a_season_longer_than_a_third_of_the_history_is_not_looked_for() -> None:
    # Three hours of a 90-minute sine: two full periods, but Holt-Winters would need two
    # and four minutes more, so a 90-minute season is not offered to the forecast.
    t = np.arange(180)
    y = 50 + 10 * np.sin(2 * np.pi * t / 90)
    result = predict_violations(samples(y, 6), END, 15.0, None, 70.0, 30, metric="sine")
    assert result.period_minutes is None or result.period_minutes <= 60
