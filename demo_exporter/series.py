"""Deterministic synthetic series behind the demo exporter.

Every value is a pure function of (series, 15-second slot): seasonality, a slow
bounded trend, Gaussian noise, occasional spikes and (for one series) scrape gaps.
The noise and spikes come from a counter-based hash (splitmix64) of the series
name and the slot number, so the backfilled history and the live exporter draw
exactly the same series, whatever order or batch size they are computed in.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

SLOT_SECONDS = 15
TREND_CYCLE_HOURS = 24.0  # the trend rises for 12 h, then falls for 12 h (bounded drift)


@dataclass(frozen=True)
class SeriesSpec:
    """One synthetic gauge.

    value = base + amplitude * sin(2 pi (t / period + phase)) + trend + noise + spikes,
    clipped to [lower, upper]. ``ramp`` series are the slot timestamp itself.
    """

    name: str
    help: str
    unit: str
    period_minutes: float | None = None  # None: no seasonality
    base: float = 0.0
    amplitude: float = 0.0
    phase: float = 0.0  # fraction of a period
    trend_per_hour: float = 0.0  # slope of the slow triangle-wave trend
    noise_sd: float = 0.0
    spike_prob: float = 0.0  # probability that a spike starts in a given slot
    spike_size: float = 0.0  # added while a spike lasts (negative: a dip)
    spike_slots: int = 1  # how many 15 s slots a spike lasts
    gap_every_minutes: float | None = None  # None: never missing
    gap_minutes: float = 0.0  # length of each gap
    gap_offset_minutes: float = 0.0  # where in the gap cycle the gap starts
    lower: float | None = None
    upper: float | None = None
    ramp: bool = False  # the value is the slot's unix timestamp

    @property
    def constant(self) -> bool:
        return (
            not self.ramp
            and (self.period_minutes is None or self.amplitude == 0)
            and self.trend_per_hour == 0
            and self.noise_sd == 0
            and (self.spike_prob == 0 or self.spike_size == 0)
        )

    @property
    def has_gaps(self) -> bool:
        return self.gap_every_minutes is not None and self.gap_minutes > 0


SERIES: tuple[SeriesSpec, ...] = (
    SeriesSpec(
        name="availableMem",
        help="Available memory in bytes (demo data).",
        unit="bytes",
        period_minutes=40,
        base=6.0e9,
        amplitude=9.0e8,
        phase=0.1,
        trend_per_hour=-2.0e7,
        noise_sd=4.0e7,
        spike_prob=0.001,
        spike_size=-1.5e9,
        spike_slots=8,
        lower=0.0,
    ),
    SeriesSpec(
        name="cacheHitRatio",
        help="Share of cache lookups that hit, 0 to 1 (demo data).",
        unit="ratio",
        period_minutes=36,
        base=0.93,
        amplitude=0.04,
        phase=0.2,
        noise_sd=0.015,
        spike_prob=0.002,
        spike_size=-0.2,
        spike_slots=4,
        lower=0.0,
        upper=1.0,
    ),
    SeriesSpec(
        name="cpuLoad",
        help="CPU load in percent (demo data).",
        unit="percent",
        period_minutes=20,
        base=45.0,
        amplitude=15.0,
        phase=0.0,
        trend_per_hour=0.4,
        noise_sd=2.5,
        spike_prob=0.003,
        spike_size=25.0,
        spike_slots=4,
        lower=0.0,
        upper=100.0,
    ),
    SeriesSpec(
        name="cpuTemp",
        help="CPU temperature in degrees Celsius (demo data).",
        unit="celsius",
        period_minutes=30,
        base=52.0,
        amplitude=7.0,
        phase=0.25,
        trend_per_hour=0.2,
        noise_sd=0.6,
        spike_prob=0.002,
        spike_size=9.0,
        spike_slots=6,
        lower=20.0,
        upper=105.0,
    ),
    SeriesSpec(
        name="diskUsage",
        help="Disk usage in percent (demo data).",
        unit="percent",
        period_minutes=60,
        base=63.0,
        amplitude=2.0,
        phase=0.4,
        trend_per_hour=0.08,
        noise_sd=0.15,
        lower=0.0,
        upper=100.0,
    ),
    SeriesSpec(
        name="inodeUsage",
        help="Inode usage in percent (demo data, constant).",
        unit="percent",
        base=23.4,
    ),
    SeriesSpec(
        name="networkThroughput",
        help="Network throughput in bytes per second (demo data, with scrape gaps).",
        unit="bytes_per_second",
        period_minutes=16,
        base=3.0e6,
        amplitude=1.5e6,
        phase=0.6,
        trend_per_hour=5.0e4,
        noise_sd=2.5e5,
        spike_prob=0.004,
        spike_size=6.0e6,
        spike_slots=2,
        gap_every_minutes=30,
        gap_minutes=4,
        gap_offset_minutes=7,
        lower=0.0,
    ),
    SeriesSpec(
        name="push_time_seconds",
        help="Unix time of the last push in seconds (demo data).",
        unit="seconds",
        ramp=True,
    ),
    SeriesSpec(
        name="realUsedMem",
        help="Memory really used in bytes (demo data).",
        unit="bytes",
        period_minutes=12,
        base=9.5e9,
        amplitude=7.0e8,
        phase=0.8,
        trend_per_hour=3.0e7,
        noise_sd=5.0e7,
        spike_prob=0.001,
        spike_size=1.2e9,
        spike_slots=6,
        lower=0.0,
    ),
)

_BY_NAME: dict[str, SeriesSpec] = {s.name: s for s in SERIES}

# splitmix64 constants
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_STREAM_NOISE_A, _STREAM_NOISE_B, _STREAM_SPIKE = 1, 2, 3


def get_spec(name: str) -> SeriesSpec:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown demo series {name!r}; known: {sorted(_BY_NAME)}") from None


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrap-around arithmetic, no warnings)."""
    z = x + _GOLDEN
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


def _series_seed(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def _uniform(name: str, stream: int, slots: np.ndarray) -> np.ndarray:
    """Uniform numbers in (0, 1), a pure function of (name, stream, slot)."""
    mixed = (_series_seed(name) ^ (stream * 0x632BE59BD9B4E019)) & 0xFFFFFFFFFFFFFFFF
    key = np.array([mixed], dtype=np.uint64)
    key = _splitmix64(key)
    h = _splitmix64(slots.astype(np.int64).view(np.uint64) ^ key)
    return ((h >> _S11).astype(np.float64) + 0.5) / float(1 << 53)


def _triangle_hours(t: np.ndarray) -> np.ndarray:
    """Bounded slow drift: slope +1 h/h for 12 h then -1 h/h, range [-6, 6] hours."""
    cycle = TREND_CYCLE_HOURS * 3600.0
    frac = np.mod(t, cycle) / cycle  # 0..1
    return TREND_CYCLE_HOURS * (np.minimum(frac, 1.0 - frac) - 0.25)


def _in_gap(spec: SeriesSpec, t: np.ndarray) -> np.ndarray:
    if not spec.has_gaps:
        return np.zeros(t.shape, dtype=bool)
    every = float(spec.gap_every_minutes) * 60.0  # type: ignore[arg-type]
    pos = np.mod(t - spec.gap_offset_minutes * 60.0, every)
    return pos < spec.gap_minutes * 60.0


def _values_for_slots(spec: SeriesSpec, slots: np.ndarray) -> np.ndarray:
    """Values (NaN in gaps) for an int64 array of slot numbers."""
    t = slots.astype(np.float64) * SLOT_SECONDS
    if spec.ramp:
        v = t.copy()
    else:
        v = np.full(t.shape, spec.base, dtype=np.float64)
        if spec.period_minutes is not None and spec.amplitude:
            v += spec.amplitude * np.sin(
                2.0 * math.pi * (t / (spec.period_minutes * 60.0) + spec.phase)
            )
        if spec.trend_per_hour:
            v += spec.trend_per_hour * _triangle_hours(t)
        if spec.noise_sd:
            u1 = _uniform(spec.name, _STREAM_NOISE_A, slots)
            u2 = _uniform(spec.name, _STREAM_NOISE_B, slots)
            v += spec.noise_sd * np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * math.pi * u2)
        if spec.spike_prob and spec.spike_size:
            active = np.zeros(t.shape, dtype=bool)
            for back in range(max(1, spec.spike_slots)):
                active |= _uniform(spec.name, _STREAM_SPIKE, slots - back) < spec.spike_prob
            v += np.where(active, spec.spike_size, 0.0)
        if spec.lower is not None or spec.upper is not None:
            v = np.clip(v, spec.lower, spec.upper)
    return np.where(_in_gap(spec, t), np.nan, v)


def slot_of(t: float) -> int:
    """The 15-second slot that contains unix time ``t``."""
    return math.floor(t / SLOT_SECONDS)


def value_at(name: str, t: float) -> float | None:
    """Value of series ``name`` at unix time ``t`` (floored to its 15 s slot); None in a gap."""
    spec = get_spec(name)
    v = float(_values_for_slots(spec, np.array([slot_of(t)], dtype=np.int64))[0])
    return None if math.isnan(v) else v


def values_between(
    name: str, start: float, end: float, step: float = SLOT_SECONDS
) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps (multiples of ``step`` in [start, end]) and values, NaN where in a gap.

    Each timestamp takes the value of the 15 s slot it falls in, as ``value_at`` does.
    """
    if step <= 0:
        raise ValueError("step must be positive")
    first = math.ceil(start / step)
    last = math.floor(end / step)
    timestamps = np.arange(first, last + 1, dtype=np.int64).astype(np.float64) * step
    slots = np.floor(timestamps / SLOT_SECONDS).astype(np.int64)
    return timestamps, _values_for_slots(get_spec(name), slots)
