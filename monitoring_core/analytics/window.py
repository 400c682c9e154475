"""The full analysis of one series window: statistics, diagnostics, seasonality, forecasts."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitoring_core.json_values import ResultMixin

from ._results import quiet_numpy
from .autocorrelation import Acf, compute_acf
from .buckets import DEFAULT_BUCKET, DEFAULT_MAX_GAP, Buckets, to_buckets, utc_index
from .domain import Domain, bound_forecast
from .forecasting import DEFAULT_LEVELS, Forecast, forecast_frame
from .samples import SampleCoverage, clean_samples
from .seasonality import (
    DEFAULT_MAX_PERIOD_MINUTES,
    DEFAULT_MIN_PERIOD_MINUTES,
    Seasonality,
    compute_seasonality,
)
from .stationarity import Adf, compute_adf
from .statistics import Statistics, compute_statistics

DEFAULT_HORIZON_MINUTES = 10


@dataclass(frozen=True)
class StageTimings(ResultMixin):
    """Wall time of each stage, in seconds (``time.perf_counter``)."""

    statistics: float
    metadata: float
    forecast: float


@dataclass(frozen=True)
class WindowAnalysis(ResultMixin):
    """Everything computed for one series window; every part is a value or a reason.

    Attributes
    ----------
    samples : SampleCoverage
        The window's samples in time: count, learned scrape interval, gaps, end.
    statistics : Statistics
        Over every finite sample of the window.
    acf, adf : Acf, Adf
        Over the finite samples from ``buckets.usable_from`` on (the gap policy's tail).
    seasonality : Seasonality
        On the mean buckets.
    buckets : Buckets
        The gap policy's outcome (``to_dict`` gives the summary, not the frame).
    forecasts : dict of str to Forecast, or None
        ``"mean"``, ``"min"``, ``"max"`` bucket forecasts; None when not asked for.
    horizon_steps : int
        Buckets forecast (``ceil(horizon_minutes / bucket)``).
    domain : Domain or None
        The domain the forecasts were censored to (``bound_forecast``); None: not bounded.
    timings : StageTimings
        ``statistics``; ``metadata`` (buckets, ACF, ADF, seasonality); ``forecast``.
    """

    samples: SampleCoverage
    statistics: Statistics
    acf: Acf
    adf: Adf
    seasonality: Seasonality
    buckets: Buckets
    forecasts: dict[str, Forecast] | None
    horizon_steps: int
    timings: StageTimings
    domain: Domain | None = None


def season_buckets(buckets: Buckets, series: pd.Series, interval: float | None) -> pd.Series:
    """The mean buckets a season is estimated on: all but a last bucket that holds fewer
    than half the samples of a full one (the window ends early in it).  Such a mean can be
    one sample, so one spike is the whole bucket and can hide a season (the demo's
    ``networkThroughput``, a 16-minute season, over 1 h: no season at 4 of 720 window ends
    of a day with that bucket, at none without it).  The forecasts keep it: the newest
    value may be the start of a shift."""
    means = buckets.frame["mean"]
    if interval is None or interval <= 0 or len(means) < 2 or series.empty:
        return means
    last_start = means.index[-1]
    in_last = int((utc_index(series.index) >= last_start).sum())
    return means.iloc[:-1] if in_last < 0.5 * buckets.bucket_seconds / interval else means


@quiet_numpy
def analyze_window(
    series: pd.Series,
    *,
    forecast: bool = True,
    nlags: int | None = None,
    bucket: str = DEFAULT_BUCKET,
    horizon_minutes: float = DEFAULT_HORIZON_MINUTES,
    min_period_minutes: float = DEFAULT_MIN_PERIOD_MINUTES,
    max_period_minutes: float = DEFAULT_MAX_PERIOD_MINUTES,
    max_gap: str = DEFAULT_MAX_GAP,
    levels: Sequence[float] = DEFAULT_LEVELS,
    end: pd.Timestamp | None = None,
    interval_seconds: float | None = None,
    domain: Domain | None = None,
) -> WindowAnalysis:
    """Analyse one series window end to end.

    Method: ``clean_samples`` (time order, one sample per timestamp, scrape interval,
    gaps); ``compute_statistics`` on every finite sample; ``to_buckets`` (gap
    policy); ``compute_acf`` and ``compute_adf`` on the finite raw samples of the
    usable tail; ``compute_seasonality`` on the mean buckets (see ``season_buckets``);
    and, when ``forecast``, ``forecast_frame`` on the mean/min/max buckets at the
    estimated period.  Assumes
    the window's samples are roughly evenly spaced (the scrape interval); ACF and ADF
    treat the samples on each side of a short gap as neighbours.

    Parameters
    ----------
    series : pandas.Series
        The window's samples indexed by timestamps (naive ones are UTC).
    forecast : bool
        Whether to forecast the mean/min/max buckets.
    nlags : int, optional
        Highest ACF lag; default statsmodels' ``min(int(10 log10 n), n - 1)``.
    bucket : str
        Bucket width, ``"2min"`` for the ETL, ``"1min"`` for the SLA manager.
    horizon_minutes : float
        Forecast horizon.
    min_period_minutes, max_period_minutes : float
        Bounds of the seasonal period searched for.
    max_gap : str
        Longest gap that is interpolated (see ``buckets``).
    levels : sequence of float
        Prediction interval levels.
    end : pandas.Timestamp, optional
        The window's end: a series whose last sample is older has *ended* in the window.
    interval_seconds : float, optional
        The scrape interval if known; else learned from the window's samples.

    Returns
    -------
    WindowAnalysis
        Never raises on ordinary data.
    """
    t0 = time.perf_counter()
    series, samples = clean_samples(series, end, interval_seconds)
    statistics = compute_statistics(series.to_numpy(dtype=float, na_value=np.nan))
    t1 = time.perf_counter()

    buckets = to_buckets(series, bucket, max_gap=max_gap)
    values = series.to_numpy(dtype=float, na_value=np.nan)
    if buckets.dropped_buckets and buckets.usable_from is not None:
        tail = utc_index(series.index) >= buckets.usable_from
        values = values[np.asarray(tail)]
    acf = compute_acf(values, nlags)
    adf = compute_adf(values)
    seasonality = compute_seasonality(
        season_buckets(buckets, series, samples.interval_seconds),
        min_period_minutes=min_period_minutes,
        max_period_minutes=max_period_minutes,
        horizon_minutes=horizon_minutes,
    )
    t2 = time.perf_counter()

    horizon_steps = max(1, math.ceil(horizon_minutes * 60.0 / buckets.bucket_seconds - 1e-9))
    forecasts = None
    if forecast:
        forecasts = forecast_frame(buckets.frame, horizon_steps, seasonality.period_buckets, levels)
        if domain is not None:
            forecasts = {name: bound_forecast(f, domain) for name, f in forecasts.items()}
    t3 = time.perf_counter()
    return WindowAnalysis(
        samples=samples,
        statistics=statistics,
        acf=acf,
        adf=adf,
        seasonality=seasonality,
        buckets=buckets,
        forecasts=forecasts,
        horizon_steps=horizon_steps,
        timings=StageTimings(statistics=t1 - t0, metadata=t2 - t1, forecast=t3 - t2),
        domain=domain,
    )
