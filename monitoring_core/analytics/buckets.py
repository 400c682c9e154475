"""Resampling of raw samples into regular time buckets (mean/min/max), with the gap policy.

Gap policy
----------
* NaN and infinite samples are dropped: they count as missing.
* Buckets are aligned on the Unix epoch (``floor(t / bucket)``), left-closed and
  labelled by their start, like pandas ``resample(bucket)`` for buckets that
  divide a day.  The last bucket may be partial.
* A run of empty buckets no longer than ``max_gap`` is filled by linear
  interpolation between its neighbours (separately for mean, min and max).
* A longer run splits the series: only the longest gap-free *tail* (the buckets
  after the last long gap) is kept, and the result says ``reason="gaps"``.  The
  tail is what a forecaster must continue from; the analyses that need evenly
  spaced data (ACF, ADF, seasonality, forecasts) use it, while the statistics
  use every finite sample of the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from monitoring_core.json_values import ResultMixin

from ._results import EMPTY, GAPS, quiet_numpy

DEFAULT_BUCKET = "2min"
DEFAULT_MAX_GAP = "6min"


@dataclass(frozen=True)
class Buckets(ResultMixin):
    """Regular buckets of one series and what the gap policy did.

    Attributes
    ----------
    frame : pandas.DataFrame
        Columns ``mean``, ``min``, ``max`` on a regular UTC ``DatetimeIndex`` (with
        ``freq``) covering the usable tail; no NaN.  Empty when ``reason`` is
        ``"empty"``.  Not part of ``to_dict()``.
    bucket_seconds : float
        Bucket width.
    usable_from : pandas.Timestamp or None
        Start of the first usable bucket (samples before it are not in ``frame``).
    n_buckets : int
        Rows of ``frame``.
    interpolated : int
        Empty buckets filled by interpolation inside ``frame``.
    dropped_buckets : int
        Buckets (empty or not) before ``usable_from``, cut by a long gap.
    longest_gap_buckets : int
        Longest run of empty buckets in the whole span.
    reason, detail : str or None
        ``"gaps"`` when a long gap cut the series, ``"empty"`` when no finite sample.
    """

    frame: pd.DataFrame = field(repr=False, compare=False)
    bucket_seconds: float
    usable_from: pd.Timestamp | None
    n_buckets: int
    interpolated: int
    dropped_buckets: int
    longest_gap_buckets: int
    reason: str | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, object]:
        """Return the gap-policy summary as plain JSON types (without the frame)."""
        return {
            "bucket_seconds": self.bucket_seconds,
            "usable_from": None if self.usable_from is None else self.usable_from.isoformat(),
            "n_buckets": self.n_buckets,
            "interpolated": self.interpolated,
            "dropped_buckets": self.dropped_buckets,
            "longest_gap_buckets": self.longest_gap_buckets,
            "reason": self.reason,
            "detail": self.detail,
        }


def utc_index(index: pd.Index) -> pd.DatetimeIndex:
    """Return ``index`` as a nanosecond UTC DatetimeIndex (naive timestamps are taken as UTC)."""
    idx = pd.DatetimeIndex(index)
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    return idx.as_unit("ns")


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of every run of True in a boolean array."""
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return edges[::2], edges[1::2]


@quiet_numpy
def to_buckets(
    series: pd.Series, bucket: str = DEFAULT_BUCKET, *, max_gap: str = DEFAULT_MAX_GAP
) -> Buckets:
    """Resample samples into regular mean/min/max buckets under the gap policy.

    Method: samples are grouped by ``floor(t / bucket)`` (epoch-aligned, as pandas
    ``resample``) with numpy reductions; empty runs up to ``max_gap`` are linearly
    interpolated; after a longer gap only the tail is kept (see the module
    docstring).  Assumes the index holds timestamps (naive ones are UTC).

    Parameters
    ----------
    series : pandas.Series
        Samples indexed by a DatetimeIndex.
    bucket : str
        Bucket width as a pandas offset string, e.g. ``"2min"`` (ETL) or ``"1min"`` (SLA).
    max_gap : str
        Longest run of empty buckets, as a duration, that is interpolated.

    Returns
    -------
    Buckets
        The regular frame and the gap-policy summary.  Never raises on ordinary data.
    """
    unit = series.index.unit if isinstance(series.index, pd.DatetimeIndex) else "ns"
    width = pd.Timedelta(bucket)
    width_ns = int(width.value)
    max_gap_buckets = int(pd.Timedelta(max_gap).value // width_ns)
    values = np.asarray(series.to_numpy(dtype=float, na_value=np.nan), dtype=float)
    stamps = utc_index(series.index).asi8
    keep = np.isfinite(values)
    values, stamps = values[keep], stamps[keep]
    if values.size == 0:
        return Buckets(
            frame=pd.DataFrame(
                {"mean": [], "min": [], "max": []},
                index=pd.DatetimeIndex([], tz="UTC").as_unit(unit),
                dtype=float,
            ),
            bucket_seconds=width.total_seconds(),
            usable_from=None,
            n_buckets=0,
            interpolated=0,
            dropped_buckets=0,
            longest_gap_buckets=0,
            reason=EMPTY,
            detail="no finite sample",
        )
    if np.any(np.diff(stamps) < 0):
        order = np.argsort(stamps, kind="stable")
        values, stamps = values[order], stamps[order]

    keys = stamps // width_ns
    starts = np.concatenate(([0], np.flatnonzero(np.diff(keys)) + 1))
    counts = np.diff(np.append(starts, keys.size))
    first = int(keys[0])
    slot = keys[starts] - first
    length = int(slot[-1]) + 1
    grid = np.full((3, length), np.nan)
    lows = np.minimum.reduceat(values, starts)
    # The mean as min + mean(x - min): exactly the value for a constant bucket whatever its
    # sample count (sum / count is not: raw samples give 7, 8 or 9 per bucket, and the last
    # bit of a constant's bucket means then differs, which the seasonality takes for a season).
    grid[0, slot] = lows + np.add.reduceat(values - np.repeat(lows, counts), starts) / counts
    grid[1, slot] = lows
    grid[2, slot] = np.maximum.reduceat(values, starts)

    empty = np.ones(length, dtype=bool)
    empty[slot] = False
    run_start, run_end = _runs(empty)
    run_len = run_end - run_start
    longest = int(run_len.max()) if run_len.size else 0
    cut = 0
    long_runs = run_len > max_gap_buckets
    if long_runs.any():
        cut = int(run_end[long_runs][-1])
    reason = detail = None
    if cut:
        reason = GAPS
        detail = (
            f"a gap of more than {max_gap} ({longest} empty buckets at most); "
            f"kept the {length - cut} buckets after the last one"
        )
    grid = grid[:, cut:]
    empty = empty[cut:]
    interpolated = int(empty.sum())
    if interpolated:
        pos = np.arange(grid.shape[1])
        full = ~empty
        for row in grid:
            row[empty] = np.interp(pos[empty], pos[full], row[full])

    index = pd.date_range(
        start=pd.Timestamp((first + cut) * width_ns, unit="ns", tz="UTC"),
        periods=grid.shape[1],
        freq=width,
    ).as_unit(unit)
    frame = pd.DataFrame(grid.T, index=index, columns=["mean", "min", "max"])
    return Buckets(
        frame=frame,
        bucket_seconds=width.total_seconds(),
        usable_from=index[0],
        n_buckets=int(grid.shape[1]),
        interpolated=interpolated,
        dropped_buckets=cut,
        longest_gap_buckets=longest,
        reason=reason,
        detail=detail,
    )
