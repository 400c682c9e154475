"""Benchmark: full analytics for N series x 3 windows on a pool of 2, against the seed's way.

Run ``python bench/bench_analytics.py`` (1,000 series) or ``--series 50`` for a quick run.
Prints series-windows per second, the total time, the ratio to the seed's way measured
in the same run (on a sample, extrapolated), and the peak memory.
"""

from __future__ import annotations

import os

# One BLAS thread per process: the pool already uses both cores (OPENBLAS_CORETYPE is
# left as the machine sets it).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from monitoring_core.analytics import analyze_window  # noqa: E402
from monitoring_core.analytics.synthetic import seasonal_series  # noqa: E402

STEP_SECONDS = 15
WINDOWS = {"1h": 240, "3h": 720, "12h": 2880}  # samples at 15 s
PERIODS = (10, 20, 30, 45, 60, None)

# Filled in the parent before the pool forks, so workers read it without pickling.
_DATA: np.ndarray | None = None
_INDEX: pd.DatetimeIndex | None = None


def make_data(n_series: int) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """N synthetic 12 h series: periods 10-60 min or none, sine/sawtooth, trends, noise."""
    rows = []
    index = None
    for i in range(n_series):
        s = seasonal_series(
            PERIODS[i % len(PERIODS)],
            shape="sine" if i % 2 else "sawtooth",
            noise=0.5 + (i % 4) * 0.5,
            trend_per_hour=(i % 3 - 1) * 0.5,
            level=10.0 * (1 + i % 7),
            seed=i,
        )
        if i % 50 == 7:
            s.iloc[:] = s.iloc[0]  # a few constant series
        if i % 50 == 13:
            s.iloc[1000:1300] = np.nan  # and a few with a long gap
        rows.append(s.to_numpy())
        index = s.index
    assert index is not None
    return np.vstack(rows), index


@dataclass
class ChunkResult:
    """What one worker measured over its series (sent back to the parent)."""

    windows: int
    timings: Counter[str]  # seconds per analytics stage
    models: Counter[str]  # forecasts per model (or per reason there was none)
    json_bytes: int


def analyse_chunk(bounds: tuple[int, int]) -> ChunkResult:
    """Analyse series [start, stop) for every window, as the ETL would (incl. to_dict)."""
    assert _DATA is not None and _INDEX is not None
    start, stop = bounds
    timings: Counter[str] = Counter()
    models: Counter[str] = Counter()
    windows = 0
    json_bytes = 0
    for i in range(start, stop):
        series = pd.Series(_DATA[i], index=_INDEX)
        for samples in WINDOWS.values():
            result = analyze_window(
                series.iloc[-samples:],
                forecast=True,
                nlags=None,
                bucket="2min",
                horizon_minutes=10,
                min_period_minutes=4,
                max_period_minutes=240,
            )
            json_bytes += len(json.dumps(result.to_dict(), allow_nan=False))
            windows += 1
            for stage, seconds in result.timings.to_dict().items():
                timings[stage] += seconds
            for f in (result.forecasts or {}).values():
                models[f.model or f.reason or "?"] += 1
    return ChunkResult(windows, timings, models, json_bytes)


def _warm(_: int) -> int:
    analyse_chunk((0, 1))
    return os.getpid()


def seed_way(series: pd.Series) -> None:
    """One series-window the seed's way: pandas stats, statsmodels ACF/ADF/decompose/HW x 3."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing
    from statsmodels.tsa.seasonal import seasonal_decompose
    from statsmodels.tsa.stattools import acf, adfuller

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = series.dropna()
        _ = (values.max(), values.min(), values.mean(), values.std())
        acf(values)
        adfuller(values, autolag="AIC", result_object=False)
        seasonal_decompose(values, model="additive", period=10)
        for how in ("mean", "max", "min"):
            buckets = getattr(values.resample("2min"), how)()
            fit = ExponentialSmoothing(
                buckets, trend="add", seasonal="add", seasonal_periods=5
            ).fit()
            fit.forecast(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--series", type=int, default=1000, help="series (default 1000)")
    parser.add_argument("--seed-sample", type=int, default=20, help="series run the seed's way")
    parser.add_argument("--workers", type=int, default=2, help="pool processes (default 2)")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    global _DATA, _INDEX
    _DATA, _INDEX = make_data(max(args.series, args.seed_sample))
    n_windows = args.series * len(WINDOWS)

    # The seed's way, one core, on a sample of series (every window), extrapolated.
    seed_sample = [i for i in range(args.seed_sample) if i % 50 not in (7, 13)]
    t0 = time.perf_counter()
    for i in seed_sample:
        series = pd.Series(_DATA[i], index=_INDEX)
        for samples in WINDOWS.values():
            seed_way(series.iloc[-samples:])
    seed_per_window = (time.perf_counter() - t0) / (len(seed_sample) * len(WINDOWS))
    seed_total = seed_per_window * n_windows

    chunk = 10
    bounds = [(s, min(s + chunk, args.series)) for s in range(0, args.series, chunk)]
    ctx = mp.get_context("fork")
    with ctx.Pool(args.workers) as pool:
        pool.map(_warm, range(args.workers))  # imports and first calls, not timed
        t0 = time.perf_counter()
        parts = pool.map(analyse_chunk, bounds, chunksize=1)
        total = time.perf_counter() - t0
        pool.close()
        pool.join()

    windows = sum(p.windows for p in parts)
    stage: Counter[str] = Counter()
    models: Counter[str] = Counter()
    for p in parts:
        stage.update(p.timings)
        models.update(p.models)
    json_mb = sum(p.json_bytes for p in parts) / 1e6
    self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    peak_gib = (self_kib + args.workers * child_kib) / 2**20

    print(f"series x windows      : {args.series} x {len(WINDOWS)} = {windows} series-windows")
    print(f"workers               : {args.workers} processes (fork), {os.cpu_count()} CPUs")
    print(f"total (wall)          : {total:.2f} s")
    print(f"throughput            : {windows / total:.1f} series-windows/s")
    print(
        "stage CPU per window  : "
        + ", ".join(f"{k} {1e3 * v / windows:.2f} ms" for k, v in sorted(stage.items()))
    )
    print(
        f"seed's way            : {1e3 * seed_per_window:.0f} ms per series-window on one core, "
        f"measured on {len(seed_sample)} series x {len(WINDOWS)} windows in this run, "
        f"extrapolated to {seed_total:.0f} s for {n_windows}"
    )
    print(f"ratio vs seed         : {seed_total / total:.1f}x")
    print(
        f"peak memory (maxrss)  : parent {self_kib / 2**10:.0f} MiB, largest worker "
        f"{child_kib / 2**10:.0f} MiB; parent + {args.workers} x worker = {peak_gib:.2f} GiB"
    )
    print(f"forecast models       : {dict(models)}")
    print(f"JSON produced         : {json_mb:.1f} MB (to_dict + json.dumps, in the workers)")
    print(
        f"1-min load average    : {load_before:.2f} before, {os.getloadavg()[0]:.2f} after "
        "(other work on the machine slows both ways)"
    )


if __name__ == "__main__":
    main()
