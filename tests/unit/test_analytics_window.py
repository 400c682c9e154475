"""One series window end to end: every part a value or a stated reason, JSON without NaN."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from monitoring_core.analytics import (
    CONSTANT_SERIES,
    EMPTY,
    GAPS,
    NON_FINITE,
    TOO_FEW_SAMPLES,
    TOO_SHORT,
    WindowAnalysis,
    analyze_window,
)
from monitoring_core.analytics.synthetic import seasonal_series


def _assert_clean(result: WindowAnalysis) -> dict:
    out = result.to_dict()
    text = json.dumps(out, allow_nan=False)  # raises on NaN or inf

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        else:
            assert value is None or isinstance(value, bool | int | float | str)
            assert not (isinstance(value, float) and not math.isfinite(value))

    walk(out)
    assert text
    return out


@pytest.mark.parametrize("hours", [1, 3, 12])
def test_seasonal_window(hours: int) -> None:
    series = seasonal_series(20, seed=hours).iloc[-hours * 240 :]
    result = analyze_window(series, forecast=True, nlags=20)
    out = _assert_clean(result)
    assert result.statistics.count == hours * 240
    assert len(result.acf.values) == 20 and result.adf.statistic is not None
    assert result.seasonality.period_minutes == pytest.approx(20.0, abs=2.0)
    assert set(result.forecasts) == {"mean", "min", "max"}
    assert result.horizon_steps == 5
    for f in result.forecasts.values():
        assert len(f.points) == 5 and f.model == "holt_winters_additive"
    assert set(out["timings"]) == {"statistics", "metadata", "forecast"}
    assert all(v >= 0 for v in out["timings"].values())


def test_without_forecast_and_one_minute_buckets() -> None:
    series = seasonal_series(20, hours=3, seed=9)
    result = analyze_window(series, forecast=False, nlags=10, bucket="1min")
    assert result.forecasts is None and result.buckets.bucket_seconds == 60.0
    assert result.seasonality.period_minutes == pytest.approx(20.0, abs=1.0)
    _assert_clean(result)


def test_constant_series() -> None:
    index = pd.date_range("2024-01-01", periods=240, freq="15s", tz="UTC")
    result = analyze_window(pd.Series(3.0, index=index), forecast=True, nlags=10)
    assert result.statistics.std == 0.0
    assert result.acf.reason == CONSTANT_SERIES and result.adf.reason == CONSTANT_SERIES
    assert result.seasonality.reason == CONSTANT_SERIES
    assert result.forecasts["mean"].holdout.reason == CONSTANT_SERIES
    _assert_clean(result)


def test_one_sample() -> None:
    series = pd.Series([1.5], index=pd.DatetimeIndex(["2024-01-01T00:00:00Z"]))
    result = analyze_window(series, forecast=True, nlags=10)
    assert result.statistics.reason == TOO_FEW_SAMPLES and result.statistics.mean == 1.5
    assert result.acf.reason == TOO_FEW_SAMPLES and result.adf.reason == TOO_FEW_SAMPLES
    assert result.seasonality.reason == TOO_SHORT
    assert result.forecasts["mean"].reason == TOO_SHORT
    _assert_clean(result)


def test_empty_and_all_nan() -> None:
    index = pd.date_range("2024-01-01", periods=10, freq="15s", tz="UTC")
    for series in (pd.Series([], dtype=float, index=index[:0]), pd.Series(np.nan, index=index)):
        result = analyze_window(series, forecast=True, nlags=10)
        assert result.statistics.reason == EMPTY and result.buckets.reason == EMPTY
        assert result.forecasts["max"].reason == EMPTY
        _assert_clean(result)


def test_nan_runs_and_missing_timestamps() -> None:
    series = seasonal_series(20, hours=12, seed=11)
    series = series.drop(series.index[1500:1700])  # 50 minutes missing: cut
    series.iloc[-100:-80] = np.nan  # 5 minutes of NaN after the cut: interpolated
    result = analyze_window(series, forecast=True, nlags=20)
    assert result.buckets.reason == GAPS and result.buckets.interpolated >= 1
    tail = series[series.index >= result.buckets.usable_from]
    assert result.acf.nobs == tail.notna().sum()
    assert result.statistics.count == series.notna().sum()  # statistics use every sample
    assert result.seasonality.period_minutes == pytest.approx(20.0, abs=2.0)
    assert all(f.points for f in result.forecasts.values())
    _assert_clean(result)


def test_only_nan_gaps_no_exception_on_short_messy_data() -> None:
    index = pd.date_range("2024-01-01", periods=40, freq="15s", tz="UTC")
    values = np.where(np.arange(40) % 3 == 0, np.nan, np.arange(40.0) % 5)
    result = analyze_window(pd.Series(values, index=index), forecast=True, nlags=50)
    _assert_clean(result)


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_extreme_magnitudes_warn_nothing_and_stay_json(scale: float) -> None:
    # filterwarnings=error: any numpy overflow/underflow warning would fail this test.
    index = pd.date_range("2024-01-01", periods=720, freq="15s", tz="UTC")
    values = np.random.default_rng(1).normal(size=720) * scale
    result = analyze_window(pd.Series(values, index=index), forecast=True, nlags=10)
    assert result.acf.reason is None and result.adf.statistic is not None
    if scale > 1:
        assert result.statistics.reason == "non_finite"  # the std overflows
    _assert_clean(result)


@pytest.mark.parametrize("low", [0.6, -1.1])
def test_values_near_the_float64_limit_give_results_not_exceptions(low: float) -> None:
    # ~1e308: the mean (or the deviations from it) overflow; this raised MissingDataError.
    index = pd.date_range("2024-01-01", periods=720, freq="15s", tz="UTC")
    values = np.random.default_rng(3).uniform(low, 1.1, size=720) * 1.6e308
    result = analyze_window(pd.Series(values, index=index), forecast=True, nlags=10)
    assert result.adf.statistic is not None or result.adf.reason == NON_FINITE
    _assert_clean(result)


def test_large_offset_keeps_precision() -> None:
    series = seasonal_series(20, hours=3, seed=12) + 1e12
    result = analyze_window(series, forecast=True, nlags=10)
    assert result.seasonality.period_minutes == pytest.approx(20.0, abs=2.0)
    assert result.forecasts["mean"].holdout.mase < 2.0


@pytest.mark.parametrize("seed", range(4))
def test_a_spike_in_a_last_bucket_of_one_sample_hides_no_season(seed: int) -> None:
    """An hour of a 16-minute sine (the period by construction), then one sample into the
    next 2-minute bucket, spiking at 13 amplitudes: that bucket's mean is the spike alone.
    With it the ACF finds no season; the season is estimated without it, the forecasts keep
    it (the newest value)."""
    hour = seasonal_series(16, hours=1, seed=seed, amplitude=3.0, noise=0.5)
    after = hour.index[-1] + pd.Timedelta("15s")
    series = pd.concat([hour, pd.Series([hour.iloc[-1] + 40.0], index=[after])])
    result = analyze_window(series, forecast=True)
    assert result.seasonality.period_minutes == 16.0
    assert result.buckets.n_buckets == 31 and len(result.seasonality.trend) == 30
    whole = analyze_window(hour, forecast=False)  # its last bucket is full: all 30 kept
    assert whole.buckets.n_buckets == len(whole.seasonality.trend) == 30
