"""Counters as per-second rates, with Prometheus' own `rate()` semantics, from raw samples.

A counter's cumulative value means little to an operator; its rate does. `prometheus_rate`
evaluates what `rate(m[range])` answers at each evaluation time, from the samples the
range selector would select, so that the two agree to rounding.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

# Prometheus assumes a sample is missing at a window's edge only when the gap to the edge is
# longer than the average interval by more than this factor (promql/functions.go).
EXTRAPOLATION_THRESHOLD = 1.1
# The window of the rate series: four scrape intervals, as Prometheus' docs advise, so that
# one missed scrape still leaves two samples in every window.
RATE_WINDOW_SCRAPES = 4


def prometheus_rate(
    timestamps: ArrayLike, values: ArrayLike, range_seconds: float, at: ArrayLike
) -> np.ndarray:
    """`rate(m[range_seconds])` evaluated at each time of `at` (seconds), from raw samples.

    Prometheus' `extrapolatedRate` (promql/functions.go, 2.51 and later, 3.x): within the
    closed range `[t - range, t]` (Prometheus 2's selector), the increase from the first to
    the last sample, plus the value before each counter reset; extrapolated to the range's
    edges where the first or last sample lies within 1.1 average intervals of them (else by
    half an interval), but never to below zero at the start; divided by the range. NaN where
    the range holds fewer than two samples, as Prometheus returns no value there.

    Timestamps must be sorted and unique; they are rounded to whole milliseconds, as
    Prometheus stores them. Before 2.51 (Debian 12's 2.42) Prometheus cut the start at the
    zero point before comparing it with the threshold; the two differ only when a counter's
    extrapolated zero lies within the window's first interval (a counter born in the window).
    """
    ts_ms = np.round(np.asarray(timestamps, dtype=float) * 1000.0).astype(np.int64)
    v = np.asarray(values, dtype=float)
    at_ms = np.round(np.asarray(at, dtype=float) * 1000.0).astype(np.int64)
    range_ms = int(round(range_seconds * 1000.0))
    out = np.full(at_ms.shape, np.nan)
    if v.size < 2:
        return out
    # Value lost at each reset (the previous sample), cumulated: a reset at j adds v[j-1].
    resets = np.concatenate([[0.0], np.where(v[1:] < v[:-1], v[:-1], 0.0)])
    lost = np.cumsum(resets)
    first = np.searchsorted(ts_ms, at_ms - range_ms, side="left")
    last = np.searchsorted(ts_ms, at_ms, side="right") - 1
    ok = last - first >= 1
    f, la, t = first[ok], last[ok], at_ms[ok]
    increase = v[la] - v[f] + (lost[la] - lost[f])
    sampled = (ts_ms[la] - ts_ms[f]) / 1000.0
    average = sampled / (la - f)
    threshold = average * EXTRAPOLATION_THRESHOLD
    to_start = (ts_ms[f] - (t - range_ms)) / 1000.0
    to_end = (t - ts_ms[la]) / 1000.0
    to_start = np.where(to_start >= threshold, average / 2, to_start)
    # A counter cannot be negative: never extrapolate the start below its zero point.
    with np.errstate(divide="ignore", invalid="ignore"):
        to_zero = sampled * (v[f] / increase)
    counts_up = (increase > 0) & (v[f] >= 0)
    to_start = np.where(counts_up & (to_zero < to_start), to_zero, to_start)
    to_end = np.where(to_end >= threshold, average / 2, to_end)
    factor = (sampled + to_start + to_end) / sampled / (range_ms / 1000.0)
    out[ok] = increase * factor
    return out


def rate_series(series: pd.Series, scrape_seconds: float) -> pd.Series:
    """A counter's rate at each of its own sample times, over four scrape intervals.

    What `rate(m[4 x scrape])` would answer evaluated at every scrape. The first samples,
    whose window begins before the series does, are left out: Prometheus would answer there
    too, but from a window it has to extrapolate by half of.
    """
    if series.empty:
        return series.astype(float)
    index = series.index
    if isinstance(index, pd.DatetimeIndex):
        seconds = index.as_unit("ns").asi8 / 1e9
    else:
        seconds = np.asarray(index, dtype=float)
    window = RATE_WINDOW_SCRAPES * scrape_seconds
    rates = prometheus_rate(seconds, series.to_numpy(dtype=float), window, seconds)
    result = pd.Series(rates, index=series.index, name=series.name)
    return result[np.isfinite(rates) & (seconds - window >= seconds[0])]
