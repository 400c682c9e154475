"""The season-less candidates of the SLA manager's forecasts (AR(1), random walk) and the
loss and test that choose between them and the smoothing forecast.

Oracles: statsmodels' ``AutoReg`` for the AR(1) least-squares fit; the multi-step loss of
the naive forecast (SES with alpha = 1) and the random walk's errors computed directly from
differences of the series; the Diebold-Mariano statistic with Newey-West's Bartlett weights
written out by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from statsmodels.tsa.ar_model import AutoReg

from monitoring_core.analytics import forecast
from monitoring_core.analytics.forecasting import HOLT_LINEAR
from sla_manager.reversion import (
    FIRST_ORIGIN,
    RANDOM_WALK,
    SIGNIFICANCE,
    beats,
    fit_reversion,
    smoothing_losses,
)
from sla_manager.violations import MEAN_REVERTING, NAIVE, predict_violations

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
    # SES with alpha = 1 forecasts the last value: errors y[t + h] - y[t], each origin's
    # squares averaged over the steps it knows.
    y = np.random.default_rng(2).normal(0, 1, 80).cumsum()
    expected = [
        np.mean([(y[t + h] - y[t]) ** 2 for h in (1, 2, 3) if t + h < 80])
        for t in range(FIRST_ORIGIN, 79)
    ]
    assert smoothing_losses(y, 1.0, None, 3) == pytest.approx(expected)


def test_the_random_walk_carries_the_last_value_on() -> None:
    # phi fixed at 1: the last value at every step, innovation weights 1, each past
    # origin's errors y[t + h] - y[t], scales never below s sqrt(h) with s the standard
    # deviation of the first differences (ddof 2, as the AR(1)'s residuals).
    y = np.random.default_rng(9).normal(0, 1, 120).cumsum()
    fit = fit_reversion(y, steps=5, horizon=5, phi=RANDOM_WALK)
    assert fit is not None
    assert fit.values == pytest.approx(np.full(5, y[-1]))
    assert fit.weights == pytest.approx(np.ones(5))
    origins = range(FIRST_ORIGIN, 120 - 5)
    expected = np.array([[y[t + h] - y[t] for t in origins] for h in range(1, 6)])
    assert fit.error_paths == pytest.approx(expected)
    s = np.std(np.diff(y), ddof=2)
    assert np.all(fit.sigmas >= s * np.sqrt(np.arange(1, 6)) * (1 - 1e-9))
    assert fit.losses == pytest.approx(smoothing_losses(y, 1.0, None, 5))


def diebold_mariano(d: np.ndarray, lags: int) -> float:
    """The statistic by hand: the mean over its Newey-West standard error (Bartlett weights
    1 - k / (lags + 1), autocovariances divided by n)."""
    n, centred = d.size, d - d.mean()
    gamma = [centred[k:] @ centred[: n - k] / n for k in range(lags + 1)]
    variance = gamma[0] + 2 * sum((1 - k / (lags + 1)) * gamma[k] for k in range(1, lags + 1))
    return float(d.mean() / np.sqrt(variance / n))


def test_a_model_beats_the_reference_only_beyond_chance() -> None:
    rng = np.random.default_rng(11)
    reference = rng.gamma(2.0, 1.0, 200)
    # Overlapping horizons: the differences are a moving sum, correlated over 10 origins.
    noise = np.convolve(rng.normal(0, 1, 209), np.ones(10) / 10, mode="valid")
    for shift in (-0.6, -0.2, -0.05, 0.0, 0.3):  # -0.05: a statistic of -1.71, near the line
        losses = reference + shift + noise
        statistic = diebold_mariano(losses - reference, 10)
        assert beats(losses, reference, 10) == (statistic < norm.ppf(SIGNIFICANCE)), shift
    assert beats(reference - 0.6 + noise, reference, 10)
    assert not beats(reference + 0.3 + noise, reference, 10)
    # The same losses never beat, nor do too few origins.
    assert not beats(reference, reference, 10)
    assert not beats(reference[:10] - 1.0, reference[:10], 10)


def test_too_short_or_constant_has_no_reverting_fit() -> None:
    assert fit_reversion(ar1(0.5, 20, seed=3), 5, 5) is None
    assert fit_reversion(np.full(100, 7.0), 5, 5) is None
    assert fit_reversion(np.full(100, 7.0), 5, 5, phi=RANDOM_WALK) is None


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


def test_a_trend_on_a_random_walk_is_kept_only_beyond_chance() -> None:
    # Random walks of minute means wander into slopes that Holt's trend fits by chance (the
    # multi-step loss barely moves with the smoothing parameters): of these 20 walks the
    # smoothing grid picks a trend for 5. The trend stays only when it beats the last
    # minute carried on beyond chance (one-sided at 5 %); else the forecast is flat at the
    # last complete minute's mean (oracle: pandas' resample).
    trends, kept = 0, 0
    for seed in range(20):
        y = 50 + np.random.default_rng(100 + seed).normal(0, 1, 180).cumsum()
        history = samples(y, seed)
        minutes = history.resample("1min").mean()
        if forecast(minutes, 30, None).model != HOLT_LINEAR:
            continue
        trends += 1
        result = predict_violations(history, END, 15.0, None, y.max() + 5, 30, metric="q")
        if result.model == HOLT_LINEAR:
            kept += 1
        elif result.model == NAIVE:
            assert [m.value for m in result.minutes] == pytest.approx([minutes.iloc[-1]] * 30)
    assert trends == 5 and kept <= 1


def test_a_steady_trend_is_kept() -> None:
    # +0.1 per minute with noise of sd 0.3: the trend beats the last value at every step.
    y = 50 + 0.1 * np.arange(180) + np.random.default_rng(12).normal(0, 0.3, 180)
    result = predict_violations(samples(y, 13), END, 15.0, None, y[-1] + 5, 30, metric="q")
    assert result.model == HOLT_LINEAR
    # The line itself 30 minutes past the last one: 50 + 0.1 (179 + 30).
    assert result.minutes[-1].value == pytest.approx(50 + 0.1 * 209, abs=0.5)


def test_a_season_longer_than_a_third_of_the_history_is_not_looked_for() -> None:
    # Three hours of a 90-minute sine: two full periods, but Holt-Winters would need two
    # and four minutes more, so a 90-minute season is not offered to the forecast.
    t = np.arange(180)
    y = 50 + 10 * np.sin(2 * np.pi * t / 90)
    result = predict_violations(samples(y, 6), END, 15.0, None, 70.0, 30, metric="sine")
    assert result.period_minutes is None or result.period_minutes <= 60
