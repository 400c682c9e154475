"""Domains and forecasts censored to them.

Oracles: scipy.stats.norm (the tails of the model's normal distribution; censoring piles
the mass beyond a domain bound at the bound, so a range bound inside the domain keeps its
normal tail and one at or beyond the domain's edge has none); names and units as
Prometheus' naming conventions (https://prometheus.io/docs/practices/naming/) use them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from monitoring_core.analytics import forecast, to_buckets
from monitoring_core.analytics.domain import (
    FREE,
    NON_NEGATIVE,
    PERCENT,
    UNIT_INTERVAL,
    Domain,
    bound_forecast,
    infer_domain,
    probability_outside_within,
)


def two_minute_means(values: np.ndarray) -> pd.Series:
    index = pd.date_range("2026-01-01", periods=len(values), freq="15s")
    return to_buckets(pd.Series(values, index=index), bucket="2min").frame["mean"]


@pytest.mark.parametrize(
    ("metric", "values", "kwargs", "expected"),
    [
        ("node_cpu_seconds_total", [5.0], {"transform": "rate"}, (NON_NEGATIVE, "type")),
        ("node_load1", [0.2, 3.1], {}, (NON_NEGATIVE, "name")),
        ("cacheHitRatio", [0.2, 0.9], {}, (UNIT_INTERVAL, "name")),
        ("http_errors_ratio", [0.0, 0.1], {}, (UNIT_INTERVAL, "name")),
        ("diskUsagePercent", [40.0, 99.5], {}, (PERCENT, "name")),
        ("process_resident_memory_bytes", [1e9], {}, (NON_NEGATIVE, "name")),
        ("some_gauge", [0.5, 3.0], {"unit": "ratio"}, (NON_NEGATIVE, "history")),
        ("errors", [0.5, 0.7], {"unit": "ratio"}, (UNIT_INTERVAL, "unit")),
        ("cpuTemp", [40.0, 80.0], {}, (NON_NEGATIVE, "history")),
        ("temperature_delta", [-3.0, 2.0], {}, (FREE, "default")),
        # a name the history contradicts decides nothing
        ("weird_ratio", [-0.5, 0.5], {}, (FREE, "default")),
        ("node_load1", [1.0], {"override": "free"}, (FREE, "setting")),
    ],
)
def test_domains_are_inferred_from_type_unit_name_and_history(metric, values, kwargs, expected):
    assert infer_domain(metric, values, **kwargs) == Domain(*expected)


def test_an_unknown_override_is_refused():
    with pytest.raises(ValueError, match="unknown domain"):
        infer_domain("x", [1.0], override="positive")


@pytest.mark.parametrize(("lo", "hi"), [(0.5, 2.0), (None, 1.0), (-1.0, None), (0.0, 20.0)])
def test_probabilities_outside_are_the_normal_tails_inside_the_domain(lo, hi):
    mu, sigma = 0.8, 1.1
    # lo = -1 and lo = 0 lie at or below a non-negative domain's edge: never crossed.
    expected = (norm.cdf(lo, mu, sigma) if lo is not None and lo > 0 else 0.0) + (
        norm.sf(hi, mu, sigma) if hi is not None else 0.0
    )
    got = probability_outside_within(mu, sigma, lo, hi, Domain(NON_NEGATIVE, "name"))
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_a_minimum_the_metric_can_never_cross_never_warns():
    # N(0.1, 1) puts 46 % below 0, but a load average cannot go there.
    assert norm.cdf(0, 0.1, 1) > 0.4
    assert probability_outside_within(0.1, 1.0, 0.0, None, Domain(NON_NEGATIVE, "name")) == 0.0


def test_a_forecast_near_zero_stays_non_negative_and_far_ones_are_unchanged():
    # A load average decaying towards 0 with noise: Holt's trend would forecast below 0.
    rng = np.random.default_rng(7)
    values = np.clip(np.linspace(3.0, 0.05, 360) + rng.normal(0, 0.3, 360), 0, None)
    raw = forecast(two_minute_means(values), horizon_steps=10, period=None)
    assert min(p.intervals[-1].lower for p in raw.points) < 0  # the model alone leaves 0
    bounded = bound_forecast(raw, Domain(NON_NEGATIVE, "name"))
    for before, after in zip(raw.points, bounded.points, strict=True):
        assert after.value >= 0 and all(i.lower >= 0 for i in after.intervals)
        assert after.sigma == before.sigma
        # each quantile is the model's, clipped at 0
        assert after.value == max(before.value, 0.0)
        assert [i.upper for i in after.intervals] == [max(i.upper, 0.0) for i in before.intervals]
    shifted = forecast(two_minute_means(values + 1000.0), horizon_steps=10, period=None)
    far = bound_forecast(shifted, Domain(NON_NEGATIVE, "name"))
    assert [p.value for p in far.points] == pytest.approx([p.value for p in shifted.points])


def test_a_ratio_forecast_stays_in_the_unit_interval():
    rng = np.random.default_rng(3)
    values = np.clip(0.97 + 0.02 * np.sin(np.arange(480) / 20) + rng.normal(0, 0.02, 480), 0, 1)
    raw = forecast(two_minute_means(values), horizon_steps=10, period=None)
    bounded = bound_forecast(raw, Domain(UNIT_INTERVAL, "name"))
    for point in bounded.points:
        assert 0 <= point.value <= 1
        assert all(0 <= i.lower <= i.upper <= 1 for i in point.intervals)


def test_a_free_domain_changes_nothing():
    raw = forecast(two_minute_means(np.sin(np.arange(120.0))), horizon_steps=5, period=None)
    assert bound_forecast(raw, Domain(FREE, "default")) is raw
