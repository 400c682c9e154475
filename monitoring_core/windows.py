"""Windows ("1h", "3h", "12h"): parsing them, ordering them, and slicing samples into them.

One convention for every service: a window `w` ending at `end` holds the samples with
`end - w <= t <= end`, both ends included. That is Prometheus 2's range selector `m[w]`
evaluated at `end` (closed at both ends); Prometheus 3 made range selectors left-open,
`end - w < t <= end`, so `PrometheusClient.read_samples` asks for one millisecond more and
drops what lies before `end - w`: the same samples on both versions. They differ only by a
sample exactly at `end - w`, which exists when samples sit on the step grid that `end` is
aligned to (backfilled history). The ETL's statistics and the SLA manager's violation counts
are therefore comparable to each other and to Prometheus 2's `*_over_time(m[w])` at `end`
(docs/analytics.md, "Windows").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

import pandas as pd

_DURATION = re.compile(r"^(?:\d{1,6}[wdhms])+$")
_DURATION_PART = re.compile(r"(\d+)([wdhms])")
_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
MAX_WINDOW = timedelta(days=7)
MAX_WINDOWS = 8
MAX_NAME_CHARS = 8  # the database column is VARCHAR(8)


def parse_duration(text: str) -> timedelta:
    """A Prometheus-style duration ("90s", "15m", "1h", "1h30m", "1d") as a timedelta."""
    cleaned = text.strip()
    if not _DURATION.match(cleaned):
        raise ValueError(f"{text!r} is not a duration like 15m, 1h, 1h30m or 1d")
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(cleaned))
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return timedelta(seconds=seconds)


def parse_windows(names: str | Iterable[str]) -> dict[str, timedelta]:
    """Comma-separated (or listed) window names -> {name: duration}, shortest first."""
    if isinstance(names, str):
        names = names.split(",")
    cleaned = [name.strip() for name in names if name.strip()]
    if not cleaned:
        raise ValueError("at least one window is needed, e.g. 1h,3h,12h")
    if len(cleaned) > MAX_WINDOWS:
        raise ValueError(f"at most {MAX_WINDOWS} windows")
    windows: dict[str, timedelta] = {}
    for name in cleaned:
        if len(name) > MAX_NAME_CHARS:
            raise ValueError(f"window name {name!r} is longer than {MAX_NAME_CHARS} characters")
        duration = parse_duration(name)
        if duration > MAX_WINDOW:
            raise ValueError(f"window {name} is longer than {MAX_WINDOW.days} days")
        if name in windows or duration in windows.values():
            raise ValueError(f"window {name} is given twice")
        windows[name] = duration
    return dict(sorted(windows.items(), key=lambda item: item[1]))


@functools.lru_cache(maxsize=256)  # a read sorts every row by it, and stores few windows
def window_order(name: str) -> float:
    """Seconds of a window name, for sorting; names that are not durations sort last."""
    try:
        return parse_duration(name).total_seconds()
    except ValueError:
        return float("inf")


def slice_windows(
    values: pd.Series, end: datetime, windows: dict[str, timedelta]
) -> dict[str, pd.Series]:
    """The samples of each window, `end - w <= t <= end`, from one series of the longest."""
    stamp = pd.Timestamp(end)
    upto = values[values.index <= stamp]
    return {name: upto[upto.index >= stamp - pd.Timedelta(w)] for name, w in windows.items()}
