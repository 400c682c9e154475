"""The raw samples of one window: put in order, the scrape interval learned, gaps found.

Prometheus' range selectors give each series' stored samples once each and in time order;
a federated or merged source may not. ``clean_samples`` is the one place that makes any
sample series fit for the analytics, and says what it found:

* Out-of-order samples are put in time order (counted).
* Samples sharing a timestamp are one sample: the last one given is kept (counted), as a
  TSDB keeps one value per timestamp.
* The scrape interval is learned from the data: the lower quartile of the spacings of
  consecutive samples, which stays the interval while gaps are fewer than 3 in 4 spacings
  (or it is given, e.g. learned on a longer window of the same series).
* A gap is a spacing of more than 1.5 intervals (one missed scrape already makes 2); the
  samples it misses are ``round(spacing / interval) - 1`` each.
* A series *ended* when its last sample lies more than 1.5 intervals before the window's end:
  Prometheus writes a staleness marker at the first scrape that misses a series, so it
  considers the series gone one interval after that last sample, and so do we (no value is
  carried on, unlike a ``query_range`` grid's 5-minute lookback).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitoring_core.json_values import ResultMixin

from ._results import GAPS, TOO_FEW_SAMPLES

GAP_FACTOR = 1.5  # a spacing above this many intervals is a gap
ENDED = "ended"
DUPLICATES = "duplicate_timestamps"
OUT_OF_ORDER = "out_of_order"


@dataclass(frozen=True)
class SampleCoverage(ResultMixin):
    """What the samples of one window look like in time.

    Attributes
    ----------
    count : int
        Samples in the window after duplicates were merged (NaN samples included, as
        Prometheus' ``count_over_time`` counts them).
    interval_seconds : float or None
        Scrape interval: the lower quartile of the spacings of consecutive samples, or the
        one given.
        None with fewer than two samples and none given.
    gaps : int
        Spacings of more than ``GAP_FACTOR`` intervals between samples of the window.
    missing_samples : int
        Samples those gaps would have held at the interval.
    longest_gap_seconds : float or None
        Longest spacing counted as a gap (None without gaps).
    first_at, last_at : pandas.Timestamp or None
        First and last sample.
    ended_at : pandas.Timestamp or None
        The last sample, when it lies more than ``GAP_FACTOR`` intervals before the window's
        end: the series stopped (staleness) inside the window.
    duplicates, out_of_order : int
        Samples dropped for sharing a timestamp; samples that came before an earlier one.
    reason, detail : str or None
        ``"ended"``, ``"gaps"``, ``"duplicate_timestamps"``, ``"out_of_order"`` or
        ``"too_few_samples"`` (the first that applies); ``detail`` lists every finding.
    """

    count: int
    interval_seconds: float | None
    gaps: int
    missing_samples: int
    longest_gap_seconds: float | None
    first_at: pd.Timestamp | None
    last_at: pd.Timestamp | None
    ended_at: pd.Timestamp | None
    duplicates: int
    out_of_order: int
    reason: str | None = None
    detail: str | None = None


def learn_interval(stamps_ns: np.ndarray) -> float | None:
    """The scrape interval, in seconds, of sorted unique timestamps (ns); None below two.

    The lower quartile of the spacings (an observed spacing, numpy's ``"lower"`` method):
    robust to gaps and to a jittered late scrape, unlike the mean or the minimum.
    """
    if stamps_ns.size < 2:
        return None
    return float(np.quantile(np.diff(stamps_ns), 0.25, method="lower")) / 1e9


def clean_samples(
    series: pd.Series,
    end: pd.Timestamp | None = None,
    interval_seconds: float | None = None,
) -> tuple[pd.Series, SampleCoverage]:
    """Samples in time order with one per timestamp, and their coverage.

    Method: see the module docstring.  Never raises on a float series with a
    DatetimeIndex (naive timestamps are UTC).

    Parameters
    ----------
    series : pandas.Series
        The samples of one window.
    end : pandas.Timestamp, optional
        The window's end, to tell a series that ended inside the window.
    interval_seconds : float, optional
        The scrape interval when known (e.g. learned on the longest window); else learned here.

    Returns
    -------
    (pandas.Series, SampleCoverage)
        Float samples on a sorted, unique UTC index; what was found.
    """
    index = pd.DatetimeIndex(series.index)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    stamps = index.as_unit("ns").asi8
    values = series.to_numpy(dtype=float, na_value=np.nan)
    out_of_order = int(np.count_nonzero(np.diff(stamps) < 0)) if stamps.size > 1 else 0
    if out_of_order:
        order = np.argsort(stamps, kind="stable")
        stamps, values = stamps[order], values[order]
    duplicates = 0
    if stamps.size > 1:
        last_of_run = np.append(stamps[1:] != stamps[:-1], True)
        duplicates = int(stamps.size - np.count_nonzero(last_of_run))
        if duplicates:
            stamps, values = stamps[last_of_run], values[last_of_run]
    clean = series
    if out_of_order or duplicates or not isinstance(series.index, pd.DatetimeIndex):
        clean = pd.Series(values, index=pd.DatetimeIndex(stamps, tz="UTC"))
    elif series.dtype != np.float64:
        clean = pd.Series(values, index=series.index)

    interval = interval_seconds if interval_seconds else learn_interval(stamps)
    gaps = missing = 0
    longest = None
    ended = None
    if interval and stamps.size:
        spacing = np.diff(stamps) / 1e9
        wide = spacing[spacing > GAP_FACTOR * interval]
        gaps = int(wide.size)
        if gaps:
            missing = int(np.sum(np.rint(wide / interval) - 1))
            longest = float(wide.max())
        if end is not None:
            end_ns = pd.Timestamp(end).as_unit("ns").value
            if (end_ns - stamps[-1]) / 1e9 > GAP_FACTOR * interval:
                ended = _stamp(stamps[-1])

    findings: list[tuple[str, str]] = []
    if ended is not None:
        findings.append((ENDED, f"the series stopped: last sample at {ended.isoformat()}"))
    if gaps:
        findings.append(
            (GAPS, f"{gaps} gaps over {GAP_FACTOR:g} scrape intervals ({interval:g} s), "
             f"{missing} samples missing, the longest {longest:g} s")
        )  # fmt: skip
    if duplicates:
        findings.append((DUPLICATES, f"{duplicates} samples shared a timestamp; kept the last"))
    if out_of_order:
        findings.append((OUT_OF_ORDER, f"{out_of_order} samples out of time order; sorted"))
    if interval is None:
        findings.append(
            (TOO_FEW_SAMPLES, f"{stamps.size} sample(s): no scrape interval, no gaps found")
        )
    return clean, SampleCoverage(
        count=int(stamps.size),
        interval_seconds=interval,
        gaps=gaps,
        missing_samples=missing,
        longest_gap_seconds=longest,
        first_at=_stamp(stamps[0]) if stamps.size else None,
        last_at=_stamp(stamps[-1]) if stamps.size else None,
        ended_at=ended,
        duplicates=duplicates,
        out_of_order=out_of_order,
        reason=findings[0][0] if findings else None,
        detail="; ".join(d for _, d in findings) or None,
    )


def _stamp(ns: int | np.integer) -> pd.Timestamp:
    return pd.Timestamp(int(ns), unit="ns", tz="UTC")
