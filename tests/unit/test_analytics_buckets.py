"""Bucketing equals pandas resample, and the gap policy is applied and reported."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring_core.analytics import EMPTY, GAPS, to_buckets
from monitoring_core.analytics.synthetic import seasonal_series


@pytest.mark.parametrize("bucket", ["1min", "2min"])
def test_buckets_equal_pandas_resample(bucket: str) -> None:
    series = seasonal_series(20, hours=3, seed=1)
    got = to_buckets(series, bucket)
    # Expected: pandas resample (the seed's way) on the same samples.
    resampled = series.resample(bucket)
    expected = pd.DataFrame(
        {"mean": resampled.mean(), "min": resampled.min(), "max": resampled.max()}
    )
    pd.testing.assert_frame_equal(got.frame, expected, check_freq=False, rtol=1e-12)
    assert got.reason is None and got.interpolated == 0 and got.dropped_buckets == 0
    assert got.frame.index.freq == pd.Timedelta(bucket)


def test_short_gap_is_interpolated() -> None:
    series = seasonal_series(20, hours=2, seed=2)
    holed = series.drop(series.index[96:112])  # minutes 24-28 missing: two 2-min buckets
    got = to_buckets(holed, "2min")
    assert got.reason is None and got.interpolated == 2 and got.longest_gap_buckets == 2
    assert not got.frame.isna().any().any()
    before, after = got.frame["mean"].iloc[11], got.frame["mean"].iloc[14]
    assert got.frame["mean"].iloc[12] == pytest.approx(before + (after - before) / 3)


def test_long_gap_keeps_the_tail_and_says_gaps() -> None:
    series = seasonal_series(20, hours=3, seed=3)
    holed = series.drop(series.index[200:400])  # 50 minutes missing
    got = to_buckets(holed, "2min")
    assert got.reason == GAPS and got.dropped_buckets > 0
    assert got.usable_from == pd.Timestamp(holed.index[200]).floor("2min")
    assert got.frame.index[-1] == holed.index[-1].floor("2min")
    assert got.to_dict()["reason"] == GAPS


def test_nan_samples_are_missing() -> None:
    series = seasonal_series(20, hours=1, seed=4)
    series.iloc[40:48] = np.nan  # 2 minutes of NaN (staleness)
    got = to_buckets(series, "2min")
    assert not got.frame.isna().any().any()
    assert got.interpolated == 1


def test_empty_and_unsorted_and_naive_index() -> None:
    assert to_buckets(pd.Series([np.nan], index=pd.DatetimeIndex(["2024-01-01"]))).reason == EMPTY
    series = seasonal_series(20, hours=1, seed=5)
    naive = pd.Series(series.to_numpy()[::-1], index=series.index.tz_localize(None)[::-1])
    got = to_buckets(naive, "2min")
    pd.testing.assert_frame_equal(got.frame, to_buckets(series, "2min").frame)
