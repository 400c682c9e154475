"""Pure analytics over numpy/pandas: statistics, ACF, ADF, seasonality, buckets and forecasts."""

from ._results import (
    CONSTANT_SERIES,
    DEGENERATE,
    EMPTY,
    GAPS,
    NO_SEASON,
    NON_FINITE,
    OUTLIERS,
    TOO_FEW_SAMPLES,
    TOO_SHORT,
    finite_or_none,
    jsonable,
)
from .autocorrelation import Acf, compute_acf
from .buckets import Buckets, to_buckets
from .forecasting import (
    Forecast,
    ForecastPoint,
    HoldoutError,
    PredictionInterval,
    forecast,
    forecast_frame,
    horizon_variance_factor,
    probability_outside,
)
from .samples import SampleCoverage, clean_samples, learn_interval
from .seasonality import (
    Decomposition,
    PeriodEstimate,
    Seasonality,
    compute_seasonality,
    decompose_additive,
    estimate_period,
    seasonal_strength,
)
from .stationarity import Adf, compute_adf
from .statistics import Statistics, compute_statistics
from .window import StageTimings, WindowAnalysis, analyze_window

__all__ = [
    "CONSTANT_SERIES",
    "DEGENERATE",
    "EMPTY",
    "GAPS",
    "NON_FINITE",
    "NO_SEASON",
    "OUTLIERS",
    "TOO_FEW_SAMPLES",
    "TOO_SHORT",
    "Acf",
    "Adf",
    "Buckets",
    "Decomposition",
    "Forecast",
    "ForecastPoint",
    "HoldoutError",
    "PeriodEstimate",
    "PredictionInterval",
    "SampleCoverage",
    "Seasonality",
    "StageTimings",
    "Statistics",
    "WindowAnalysis",
    "analyze_window",
    "clean_samples",
    "compute_acf",
    "compute_adf",
    "compute_seasonality",
    "compute_statistics",
    "decompose_additive",
    "estimate_period",
    "finite_or_none",
    "forecast",
    "forecast_frame",
    "horizon_variance_factor",
    "jsonable",
    "learn_interval",
    "probability_outside",
    "seasonal_strength",
    "to_buckets",
]
