"""Season-less forecasts of 1-minute means besides smoothing, and the backtest that chooses.

Exponential smoothing without a season (SES, Holt) forecasts a flat or sloped line whose
uncertainty grows without end: right for a random walk, wrong for a series that returns to
its mean (an AR(1) such as a queue length or a latency around its usual value). Near a high
percentile the first is sure the series stays there; the second knows it comes back. Both are
scored on the series' own history by the same multi-step loss (every in-sample forecast
origin, every step up to the horizon), and the lower one is used. And on a random walk
Holt's trend is often chance (the multi-step loss barely moves with the smoothing
parameters, and a walk wanders into slopes), so a trend is kept only when its loss is lower
than the random walk's beyond chance (``beats``); else the last value is carried on.

AR(1): ``x_t - mu = phi (x_{t-1} - mu) + eps_t`` by least squares on consecutive minutes;
``phi`` is kept in [0, PHI_MAX]; the random walk is the AR(1) with ``phi`` fixed at 1
(``RANDOM_WALK``: each origin's own value carried on). Its h-step forecast is ``mu + phi^h
(x_T - mu)``; its h-step error is ``sum_{j<h} phi^j eps_{T+h-j}``, so forecast paths have
innovation weights ``phi^j`` (``exit_forecast``). Each step's scale is the root mean square
of the model's own in-sample h-step errors (variance growth measured, not assumed), never
below the theoretical ``s sqrt(sum_{j<h} phi^2j)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import statsmodels.api as sm
from scipy.stats import norm

MIN_MINUTES = 30  # fewer consecutive complete minutes: no AR(1) fit
PHI_MAX = 0.995
# The first minutes of the history start the smoothing recursion; origins before
# FIRST_ORIGIN are not scored (the expanding AR(1) fit needs some history too).
BURN = 10
FIRST_ORIGIN = 20
MIN_ERRORS = 15  # in-sample h-step errors needed to measure a step's scale
MIN_ORIGINS = 15  # past origins needed to test one model's loss against another's
RANDOM_WALK = 1.0  # phi of the random walk
# A trend replaces the random walk when the Diebold-Mariano test (one-sided) says its loss
# is lower at this level (the textbook level; nothing was tuned on the held-out seed).
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Reversion:
    """An AR(1) forecast: centres and scales per step, and the weights of its paths."""

    phi: float
    mean: float
    values: np.ndarray
    sigmas: np.ndarray
    weights: np.ndarray  # phi^j: the weight of an innovation j steps back in an h-step error
    losses: np.ndarray  # per past origin: its mean squared error over the horizon (_origin_losses)
    error_paths: np.ndarray  # (steps, origins): past forecasts' whole error paths


def smoothing_losses(y: np.ndarray, alpha: float, beta: float | None, horizon: int) -> np.ndarray:
    """Multi-step in-sample loss of SES (``beta`` None) or Holt's linear trend, per origin.

    The error-correction recursion ``l_t = l_{t-1} + b_{t-1} + alpha e_t``, ``b_t = b_{t-1}
    + beta e_t`` from the least-squares line through the first ``BURN`` minutes (as the
    shared forecast's initial states; SES: their mean); from each origin ``t >=
    FIRST_ORIGIN`` the forecast ``l_t + h b_t`` is compared with ``y_{t+h}`` for ``h =
    1..horizon`` (``_origin_losses``).
    """
    n = y.size
    head = y[: min(n, BURN)]
    t0 = np.arange(1, head.size + 1, dtype=float)
    sl = float(np.polyfit(t0, head, 1)[0]) if beta is not None and head.size > 1 else 0.0
    lv = float(head.mean() - sl * t0.mean())
    b = beta or 0.0
    levels, slopes = [], []
    for value in y.tolist():  # plain floats: the recursion is sequential
        error = value - (lv + sl)
        lv, sl = lv + sl + alpha * error, sl + b * error
        levels.append(lv)
        slopes.append(sl)
    level, slope = np.array(levels), np.array(slopes)
    return _origin_losses(_errors(y, lambda t, h: level[t] + h * slope[t], horizon), horizon)


def _errors(y: np.ndarray, predict, steps: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """``E[h - 1, i] = y[t_i + h] - predict(t_i, h)`` for the origins ``t_i >= FIRST_ORIGIN``
    and ``h = 1..steps``; NaN where ``t_i + h`` is past the history."""
    origins = np.arange(FIRST_ORIGIN, y.size - 1)
    out = np.full((steps, origins.size), np.nan)
    for h in range(1, steps + 1):
        t = origins[origins + h < y.size]
        out[h - 1, : t.size] = y[t + h] - predict(t, h)
    return out


def _origin_losses(errors: np.ndarray, horizon: int) -> np.ndarray:
    """Each origin's mean squared error over its known steps up to ``horizon`` (the last
    origins know fewer steps; NaN: none)."""
    squared = errors[:horizon] ** 2
    known = np.isfinite(squared).sum(axis=0)
    with np.errstate(invalid="ignore"):
        return np.where(known > 0, np.nansum(squared, axis=0) / np.maximum(known, 1), np.nan)


def beats(losses: np.ndarray, reference: np.ndarray, horizon: int) -> bool:
    """Whether ``losses`` (per origin) are lower than the ``reference`` model's beyond chance.

    The Diebold-Mariano test (Diebold and Mariano 1995): the mean of the per-origin loss
    differences over its standard error, here from statsmodels' OLS on a constant with
    Newey-West (HAC) covariance over ``horizon`` lags, since origins less than a horizon
    apart share errors; one-sided at ``SIGNIFICANCE``. Identical losses never beat.
    """
    d = np.asarray(losses, dtype=float) - np.asarray(reference, dtype=float)
    d = d[np.isfinite(d)]
    if d.size < MIN_ORIGINS or not np.any(d):
        return False
    fit = sm.OLS(d, np.ones(d.size)).fit(
        cov_type="HAC", cov_kwds={"maxlags": min(horizon, d.size - 1)}
    )
    return bool(fit.tvalues[0] < norm.ppf(SIGNIFICANCE))


def _expanding_fits(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``phi_t`` and ``mu_t`` of the AR(1) fitted to ``y[: t + 1]`` alone, for every ``t``
    (least squares on the pairs so far, by cumulative sums; NaN before two pairs)."""
    x, z = y[:-1], y[1:]
    count = np.arange(1, x.size + 1, dtype=float)
    sx, sz = np.cumsum(x), np.cumsum(z)
    sxx, sxz = np.cumsum(x * x), np.cumsum(x * z)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.clip((sxz - sx * sz / count) / (sxx - sx * sx / count), 0.0, PHI_MAX)
        mean = (sz / count - phi * sx / count) / (1.0 - phi)
    # Index t: the fit on y[: t + 1], i.e. on the first t pairs.
    phis = np.concatenate([[np.nan], phi])
    means = np.concatenate([[np.nan], mean])
    phis[:3], means[:3] = np.nan, np.nan
    return phis, means


def fit_reversion(
    y: np.ndarray, steps: int, horizon: int, phi: float | None = None
) -> Reversion | None:
    """Fit AR(1) to ``y`` (consecutive minutes, no NaN) and forecast ``steps`` ahead; with
    ``phi`` (``RANDOM_WALK``) that coefficient instead of the fitted one.

    The loss is scored over ``horizon`` steps (the SLA's horizon, as for the smoothing
    model) from every origin ``t >= FIRST_ORIGIN``, each forecast by the AR(1) fitted to the
    minutes up to ``t`` only: fitted to the whole history, an AR(1) always seems to revert
    (least squares biases ``phi`` below 1 on a random walk), which a forecast from the past
    does not. None when there are fewer than ``MIN_MINUTES`` minutes or the series is
    constant.
    """
    y = np.asarray(y, dtype=float)
    if y.size < MIN_MINUTES or not np.all(np.isfinite(y)):
        return None
    if phi is None:
        phis, means = _expanding_fits(y)
    else:  # the mean is never reverted to: each origin's own value stands in for it
        phis, means = np.full(y.size, float(phi)), y
    phi, mean = float(phis[-1]), float(means[-1])
    if not (np.isfinite(phi) and np.isfinite(mean)):
        return None
    x, z = y[:-1], y[1:]
    residuals = z - mean - phi * (x - mean)
    s = float(np.sqrt(residuals @ residuals / max(residuals.size - 2, 1)))
    if not s > 0.0:
        return None

    def predict(t: np.ndarray, h: int) -> np.ndarray:
        return means[t] + phis[t] ** h * (y[t] - means[t])

    errors = _errors(y, predict, max(steps, horizon))
    h = np.arange(1, steps + 1)
    values = mean + phi**h * (y[-1] - mean)
    theory = s * np.sqrt(np.cumsum(phi ** (2 * np.arange(steps, dtype=float))))
    # Each step's own errors from past origins, where enough have their outcome.
    counts = np.isfinite(errors[:steps]).sum(axis=1)
    rms = np.sqrt(np.nansum(errors[:steps] ** 2, axis=1) / np.maximum(counts, 1))
    measured = np.where(counts >= MIN_ERRORS, rms, np.nan)
    # Steps too far for enough errors: the last measured ratio to the theory carries on.
    ratio = measured / theory
    known = np.flatnonzero(np.isfinite(ratio))
    if known.size:
        ratio[known[-1] + 1 :] = ratio[known[-1]]
    ratio = np.where(np.isfinite(ratio), np.maximum(ratio, 1.0), 1.0)
    return Reversion(
        phi=phi,
        mean=mean,
        values=values,
        # A farther step is never more certain than a nearer one (sampling noise aside).
        sigmas=np.maximum.accumulate(theory * ratio),
        weights=phi ** np.arange(steps, dtype=float),
        losses=_origin_losses(errors, horizon),
        error_paths=errors[:steps][:, np.isfinite(errors[:steps]).all(axis=0)],
    )
