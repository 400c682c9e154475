"""Benchmark: assessing an SLA of 5 metrics (past and predicted violations, 1h/3h/12h).

Compares, in the same run and against the same real Prometheus, the SLA manager's way
(one range query per metric for the longest window, sliced in memory; the shared
grid-search Holt-Winters at the estimated period on 1-minute means) with the seed's way
(three range queries per metric, one per window; a per-sample loop counting violations;
statsmodels `ExponentialSmoothing(trend='add', seasonal='add', seasonal_periods=10).fit()`
with its defaults on the 1-minute means of each window; everything one after another).

    python bench/bench_sla.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from datetime import UTC, datetime, timedelta

from statsmodels.tsa.holtwinters import ExponentialSmoothing

from monitoring_core.prometheus import PrometheusClient
from monitoring_core.promql import align_end
from monitoring_core.settings import PrometheusSettings
from sla_manager.assessment import Assessor
from sla_manager.rules import SLAMetric, build_selector
from sla_manager.settings import SLASettings
from sla_manager.store import StoredSLA

RANGES = {
    "cpuLoad": (30.0, 60.0),
    "cpuTemp": (None, 60.0),
    "availableMem": (5.5e9, None),
    "realUsedMem": (None, 1.0e10),
    "networkThroughput": (5.0e5, 5.0e6),
}
WINDOWS = (("1h", 3600), ("3h", 10800), ("12h", 43200))


def build_sla(selector: str) -> StoredSLA:
    metrics = tuple(
        SLAMetric(name, build_selector(selector, name, {}), low, high, metric=name)
        for name, (low, high) in RANGES.items()
    )
    return StoredSLA(0, "bench", 1, datetime.now(UTC), None, metrics)


def assess_ours(assessor: Assessor, sla: StoredSLA, end: datetime) -> dict:
    return assessor.assess_one(sla, end)


def assess_seed(client: PrometheusClient, sla: StoredSLA, end: datetime) -> list:
    """The seed's metric_scraping(): per window, per metric, a query, a loop and a fit."""
    violations, predicted = [], []
    for window, seconds in WINDOWS:
        for metric in sla.metrics:
            start = end - timedelta(seconds=seconds) + timedelta(seconds=15)
            (series,) = client.query_range(metric.promql, start, end, step_seconds=15)
            values = series.values
            low = metric.min if metric.min is not None else float("-inf")
            high = metric.max if metric.max is not None else float("inf")
            for i in range(len(values)):  # range_violation(): row by row
                if values.iloc[i] < low or values.iloc[i] > high:
                    violations.append((metric.name, values.index[i], values.iloc[i], window))
            resample = values.resample("1min").mean()  # future_violations()
            fit = ExponentialSmoothing(
                resample, trend="add", seasonal="add", seasonal_periods=10
            ).fit()
            for stamp, value in fit.forecast(steps=10).items():
                if value < low or value > high:
                    predicted.append((metric.name, stamp, value))
    return [violations, predicted]


def timed(function, *args) -> float:  # noqa: ANN001
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    prometheus_settings = PrometheusSettings()
    client = PrometheusClient(prometheus_settings)
    settings = SLASettings(assessment_interval_seconds=0)
    assessor = Assessor(settings, client, store=None)  # type: ignore[arg-type]
    sla = build_sla(prometheus_settings.selector)
    end = align_end(datetime.now(UTC), prometheus_settings.step_seconds)

    warnings.simplefilter("ignore")  # statsmodels' convergence chatter on the seed's fits
    assess_ours(assessor, sla, end)  # warm up imports and connections for both
    assess_seed(client, sla, end)
    ours, seed = [], []
    for _ in range(args.repeats):
        ours.append(timed(assess_ours, assessor, sla, end))
        seed.append(timed(assess_seed, client, sla, end))
    ours_s, seed_s = statistics.median(ours), statistics.median(seed)
    print(f"SLA of {len(sla.metrics)} metrics, windows 1h/3h/12h at 15 s, {args.repeats} repeats")
    print(f"  ours : {ours_s * 1000:8.1f} ms per assessment (median; min {min(ours) * 1000:.1f})")
    print(f"  seed : {seed_s * 1000:8.1f} ms per assessment (median; min {min(seed) * 1000:.1f})")
    print(f"  ratio: {seed_s / ours_s:.1f}x faster (target >= 5x)")


if __name__ == "__main__":
    main()
