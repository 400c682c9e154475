"""Exponential-smoothing forecasts (Holt-Winters, Holt, SES) with intervals and holdout error.

One implementation serves the ETL (2-minute buckets) and the SLA manager (1-minute
buckets).  The smoothing parameters are chosen by a grid search: the error-correction
recursion runs once over time, vectorised over every candidate parameter set and
every series of a frame, and the candidate with the lowest in-sample SSE of the
one-step errors wins.  The same pass also yields the fit on the series without its
last ``horizon_steps`` buckets (the holdout), since that fit only sees a prefix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from monitoring_core.json_values import ResultMixin, finite_or_none, jsonable

from ._results import CONSTANT_SERIES, EMPTY, GAPS, NON_FINITE, OUTLIERS, TOO_SHORT, quiet_numpy
from .robust import hampel

HOLT_WINTERS = "holt_winters_additive"
HOLT_LINEAR = "holt_linear"
SES = "simple_exponential_smoothing"

# Data needed, in buckets of the fitted sample: the seasonal model wants two full
# periods for its initial states plus a few more to learn from.
SEASONAL_EXTRA = 4
MIN_TREND = 6
MIN_SES = 3
DEFAULT_LEVELS = (0.8, 0.95)
# Interval calibration: at least this many in-sample h-step errors, else the
# theoretical variance; errors' weights halve every max(2 m, CALIBRATION_HALF_LIFE).
MIN_CALIBRATION = 20
CALIBRATION_HALF_LIFE = 60.0
GROWTH_FACTOR = 1.5


@dataclass(frozen=True)
class Grid:
    """Candidate smoothing parameters, one entry per candidate (error-correction form)."""

    alpha: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray
    trend: np.ndarray

    @classmethod
    def build(
        cls,
        alphas: Sequence[float],
        beta_stars: Sequence[float | None],
        gammas: Sequence[float],
    ) -> Grid:
        """All (alpha, beta = alpha * beta*, gamma) with gamma <= 1 - alpha, plus no-trend ones.

        A beta* of None stands for "no trend component" (slope fixed at 0).
        """
        rows = []
        for a in alphas:
            for bs in beta_stars:
                for g in gammas:
                    if g <= 1.0 - a + 1e-12:
                        rows.append((a, 0.0 if bs is None else a * bs, g, bs is not None))
        arr = np.array([r[:3] for r in rows], dtype=float)
        return cls(arr[:, 0], arr[:, 1], arr[:, 2], np.array([r[3] for r in rows], dtype=bool))

    def without_trend(self) -> Grid:
        """The candidates without a trend component."""
        keep = ~self.trend
        return Grid(self.alpha[keep], self.beta[keep], self.gamma[keep], self.trend[keep])


# Seasonal: no alpha above 0.6 and no gamma 0.3 (never or rarely chosen in the
# analytics benchmark's fits), but gamma up to 0.9: a period that is not a whole number
# of buckets (45 min = 22.5) drifts, and statsmodels fits gamma ~0.9 there.
SEASONAL_GRID = Grid.build(
    (0.01, 0.03, 0.06, 0.1, 0.2, 0.35, 0.6),
    (None, 0.0, 0.02, 0.1, 0.3),
    (0.0, 0.05, 0.15, 0.5, 0.7, 0.9),
)
NONSEASONAL_GRID = Grid.build(
    (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.65, 0.8, 0.95, 1.0),
    (None, 0.0, 0.02, 0.05, 0.1, 0.2, 0.4),
    (0.0,),
)


@dataclass(frozen=True)
class PredictionInterval(ResultMixin):
    """A central prediction interval at ``level`` (e.g. 0.95)."""

    level: float
    lower: float | None
    upper: float | None


@dataclass(frozen=True)
class ForecastPoint(ResultMixin):
    """One forecast step: the point forecast, its standard deviation and intervals.

    Attributes
    ----------
    timestamp : pandas.Timestamp or None
        Start of the forecast bucket (None when the input had no DatetimeIndex).
    step : int
        1 for the first bucket after the data.
    value : float or None
        Point forecast (mean of the forecast distribution).
    sigma : float or None
        Standard deviation of the h-step forecast error under a normal distribution:
        the calibrated half-width at the widest level divided by its normal quantile
        (so ``probability_outside`` agrees with that interval); the theoretical
        ``sigma_h`` when too few errors calibrate.
    intervals : tuple of PredictionInterval
        ``value -/+ z_{(1+level)/2} * sigma`` for each level.
    """

    timestamp: pd.Timestamp | None
    step: int
    value: float | None
    sigma: float | None
    intervals: tuple[PredictionInterval, ...]


@dataclass(frozen=True)
class HoldoutError(ResultMixin):
    """Error of the same model refitted without the last ``steps`` buckets.

    Attributes
    ----------
    steps : int
        Buckets held out and forecast.
    mae : float or None
        Mean absolute error on the held-out buckets.
    mase : float or None
        ``mae / naive_mae``: the MAE scaled by the in-sample MAE of the naive one-step
        forecast (``mean |y_t - y_{t-1}|`` over the fitted buckets).  Below 1 beats
        the naive forecast's in-sample accuracy.
    naive_mae : float or None
        The scale.
    reason, detail : str or None
        ``"too_short"`` (no room for a holdout) or ``"constant_series"`` (scale 0: no MASE).
    """

    steps: int
    mae: float | None
    mase: float | None
    naive_mae: float | None
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Forecast(ResultMixin):
    """A forecast of one bucketed series.

    Attributes
    ----------
    model : str or None
        ``"holt_winters_additive"`` (ETS(A,A,A), or ETS(A,N,A) when ``trend`` is False),
        ``"holt_linear"`` (ETS(A,A,N)) or ``"simple_exponential_smoothing"`` (ETS(A,N,N)).
    model_reason : str or None
        Why this family: ``"season"``, ``"no_season"`` (no period given),
        ``"too_short_for_season"`` or ``"too_short_for_trend"``.
    trend : bool or None
        Whether the chosen model has a trend component.
    period : int or None
        Seasonal period in buckets used by the model.
    alpha, beta, gamma : float or None
        Smoothing parameters in error-correction form (``beta = alpha * beta*`` of the
        component form; ``gamma`` is the same in both).  None when not in the model.
    sigma : float or None
        Standard deviation of the in-sample one-step errors, ``sqrt(SSE / (n - k))``
        with k the number of smoothing parameters.
    n_train : int
        Buckets fitted.
    points : tuple of ForecastPoint
        ``horizon_steps`` points.
    holdout : HoldoutError or None
        Error of the same model choice with the last ``horizon_steps`` buckets held out.
    reason, detail : str or None
        ``"too_short"``, ``"empty"``; ``"gaps"`` when the input had NaN and only its
        NaN-free tail was used (the forecast is still given).
    error_paths : numpy.ndarray or None
        The model's in-sample error paths (``error_paths``: steps x past origins), from
        which forecast paths learn how their steps move together; None unless asked for
        (``with_error_paths``); not in ``to_dict``.
    """

    model: str | None
    model_reason: str | None
    trend: bool | None
    period: int | None
    alpha: float | None
    beta: float | None
    gamma: float | None
    sigma: float | None
    n_train: int
    points: tuple[ForecastPoint, ...]
    holdout: HoldoutError | None
    reason: str | None = None
    detail: str | None = None
    # The model's own in-sample h-step errors, one column per past origin (see
    # ``error_paths``): what the forecast's paths learn their correlation from. Not part
    # of the result's JSON.
    error_paths: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON types, without ``error_paths``."""
        return {
            f.name: jsonable(getattr(self, f.name)) for f in fields(self) if f.name != "error_paths"
        }


@quiet_numpy
def probability_outside(point: ForecastPoint, lo: float | None, hi: float | None) -> float:
    """Probability that the value at ``point`` falls below ``lo`` or above ``hi``.

    Method: the forecast distribution is normal with mean ``point.value`` and standard
    deviation ``point.sigma``: ``Phi((lo - mu) / sigma) + 1 - Phi((hi - mu) / sigma)``.
    A None bound is open.  With ``sigma == 0`` the answer is 0 or 1.  Raises ValueError
    for a point without a value (check ``Forecast.reason`` first).
    """
    if point.value is None or point.sigma is None:
        raise ValueError("the forecast point has no value: check Forecast.reason")
    mu, sigma = point.value, point.sigma
    below = above = 0.0
    if sigma <= 0.0:
        below = 1.0 if lo is not None and mu < lo else 0.0
        above = 1.0 if hi is not None and mu > hi else 0.0
    else:
        if lo is not None:
            below = float(ndtr((lo - mu) / sigma))
        if hi is not None:
            above = float(ndtr((mu - hi) / sigma))
    return min(1.0, below + above)


def horizon_variance_factor(
    h: np.ndarray, alpha: float, beta: float, gamma: float, period: int | None
) -> np.ndarray:
    """Ratio of the h-step to the one-step forecast error variance for ETS(A,A,A).

    Hyndman, Koehler, Ord and Snyder (2008), Table 6.1 (class 1), also fpp3 section 8.7:
    ``1 + (h-1) (alpha^2 + alpha beta h + beta^2 h (2h-1) / 6)
    + gamma k (2 alpha + gamma + beta m (k+1))`` with ``k = floor((h-1)/m)``.
    ``beta = 0`` gives ETS(A,N,A); ``gamma = 0`` ETS(A,A,N); both ETS(A,N,N).
    """
    h = np.asarray(h, dtype=float)
    out = 1.0 + (h - 1.0) * (alpha**2 + alpha * beta * h + beta**2 * h * (2.0 * h - 1.0) / 6.0)
    if period:
        k = np.floor((h - 1.0) / period)
        out = out + gamma * k * (2.0 * alpha + gamma + beta * period * (k + 1.0))
    return out


@dataclass(frozen=True)
class _Fit:
    """Winning candidate and final states of the grid search, per series."""

    best: np.ndarray  # (S,) index into the grid
    sse: np.ndarray  # (S,)
    level: np.ndarray  # (S,)
    slope: np.ndarray  # (S,)
    season: np.ndarray | None  # (m, S) seasonal states, next phase first
    errors: np.ndarray  # (time, S) one-step errors of the winning candidate


_States = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]
_Snapshot = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]


def _initial_states(y: np.ndarray, period: int | None, usable: int) -> _States:
    """Heuristic initial states (at time -1) with and without a trend, per series.

    Non-seasonal: a least-squares line through the first ``min(n, 10)`` buckets
    gives level and slope; without trend the level is their mean.  Seasonal: the
    first ``K = min(n // m, 4)`` full cycles; the slope is the least-squares slope
    of the cycle means (per bucket), the level the first cycle mean moved back to
    time -1, and each seasonal state the phase mean of ``y`` minus that line,
    centred to sum to zero.  Only the first ``usable`` buckets are read, so that the
    holdout fit never sees the held-out buckets.
    """
    s = y.shape[0]
    if not period:
        w = min(usable, 10)
        t = np.arange(1, w + 1, dtype=float)
        tc = t - t.mean()
        head = y[:, :w]
        mean = head.mean(axis=1)
        slope = (head - mean[:, None]) @ tc / float(tc @ tc)
        level = mean - slope * t.mean()
        return level, slope, mean, None, None
    m = period
    k = min(usable // m, 4)
    cycles = y[:, : k * m].reshape(s, k, m)
    means = cycles.mean(axis=2)
    centres = np.arange(k, dtype=float)
    centres -= centres.mean()
    slope = (means - means.mean(axis=1, keepdims=True)) @ centres / float(centres @ centres) / m
    level = means[:, 0] - slope * (m + 1) / 2.0
    times = np.arange(1, k * m + 1, dtype=float).reshape(k, m)
    detrended = cycles - (level[:, None, None] + slope[:, None, None] * times[None])
    season = detrended.mean(axis=1)
    season -= season.mean(axis=1, keepdims=True)
    level0 = means.mean(axis=1)
    season0 = (cycles - level0[:, None, None]).mean(axis=1)
    season0 -= season0.mean(axis=1, keepdims=True)
    return level, slope, level0, season, season0


def _lagged_products(e: np.ndarray, lo: int, hi: int, lags: int) -> np.ndarray:
    """``sum_{t=lo}^{hi-1} e_t e_{t-d}`` for ``d = 0..lags-1`` (``t - d >= 0``), per candidate."""
    out = np.zeros((lags, *e.shape[1:]))
    for d in range(lags):
        start = max(lo, d)
        if start < hi:
            out[d] = np.einsum("tsc,tsc->sc", e[start:hi], e[start - d : hi - d])
    return out


def _horizon_loss(gammas: np.ndarray, grid: Grid, period: int | None, horizon: int) -> np.ndarray:
    """Sum over ``h = 1..horizon`` of every candidate's squared in-sample h-step errors.

    The h-step error ending at ``t`` is ``sum_{j<h} c_j e_{t-j}`` with ``c_0 = 1``,
    ``c_j = alpha + j beta + gamma 1[j mod m = 0]`` (see ``calibrated_spread``), so its
    sum of squares is ``sum_{j,k<h} c_j c_k G(|j-k|)`` with ``G(d)`` the lagged
    products of the one-step errors (``gammas``; end effects of a few terms ignored).
    """
    c = [np.ones_like(grid.alpha)]
    for j in range(1, horizon):
        cj = grid.alpha + j * grid.beta
        if period and j % period == 0:
            cj = cj + grid.gamma
        c.append(cj)
    # sum_h sum_{j,k<h} = sum_{j,k} (horizon - max(j, k)): one weight per lag |j - k|.
    weights = [np.zeros_like(grid.alpha) for _ in range(horizon)]
    for j in range(horizon):
        for k in range(horizon):
            weights[abs(j - k)] += (horizon - max(j, k)) * c[j] * c[k]
    loss = weights[0][None, :] * gammas[0]
    for d in range(1, horizon):
        loss += weights[d][None, :] * gammas[d]
    return loss


def _run_grid(
    y: np.ndarray, period: int | None, grid: Grid, cut: int | None, horizon: int = 1
) -> tuple[_Fit, _Fit | None]:
    """Run the ETS error-correction recursion for every candidate and series at once.

    ``y`` is (S, n).  Returns the best fit on all of ``y`` and, when ``cut`` is given,
    the best fit on ``y[:, :cut]`` (its states taken at time ``cut``).
    """
    s, n = y.shape
    usable = n if cut is None else cut
    level_t, slope_t, level_n, season_t, season_n = _initial_states(y, period, usable)
    trend = grid.trend[None, :]
    level = np.where(trend, level_t[:, None], level_n[:, None])
    slope = np.where(trend, slope_t[:, None], 0.0)
    sse = np.zeros_like(level)
    snapshot: _Snapshot | None = None
    ys = np.ascontiguousarray(y.T)[:, :, None]  # (n, S, 1)
    # Every candidate's one-step errors, kept to calibrate the winner's intervals.
    errors = np.empty((n, *level.shape))
    tmp = np.empty_like(level)
    # The loop is all small in-place ufunc calls, which cost more to call than to compute:
    # level and slope are one array (rows 0 and 1) and one call multiplies the error by
    # alpha, beta and, with a season, gamma (full-shape rows, so that the call broadcasts
    # over its outer axis only). Each number goes through the same operations in the same
    # order as in the textbook recursion (tests/unit/test_analytics_forecasting.py).
    states = np.stack([level, slope])  # (2, S, C)
    level, slope = states[0], states[1]
    rows = 3 if period else 2
    coefficients = np.ascontiguousarray(
        np.broadcast_to(
            np.stack([grid.alpha, grid.beta, grid.gamma][:rows])[:, None],
            (rows, s, grid.alpha.size),
        )
    )
    gains = np.empty_like(coefficients)
    level_slope_gains = gains[:2]
    season: np.ndarray | None = None
    if period:
        m = period
        assert season_t is not None and season_n is not None
        # seasonal states as a ring buffer (m, S, C): row t % m is s_{t-m} at time t.
        season = np.where(trend[None], season_t.T[:, :, None], season_n.T[:, :, None])
    for t in range(n):
        if t == cut:
            snapshot = (
                sse.copy(),
                level.copy(),
                slope.copy(),
                None if season is None else season.copy(),
            )
        # The level's row holds the one-step forecast (level + slope) until its update.
        np.add(level, slope, out=level)
        err = errors[t]
        np.subtract(ys[t], level, out=err)
        if season is not None:
            row = season[t % m]
            err -= row
        np.multiply(coefficients, err, out=gains)
        states += level_slope_gains
        if season is not None:
            row += gains[2]
        np.multiply(err, err, out=tmp)
        sse += tmp

    # Candidates are ranked by their in-sample errors over the whole horizon (after the
    # initial states' burn-in), not by one-step errors alone: a forecast 10 minutes
    # ahead is what is asked for, and one-step SSE favours nervous (high alpha, beta)
    # fits after a level shift or on a drifting season. The loss needs a horizon of errors
    # after the burn-in, no more: asking for two (as it once did) left a 60-minute horizon on
    # 3 hours of minutes to the one-step SSE, whose alpha-0.6 fits froze a growing series'
    # slope at its first cycles' (bench_warnings' growth family: 1.8 sigma low at 60). The
    # cost, on an hour of 2-minute buckets ranked on 15 errors: MASE 1.45 -> 1.48 on
    # bench_accuracy's seasonal families; 12-hour windows did not move.
    burn = min(2 * period if period else MIN_TREND, n // 3)
    use_loss = horizon > 1 and burn + horizon <= usable
    if use_loss:
        e = errors[burn:]
        split = usable - burn
        part = _lagged_products(e, 0, split, horizon)
        loss_held = _horizon_loss(part, grid, period, horizon)
        part += _lagged_products(e, split, e.shape[0], horizon)
        loss_full = _horizon_loss(part, grid, period, horizon)

    def pick(state: _Snapshot, time: int) -> _Fit:
        sse_, level_, slope_, season_ = state
        rank = sse_
        if use_loss:
            rank = loss_full if time == n else loss_held
        # Non-finite losses (overflow on wild data) must never win.
        rank = np.where(np.isfinite(rank) & np.isfinite(sse_), rank, np.inf)
        best = np.argmin(rank, axis=1)
        rows = np.arange(s)
        seas = None
        if season_ is not None and period:
            phase = (np.arange(period) + time) % period
            seas = season_[phase][:, rows, best]
        errs = errors[:time, rows, best]
        return _Fit(best, sse_[rows, best], level_[rows, best], slope_[rows, best], seas, errs)

    full = pick((sse, level, slope, season), n)
    held = pick(snapshot, cut) if snapshot is not None and cut is not None else None
    return full, held


def _point_forecasts(fit: _Fit, steps: int) -> np.ndarray:
    """(S, steps) point forecasts ``l + h b + s_{h}`` from the fitted states."""
    h = np.arange(1, steps + 1, dtype=float)
    out = fit.level[:, None] + fit.slope[:, None] * h[None, :]
    if fit.season is not None:
        m = fit.season.shape[0]
        out = out + fit.season[(np.arange(steps) % m)].T
    return out


def error_paths(errors: np.ndarray, coefficients: np.ndarray, burn: int) -> np.ndarray:
    """The in-sample forecast error paths: ``E[h - 1, i]`` is the h-step error from origin
    ``burn + i``, for ``h = 1..steps`` and every origin whose steps all lie in the sample.

    Method: as ``calibrated_spread``, the h-step error from origin ``t`` is ``sum_{j<h} c_j
    e_{t+h-j}`` given the one-step errors ``e`` (Hyndman et al. 2008, section 6.1); here
    the steps of one column share their origin, so a column is one past forecast's whole
    error path (its steps' correlation is what a forecast path should have).
    """
    steps = coefficients.size
    e = errors[burn:]
    origins = e.size - steps + 1
    if origins < 1:
        return np.empty((steps, 0))
    # Row h - 1, column i: sum_{j<h} c_j e[i + h - 1 - j]; window[k] = e[k : k + origins].
    window = np.lib.stride_tricks.sliding_window_view(e, origins)
    out = np.zeros((steps, origins))
    for j in range(steps):
        out[j:] += coefficients[j] * window[: steps - j]
    return out


def calibrated_spread(
    errors: np.ndarray,
    coefficients: np.ndarray,
    levels: Sequence[float],
    *,
    burn: int,
    half_life: float,
    level_at: np.ndarray | None = None,
    level_ahead: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """h-step error sd and interval half-widths from the model's own in-sample errors.

    Method: for ETS with additive errors the h-step forecast error from origin ``t``
    is ``e_{t+h} + sum_{j=1}^{h-1} c_j e_{t+h-j}`` with ``c_j = alpha + j beta +
    gamma 1[j mod m = 0]`` (Hyndman et al. 2008, section 6.1), exactly, given the
    one-step errors ``e``.  Applied to the fitted one-step errors after ``burn``
    buckets (the heuristic initial states), this gives every in-sample h-step error;
    the half-width at ``level`` is their weighted ``level`` quantile of the absolute
    value, weights halving every ``half_life`` buckets back from the end (errors grow
    with the level under multiplicative growth, or change after a shift).  With
    ``level_at`` (the fitted level at each time) and ``level_ahead`` (the point
    forecasts), the errors are taken relative to the level at their time and the
    results scaled by the level ahead: errors proportional to the level.  Returns
    ``(sd_h, half_widths[level, h])``, or None below ``MIN_CALIBRATION`` errors.
    """
    steps = coefficients.size
    e = errors[burn:]
    if e.size - steps + 1 < MIN_CALIBRATION:
        return None
    # Row h-1: the h-step errors ending at the same times for every h.
    acc = e[steps - 1 :].copy()
    rows = [acc]
    for j in range(1, steps):
        acc = acc + coefficients[j] * e[steps - 1 - j : e.size - j]
        rows.append(acc)
    eh = np.abs(np.vstack(rows))
    if level_at is not None:
        eh = eh / np.abs(level_at[burn + steps - 1 :])[None, :]
    w = 0.5 ** (np.arange(eh.shape[1])[::-1] / half_life)
    total = float(w.sum())
    sds = np.sqrt((eh * eh) @ w / total)
    order = np.argsort(eh, axis=1)
    ranked = np.take_along_axis(eh, order, axis=1)
    cum = np.cumsum(w[order], axis=1)
    widths = np.empty((len(levels), steps))
    for i, lv in enumerate(levels):
        k = np.minimum((cum < lv * total).sum(axis=1), eh.shape[1] - 1)
        widths[i] = ranked[np.arange(steps), k]
    if level_ahead is not None:
        sds = sds * np.abs(level_ahead)
        widths = widths * np.abs(level_ahead)[None, :]
    return sds, widths


def _choose_family(n: int, period: int | None) -> tuple[str, Grid | None, int | None]:
    if period is not None and period >= 2 and n >= 2 * period + SEASONAL_EXTRA:
        return "season", SEASONAL_GRID, period
    if n >= MIN_TREND:
        why = "no_season" if not period else "too_short_for_season"
        return why, NONSEASONAL_GRID, None
    if n >= MIN_SES:
        return "too_short_for_trend", NONSEASONAL_GRID.without_trend(), None
    return "too_short", None, None


def _no_forecast(reason: str, detail: str, n: int = 0) -> Forecast:
    return Forecast(None, None, None, None, None, None, None, None, n, (), None, reason, detail)


@quiet_numpy
def forecast_frame(
    frame: pd.DataFrame,
    horizon_steps: int,
    period: int | None,
    levels: Sequence[float] = DEFAULT_LEVELS,
    with_error_paths: bool = False,
) -> dict[str, Forecast]:
    """Forecast every column of a regular bucket frame (e.g. mean/min/max) at once.

    Same method as ``forecast`` (which is this function on one column); the columns
    share the model family and the grid but each gets its own parameters.  Rows with
    a NaN in any column split the frame: only the NaN-free tail is used.
    ``with_error_paths`` also keeps each forecast's in-sample ``error_paths`` (the SLA
    manager's exit probabilities need them; the ETL does not compute them).
    """
    if horizon_steps < 1:
        raise ValueError("horizon_steps must be at least 1")
    if any(not 0.0 < lv < 1.0 for lv in levels):
        raise ValueError("levels must be in (0, 1)")
    columns = [str(c) for c in frame.columns]
    y_all = np.asarray(frame.to_numpy(dtype=float, na_value=np.nan), dtype=float).T
    detail_gaps: str | None = None
    bad = ~np.all(np.isfinite(y_all), axis=0)
    start = 0
    if bad.any():
        start = int(np.flatnonzero(bad)[-1]) + 1
        detail_gaps = (
            f"NaN in the buckets: kept the {y_all.shape[1] - start} buckets after the last"
        )
    y = np.ascontiguousarray(y_all[:, start:])
    n = y.shape[1]
    if n == 0:
        return {c: _no_forecast(EMPTY if start == 0 else GAPS, "no usable bucket") for c in columns}

    holdout_ok = n - horizon_steps >= MIN_SES
    n_fit = n - horizon_steps if holdout_ok else n
    why, grid, used_period = _choose_family(n_fit, period)
    if grid is None:
        short = f"{n} buckets: at least {MIN_SES} needed"
        return {c: _no_forecast(TOO_SHORT, short, n) for c in columns}
    cut = n_fit if holdout_ok else None
    # Fit on standardised series: the recursion and the SSE ranking are equivariant
    # under y -> (y - c) / s, and this keeps huge offsets or scales from losing
    # precision or overflowing.
    # Spikes would dominate the SSE (and the standardisation below): fit on a copy with
    # them replaced by the running median, and say so.
    raw = y
    cleaned = hampel(y)
    y = cleaned.values
    centre = y.mean(axis=1)
    scale = np.abs(y - centre[:, None]).max(axis=1)
    scale = np.where(np.isfinite(scale) & (scale > 0.0), scale, 1.0)
    full, held = _run_grid(
        (y - centre[:, None]) / scale[:, None], used_period, grid, cut, horizon_steps
    )

    index = frame.index[start:]
    stamps: list[pd.Timestamp | None] = [None] * horizon_steps
    if isinstance(index, pd.DatetimeIndex) and len(index) >= 1:
        width = index.freq if index.freq is not None else None
        if width is None and len(index) >= 2:
            width = pd.Timedelta(int(np.median(np.diff(index.as_unit("ns").asi8))), unit="ns")
        if width is not None:
            stamps = [index[-1] + width * h for h in range(1, horizon_steps + 1)]

    values = _point_forecasts(full, horizon_steps) * scale[:, None] + centre[:, None]
    held_values = None
    if held is not None:
        held_values = _point_forecasts(held, horizon_steps) * scale[:, None] + centre[:, None]
    zs = [(float(lv), float(ndtri((1.0 + lv) / 2.0))) for lv in levels]
    steps = np.arange(1, horizon_steps + 1)
    out: dict[str, Forecast] = {}
    for i, name in enumerate(columns):
        b = int(full.best[i])
        has_trend = bool(grid.trend[b])
        a, bt, g = float(grid.alpha[b]), float(grid.beta[b]), float(grid.gamma[b])
        k_params = 1 + int(has_trend) + int(used_period is not None)
        sigma = scale[i] * math.sqrt(max(float(full.sse[i]), 0.0) / max(n - k_params, 1))
        factors = horizon_variance_factor(steps, a, bt, g, used_period)
        sigmas = sigma * np.sqrt(factors)
        widths = np.array([z * sigmas for _, z in zs])
        coefficients = np.array(
            [1.0]
            + [
                a + j * bt + (g if used_period and j % used_period == 0 else 0.0)
                for j in range(1, horizon_steps)
            ]
        )
        # One-step errors on the raw scale: a replaced spike still counts as an error.
        errors = full.errors[:, i] * scale[i] + (raw[i] - y[i])[: full.errors.shape[0]]
        burn = min(2 * used_period if used_period else MIN_TREND, n // 3)
        # Errors proportional to the level (growth): when the fitted level stays
        # positive and grows or falls by a factor of at least GROWTH_FACTOR.
        fitted = y[i, : errors.size] - full.errors[:, i] * scale[i]
        late = fitted[burn:]
        relative = (
            late.size > 0
            and float(late.min()) > 0.0
            and float(late.max()) >= GROWTH_FACTOR * float(late.min())
            and bool(np.all(values[i] > 0.0))
        )
        spread = calibrated_spread(
            errors,
            coefficients,
            [lv for lv, _ in zs],
            burn=burn,
            half_life=max(2.0 * (used_period or 0), CALIBRATION_HALF_LIFE),
            level_at=fitted if relative else None,
            level_ahead=values[i] if relative else None,
        )
        if spread is not None:
            # Each point's sigma is that of the normal distribution whose central
            # interval at the widest level is the calibrated one, so that
            # probability_outside (the SLA manager's tails) agrees with that interval.
            _, widths = spread
            top = max(range(len(zs)), key=lambda k: zs[k][0])
            sigmas = widths[top] / zs[top][1]
        points = []
        for j in range(horizon_steps):
            mu, sd = float(values[i, j]), float(sigmas[j])
            intervals = tuple(
                PredictionInterval(
                    lv,
                    finite_or_none(mu - widths[k, j]),
                    finite_or_none(mu + widths[k, j]),
                )
                for k, (lv, _) in enumerate(zs)
            )
            points.append(
                ForecastPoint(stamps[j], j + 1, finite_or_none(mu), finite_or_none(sd), intervals)
            )
        holdout = _holdout(raw[i], y[i], n_fit, horizon_steps, held_values, i)
        reason = GAPS if detail_gaps else None
        detail = detail_gaps
        spikes = int(cleaned.outliers[i].sum())
        if spikes:
            robust = (
                f"fitted with {spikes} outlying buckets replaced by the running median "
                "(Hampel filter, 7 buckets, 6 robust sigmas)"
            )
            reason = reason or OUTLIERS
            detail = f"{detail}; {robust}" if detail else robust
        if not math.isfinite(sigma) or not np.all(np.isfinite(values[i])):
            reason, detail = NON_FINITE, "the fit overflowed the float range: no sigma"
        if used_period is not None:
            model = HOLT_WINTERS
        else:
            model = HOLT_LINEAR if has_trend else SES
        out[name] = Forecast(
            model=model,
            model_reason=why,
            trend=has_trend,
            period=used_period,
            alpha=a,
            beta=bt if has_trend else None,
            gamma=g if used_period is not None else None,
            sigma=finite_or_none(sigma),
            n_train=n,
            points=tuple(points),
            holdout=holdout,
            reason=reason,
            detail=detail,
            error_paths=error_paths(errors, coefficients, burn) if with_error_paths else None,
        )
    return out


def _holdout(
    y: np.ndarray,
    fitted: np.ndarray,
    n_fit: int,
    steps: int,
    held_values: np.ndarray | None,
    i: int,
) -> HoldoutError:
    if held_values is None:
        return HoldoutError(
            steps, None, None, None, TOO_SHORT, f"{y.size} buckets leave no room for a holdout"
        )
    actual = y[n_fit : n_fit + steps]
    mae = float(np.mean(np.abs(actual - held_values[i, : actual.size])))
    # The scale from the buckets the model saw (spikes replaced), the error on the raw ones.
    scale = float(np.mean(np.abs(np.diff(fitted[:n_fit])))) if n_fit >= 2 else 0.0
    if not scale > 0.0:
        return HoldoutError(
            steps,
            finite_or_none(mae),
            None,
            finite_or_none(scale),
            CONSTANT_SERIES,
            "the fitted buckets are constant: the naive forecast's MAE is 0, no MASE",
        )
    return HoldoutError(steps, finite_or_none(mae), finite_or_none(mae / scale), scale)


def forecast(
    buckets: pd.Series,
    horizon_steps: int,
    period: int | None,
    levels: Sequence[float] = DEFAULT_LEVELS,
    with_error_paths: bool = False,
) -> Forecast:
    """Forecast a regular bucketed series with exponential smoothing.

    Method: additive Holt-Winters, ETS(A,A,A) or ETS(A,N,A), at ``period`` when the
    fitted sample holds at least ``2 * period + 4`` buckets; otherwise Holt's linear
    trend ETS(A,A,N) or simple exponential smoothing ETS(A,N,N) (the trend is kept
    only when it lowers the SSE; SES alone below 6 buckets; nothing below 3).  The
    initial states are heuristic (see ``_initial_states``); alpha, beta, gamma come
    from a fixed grid (``seasonal_grid``) minimising the in-sample SSE of one-step
    errors.  Point forecasts ``l_n + h b_n + s_{n+h-m(k+1)}``; the h-step error
    variance is ``sigma^2`` times ``horizon_variance_factor`` (Hyndman et al. 2008,
    class 1), intervals ``value -/+ z sigma_h`` under normal errors.  The holdout
    refits the same family on all but the last ``horizon_steps`` buckets (chosen on
    that shorter sample so both fits agree) and reports MAE and MASE.

    Parameters
    ----------
    buckets : pandas.Series
        Regular buckets (DatetimeIndex with a fixed step; NaN splits: the tail is used).
    horizon_steps : int
        Buckets to forecast (>= 1).
    period : int or None
        Seasonal period in buckets, e.g. ``Seasonality.period_buckets``.
    levels : sequence of float
        Central interval levels, default 0.8 and 0.95.
    with_error_paths : bool
        Keep the model's in-sample error paths (``Forecast.error_paths``).

    Returns
    -------
    Forecast
        Points with intervals and sigma, the model and why, the holdout error; or a
        ``reason``.  Deterministic.  Raises ValueError only for invalid parameters.
    """
    frame = buckets.to_frame(name="value")
    return forecast_frame(frame, horizon_steps, period, levels, with_error_paths)["value"]
