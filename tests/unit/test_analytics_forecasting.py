"""Forecasts: model choice, held-out error against the seed's method, intervals, reasons."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.holtwinters import ExponentialSmoothing

from monitoring_core.analytics import (
    CONSTANT_SERIES,
    GAPS,
    TOO_SHORT,
    ForecastPoint,
    compute_seasonality,
    forecast,
    forecast_frame,
    horizon_variance_factor,
    probability_outside,
    to_buckets,
)
from monitoring_core.analytics.forecasting import (
    NONSEASONAL_GRID,
    SEASONAL_GRID,
    Grid,
    _initial_states,
    _run_grid,
    calibrated_spread,
    error_paths,
)
from monitoring_core.analytics.synthetic import seasonal_series

H = 5  # 10 minutes of 2-minute buckets


def _seed_mase(buckets: pd.Series, steps: int) -> float:
    """The seed's forecast, scored on the same held-out buckets with the same MASE scale."""
    train, test = buckets.iloc[:-steps], buckets.iloc[-steps:].to_numpy()
    with warnings.catch_warnings():
        # statsmodels may warn about convergence; this is the reference, not our code.
        warnings.simplefilter("ignore")
        fit = ExponentialSmoothing(train, trend="add", seasonal="add", seasonal_periods=5).fit()
        predicted = np.asarray(fit.forecast(steps))
    scale = np.mean(np.abs(np.diff(train.to_numpy())))
    return float(np.mean(np.abs(predicted - test)) / scale)


def test_heldout_mase_beats_the_seed_on_seasonal_series() -> None:
    ours, seed = [], []
    for period in (10, 20, 30, 45, 60):
        for rep in range(2):
            series = seasonal_series(period, noise=1.5, seed=100 * period + rep)
            buckets = to_buckets(series, "2min").frame["mean"]
            season = compute_seasonality(buckets)
            got = forecast(buckets, H, season.period_buckets)
            assert got.model == "holt_winters_additive" and got.model_reason == "season"
            ours.append(got.holdout.mase)
            seed.append(_seed_mase(buckets, H))
    # Expected: the seed's statsmodels Holt-Winters with seasonal_periods=5, fitted and
    # scored in this test on the same held-out buckets (DESIGN.md measured 1.62 vs 0.39).
    assert np.mean(ours) < np.mean(seed)
    assert np.mean(ours) < 0.8


def test_model_choice_and_its_reason() -> None:
    buckets = to_buckets(seasonal_series(20, seed=1), "2min").frame["mean"]
    assert forecast(buckets, H, 10).model == "holt_winters_additive"
    no_season = forecast(buckets, H, None)
    assert no_season.model in ("holt_linear", "simple_exponential_smoothing")
    assert no_season.model_reason == "no_season" and no_season.gamma is None
    short = forecast(buckets.iloc[:30], H, 15)  # 25 fitted buckets < 2 * 15 + 4
    assert short.model_reason == "too_short_for_season" and short.period is None
    tiny = forecast(buckets.iloc[:8], H, None)
    assert tiny.model == "simple_exponential_smoothing"
    assert tiny.model_reason == "too_short_for_trend"
    assert forecast(buckets.iloc[:2], H, None).reason == TOO_SHORT


def test_points_have_timestamps_sigma_and_nested_intervals() -> None:
    buckets = to_buckets(seasonal_series(20, seed=2), "2min").frame["mean"]
    got = forecast(buckets, H, 10)
    assert [p.step for p in got.points] == list(range(1, H + 1))
    assert got.points[0].timestamp == buckets.index[-1] + pd.Timedelta("2min")
    for p in got.points:
        i80, i95 = p.intervals
        assert (i80.level, i95.level) == (0.8, 0.95)
        assert i95.lower < i80.lower < p.value < i80.upper < i95.upper
        # Calibrated from the fit's own h-step errors: symmetric about the point.
        assert i95.upper - p.value == pytest.approx(p.value - i95.lower)
        # sigma is the normal one matching the 95 % interval (probability_outside's).
        assert i95.upper - p.value == pytest.approx(1.959963984540054 * p.sigma)
    # Calibrated from the late one-step errors: near the fit's one-step sigma.
    assert got.points[0].sigma == pytest.approx(got.sigma, rel=0.5)


def test_calibrated_spread_of_random_walk_errors() -> None:
    # Hand computation: with c_j = 1 (SES at alpha = 1, the naive forecast) the h-step
    # error is the sum of h one-step errors, so the RMS over unit +/-1 errors that
    # alternate is 1 for odd h and 0 for even h.
    errors = np.tile([1.0, -1.0], 50)
    sds, widths = calibrated_spread(errors, np.ones(3), [0.8], burn=0, half_life=1e9)  # type: ignore[misc]
    np.testing.assert_allclose(sds, [1.0, 0.0, 1.0])
    np.testing.assert_allclose(widths[0], [1.0, 0.0, 1.0])


def test_error_paths_are_the_past_forecasts_errors_by_the_recursion() -> None:
    # Oracle: simple exponential smoothing run by hand, l_t = l_{t-1} + alpha (y_t -
    # l_{t-1}); from the origin after y_{i-1} every step is forecast by l_{i-1}, so the
    # path of column i is y_{i+h-1} - l_{i-1}, h = 1..3 (the error-correction shortcut
    # in error_paths shares nothing with this loop).
    alpha, y = 0.3, np.random.default_rng(6).normal(50, 2, 40)
    level, levels, one_step = 48.0, [], []
    for value in y:
        one_step.append(value - level)
        levels.append(level)  # the forecast made before seeing this value
        level += alpha * (value - level)
    got = error_paths(np.array(one_step), np.array([1.0, alpha, alpha]), burn=5)
    expected = np.array([[y[i + h - 1] - levels[i] for i in range(5, 38)] for h in (1, 2, 3)])
    assert got.shape == (3, 33)
    np.testing.assert_allclose(got, expected)


def test_forecasts_keep_their_error_paths_out_of_the_json() -> None:
    y = pd.Series(
        np.random.default_rng(7).normal(10, 1, 120),
        index=pd.date_range("2026-01-01", periods=120, freq="1min", tz="UTC"),
    )
    got = forecast(y, 10, None, with_error_paths=True)
    assert got.error_paths is not None and got.error_paths.shape[0] == 10
    assert "error_paths" not in got.to_dict()


def test_variance_factor_formula() -> None:
    # Hand computation of Hyndman et al. (2008) class 1 for h = 1..3, m = 2.
    a, b, g, m = 0.3, 0.1, 0.2, 2
    got = horizon_variance_factor(np.array([1, 2, 3]), a, b, g, m)
    expected = [
        1.0,
        1 + 1 * (a * a + a * b * 2 + b * b * 2 * 3 / 6) + 0.0,
        1 + 2 * (a * a + a * b * 3 + b * b * 3 * 5 / 6) + g * 1 * (2 * a + g + b * m * 2),
    ]
    np.testing.assert_allclose(got, expected)
    ses = horizon_variance_factor(np.array([4]), 0.5, 0.0, 0.0, None)
    assert ses[0] == pytest.approx(1 + 3 * 0.25)


def test_interval_coverage_on_white_noise() -> None:
    rng = np.random.default_rng(7)
    n, reps = 120, 300
    data = rng.normal(10.0, 2.0, size=(n + H, reps))
    index = pd.date_range("2024-01-01", periods=n + H, freq="2min", tz="UTC")
    frame = pd.DataFrame(data[:n], index=index[:n], columns=[f"s{i}" for i in range(reps)])
    results = forecast_frame(frame, H, None)
    inside95 = inside80 = 0
    for i, name in enumerate(frame.columns):
        for p, actual in zip(results[name].points, data[n:, i], strict=True):
            inside80 += p.intervals[0].lower <= actual <= p.intervals[0].upper
            inside95 += p.intervals[1].lower <= actual <= p.intervals[1].upper
    total = reps * H
    # Nominal 95 % and 80 %; loose bounds for a grid-fitted model on 300 x 5 points.
    assert 0.90 <= inside95 / total <= 0.99
    assert 0.72 <= inside80 / total <= 0.90


def test_forecast_frame_equals_single_forecasts() -> None:
    frame = to_buckets(seasonal_series(30, seed=3), "2min").frame
    together = forecast_frame(frame, H, 15)
    for column in ("mean", "min", "max"):
        alone = forecast(frame[column], H, 15)
        assert together[column].to_dict() == alone.to_dict()


def test_deterministic() -> None:
    buckets = to_buckets(seasonal_series(30, seed=4), "2min").frame["mean"]
    assert forecast(buckets, H, 15).to_dict() == forecast(buckets, H, 15).to_dict()


def test_constant_series_gives_flat_forecast_and_no_mase() -> None:
    index = pd.date_range("2024-01-01", periods=100, freq="2min", tz="UTC")
    got = forecast(pd.Series(5.0, index=index), H, None)
    assert all(p.value == pytest.approx(5.0) for p in got.points)
    assert got.sigma == pytest.approx(0.0, abs=1e-12)
    assert got.holdout.mae == pytest.approx(0.0, abs=1e-12)
    assert got.holdout.mase is None and got.holdout.reason == CONSTANT_SERIES
    json.dumps(got.to_dict(), allow_nan=False)


def test_nan_buckets_use_the_tail_and_say_gaps() -> None:
    buckets = to_buckets(seasonal_series(20, seed=5), "2min").frame["mean"].copy()
    buckets.iloc[50:60] = np.nan
    got = forecast(buckets, H, 10)
    assert got.reason == GAPS and got.n_train == len(buckets) - 60
    assert got.points and all(p.value is not None for p in got.points)


def test_holdout_too_short() -> None:
    index = pd.date_range("2024-01-01", periods=6, freq="2min", tz="UTC")
    got = forecast(pd.Series([1.0, 2.0, 1.5, 2.5, 2.0, 3.0], index=index), H, None)
    assert got.points and got.holdout.reason == TOO_SHORT


def test_probability_outside() -> None:
    point = ForecastPoint(None, 1, 10.0, 2.0, ())
    # Hand computation with the normal CDF: P(X < 8) + P(X > 14) = Phi(-1) + 1 - Phi(2).
    phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    assert probability_outside(point, 8.0, 14.0) == pytest.approx(phi(-1) + 1 - phi(2))
    assert probability_outside(point, None, 10.0) == pytest.approx(0.5)
    assert probability_outside(point, None, None) == 0.0
    exact = ForecastPoint(None, 1, 10.0, 0.0, ())
    assert probability_outside(exact, 0.0, 5.0) == 1.0
    assert probability_outside(exact, 0.0, 50.0) == 0.0
    with pytest.raises(ValueError):
        probability_outside(ForecastPoint(None, 1, None, None, ()), 0.0, 1.0)


@pytest.mark.parametrize("spike", [100.0, 1e15])
def test_a_spike_is_replaced_before_fitting(spike: float) -> None:
    buckets = to_buckets(seasonal_series(30, seed=4), "2min").frame["mean"].copy()
    clean = forecast(buckets, H, 15)
    level = float(buckets.mean())
    buckets.iloc[300] = spike * level if spike < 1e10 else spike
    season = compute_seasonality(buckets)
    got = forecast(buckets, H, season.period_buckets)
    # Expected: the forecast of the same series without the spike (fitted in this test),
    # to within a tenth of the season's amplitude (3); before issue 11 the 1e15 spike
    # gave ~8e11 here.
    assert season.period_buckets == 15
    for p, q in zip(got.points, clean.points, strict=True):
        assert p.value == pytest.approx(q.value, abs=0.3)
        assert p.intervals[1].upper - p.intervals[1].lower < 10.0
    assert got.reason == "outliers" and "1 outlying" in (got.detail or "")
    json.dumps(got.to_dict(), allow_nan=False)


def test_interval_coverage_on_seasonal_series() -> None:
    # Nominal 80 % and 95 %: bucket means of 40 seasonal series, 5 steps each, scored on
    # the buckets that follow; calibrated from the fits' own h-step errors.
    inside80 = inside95 = total = 0
    for seed in range(40):
        buckets = to_buckets(seasonal_series(10 + seed % 5 * 10, seed=seed), "2min").frame["mean"]
        train, test = buckets.iloc[:-H], buckets.iloc[-H:].to_numpy()
        got = forecast(train, H, compute_seasonality(train).period_buckets)
        for p, actual in zip(got.points, test, strict=True):
            inside80 += p.intervals[0].lower <= actual <= p.intervals[0].upper
            inside95 += p.intervals[1].lower <= actual <= p.intervals[1].upper
            total += 1
    assert 0.70 <= inside80 / total <= 0.90
    assert 0.89 <= inside95 / total <= 0.99


def test_interval_coverage_under_multiplicative_growth() -> None:
    # Nominal 95 %: 40 series growing x4.5 over 12 h, season and noise growing alike
    # (errors proportional to the level); scored on the 5 buckets that follow.  Measured:
    # 0.94 with errors relative to the level, 0.875 with absolute ones (and 0.83 in
    # bench_accuracy's growth family).
    inside95 = total = 0
    for seed in range(40):
        base = seasonal_series(20, seed=seed, trend_per_hour=0.0)
        hours = np.arange(base.size) * 15.0 / 3600.0
        grown = base * np.exp(0.125 * hours)
        buckets = to_buckets(grown, "2min").frame["mean"]
        train, test = buckets.iloc[:-H], buckets.iloc[-H:].to_numpy()
        got = forecast(train, H, 10)
        for p, actual in zip(got.points, test, strict=True):
            inside95 += p.intervals[1].lower <= actual <= p.intervals[1].upper
            total += 1
    assert inside95 / total >= 0.89


def test_a_long_horizon_on_a_short_history_is_ranked_on_its_own_horizon() -> None:
    # 3 hours of minutes of a 30-minute season growing 12 % an hour, forecast 60 minutes
    # ahead (an SLA's longest horizon on bench_warnings' history): the truth is the
    # noise-free signal, computed here. Ranked on one-step errors (the loss once needed two
    # horizons of errors after the burn-in), the fits froze the slope of the first cycles:
    # the 60th minute was on average 1.79 of its own sigma low; ranked on the 60-step loss,
    # 0.86.
    t = np.arange(240.0)
    truth = (20 + 3 * np.sin(2 * np.pi * t / 30)) * np.exp(0.002 * t)
    index = pd.date_range("2026-01-01", periods=180, freq="1min", tz="UTC")
    standardised = []
    for seed in range(20):
        noisy = truth[:180] + np.random.default_rng(seed).normal(0, 0.25, 180)
        last = forecast(pd.Series(noisy, index=index), 60, 30).points[-1]
        assert last.value is not None and last.sigma
        standardised.append((truth[-1] - last.value) / last.sigma)
    assert abs(float(np.mean(standardised))) < 1.2


def _textbook_recursion(y: np.ndarray, period: int | None, grid: Grid, cut: int | None) -> tuple:
    """The ETS error-correction recursion written out one candidate and one time at a time
    (Hyndman et al. 2008, section 3.4, additive errors), from `_run_grid`'s initial states:
    the oracle that `_run_grid`'s vectorised loop must equal bit for bit."""
    s, n = y.shape
    level_t, slope_t, level_n, season_t, season_n = _initial_states(
        y, period, n if cut is None else cut
    )
    out = {}
    for i in range(s):
        for c in range(grid.alpha.size):
            a, b, g, trend = grid.alpha[c], grid.beta[c], grid.gamma[c], grid.trend[c]
            level = level_t[i] if trend else level_n[i]
            slope = slope_t[i] if trend else 0.0
            season = None
            if period:
                assert season_t is not None and season_n is not None
                season = list((season_t if trend else season_n)[i])
            sse = 0.0
            errors = []
            held = None
            for t in range(n):
                if t == cut:
                    held = (sse, level, slope)
                fitted = level + slope
                err = y[i, t] - fitted
                if season is not None:
                    err = err - season[t % period]  # type: ignore[operator]
                    season[t % period] = season[t % period] + g * err  # type: ignore[operator]
                sse = sse + err * err
                level = fitted + a * err
                slope = slope + b * err
                errors.append(err)
            out[i, c] = (sse, level, slope, errors, held)
    return out


@pytest.mark.parametrize(("period", "cut"), [(None, None), (None, 25), (6, None), (6, 40)])
def test_the_vectorised_recursion_equals_the_textbook_one_bit_for_bit(period, cut) -> None:
    rng = np.random.default_rng(7)
    y = rng.standard_normal((3, 50)).cumsum(axis=1)
    y[1, 10] = 40.0  # a jump
    grid = SEASONAL_GRID if period else NONSEASONAL_GRID
    full, held = _run_grid(y, period, grid, cut)
    expected = _textbook_recursion(y, period, grid, cut)
    for i in range(3):
        best = int(full.best[i])
        sse, level, slope, errors, held_states = expected[i, best]
        assert (full.sse[i], full.level[i], full.slope[i]) == (sse, level, slope)
        assert full.errors[:, i].tolist() == errors
        if cut is not None:
            assert held is not None
            h = int(held.best[i])
            assert (held.sse[i], held.level[i], held.slope[i]) == expected[i, h][4]
    # One-step ranking (horizon 1): the winner is the least SSE of every candidate.
    sse_all = np.array([[expected[i, c][0] for c in range(grid.alpha.size)] for i in range(3)])
    assert full.best.tolist() == np.argmin(sse_all, axis=1).tolist()
