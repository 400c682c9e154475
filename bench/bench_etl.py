"""Benchmark: ETL cycles end to end against the real stack, and the cycle's CPU part at scale.

Run ``python bench/bench_etl.py`` with the stack up. Two measurements:

1. ``--cycles`` full cycles over the demo selector against the real Prometheus and Kafka
   (discover, one range query per series, analytics, publish, acknowledgements): median
   and max wall time and the median of each stage.
2. The part of a cycle that grows with the series count, for ``--series`` synthetic 12 h
   series x 3 windows (15 s step), every series forecast: the analytics (in the cycle's
   thread, then on a spawn process pool of ``--processes``), building the typed messages,
   and publishing them to Kafka until every one is acknowledged.

It prints the figures and the peak memory of this process (the pool's workers are
separate processes: their peak is printed too). The bench topic is deleted at the end.
"""

from __future__ import annotations

import os

# As the stack and the image run the service: one BLAS thread, set before numpy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

from etl_pipeline.analysis import ForecastConfig, SeriesFailure  # noqa: E402
from etl_pipeline.cycle import Pipeline  # noqa: E402
from etl_pipeline.discovery import ReadSeries, SeriesQuery  # noqa: E402
from etl_pipeline.results import build_result  # noqa: E402
from etl_pipeline.settings import ETLSettings  # noqa: E402
from monitoring_core.analytics import WindowAnalysis  # noqa: E402
from monitoring_core.analytics.synthetic import seasonal_series  # noqa: E402
from monitoring_core.kafka import Publisher, ensure_topics  # noqa: E402
from monitoring_core.messages import SeriesRef  # noqa: E402
from monitoring_core.metric_types import GAUGE, MetricType  # noqa: E402
from monitoring_core.prometheus import PrometheusClient  # noqa: E402
from monitoring_core.settings import KafkaSettings, PrometheusSettings  # noqa: E402

PERIODS = (10, 20, 30, 45, 60, None)


def peak_mib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def bench_cycles(pipeline: Pipeline, cycles: int) -> None:
    config = ForecastConfig(pipeline.settings.forecast_metric_names, 10)
    pipeline.run(str(uuid.uuid4()), config)  # warm-up: first imports, topic metadata
    runs = [pipeline.run(str(uuid.uuid4()), config) for _ in range(cycles)]
    assert all(r.status == "complete" for r in runs), [r.reason for r in runs]
    totals = [r.stages["total"] for r in runs]
    stages = {k: statistics.median(r.stages[k] for r in runs) for k in runs[0].stages}
    print(
        f"demo cycle ({runs[0].series_count} series x {len(runs[0].windows)} windows, "
        f"{runs[0].message_count} messages): median {statistics.median(totals):.3f} s, "
        f"max {max(totals):.3f} s over {cycles} cycles"
    )
    print("  median stages: " + ", ".join(f"{k} {v:.3f} s" for k, v in stages.items()))


def synthetic(n: int, end: datetime) -> list[ReadSeries]:
    start = pd.Timestamp(end - timedelta(hours=12))
    out = []
    for i in range(n):
        values = seasonal_series(
            PERIODS[i % len(PERIODS)], hours=12 + 15 / 3600, seed=i, start=start, noise=1 + i % 3
        )
        name, labels = f"bench_{i % 8}", {"instance": str(i)}
        query = SeriesQuery(name, name, labels, MetricType(GAUGE, "bench"))
        out.append((SeriesRef.of(name, labels), values, 0.0, query))
    return out


def analysis_of(outcome: dict[str, WindowAnalysis] | SeriesFailure) -> dict[str, WindowAnalysis]:
    """A series' windows; a series whose analysis raised stops the bench, with its traceback."""
    if isinstance(outcome, SeriesFailure):
        raise RuntimeError(f"a synthetic series failed: {outcome.error}\n{outcome.traceback}")
    return outcome


def bench_scale(pipeline: Pipeline, n: int, processes: int, publish: bool) -> None:
    end = datetime(2026, 1, 1, 12, tzinfo=UTC)
    series = synthetic(n, end)
    config = ForecastConfig(tuple(f"bench_{i}" for i in range(8)), 10)
    print(f"\n{n} series x 3 windows x 2,881 samples, every series forecast:")

    mark = time.perf_counter()
    analyses = [analysis_of(a) for a in pipeline.analysis.analyze_all(series, end, config)]
    in_thread = time.perf_counter() - mark
    print(
        f"  analytics in the cycle's thread: {in_thread:.1f} s ({3 * n / in_thread:.0f} "
        f"series-windows/s)"
    )

    if processes >= 2:
        pooled = Pipeline(
            pipeline.settings.model_copy(
                update={"analysis_processes": processes, "process_pool_min_series": 1}
            ),
            pipeline.discovery.prometheus,
            pipeline.publishing.kafka_settings,
        )
        # start the workers
        list(pooled.analysis.analyze_all(series[: processes * 2], end, config))
        mark = time.perf_counter()
        list(pooled.analysis.analyze_all(series, end, config))
        pool_seconds = time.perf_counter() - mark
        pooled.close()
        print(
            f"  analytics on a spawn pool of {processes}: {pool_seconds:.1f} s "
            f"({in_thread / pool_seconds:.2f}x the thread)"
        )

    mark = time.perf_counter()
    results = [
        build_result(ref, window, analysis, end - pipeline.windows[window], end, 0.0)
        for (ref, _, _, _), by_window in zip(series, analyses, strict=True)
        for window, analysis in by_window.items()
    ]
    batch = [m for r in results for m in r.messages("bench", end)]
    batch += [r.timing_message("bench", end) for r in results]
    build = time.perf_counter() - mark
    print(f"  building {len(batch)} typed messages: {build:.2f} s")
    if publish:
        mark = time.perf_counter()
        report = pipeline.publishing.publisher.publish(batch, timeout=300)
        seconds = time.perf_counter() - mark
        print(
            f"  publishing them, all acknowledged={report.complete}: {seconds:.2f} s "
            f"({len(batch) / seconds:.0f} messages/s)"
        )
    print(
        f"  peak memory: this process {peak_mib():.0f} MiB, "
        f"largest pool worker {peak_mib(resource.RUSAGE_CHILDREN):.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--no-publish", action="store_true")
    args = parser.parse_args()

    topic = f"bench.etl.{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(topic=topic, dead_letter_topic=f"{topic}.dlq", partitions=3)
    prometheus = PrometheusClient(PrometheusSettings())
    pipeline = Pipeline(ETLSettings(scheduler_enabled=False), prometheus, kafka, Publisher(kafka))
    ensure_topics(kafka)
    try:
        if args.cycles:
            bench_cycles(pipeline, args.cycles)
        if args.series:
            bench_scale(pipeline, args.series, args.processes, not args.no_publish)
    finally:
        pipeline.close()
        admin = AdminClient({"bootstrap.servers": kafka.bootstrap_servers})
        for future in admin.delete_topics([kafka.topic, kafka.dead_letter_topic]).values():
            future.result(30)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
