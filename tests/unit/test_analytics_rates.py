"""Counter rates with Prometheus' `rate()` semantics, from raw samples.

Expected values are hand computations of promql/functions.go `extrapolatedRate` (cited per
case); tests/integration/test_counter_rates.py compares with a real Prometheus.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitoring_core.analytics.rates import prometheus_rate, rate_series


def test_a_steady_counter_covering_the_window_has_its_slope():
    # Samples every 15 s at 2 per second, the window [t-60, t] fully covered: the increase
    # between first and last (60 s) extrapolates by 0 at both edges -> 120 / 60 = 2.
    t = np.arange(0, 301, 15.0)
    assert prometheus_rate(t, 2 * t + 1000, 60, [300.0])[0] == pytest.approx(2.0, rel=1e-12)


def test_edges_extrapolate_within_the_threshold_and_by_half_an_interval_beyond():
    # Samples at 10, 25, 40, 55 (values 10, 25, 40, 55); window [0, 60]:
    # increase 45 over 45 s, average 15 s, threshold 16.5 s; 10 s to the start (< 16.5:
    # extrapolate 10 s, and the zero point is 10 s away, not closer), 5 s to the end ->
    # 45 * (45 + 10 + 5) / 45 / 60 = 1.0
    t = np.array([10.0, 25, 40, 55])
    assert prometheus_rate(t, t, 60, [60.0])[0] == pytest.approx(1.0, rel=1e-12)
    # The same samples in [0, 90]: 35 s to the end is past the threshold: half an interval
    # (7.5 s) -> 45 * (45 + 10 + 7.5) / 45 / 90
    assert prometheus_rate(t, t, 90, [90.0])[0] == pytest.approx(62.5 / 90, rel=1e-12)


def test_the_start_is_not_extrapolated_below_the_counters_zero():
    # Values 1, 4, 7 at 10, 13, 16 in [0, 16]: increase 6 over 6 s, average 3 s; the start
    # is 10 s away (>= 3.3: half an interval, 1.5 s), and the zero point is
    # 6 * 1 / 6 = 1 s before the first sample: 1 s wins -> 6 * (6 + 1 + 0) / 6 / 16
    t = np.array([10.0, 13, 16])
    assert prometheus_rate(t, [1.0, 4, 7], 16, [16.0])[0] == pytest.approx(7 / 16, rel=1e-12)


def test_a_reset_adds_the_value_before_it():
    # 100, 110, 5, 15 every 15 s in [0, 45] (fully covered): increase 15 - 100 + 110 = 25
    t = np.array([0.0, 15, 30, 45])
    assert prometheus_rate(t, [100.0, 110, 5, 15], 45, [45.0])[0] == pytest.approx(25 / 45)
    # Two resets: 100, 110, 5, 15, 2 -> 2 - 100 + 110 + 15 = 27 over [0, 60]
    t = np.append(t, 60.0)
    assert prometheus_rate(t, [100.0, 110, 5, 15, 2], 60, [60.0])[0] == pytest.approx(27 / 60)


def test_fewer_than_two_samples_have_no_rate():
    t = np.array([0.0, 100.0])
    assert np.isnan(prometheus_rate(t, [1.0, 2.0], 30, [50.0, 100.0])).all()
    assert np.isnan(prometheus_rate([], [], 30, [10.0])).all()


def test_the_range_is_closed_at_both_ends_as_in_prometheus_2():
    # A sample exactly at t - range is selected by Prometheus 2 ([t - r, t]).
    t = np.array([0.0, 30.0])
    assert prometheus_rate(t, [0.0, 30.0], 30, [30.0])[0] == pytest.approx(1.0)


@given(
    # bounded so that float rounding of the counter stays far below the tolerance
    slope=st.floats(0.01, 1e6),
    start=st.floats(0, 1e6),
    step=st.sampled_from([1.0, 5.0, 15.0, 60.0]),
)
def test_a_linear_counter_has_its_slope_everywhere(slope, start, step):
    t = np.arange(0, 40 * step, step)
    rates = prometheus_rate(t, start + slope * t, 4 * step, t[4:])
    np.testing.assert_allclose(rates, slope, rtol=1e-6)


def test_rate_series_is_the_rate_over_four_scrapes_at_each_sample():
    index = pd.date_range("2026-01-01", periods=20, freq="15s")
    counter = pd.Series(np.arange(20) * 30.0, index=index, name="c")
    rates = rate_series(counter, 15)
    # windows that begin before the first sample are left out; every other is 30 / 15 s
    assert len(rates) == 16 and rates.index[0] == index[4]
    np.testing.assert_allclose(rates.to_numpy(), 2.0)
