"""Statistics equal Prometheus' *_over_time functions and pandas on the same samples."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring_core.analytics import EMPTY, TOO_FEW_SAMPLES, compute_statistics


def prometheus_quantile(q: float, values: list[float]) -> float:
    """Prometheus' ``quantile`` (promql/quantile.go): linear between closest ranks."""
    v = sorted(values)
    n = len(v)
    rank = q * (n - 1)
    lower = max(0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    return v[lower] * (1 - weight) + v[upper] * weight


def prometheus_stddev(values: list[float]) -> float:
    """Prometheus' ``stddev_over_time``: population std by Welford's running update."""
    count = 0
    mean = 0.0
    aux = 0.0
    for x in values:
        count += 1
        delta = x - mean
        mean += delta / count
        aux += delta * (x - mean)
    return math.sqrt(aux / count)


SAMPLES = {
    "white_noise": np.random.default_rng(1).normal(5.0, 2.0, 2880),
    "random_walk": np.random.default_rng(2).normal(0.0, 1.0, 2880).cumsum() + 1e6,
    "short": np.array([3.0, 1.0, 2.0]),
    "ties": np.array([1.0, 1.0, 2.0, 2.0, 2.0, 9.0]),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_statistics_match_prometheus_and_pandas(name: str) -> None:
    x = SAMPLES[name]
    got = compute_statistics(x)
    rel = 1e-9
    # Expected: Prometheus max/min/avg_over_time semantics by hand, pandas for the sample std.
    assert got.count == x.size
    assert got.max == x.max() and got.min == x.min()
    assert got.mean == pytest.approx(math.fsum(x) / x.size, rel=rel)
    assert got.std == pytest.approx(pd.Series(x).std(), rel=rel)
    # Prometheus' population std, converted: std_pop = std_sample * sqrt((n - 1) / n).
    n = x.size
    assert got.std * math.sqrt((n - 1) / n) == pytest.approx(prometheus_stddev(list(x)), rel=rel)
    for q, value in ((0.5, got.p50), (0.95, got.p95), (0.99, got.p99)):
        # Expected: promql quantile_over_time re-implemented above, and numpy 'linear'.
        assert value == pytest.approx(prometheus_quantile(q, list(x)), rel=rel)
        assert value == pytest.approx(np.percentile(x, 100 * q, method="linear"), rel=rel)


def test_one_sample_has_no_std_and_says_why() -> None:
    got = compute_statistics([4.2])
    assert got.count == 1 and got.mean == 4.2 and got.p99 == 4.2
    assert got.std is None and got.reason == TOO_FEW_SAMPLES


def test_empty_and_all_nan_give_a_reason() -> None:
    for values in ([], [np.nan, np.inf]):
        got = compute_statistics(values)
        assert got.count == 0 and got.mean is None and got.reason == EMPTY
        json.dumps(got.to_dict(), allow_nan=False)


def test_non_finite_samples_are_dropped_and_counted() -> None:
    got = compute_statistics([1.0, np.nan, 3.0, np.inf])
    assert got.count == 2 and got.non_finite == 2 and got.mean == 2.0
    assert got.to_dict()["std"] == pytest.approx(math.sqrt(2.0))


def test_constant_series_has_zero_std() -> None:
    got = compute_statistics(np.full(100, 7.0))
    assert got.std == 0.0 and got.reason is None


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=2, max_size=200), st.floats(min_value=-1e6, max_value=1e6))
def test_std_is_shift_invariant(values: list[float], shift: float) -> None:
    x = np.array(values)
    a = compute_statistics(x).std
    b = compute_statistics(x + shift).std
    assert a is not None and b is not None
    scale = max(1.0, float(np.abs(x).max()), abs(shift))
    assert b == pytest.approx(a, rel=1e-6, abs=1e-9 * scale)


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=1, max_size=200))
def test_order_statistics_are_ordered(values: list[float]) -> None:
    s = compute_statistics(values)
    assert s.min <= s.p50 <= s.p95 <= s.p99 <= s.max
    assert s.min <= s.mean <= s.max or math.isclose(s.mean, s.min) or math.isclose(s.mean, s.max)
