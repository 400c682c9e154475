"""Raw samples in time (``clean_samples``) and the bad input of issue 11, through the whole
window analysis: a single sample, a series that stops mid-window, out-of-order and duplicate
timestamps (a federated source), values near the float limits. Each must give a stated reason
per result, never an exception and never a NaN in the JSON. Expected numbers are worked out
by hand in the comments."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from monitoring_core.analytics import analyze_window, clean_samples, compute_statistics
from monitoring_core.analytics.samples import learn_interval

END = pd.Timestamp("2026-01-01T12:00:00Z")


def grid(values: list[float] | np.ndarray, step: float = 15.0, end: pd.Timestamp = END):
    """Samples every ``step`` seconds, the last one at ``end``."""
    values = np.asarray(values, dtype=float)
    index = end - pd.to_timedelta(np.arange(values.size)[::-1] * step, unit="s")
    return pd.Series(values, index=index)


def no_nan_json(obj: object) -> str:
    return json.dumps(obj, allow_nan=False)  # raises on NaN or inf


def test_a_regular_series_has_its_interval_and_no_gaps() -> None:
    clean, cov = clean_samples(grid(np.arange(241.0)), END)
    assert cov.count == 241 and cov.interval_seconds == 15.0
    assert (cov.gaps, cov.missing_samples, cov.ended_at, cov.reason) == (0, 0, None, None)
    assert clean.index[0] == END - pd.Timedelta(hours=1)


def test_gaps_are_found_from_the_timestamps_with_the_learned_interval() -> None:
    # 1 h at 15 s (241 samples); a 4-minute hole removes the 15 samples strictly inside
    # (-30 min, -26 min): spacing 240 s = 16 intervals -> one gap, 15 missing samples. One
    # missed scrape (spacing 30 s = 2 intervals > 1.5) is a gap of 1 missing sample.
    values = grid(np.arange(241.0))
    t = (values.index - END).total_seconds()
    values = values[~((t > -1800) & (t < -1560)) & (t != -600)]
    _, cov = clean_samples(values, END)
    assert cov.count == 241 - 16 and cov.interval_seconds == 15.0
    assert (cov.gaps, cov.missing_samples, cov.longest_gap_seconds) == (2, 16, 240.0)
    assert cov.reason == "gaps" and "16 samples missing" in cov.detail


def test_a_series_that_stops_mid_window_has_ended_there() -> None:
    # Samples until 10 minutes before the end: more than 1.5 intervals before it.
    stop = END - pd.Timedelta(minutes=10)
    _, cov = clean_samples(grid(np.ones(100), end=stop), END)
    assert cov.ended_at == stop and cov.reason == "ended"
    # At most 1.5 intervals late is not the end: the next scrape may still come.
    _, on_time = clean_samples(grid(np.ones(100), end=END - pd.Timedelta(seconds=22)), END)
    assert on_time.ended_at is None


def test_out_of_order_and_duplicate_timestamps_are_put_right_and_counted() -> None:
    # A federated source sends 0..5 at 15 s, with samples 3 and 1 swapped in order and the
    # sample at 30 s sent twice (values 2 and 20): sorted, one per timestamp, the last kept.
    values = grid(np.arange(6.0))
    stamps = list(values.index)
    shuffled = pd.Series(
        [0.0, 3.0, 2.0, 1.0, 20.0, 4.0, 5.0],
        index=[stamps[0], stamps[3], stamps[2], stamps[1], stamps[2], stamps[4], stamps[5]],
    )
    clean, cov = clean_samples(shuffled, END)
    assert clean.index.is_monotonic_increasing and clean.index.is_unique
    assert clean.tolist() == [0.0, 1.0, 20.0, 3.0, 4.0, 5.0]
    assert (cov.duplicates, cov.out_of_order, cov.count) == (1, 2, 6)
    assert cov.reason == "duplicate_timestamps" and "out of time order" in cov.detail
    # The whole analysis sees the same six samples: mean of 0 1 20 3 4 5 = 33 / 6.
    analysis = analyze_window(shuffled, forecast=True, end=END)
    assert analysis.statistics.count == 6 and analysis.statistics.mean == 33 / 6
    assert analysis.samples == cov
    no_nan_json(analysis.to_dict())


def test_a_window_with_a_single_sample_states_why_each_result_is_missing() -> None:
    analysis = analyze_window(grid([42.0]), forecast=True, end=END)
    s = analysis.statistics
    assert (s.count, s.max, s.min, s.mean, s.p99) == (1, 42.0, 42.0, 42.0, 42.0)
    assert s.std is None and s.reason == "too_few_samples"
    assert analysis.samples.interval_seconds is None
    assert analysis.samples.reason == "too_few_samples"
    assert analysis.acf.values == () and analysis.acf.reason
    assert analysis.adf.statistic is None and analysis.adf.reason
    assert analysis.seasonality.period_minutes is None and analysis.seasonality.reason
    assert all(f.reason for f in (analysis.forecasts or {}).values())
    # A known interval (learned on the longest window) still tells whether it ended.
    late = analyze_window(
        grid([42.0], end=END - pd.Timedelta(minutes=5)), end=END, interval_seconds=15.0
    )
    assert late.samples.reason == "ended"


@pytest.mark.parametrize("scale", [1.7e308, -1.7e308, 5e-324])
def test_values_near_the_float_limits_give_reasons_not_nan(scale: float) -> None:
    # Near the largest float the sum overflows (mean, std: None with "non_finite"); at the
    # smallest subnormal everything is representable. No NaN may reach the JSON either way.
    rng = np.random.default_rng(3)
    values = grid(scale * (0.9 + 0.1 * rng.random(240)))
    analysis = analyze_window(values, forecast=True, end=END)
    s = analysis.statistics
    assert s.count == 240 and s.max is not None and s.min is not None
    if abs(scale) > 1e300:
        assert s.mean is None and s.reason == "non_finite" and "mean" in s.detail
    no_nan_json(analysis.to_dict())
    # Every diagnostic is a number or says why not.
    assert all(v is not None for v in analysis.acf.values) or analysis.acf.reason
    assert analysis.adf.statistic is not None or analysis.adf.reason
    assert analysis.seasonality.period_minutes is not None or analysis.seasonality.reason
    for f in (analysis.forecasts or {}).values():
        assert f.points or f.reason


def test_statistics_of_extreme_but_finite_values_match_a_hand_computation() -> None:
    # 1e308 and -1e308: the sum overflows in a naive mean but numpy's pairwise sum of these
    # two is 0; max/min/percentiles are the values themselves.
    s = compute_statistics([1e308, -1e308])
    assert (s.max, s.min, s.p50) == (1e308, -1e308, 0.0)
    assert s.mean == 0.0


def test_the_interval_is_the_lower_quartile_of_the_spacings() -> None:
    ns = 1_000_000_000
    # spacings 15 15 15 60 60 (two gaps): lower quartile 15 s, while the mean would be 33 s.
    stamps = np.cumsum([0, 15, 15, 15, 60, 60]) * ns
    assert learn_interval(stamps) == 15.0
    assert learn_interval(np.array([5 * ns])) is None
    assert math.isclose(learn_interval(np.array([0, 15_001_000_000])), 15.001)
