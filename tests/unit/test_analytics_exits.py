"""Exit probabilities over a horizon, from correlated forecast paths.

Oracle: the ETS(A,A,A) state recursion itself, simulated step by step with normal
innovations (Hyndman, Koehler, Ord and Snyder 2008, eq. 2.11 in error-correction form),
which shares nothing with the weights-matrix shortcut in exits.py; and, for one step,
the normal distribution's closed form (scipy).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from monitoring_core.analytics.exits import (
    MIN_PATHS,
    exit_forecast,
    innovation_weights,
    path_correlation,
)


def simulate_ets(level, slope, season, alpha, beta, gamma, sigma, steps, paths, seed=1):
    """Paths of ETS(A,A,A) from given states: y = l + b + s_{t-m} + e, then the updates."""
    rng = np.random.default_rng(seed)
    m = len(season)
    out = np.empty((steps, paths))
    lv = np.full(paths, level, dtype=float)
    b = np.full(paths, slope, dtype=float)
    s = np.tile(np.asarray(season, dtype=float)[:, None], (1, paths))  # s[0] is next phase
    for h in range(steps):
        e = rng.normal(0, sigma, paths)
        seasonal = s[h % m]
        out[h] = lv + b + seasonal + e
        lv, b = lv + b + alpha * e, b + beta * e
        s[h % m] = seasonal + gamma * e
    return out


def test_the_weights_give_the_textbook_horizon_variance():
    # sigma_h^2 / sigma^2 = 1 + sum_{j=1}^{h-1} c_j^2 (HKOS 2008 Table 6.1, class 1)
    alpha, beta, gamma, m = 0.3, 0.1, 0.2, 4
    c = innovation_weights(9, alpha, beta, gamma, m)
    assert c[0] == 1 and c[4] == pytest.approx(alpha + 4 * beta + gamma)
    assert c[3] == pytest.approx(alpha + 3 * beta)


def test_one_step_is_the_normal_tail():
    got = exit_forecast(
        np.array([10.0]), np.array([2.0]), alpha=0.5, beta=None, gamma=None, period=None,
        low=None, high=12.0, paths=200_000,
    )  # fmt: skip
    assert got.probability == pytest.approx(norm.sf(1.0), abs=0.003)
    assert got.first_exit_median == 1


@pytest.mark.parametrize(("low", "high"), [(None, 57.0), (44.0, 58.0), (47.0, None)])
def test_exit_probability_equals_the_ets_recursion(low, high):
    alpha, beta, gamma, sigma, steps = 0.4, 0.05, 0.1, 1.5, 15
    season = [2.0, -1.0, -2.0, 1.0]
    paths = simulate_ets(50.0, 0.3, season, alpha, beta, gamma, sigma, steps, 40_000)
    values = paths.mean(axis=1)  # the point forecasts (the recursion's expectation)
    c = innovation_weights(steps, alpha, beta, gamma, len(season))
    sigmas = sigma * np.sqrt(np.cumsum(c**2))
    outside = np.zeros_like(paths, dtype=bool)
    if low is not None:
        outside |= paths < low
    if high is not None:
        outside |= paths > high
    expected = outside.any(axis=0).mean()
    got = exit_forecast(
        values, sigmas, alpha=alpha, beta=beta, gamma=gamma, period=len(season),
        low=low, high=high, paths=40_000,
    )  # fmt: skip
    assert 0.02 < expected < 0.98
    assert got.probability == pytest.approx(expected, abs=0.015)
    first = outside[:, outside.any(axis=0)].argmax(axis=0) + 1
    assert got.first_exit_median == pytest.approx(np.median(first), abs=1)


def test_a_flat_forecast_near_a_bound_warns_where_no_single_minute_does():
    # Every minute alone is outside with probability 0.16 (< 0.5); a random walk near the
    # bound leaves it within 30 minutes far more often than not.
    values, sigmas = np.full(30, 9.0), np.sqrt(np.arange(1, 31.0)) * 0.5
    per_minute = norm.sf((10.0 - values) / sigmas)
    got = exit_forecast(
        values, sigmas, alpha=1.0, beta=None, gamma=None, period=None, low=None, high=10.0
    )
    assert per_minute.max() < 0.5 < got.probability


def test_a_bound_the_domain_never_reaches_is_never_crossed():
    got = exit_forecast(
        np.full(10, 0.1), np.full(10, 1.0), alpha=0.5, beta=None, gamma=None, period=None,
        low=0.0, high=None, floor=0.0,
    )  # fmt: skip
    assert got.probability == 0.0 and got.first_exit_median is None


def test_the_answer_is_the_same_at_every_call():
    args = dict(alpha=0.5, beta=0.1, gamma=None, period=None, low=None, high=11.0)
    a = exit_forecast(np.full(10, 10.0), np.full(10, 1.0), **args)
    assert a == exit_forecast(np.full(10, 10.0), np.full(10, 1.0), **args)


def test_skipped_steps_shape_the_paths_but_do_not_count():
    # Step 1 is far outside, the others far inside: skipping it leaves no exit.
    values, sigmas = np.array([100.0, 0.0, 0.0]), np.full(3, 0.1)
    args = dict(alpha=0.5, beta=None, gamma=None, period=None, low=None, high=50.0)
    assert exit_forecast(values, sigmas, **args).probability == 1.0
    assert exit_forecast(values, sigmas, skip=1, **args).probability == 0.0


def test_ar1_weights_give_the_exit_probability_of_the_ar1_recursion():
    # Oracle: x_h - mu = phi (x_{h-1} - mu) + e_h simulated step by step from x_0 = 58
    # (the AR(1) recursion itself); exit_forecast only gets the weights phi^j and each
    # step's closed-form centre and scale.
    phi, mu, sigma, steps, start, high = 0.85, 50.0, 1.0, 30, 58.0, 57.0
    rng = np.random.default_rng(3)
    x = np.full(40_000, start)
    paths = np.empty((steps, x.size))
    for h in range(steps):
        x = mu + phi * (x - mu) + rng.normal(0, sigma, x.size)
        paths[h] = x
    expected = (paths > high).any(axis=0).mean()
    h = np.arange(1, steps + 1)
    values = mu + phi**h * (start - mu)
    sigmas = sigma * np.sqrt((1 - phi ** (2 * h)) / (1 - phi**2))
    got = exit_forecast(
        values, sigmas, alpha=0.0, beta=None, gamma=None, period=None, low=None, high=high,
        paths=40_000, weights=phi ** np.arange(steps, dtype=float),
    )  # fmt: skip
    assert 0.1 < expected < 0.9
    assert got.probability == pytest.approx(expected, abs=0.015)
    # The smoothing model's weights (alpha = 0: independent steps) would see far more exits.
    independent = exit_forecast(
        values, sigmas, alpha=0.0, beta=None, gamma=None, period=None, low=None, high=high,
        paths=40_000,
    )  # fmt: skip
    assert independent.probability > expected + 0.1


def test_the_steps_correlation_is_the_past_paths_shrunk_towards_the_models():
    # Hand computation: past paths that are one constant per column have a sample
    # correlation of 1 everywhere; the model's here is the identity; 40 paths of 10 steps
    # shrink by 10 / (10 + 40) = 0.2 towards it.
    rng = np.random.default_rng(3)
    paths = np.tile(rng.normal(0, 2, 40), (10, 1))
    got = path_correlation(np.eye(10), paths)
    assert got is not None
    assert got == pytest.approx(0.8 * np.ones((10, 10)) + 0.2 * np.eye(10))


def test_too_few_past_paths_or_a_constant_step_keep_the_models_correlation():
    rng = np.random.default_rng(4)
    assert path_correlation(np.eye(5), rng.normal(size=(5, MIN_PATHS - 1))) is None
    constant = rng.normal(size=(5, 50))
    constant[2] = 1.0
    assert path_correlation(np.eye(5), constant) is None
    assert path_correlation(np.eye(5), None) is None


def test_past_errors_that_move_together_make_a_flat_forecast_cross_less_often():
    # A flat forecast, sigma 1, bound 1.5 sigma above, 10 steps, and a model whose paths
    # are nearly independent (SES with alpha 0.01). Its past error paths are one wave per
    # origin (every step the same error): a path then crosses when its one draw does,
    # P(Z > 1.5) (normal closed form), up to the shrinkage's small share of independence;
    # the model's own correlation gives about 1 - (1 - P(Z > 1.5))^10.
    steps = 10
    values, sigmas = np.full(steps, 0.0), np.full(steps, 1.0)
    waves = np.tile(np.random.default_rng(5).normal(size=2000), (steps, 1))
    common = dict(alpha=0.01, beta=None, gamma=None, period=None, low=None, high=1.5)
    model = exit_forecast(values, sigmas, paths=40_000, **common)
    learned = exit_forecast(values, sigmas, paths=40_000, error_paths=waves, **common)
    assert model.probability == pytest.approx(1 - norm.cdf(1.5) ** steps, abs=0.02)
    assert learned.probability == pytest.approx(norm.sf(1.5), abs=0.02)
