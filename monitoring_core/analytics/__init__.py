"""Pure analytics over numpy/pandas: statistics, ACF, ADF, seasonality, buckets and forecasts.

The names below load their module on first use (PEP 562), so that a reader of one light module
(`analytics.samples`, pandas only) does not load statsmodels and scipy with the rest: the read
API imports the samples cleaning and nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# name -> the module of this package that defines it
_MODULES = {
    "CONSTANT_SERIES": "_results",
    "DEGENERATE": "_results",
    "EMPTY": "_results",
    "GAPS": "_results",
    "NO_SEASON": "_results",
    "NON_FINITE": "_results",
    "OUTLIERS": "_results",
    "TOO_FEW_SAMPLES": "_results",
    "TOO_SHORT": "_results",
    "Acf": "autocorrelation",
    "compute_acf": "autocorrelation",
    "Buckets": "buckets",
    "to_buckets": "buckets",
    "Forecast": "forecasting",
    "ForecastPoint": "forecasting",
    "HoldoutError": "forecasting",
    "PredictionInterval": "forecasting",
    "forecast": "forecasting",
    "forecast_frame": "forecasting",
    "horizon_variance_factor": "forecasting",
    "probability_outside": "forecasting",
    "SampleCoverage": "samples",
    "clean_samples": "samples",
    "learn_interval": "samples",
    "Decomposition": "seasonality",
    "PeriodEstimate": "seasonality",
    "Seasonality": "seasonality",
    "compute_seasonality": "seasonality",
    "decompose_additive": "seasonality",
    "estimate_period": "seasonality",
    "seasonal_strength": "seasonality",
    "Adf": "stationarity",
    "compute_adf": "stationarity",
    "Statistics": "statistics",
    "compute_statistics": "statistics",
    "StageTimings": "window",
    "WindowAnalysis": "window",
    "analyze_window": "window",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # the next lookup is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULES])


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
    "forecast",
    "forecast_frame",
    "horizon_variance_factor",
    "learn_interval",
    "probability_outside",
    "seasonal_strength",
    "to_buckets",
]
