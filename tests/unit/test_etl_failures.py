"""ETL failures that must stay small: one series' analysis, Prometheus going down mid-query,
and a dead analysis worker.

Prometheus is the fake source of test_etl_pipeline (the boundary); no Kafka is reached.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures.process import BrokenProcessPool
from datetime import timedelta

import pandas as pd
import pytest

from etl_pipeline.analysis import ForecastConfig, SeriesFailure
from etl_pipeline.discovery import SeriesQuery
from monitoring_core.messages import SeriesRef
from monitoring_core.prometheus import PrometheusUnavailable

from .test_etl_pipeline import END, FakePrometheus, make_pipeline, samples

FORECAST = ForecastConfig(metrics=("cpu",), horizon_minutes=10)
LABELS = (("job", "node"),)


def series_list(
    values: dict[str, pd.Series],
) -> list[tuple[SeriesRef, pd.Series, float, SeriesQuery]]:
    return [
        (SeriesRef.of(name, dict(LABELS)), v, 0.0, SeriesQuery(name, name, dict(LABELS)))
        for name, v in values.items()
    ]


def not_numbers() -> pd.Series:
    """Samples the analytics cannot take: `to_numpy(dtype=float)` raises ValueError."""
    good = samples(3)
    return pd.Series("not a number", index=good.index)


def test_a_series_whose_analysis_raises_fails_alone_and_is_logged_with_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pipeline = make_pipeline(FakePrometheus({}))
    series = series_list({"cpu": samples(3), "broken": not_numbers(), "disk": samples(3)})
    outcomes = list(pipeline.analysis.analyze_all(series, END, FORECAST))

    assert isinstance(outcomes[1], SeriesFailure) and outcomes[1].error.startswith("ValueError")
    assert set(outcomes[0]) == set(outcomes[2]) == {"1h", "3h", "12h"}

    ref = series[1][0]
    with caplog.at_level(logging.ERROR, logger="etl_pipeline.analysis"):
        reason = pipeline.analysis.series_results(ref, outcomes[1], END, 0.0)
    assert isinstance(reason, str) and reason.startswith("analysis failed: ValueError")
    assert ref.id in caplog.text and "broken" in caplog.text and "Traceback" in caplog.text
    built = pipeline.analysis.series_results(series[0][0], outcomes[0], END, 0.0)
    assert isinstance(built, list) and [r.window for r in built] == ["1h", "3h", "12h"]


def test_prometheus_going_down_cancels_the_queued_queries() -> None:
    fake = FakePrometheus({(f"m{i}", LABELS): samples(1) for i in range(10)})
    started: list[str] = []

    def read_samples(promql, start, end, step_seconds=None, max_series=None):  # noqa: ANN001, ANN202
        started.append(promql)
        if '"m1"' in promql:
            raise PrometheusUnavailable("Prometheus at http://prometheus.invalid: refused")
        # Another query in flight (m0) or queued (m2..m9): as slow as a timeout would be.
        time.sleep(1.0)
        return []

    fake.read_samples = read_samples  # type: ignore[method-assign]
    pipeline = make_pipeline(fake, query_concurrency=2)
    queries, _ = pipeline.discovery.discover(END - timedelta(hours=12), END)
    clock = time.perf_counter()
    with pytest.raises(PrometheusUnavailable):
        list(pipeline.discovery.query_stream(queries, END - timedelta(hours=12), END))
    # m0 and m1 started at once; m1's failure drops the queued ones without waiting for m0.
    assert time.perf_counter() - clock < 0.8
    assert len(started) <= 3


def test_a_dead_worker_fails_one_run_and_the_next_gets_a_new_pool() -> None:
    pipeline = make_pipeline(FakePrometheus({}), analysis_processes=2, process_pool_min_series=1)
    series = series_list({"cpu": samples(3), "broken": not_numbers()})
    try:
        first = list(pipeline.analysis.analyze_all(series, END, FORECAST))
        # The worker's exception comes back as the series' failure, the other series stays.
        assert set(first[0]) == {"1h", "3h", "12h"} and isinstance(first[1], SeriesFailure)

        pool = pipeline.analysis._pool
        assert pool is not None
        for process in list(pool._processes.values()):  # as the OOM killer would
            process.kill()
            process.join()
        with pytest.raises(BrokenProcessPool):
            list(pipeline.analysis.analyze_all(series, END, FORECAST))
        assert pipeline.analysis._pool is None

        again = list(pipeline.analysis.analyze_all(series, END, FORECAST))
        assert set(again[0]) == {"1h", "3h", "12h"} and pipeline.analysis._pool is not pool
    finally:
        pipeline.close()
