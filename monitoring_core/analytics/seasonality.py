"""Seasonal period estimation, seasonal strength and additive decomposition of bucketed series."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.signal import lfilter

from monitoring_core.json_values import ResultMixin, finite_or_none, floats_or_none

from ._results import (
    CONSTANT_SERIES,
    EMPTY,
    NO_SEASON,
    OUTLIERS,
    TOO_SHORT,
    finite_values,
    quiet_numpy,
)
from .autocorrelation import autocorrelation
from .robust import hampel, moving_median, phase_hampel

# An ACF peak must rise this much above the lowest ACF value at shorter lags: a
# season makes the ACF dip and come back, a trend or random walk only decays.
MIN_PROMINENCE = 0.15
# ...and be clearly outside the white-noise band (times 1/sqrt(n)), and at least
# MIN_PEAK_ACF: with n in the hundreds the band alone lets AR(1) noise through.
MIN_PEAK_Z = 2.5
MIN_PEAK_ACF = 0.3
# The held-out choice: a season is kept when its forecast's MAE is below this
# fraction of the best forecast without one, over at least MIN_ORIGINS origins.
HOLDOUT_GAIN = 0.95
MIN_ORIGINS = 12
PARSIMONY = 1.1
ANCHORED = "anchored"  # PeriodEstimate.method of a period the anchored forecasts chose
# Periods beyond the longest (shortest) candidate scored while each beats the last.
EDGE_STEPS = 3
# A season found only by the forecasts anchored at the last bucket (a season under a
# slower wave, or soon after a level shift) serves horizons up to this. Beyond it,
# Holt-Winters ranked on the horizon's own errors keeps the level nearly fixed (alpha
# 0.01), which follows neither the wave nor the shift (docs/sla_manager.md).
ANCHORED_MAX_HORIZON_MINUTES = 10.0
SES_ALPHAS = (0.1, 0.3, 0.6, 1.0)
DEFAULT_HORIZON_MINUTES = 10.0
DEFAULT_MIN_PERIOD_MINUTES = 4.0
DEFAULT_MAX_PERIOD_MINUTES = 240.0


@dataclass(frozen=True)
class PeriodEstimate(ResultMixin):
    """A seasonal period in samples (buckets), or why there is none.

    Attributes
    ----------
    period : int or None
        Period in samples.
    method : str or None
        ``"periodogram+acf"`` (periodogram peak refined to the nearest ACF peak) or
        ``"acf"`` (highest prominent ACF peak, when the periodogram peak was not confirmed),
        ``"anchored"`` (chosen by the forecasts anchored at the last bucket, see
        ``estimate_period``).
    acf_at_period : float or None
        ACF of the detrended series at ``period``.
    reason, detail : str or None
        ``"too_short"``, ``"constant_series"`` or ``"no_season"``; ``"outliers"`` with a
        period when spikes were replaced before estimating.  ``detail`` also gives the
        held-out errors that chose the period.
    """

    period: int | None
    method: str | None
    acf_at_period: float | None
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Decomposition:
    """Classical additive decomposition ``x = trend + seasonal + resid`` (arrays, NaN at ends)."""

    trend: np.ndarray
    seasonal: np.ndarray
    resid: np.ndarray
    pattern: np.ndarray


@dataclass(frozen=True)
class Seasonality(ResultMixin):
    """Seasonal period, strength and additive decomposition of a bucketed series.

    Attributes
    ----------
    period_buckets : int or None
        Estimated period in buckets.
    period_minutes : float or None
        The same in minutes.
    method : str or None
        How the period was found (see ``PeriodEstimate.method``).
    acf_at_period : float or None
        ACF of the detrended buckets at the period.
    strength : float or None
        Hyndman's seasonal strength ``max(0, 1 - Var(resid) / Var(seasonal + resid))``, in [0, 1].
    start : pandas.Timestamp or None
        Time of the first bucket of the decomposition.
    bucket_seconds : float or None
        Spacing of the decomposition arrays.
    pattern : tuple of float
        The seasonal component over one period, starting at the phase of ``start``.
    trend, seasonal, resid : tuple of float or None
        statsmodels ``seasonal_decompose(model='additive', period=period_buckets)``;
        ``trend`` and ``resid`` are None for the first and last half period.
    reason, detail : str or None
        ``"too_short"``, ``"constant_series"``, ``"no_season"``, ``"empty"``; ``"outliers"``
        (with a period) when spikes were replaced before estimating it.
    """

    period_buckets: int | None
    period_minutes: float | None
    method: str | None
    acf_at_period: float | None
    strength: float | None
    start: pd.Timestamp | None
    bucket_seconds: float | None
    pattern: tuple[float | None, ...] = ()
    trend: tuple[float | None, ...] = ()
    seasonal: tuple[float | None, ...] = ()
    resid: tuple[float | None, ...] = ()
    reason: str | None = None
    detail: str | None = None


def _detrend(x: np.ndarray) -> np.ndarray:
    """Residuals of the least-squares line through ``x`` against its position."""
    t = np.arange(x.size, dtype=float)
    t -= t.mean()
    xc = x - x.mean()
    slope = float(t @ xc) / float(t @ t)
    return xc - slope * t


def _robust_detrend(x: np.ndarray, hi: int) -> np.ndarray:
    """Remove a running median over ``2 hi + 1`` buckets (when shorter than ``x``), then a line.

    The running median follows level shifts and slow drifts but not a season of at
    most ``hi`` buckets (it spans two of its periods); a straight line alone turns a
    level shift into a ramp-and-drop that the periodogram and the ACF read as a season.
    """
    window = 2 * hi + 1
    if window < x.size:
        x = x - moving_median(x, window)
    return _detrend(x)


def _is_local_peak(r: np.ndarray, lag: int) -> bool:
    return bool(r[lag] >= r[lag - 1] and (lag + 1 >= r.size or r[lag] >= r[lag + 1]))


def _prominent(r: np.ndarray, lag: int, threshold: float) -> bool:
    return bool(
        _is_local_peak(r, lag) and r[lag] > threshold and r[lag] - r[1:lag].min() >= MIN_PROMINENCE
    )


def _near_prominent(r: np.ndarray, lag: int, threshold: float) -> bool:
    """A prominent ACF peak at ``lag`` or one lag either side (the integer peak of a
    non-integer period, or of a noisy one, may sit next to the best forecasting lag)."""
    return any(1 <= k < r.size and _prominent(r, k, threshold) for k in (lag - 1, lag, lag + 1))


@dataclass(frozen=True)
class _Holdout:
    seasonal: dict[int, float]  # candidate period -> held-out MAE of the seasonal forecast
    plain: float  # best held-out MAE without a season
    # candidate period -> held-out MAE of the season's change from the last bucket (when
    # asked; never from _cycle_errors)
    anchored: dict[int, float] = field(default_factory=dict)


def _trailing_means(cs: np.ndarray, p: int, t: np.ndarray) -> np.ndarray:
    """Mean of ``x[t - p + 1 .. t]`` for each ``t`` (``cs`` = cumsum with a leading 0)."""
    return (cs[t + 1] - cs[t + 1 - p]) / p


def _typical_error(errors: np.ndarray) -> float:
    """Median over origins of the MAE over the horizon: a level shift upsets the
    seasonal forecasts for K cycles of origins, which must not outvote the rest."""
    return float(np.median(np.mean(np.abs(errors), axis=1)))


def _cycle_errors(d: np.ndarray, periods: list[int]) -> _Holdout:
    """Leave-one-cycle-out error of the seasonal profile, and without one.

    Method: on the detrended series ``d``, the last ``K = n // max(p)`` cycles; each
    cycle, less its own mean, is predicted by the phase means of the other ``K - 1``
    cycles (each less its mean) with a season, by 0 without; scores are mean
    absolute errors.
    Used when the series holds too few cycles for forecast origins: with three
    cycles a period one bucket off drifts by two buckets, which this sees.
    """
    seasonal: dict[int, float] = {}
    plain = math.inf
    k = d.size // max(periods)  # the same number of cycles for every candidate
    for p in periods:
        table = d[d.size - k * p :].reshape(k, p)
        # Shapes only: each cycle less its own mean, so that cycles at different
        # levels (a random walk's) favour neither side.
        table = table - table.mean(axis=1, keepdims=True)
        others = (table.sum(axis=0)[None, :] - table) / (k - 1)
        seasonal[p] = float(np.mean(np.abs(table - others)))
        plain = min(plain, float(np.mean(np.abs(table))))
    return _Holdout(seasonal, plain)


def _holdout_errors(
    x: np.ndarray, periods: list[int], horizon: int, anchored: bool = False
) -> _Holdout | None:
    """Held-out MAE of a seasonal forecast at each candidate period, and without a season.

    Method: over every forecast origin ``t`` that all candidates can use (the last
    bucket seen), forecast ``x[t+h]``, ``h = 1..horizon``, by the last cycle's mean
    plus the mean of ``x[t+h-jp] - c(t-jp)`` over ``K`` earlier cycles ``j`` (``c(s)``
    = mean of the ``p`` buckets up to ``s``): a seasonal naive forecast averaged over
    cycles, right under a linear trend.  With ``anchored``, also the last bucket plus
    the mean over the same cycles of ``x[t+h-jp] - x[t-jp]`` (the season's change from
    the origin's phase): right under a linear trend, or a level shift no difference
    spans, and nearly right under a wave that changes little over the cycles
    (``estimate_period``, step 4).  Scores are the median over origins of the MAE over
    the horizon (robust to the origins just after a level shift).  Without a season:
    the best of the same
    cycle means with their slope (the season's level-and-trend part alone) and
    simple exponential smoothing (alpha 0.1, 0.3, 0.6, 1 = naive).  None when fewer
    than ``MIN_ORIGINS`` origins fit.
    """
    n = x.size
    hs = np.arange(1, horizon + 1)
    cs = np.concatenate(([0.0], np.cumsum(x)))
    cycles = 3
    # The oldest bucket read from origin t, per candidate: t - (J + 1) p + 1.
    need = max((-(-horizon // p) + cycles) * p for p in periods)
    origins = np.arange(need - 1, n - horizon)
    if origins.size < MIN_ORIGINS:
        return None
    actual = x[origins[:, None] + hs[None, :]]
    seasonal: dict[int, float] = {}
    from_last: dict[int, float] = {}
    plain = math.inf
    for p in periods:
        level = _trailing_means(cs, p, origins)[:, None]
        jumps = -(-hs // p)  # cycles back so that t + h - j p <= t
        total = np.zeros(actual.shape)
        changes = np.zeros(actual.shape)
        for k in range(cycles):
            at = origins[:, None] - (jumps + k)[None, :] * p  # the same phase, k + 1 cycles back
            then = x[at + hs[None, :]]
            total += then - _trailing_means(cs, p, at)
            if anchored:
                changes += then - x[at]
        seasonal[p] = _typical_error(actual - level - total / cycles)
        if anchored:
            from_last[p] = _typical_error(actual - x[origins][:, None] - changes / cycles)
        old = _trailing_means(cs, p, origins - cycles * p)[:, None]
        drift = (level - old) / (cycles * p) * (hs[None, :] + (p - 1) / 2.0)
        plain = min(plain, _typical_error(actual - level - drift))
    for alpha in SES_ALPHAS:
        smooth = lfilter([alpha], [1.0, alpha - 1.0], x, zi=[(1.0 - alpha) * x[0]])[0]
        plain = min(plain, _typical_error(actual - smooth[origins][:, None]))
    return _Holdout(seasonal, plain, from_last)


def _beyond(
    x: np.ndarray, candidates: list[int], scores: _Holdout, horizon: int, lo: int, hi: int
) -> tuple[list[int], _Holdout]:
    """The candidates and their scores, with periods beyond them while the best
    ``anchored`` one is the longest (else the shortest) candidate: up to ``EDGE_STEPS``
    more, each kept when it scores lower (a lone candidate is walked upwards only).  A
    slow wave under the season shifts the ACF's peak, and the candidates around it, off
    the period (20 minutes under 90: the peak at 18, 19 the best candidate)."""
    for _ in range(EDGE_STEPS):
        best = _best(candidates, scores.anchored)
        beyond = best + 1 if best == candidates[-1] else best - 1 if best == candidates[0] else None
        if beyond is None or not lo <= beyond <= hi:
            break
        more = sorted([*candidates, beyond])
        wider = _holdout_errors(x, more, horizon, anchored=True)
        if wider is None or not wider.anchored[beyond] < wider.anchored[best]:
            break
        candidates, scores = more, wider
    return candidates, scores


def _best(candidates: list[int], errors: dict[int, float]) -> int:
    """The candidate of lowest error, or a period at most 2/3 of it (the best being a
    multiple of it) within PARSIMONY of its error; neighbours (29 against 30) are not."""
    best = min(candidates, key=lambda p: (errors[p], p))
    shorter = [p for p in candidates if 1.5 * p <= best and errors[p] <= PARSIMONY * errors[best]]
    return shorter[0] if shorter else best


@dataclass(frozen=True)
class _Found:
    """What the periodogram and the ACF of a detrended series propose (``estimate_period``)."""

    d: np.ndarray  # the robustly detrended series
    r: np.ndarray  # its ACF
    threshold: float  # the lowest ACF a prominent peak has
    from_periodogram: list[int]
    refined: int | None  # the highest ACF lag near the periodogram peak
    best_peak: int | None  # the highest prominent ACF peak
    candidates: list[int]  # periods with a prominent ACF peak at or next to them


def _candidates(xr: np.ndarray, lo: int, hi: int) -> _Found | None:
    """Step 2 and 3 of ``estimate_period``; None when nothing is left after the detrend."""
    n = xr.size
    d = _robust_detrend(xr, hi)
    if not float(np.abs(d).max()) > 0.0:
        return None
    r = autocorrelation(d, min(hi + 1, n - 1))
    threshold = max(MIN_PEAK_ACF, MIN_PEAK_Z / math.sqrt(n))

    from_periodogram: list[int] = []
    refined: int | None = None
    nfft = 1 << int(math.ceil(math.log2(8 * n)))
    power = np.abs(np.fft.rfft(d, n=nfft)) ** 2
    k_lo = max(1, int(math.ceil(nfft / hi)))
    k_hi = min(power.size - 1, int(math.floor(nfft / lo)))
    if k_lo <= k_hi:
        k_star = k_lo + int(np.argmax(power[k_lo : k_hi + 1]))
        p0 = nfft / k_star
        a = max(lo, int(math.floor(p0 * 0.75)))
        b = min(hi, int(math.ceil(p0 * 1.25)))
        if a <= b:
            refined = a + int(np.argmax(r[a : b + 1]))
            from_periodogram = [int(math.floor(p0)), int(math.ceil(p0)), refined - 1, refined]
            from_periodogram.append(refined + 1)
    peaks = [lag for lag in range(lo, hi + 1) if _prominent(r, lag, threshold)]
    best_peak = max(peaks, key=lambda k: (r[k], -k)) if peaks else None
    from_acf = [] if best_peak is None else [best_peak - 1, best_peak, best_peak + 1]
    candidates = sorted(
        {
            p
            for p in from_periodogram + from_acf
            if lo <= p <= hi and _near_prominent(r, p, threshold)
        }
    )
    return _Found(d, r, threshold, from_periodogram, refined, best_peak, candidates)


@quiet_numpy
def estimate_period(
    values: ArrayLike,
    *,
    min_period: int = 2,
    max_period: int | None = None,
    horizon: int = 5,
    anchored: bool = True,
) -> PeriodEstimate:
    """Estimate the dominant seasonal period of an evenly spaced series.

    Method:

    1. Robust filter: spikes are replaced by the running median (``robust.hampel``:
       7 buckets, 6 robust sigmas), so that one wild value cannot hide a season.
    2. Detrend: subtract a running median over ``2 max_period + 1`` buckets (when
       shorter than the series: it follows level shifts, not the season), then the
       least-squares line.
    3. Candidates: the periodogram peak (zero-padded to at least 8n points) within
       ``[1/max_period, 1/min_period]`` gives ``p0``; its floor and ceiling, the
       highest ACF lag within ``p0`` +/- 25 % and that lag's neighbours, and the
       highest prominent ACF peak and its neighbours.  A candidate needs a
       prominent ACF peak at or next to it: a local peak above ``max(0.3, 2.5 /
       sqrt(n))``, at least 0.15 above the lowest ACF at shorter lags (a season dips
       and returns; a trend or random walk only decays).
       Then the phase filter (``robust.phase_hampel``): each bucket of the detrended
       series against the median of the same phase two cycles either side, at the
       ACF-refined periodogram lag; where it replaced buckets and candidates remain,
       steps 2 and 3 start again from the result.  A spike inside the season's range
       escapes the running median of a season faster than 7 buckets, and can flatten
       the ACF or favour a multiple of the period (the demo's ``networkThroughput``, a
       16-minute season with spikes, at 288 simulated ends over two days: no season in
       1 h or 32 minutes in 3 h at 11 ends; with the phase filter, no season in 1 h at 4,
       where up to three spikes an hour put the periodogram's lag off by one).
    4. Held-out choice: each candidate's seasonal forecast is scored over every
       forecast origin of the filtered series (``horizon`` buckets ahead, see
       ``_holdout_errors``); the lowest error wins, or a period at most 2/3 of it
       within 10 % of its error (a multiple of the period scores alike); it is kept
       only when it beats the best forecast without a season by ``HOLDOUT_GAIN``.
       Else the same choice on the ``anchored`` forecasts (the last bucket plus the
       season's change from its phase), with the periods next to the longest
       (shortest) candidate while it is the best (``_beyond``).  A season under a
       slower wave: the wave moves the cycle means and their slope, which the first
       forecast reads as the season's; a 20-minute season under a 90-minute one, on 3
       hours of minutes, scored about 6 against 3 without a season, and the ACF's peak
       sat at 18 (``bench_warnings``' two_seasons, and the level_shift family for
       about 90 minutes after its shift: no season found).  Too short for a held-out
       choice: the ACF-refined lag, as before.

    ``method`` is ``"periodogram+acf"`` when the period came from the periodogram
    peak, ``"acf"`` when from an ACF peak alone, ``"anchored"`` when the anchored
    forecasts chose it; ``detail`` gives the held-out errors; ``reason="outliers"``
    (period still given) when the filter replaced buckets.  Assumes at least two full
    periods (``max_period <= n // 2``), no NaN.

    Parameters
    ----------
    values : array_like
        The evenly spaced series (e.g. bucket means).
    min_period, max_period : int
        Bounds in samples; ``max_period`` is capped at ``n // 2``.
    horizon : int
        Steps ahead scored by the held-out choice (the forecast horizon).
    anchored : bool
        Whether a season no cycle-mean forecast finds may come from the ``anchored`` ones
        (step 4): callers ask for it up to ``ANCHORED_MAX_HORIZON_MINUTES`` ahead.

    Returns
    -------
    PeriodEstimate
        The period, or ``reason`` ``"too_short"`` / ``"constant_series"`` / ``"no_season"``.
    """
    x, _ = finite_values(values)
    n = int(x.size)
    lo = max(int(min_period), 2)
    hi = n // 2 if max_period is None else min(int(max_period), n // 2)
    if n == 0 or hi < lo:
        return PeriodEstimate(
            None, None, None, TOO_SHORT, f"{n} samples: two full periods of at least {lo} needed"
        )
    spread = float(np.abs(x - x.mean()).max())
    if not float(np.abs(_detrend(x)).max()) > 1e-12 * spread:
        return PeriodEstimate(None, None, None, CONSTANT_SERIES, "the series is a straight line")
    cleaned = hampel(x)
    xr = cleaned.values
    replaced = cleaned.count
    spikes = (
        f"{cleaned.count} outlying samples replaced by the running median (Hampel filter); "
        if cleaned.count
        else ""
    )
    found = _candidates(xr, lo, hi)
    if found is None:
        return PeriodEstimate(
            None, None, None, NO_SEASON, spikes + "nothing left after the robust detrend"
        )
    if found.refined is not None:
        # A spike inside the season's range (at a trough, say) escapes the running median
        # when the season is faster than its 7 buckets; it can flatten the ACF or favour a
        # multiple of the period: judge each bucket against the same phase of the
        # neighbouring cycles, at the periodogram's period, and look again.
        cycle = found.refined
        phased = phase_hampel(found.d, cycle)
        again = _candidates(xr - (found.d - phased.values), lo, hi) if phased.count else None
        if again is not None and again.candidates:
            xr = xr - (found.d - phased.values)
            found = again
            replaced += phased.count
            spikes += (
                f"{phased.count} outlying samples replaced by the median of their phase "
                f"({cycle}-sample cycles); "
            )
    d, r, threshold = found.d, found.r, found.threshold
    from_periodogram, refined, best_peak = found.from_periodogram, found.refined, found.best_peak
    candidates = found.candidates
    if not candidates:
        return PeriodEstimate(
            None,
            None,
            None,
            NO_SEASON,
            spikes + f"no prominent ACF peak between {lo} and {hi} samples",
        )
    outliers = OUTLIERS if replaced else None

    def estimate(lag: int, detail: str, method: str | None = None) -> PeriodEstimate:
        method = method or ("periodogram+acf" if lag in from_periodogram else "acf")
        return PeriodEstimate(lag, method, float(r[lag]), outliers, spikes + detail)

    ahead = max(1, int(horizon))
    scores = _holdout_errors(xr, candidates, ahead)
    if scores is None and 2 * max(candidates) <= n:
        scores = _cycle_errors(d, candidates)
    if scores is None:
        # Too short to score forecasts: the ACF alone decides, as it did before.
        if refined is not None and _prominent(r, refined, threshold):
            return estimate(refined, "too short for a held-out choice: ACF-refined peak")
        if best_peak is not None:
            return estimate(best_peak, "too short for a held-out choice: highest ACF peak")
        return PeriodEstimate(
            None, None, None, NO_SEASON, spikes + "no prominent ACF peak near the periodogram peak"
        )
    best = _best(candidates, scores.seasonal)
    tried = ", ".join(f"{p}: {scores.seasonal[p]:.3g}" for p in candidates)
    method, errors = None, scores.seasonal
    if anchored and not errors[best] < HOLDOUT_GAIN * scores.plain:
        # Scored again with the anchored forecasts only now (most series stop above).
        from_last = _holdout_errors(xr, candidates, ahead, anchored=True)
        if from_last is not None:
            candidates, scores = _beyond(xr, candidates, from_last, ahead, lo, hi)
            best, method, errors = _best(candidates, scores.anchored), ANCHORED, scores.anchored
            tried = f"({tried}); from the last bucket, which chose: " + ", ".join(
                f"{p}: {errors[p]:.3g}" for p in candidates
            )
    if not errors[best] < HOLDOUT_GAIN * scores.plain:
        return PeriodEstimate(
            None,
            None,
            None,
            NO_SEASON,
            spikes + f"held-out MAE by period ({tried}) does not beat "
            f"{scores.plain:.3g} without a season",
        )
    return estimate(
        best, f"held-out MAE by period {tried}; without a season {scores.plain:.3g}", method
    )


@quiet_numpy
def decompose_additive(values: ArrayLike, period: int) -> Decomposition:
    """Classical additive decomposition, equal to statsmodels ``seasonal_decompose``.

    Method: trend = centred moving average of length ``period`` (a 2 x period MA when
    ``period`` is even), NaN for the first and last ``period // 2`` points; seasonal =
    the mean of the detrended series at each phase, centred to sum to zero, repeated;
    resid = x - trend - seasonal.  Same as ``seasonal_decompose(x, model='additive',
    period=period)`` with its defaults.  Assumes ``len(x) >= 2 * period`` and no NaN.
    """
    x = np.asarray(values, dtype=float)
    n = x.size
    if period % 2 == 0:
        filt = np.concatenate(([0.5], np.ones(period - 1), [0.5])) / period
    else:
        filt = np.full(period, 1.0 / period)
    half = filt.size // 2
    trend = np.full(n, np.nan)
    trend[half : n - half] = np.convolve(x, filt, mode="valid")
    detrended = x - trend
    cycles = -(-n // period)
    padded = np.full(cycles * period, np.nan)
    padded[:n] = detrended
    table = padded.reshape(cycles, period)
    ok = np.isfinite(table)
    pattern = np.where(ok, table, 0.0).sum(axis=0) / ok.sum(axis=0)
    pattern -= pattern.mean()
    seasonal = np.tile(pattern, cycles)[:n]
    return Decomposition(
        trend=trend, seasonal=seasonal, resid=detrended - seasonal, pattern=pattern
    )


def seasonal_strength(decomposition: Decomposition) -> float | None:
    """Hyndman and Athanasopoulos' strength of seasonality ``max(0, 1 - Var(R)/Var(S + R))``."""
    ok = np.isfinite(decomposition.resid)
    resid = decomposition.resid[ok]
    both = resid + decomposition.seasonal[ok]
    denominator = float(both.var())
    if resid.size < 2 or denominator <= 0.0:
        return None
    return min(1.0, max(0.0, 1.0 - float(resid.var()) / denominator))


def bucket_seconds_of(index: pd.Index) -> float | None:
    """Spacing of a regular DatetimeIndex in seconds (its ``freq``, else the median step)."""
    if not isinstance(index, pd.DatetimeIndex) or index.size < 2:
        freq = getattr(index, "freq", None)
        return pd.Timedelta(freq).total_seconds() if freq is not None else None
    if index.freq is not None:
        return pd.Timedelta(index.freq).total_seconds()
    steps = np.diff(index.as_unit("ns").asi8)
    return float(np.median(steps)) / 1e9


def _no_season(
    start: pd.Timestamp | None, width: float | None, reason: str | None, detail: str | None
) -> Seasonality:
    return Seasonality(None, None, None, None, None, start, width, reason=reason, detail=detail)


@quiet_numpy
def compute_seasonality(
    buckets: pd.Series,
    *,
    min_period_minutes: float = DEFAULT_MIN_PERIOD_MINUTES,
    max_period_minutes: float = DEFAULT_MAX_PERIOD_MINUTES,
    horizon_minutes: float = DEFAULT_HORIZON_MINUTES,
) -> Seasonality:
    """Estimate the seasonal period of a bucketed series and decompose it additively.

    Method: ``estimate_period`` on the bucket values with the period bounds converted
    to buckets (``ceil(min / width)``, ``floor(max / width)``), then
    ``decompose_additive`` at that period and Hyndman's seasonal strength.  Assumes
    a regular index without NaN (see ``to_buckets``).

    Parameters
    ----------
    buckets : pandas.Series
        Regular buckets (e.g. the ``mean`` column of ``to_buckets(...).frame``).
    min_period_minutes, max_period_minutes : float
        Bounds of the period searched for.
    horizon_minutes : float
        Horizon of the forecasts that choose among candidate periods.

    Returns
    -------
    Seasonality
        The season, or ``reason`` ``"too_short"`` / ``"constant_series"`` / ``"no_season"``.
    """
    width = bucket_seconds_of(buckets.index)
    values = np.asarray(buckets.to_numpy(dtype=float, na_value=np.nan), dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        # Gaps: only the NaN-free tail is evenly spaced data (see ``buckets``).
        cut = int(np.flatnonzero(bad)[-1]) + 1
        values, buckets = values[cut:], buckets.iloc[cut:]
    dated = len(buckets) and isinstance(buckets.index, pd.DatetimeIndex)
    start = buckets.index[0] if dated else None
    if values.size == 0:
        return _no_season(start, width, EMPTY, "no bucket")
    if width is None or width <= 0:
        return _no_season(start, None, TOO_SHORT, "one bucket")
    minutes = width / 60.0
    lo = max(2, int(math.ceil(min_period_minutes / minutes - 1e-9)))
    hi = int(math.floor(max_period_minutes / minutes + 1e-9))
    horizon = max(1, int(math.ceil(horizon_minutes / minutes - 1e-9)))
    estimate = estimate_period(
        values,
        min_period=lo,
        max_period=hi,
        horizon=horizon,
        anchored=horizon_minutes <= ANCHORED_MAX_HORIZON_MINUTES,
    )
    if estimate.period is None:
        return _no_season(start, width, estimate.reason, estimate.detail)
    p = estimate.period
    deco = decompose_additive(values, p)
    return Seasonality(
        period_buckets=p,
        period_minutes=p * minutes,
        method=estimate.method,
        acf_at_period=finite_or_none(estimate.acf_at_period),
        strength=seasonal_strength(deco),
        start=start,
        bucket_seconds=width,
        pattern=floats_or_none(deco.pattern),
        trend=floats_or_none(deco.trend),
        seasonal=floats_or_none(deco.seasonal),
        resid=floats_or_none(deco.resid),
        reason=estimate.reason,
        detail=estimate.detail,
    )
