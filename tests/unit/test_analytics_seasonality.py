"""Seasonal period estimation, strength, and the decomposition against statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.seasonal import seasonal_decompose

from monitoring_core.analytics import (
    CONSTANT_SERIES,
    NO_SEASON,
    OUTLIERS,
    TOO_SHORT,
    compute_seasonality,
    decompose_additive,
    estimate_period,
    to_buckets,
)
from monitoring_core.analytics.synthetic import seasonal_series


@pytest.mark.parametrize("period", [4, 5, 10, 15, 22, 23, 30])
def test_decomposition_equals_statsmodels(period: int) -> None:
    x = np.random.default_rng(period).normal(size=200).cumsum() + 100.0
    got = decompose_additive(x, period)
    # Expected: statsmodels seasonal_decompose with its defaults on the same values.
    expected = seasonal_decompose(x, model="additive", period=period)
    np.testing.assert_allclose(got.seasonal, expected.seasonal, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got.trend, expected.trend, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got.resid, expected.resid, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("period_minutes", [10, 20, 30, 45, 60])
@pytest.mark.parametrize("shape", ["sine", "sawtooth"])
def test_period_within_one_bucket_of_truth(period_minutes: int, shape: str) -> None:
    # 12 h at 15 s with a trend (0.6 per hour) and noise (sd 1 against amplitude 3).
    series = seasonal_series(period_minutes, shape=shape, seed=period_minutes)
    buckets = to_buckets(series, "2min").frame["mean"]
    got = compute_seasonality(buckets, min_period_minutes=4, max_period_minutes=240)
    assert got.reason is None, got.detail
    assert abs(got.period_minutes - period_minutes) <= 2.0  # one 2-minute bucket
    assert got.method in ("periodogram+acf", "acf")
    # A period of 45 min is 22.5 buckets: the integer period drifts, so strength is lower.
    assert 0.3 <= got.strength <= 1.0
    # The decomposition is statsmodels' at the estimated period.
    expected = seasonal_decompose(buckets, model="additive", period=got.period_buckets)
    np.testing.assert_allclose(got.seasonal, expected.seasonal.to_numpy(), rtol=1e-9, atol=1e-9)


def test_one_minute_buckets_give_the_same_period_in_minutes() -> None:
    series = seasonal_series(20, seed=1)
    got = compute_seasonality(to_buckets(series, "1min").frame["mean"])
    assert got.period_minutes == pytest.approx(20.0, abs=1.0)


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(1).normal(size=360),  # white noise
        np.random.default_rng(2).normal(size=360).cumsum(),  # random walk
        0.5 * np.arange(360) + np.random.default_rng(3).normal(size=360),  # trend
    ],
)
def test_no_season_in_noise_walks_and_trends(values: np.ndarray) -> None:
    got = estimate_period(values, min_period=2, max_period=120)
    assert got.period is None and got.reason == NO_SEASON


def test_too_short_and_constant() -> None:
    assert estimate_period(np.arange(5.0), min_period=3).reason == TOO_SHORT
    assert estimate_period(np.full(100, 1.0)).reason == CONSTANT_SERIES
    assert estimate_period(np.arange(100.0)).reason == CONSTANT_SERIES  # a straight line


def test_seasonality_result_is_json_friendly_with_nan_ends_as_none() -> None:
    buckets = to_buckets(seasonal_series(20, seed=3), "2min").frame["mean"]
    got = compute_seasonality(buckets).to_dict()
    assert got["trend"][0] is None and got["resid"][-1] is None
    assert len(got["pattern"]) == got["period_buckets"]
    assert abs(sum(got["pattern"])) < 1e-9


def test_nan_in_buckets_uses_the_tail() -> None:
    buckets = to_buckets(seasonal_series(20, seed=5), "2min").frame["mean"].copy()
    buckets.iloc[10:20] = np.nan
    got = compute_seasonality(buckets)
    assert got.period_minutes == pytest.approx(20.0, abs=2.0)
    assert len(got.seasonal) == len(buckets) - 20


@pytest.mark.parametrize("hours", [4.0, 6.0])
def test_sixty_minute_season_is_thirty_buckets(hours: float) -> None:
    # Expected: 30 buckets, the generator's 60-minute period in 2-minute buckets.  The
    # straight-line detrend + ACF refinement returned 29 on such series (issue 11).
    for seed in range(12):
        for shape in ("sine", "sawtooth"):
            series = seasonal_series(60, shape=shape, hours=hours, trend_per_hour=0.0, seed=seed)
            got = compute_seasonality(to_buckets(series, "2min").frame["mean"])
            assert got.period_buckets == 30, (seed, shape, got.detail)


def test_sixty_minute_season_on_three_cycles() -> None:
    # Expected: 30 buckets (as above) on 3 h, three cycles.  Measured before this change:
    # 33 of 180 such series gave 29; the leave-one-cycle-out choice misses 9 of 180.
    periods = [
        compute_seasonality(
            to_buckets(seasonal_series(60, shape=shape, hours=3.0, seed=seed), "2min").frame["mean"]
        ).period_buckets
        for seed in range(15)
        for shape in ("sine", "sawtooth")
    ]
    assert sum(p == 30 for p in periods) >= 27, periods


@pytest.mark.parametrize("spike", [100.0, 1e15])
def test_a_spike_keeps_the_season(spike: float) -> None:
    buckets = to_buckets(seasonal_series(30, seed=4), "2min").frame["mean"].copy()
    level = float(buckets.mean())
    buckets.iloc[200] = spike * level if spike < 1e10 else spike
    got = compute_seasonality(buckets)
    # Expected: 15 buckets, the generator's 30-minute period; the spike is reported.
    assert got.period_buckets == 15
    assert got.reason == OUTLIERS and "1 outlying" in (got.detail or "")


def test_a_level_shift_is_no_season() -> None:
    # Expected: no season; the series is white noise plus a step (no period by construction).
    for seed in range(10):
        rng = np.random.default_rng(seed)
        n = 360
        at = int(rng.integers(n // 4, n - n // 6))
        x = 50.0 + rng.normal(size=n) + np.where(np.arange(n) >= at, 6.0, 0.0)
        got = estimate_period(x, min_period=2, max_period=120)
        assert got.period is None and got.reason == NO_SEASON, (seed, got)


def test_a_level_shift_keeps_a_true_season() -> None:
    series = seasonal_series(20, seed=11)
    series.iloc[1500:] += 8.0
    got = compute_seasonality(to_buckets(series, "2min").frame["mean"])
    # Expected: 10 buckets, the generator's 20-minute period.
    assert got.period_buckets == 10


@pytest.mark.parametrize("phi", [0.5, 0.8, 0.95])
def test_no_season_in_ar1(phi: float) -> None:
    # Expected: no season; AR(1) has a geometric ACF with no peak (by construction).
    for seed in range(5):
        e = np.random.default_rng(seed).normal(size=360)
        x = np.empty_like(e)
        x[0] = e[0]
        for t in range(1, e.size):
            x[t] = phi * x[t - 1] + e[t]
        got = estimate_period(x, min_period=2, max_period=120)
        assert got.period is None, (seed, got)


def test_no_season_in_more_noise_and_walks() -> None:
    # Expected: no season (none by construction) on 100 white-noise series; on 100
    # random walks at most one: a walk's wander can repeat over three "cycles" of a
    # long candidate (1 of 200 seeds gave 114-117 buckets, before and after issue 11).
    noise = walks = 0
    for seed in range(100):
        rng = np.random.default_rng(1000 + seed)
        noise += estimate_period(rng.normal(size=360), max_period=120).period is not None
        walks += estimate_period(rng.normal(size=360).cumsum(), max_period=120).period is not None
    assert noise == 0
    assert walks <= 1


@pytest.mark.parametrize("seed", range(20))
def test_a_spike_at_a_trough_of_a_fast_season_hides_no_season(seed: int) -> None:
    """30 buckets of a sine with an 8-bucket period (the period by construction), noise at
    a tenth of the amplitude, and a spike of 2 amplitudes at a trough in the middle: it stays
    inside the season's range, so the 7-bucket running median (the Hampel filter) keeps it,
    and the ACF alone found the period for 6 of these 20 series. Against the median of its
    own phase it is an outlier."""
    rng = np.random.default_rng(seed)
    t = np.arange(30)
    x = 1.5 * np.sin(2 * np.pi * (t / 8 + rng.uniform())) + 0.1 * rng.standard_normal(30)
    trough = 12 + int(np.argmin(x[12:20]))
    x[trough] += 3.0
    got = estimate_period(x, max_period=15)
    assert got.period == 8 and got.reason == OUTLIERS, got.detail
    assert "median of their phase" in got.detail


def test_phase_hampel_replaces_by_the_median_of_the_same_phase() -> None:
    from monitoring_core.analytics.robust import phase_hampel

    rng = np.random.default_rng(3)
    x = np.tile([0.0, 1.0, 2.0, 1.0, 0.0, -1.0, -2.0, -1.0], 6) + 0.01 * rng.standard_normal(48)
    x[21] += 2.5  # phase 5 (value -1): still inside the season's range
    got = phase_hampel(x, 8)
    assert got.outliers.nonzero()[0].tolist() == [21]
    # Expected by hand: the median of buckets 5, 13, 29, 37 (two cycles either side).
    assert got.values[21] == np.median(x[[5, 13, 29, 37]])
    np.testing.assert_array_equal(np.delete(got.values, 21), np.delete(x, 21))


@pytest.mark.parametrize("seed", range(20))
def test_a_season_under_a_slower_one_is_found(seed: int) -> None:
    """Three hours of minute means: a 20-minute sine (amplitude 6) over a 90-minute one
    (amplitude 8), random phases, noise sd 0.5 (bench_warnings' two_seasons family). The
    90-minute season is longer than the 60 allowed; the 20-minute one is the period by
    construction. The cycle means under it follow the slow wave, and their slope is the
    wrong one a few cycles on: forecast from them, the season lost to plain smoothing and
    no season was found for any of these 20 seeds (before the anchored forecasts)."""
    rng = np.random.default_rng(seed)
    t = np.arange(180)
    x = (
        6 * np.sin(2 * np.pi * (t / 20 + rng.uniform()))
        + 8 * np.sin(2 * np.pi * (t / 90 + rng.uniform()))
        + rng.normal(0, 0.5, t.size)
    )
    got = estimate_period(x, min_period=4, max_period=60)
    assert got.period is not None and abs(got.period - 20) <= 1, got.detail
    assert got.method == "anchored"
    assert estimate_period(x, min_period=4, max_period=60, anchored=False).period is None


def test_a_season_is_found_soon_after_a_level_shift() -> None:
    """Three hours of minute means: a 30-minute sine (amplitude 5, the period by
    construction), noise sd 0.5, and a step of 12 at minute 110, 130 or 150 (bench_warnings'
    level_shift family, 30 to 70 minutes after its shift). Forecasts from the cycle means
    carry the step for three cycles: without the anchored forecasts the season was found
    for 11 of these 60 series; with them, 58 (the assertions leave a margin)."""
    found = without = 0
    for at in (110, 130, 150):
        for seed in range(20):
            rng = np.random.default_rng(seed)
            t = np.arange(180)
            x = 50 + 5 * np.sin(2 * np.pi * (t / 30 + rng.uniform())) + 12.0 * (t >= at)
            x = x + rng.normal(0, 0.5, t.size)
            # Expected: 30 or its multiple 60 (both repeat the season), within one bucket.
            for anchored in (True, False):
                period = estimate_period(x, min_period=4, max_period=60, anchored=anchored).period
                hit = period is not None and min(abs(period - 30), abs(period - 60)) <= 1
                found += hit and anchored
                without += hit and not anchored
    assert found >= 55 and without <= 20


def test_the_etl_asks_for_the_anchored_season_at_short_horizons_only() -> None:
    """The same two waves as above, as 1-minute buckets: `compute_seasonality` finds the
    20-minute season for a 10-minute horizon, and none for 30 (ANCHORED_MAX_HORIZON_MINUTES:
    further ahead, Holt-Winters at such a season holds its level nearly fixed)."""
    rng = np.random.default_rng(3)
    t = np.arange(180)
    x = 6 * np.sin(2 * np.pi * t / 20) + 8 * np.sin(2 * np.pi * (t / 90 + 0.4))
    index = pd.date_range("2026-01-01", periods=t.size, freq="1min", tz="UTC")
    buckets = pd.Series(x + rng.normal(0, 0.5, t.size), index=index)
    short = compute_seasonality(buckets, max_period_minutes=60, horizon_minutes=10)
    assert short.period_minutes is not None and abs(short.period_minutes - 20) <= 1
    long = compute_seasonality(buckets, max_period_minutes=60, horizon_minutes=30)
    assert long.period_minutes is None, long.detail
