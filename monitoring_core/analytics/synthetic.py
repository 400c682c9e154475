"""Synthetic metric series with a known season, for tests, benchmarks and demos."""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_START = pd.Timestamp("2024-01-01T00:00:00Z")


def seasonal_series(
    period_minutes: float | None,
    *,
    hours: float = 12.0,
    step_seconds: float = 15.0,
    level: float = 50.0,
    amplitude: float = 3.0,
    trend_per_hour: float = 0.6,
    noise: float = 1.0,
    shape: str = "sine",
    seed: int = 0,
    start: pd.Timestamp = DEFAULT_START,
) -> pd.Series:
    """A sampled series ``level + trend t + amplitude * wave(t / period) + N(0, noise^2)``.

    ``shape`` is ``"sine"`` or ``"sawtooth"``; ``period_minutes=None`` gives no season.
    The phase is drawn from ``seed``, so equal arguments give equal series.
    """
    rng = np.random.default_rng(seed)
    n = int(round(hours * 3600.0 / step_seconds))
    minutes = np.arange(n) * step_seconds / 60.0
    values = level + trend_per_hour * minutes / 60.0 + noise * rng.standard_normal(n)
    if period_minutes:
        phase = rng.uniform(0.0, 1.0)
        cycle = (minutes / period_minutes + phase) % 1.0
        wave = np.sin(2 * np.pi * cycle) if shape == "sine" else 2.0 * cycle - 1.0
        values = values + amplitude * wave
    index = pd.date_range(start=start, periods=n, freq=pd.Timedelta(seconds=step_seconds))
    return pd.Series(values, index=index, name="value")
