"""A mean-reverting forecast of 1-minute means, and the backtest that chooses it.

Exponential smoothing without a season (SES, Holt) forecasts a flat or sloped line whose
uncertainty grows without end: right for a random walk, wrong for a series that returns to
its mean (an AR(1) such as a queue length or a latency around its usual value). Near a high
percentile the first is sure the series stays there; the second knows it comes back. Both are
scored on the series' own history by the same multi-step loss (every in-sample forecast
origin, every step up to the horizon), and the lower one is used.

AR(1): ``x_t - mu = phi (x_{t-1} - mu) + eps_t`` by least squares on consecutive minutes;
``phi`` is kept in [0, PHI_MAX] (a unit root is the random walk SES already covers). Its
h-step forecast is ``mu + phi^h (x_T - mu)``; its h-step error is ``sum_{j<h} phi^j
eps_{T+h-j}``, so forecast paths have innovation weights ``phi^j`` (``exit_forecast``). Each
step's scale is the root mean square of the model's own in-sample h-step errors (variance
growth measured, not assumed), never below the theoretical ``s sqrt((1 - phi^2h) / (1 -
phi^2))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_MINUTES = 30  # fewer consecutive complete minutes: no AR(1) fit
PHI_MAX = 0.995
# The first minutes of the history start the smoothing recursion; origins before
# FIRST_ORIGIN are not scored (the expanding AR(1) fit needs some history too).
BURN = 10
FIRST_ORIGIN = 20
MIN_ERRORS = 15  # in-sample h-step errors needed to measure a step's scale


@dataclass(frozen=True)
class Reversion:
    """An AR(1) forecast: centres and scales per step, and the weights of its paths."""

    phi: float
    mean: float
    values: np.ndarray
    sigmas: np.ndarray
    weights: np.ndarray  # phi^j: the weight of an innovation j steps back in an h-step error
    loss: float  # multi-step in-sample loss (mean squared error over origins and steps)
    error_paths: np.ndarray  # (steps, origins): past forecasts' whole error paths


def smoothing_loss(y: np.ndarray, alpha: float, beta: float | None, horizon: int) -> float:
    """Multi-step in-sample loss of SES (``beta`` None) or Holt's linear trend.

    The error-correction recursion ``l_t = l_{t-1} + b_{t-1} + alpha e_t``, ``b_t = b_{t-1}
    + beta e_t`` from the least-squares line through the first ``BURN`` minutes (as the
    shared forecast's initial states; SES: their mean); from each origin ``t >=
    FIRST_ORIGIN`` the forecast ``l_t + h b_t`` is compared with ``y_{t+h}`` for ``h =
    1..horizon``. NaN when too short.
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
    return _loss(_errors(y, lambda t, h: level[t] + h * slope[t], horizon), horizon)


def _errors(y: np.ndarray, predict, steps: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """``E[h - 1, i] = y[t_i + h] - predict(t_i, h)`` for the origins ``t_i >= FIRST_ORIGIN``
    and ``h = 1..steps``; NaN where ``t_i + h`` is past the history."""
    origins = np.arange(FIRST_ORIGIN, y.size - 1)
    out = np.full((steps, origins.size), np.nan)
    for h in range(1, steps + 1):
        t = origins[origins + h < y.size]
        out[h - 1, : t.size] = y[t + h] - predict(t, h)
    return out


def _loss(errors: np.ndarray, horizon: int) -> float:
    """Mean squared error over every origin and step up to ``horizon`` (NaN: none)."""
    known = errors[:horizon][np.isfinite(errors[:horizon])]
    return float(np.mean(known**2)) if known.size else float("nan")


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


def fit_reversion(y: np.ndarray, steps: int, horizon: int) -> Reversion | None:
    """Fit AR(1) to ``y`` (consecutive minutes, no NaN) and forecast ``steps`` ahead.

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
    phis, means = _expanding_fits(y)
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
    loss = _loss(errors, horizon)
    h = np.arange(1, steps + 1)
    values = mean + phi**h * (y[-1] - mean)
    theory = s * np.sqrt((1.0 - phi ** (2 * h)) / (1.0 - phi**2))
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
        loss=loss,
        error_paths=errors[:steps][:, np.isfinite(errors[:steps]).all(axis=0)],
    )
