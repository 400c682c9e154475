"""Benchmark: an ETL worker's CPU per series, in process, without the stack.

Run ``python bench/bench_worker.py`` (a shard of 200 series) or ``--series 50`` for a quick
run. One shard goes through the worker's own code path, ``Pipeline.run_shard`` (discovery's
query threads, the real ``PrometheusClient`` with its HTTP client, the analytics of the three
windows, the typed results and their messages), with two fakes at the boundary only:

- Prometheus answers from memory: a requests transport adapter mounted on the client's own
  session answers ``/api/v1/series``, ``/api/v1/metadata`` and ``/api/v1/query`` (``m[12h]``)
  with the JSON bytes Prometheus would send (2,881 samples per series, values as strings
  rounded to 3 decimals, as ``bench_scale.py`` imports them), so the HTTP client, the JSON
  parse and the conversion to pandas all run;
- the publisher encodes every message (``messages.encode``) and counts it acknowledged, but
  sends nothing.

The reference, in the same run: the pure analytics of the same series (``analyze_window`` on
the three windows, as ``bench_analytics.py`` times them). It prints the CPU per series of the
worker and of the reference, their ratio (the rest is the worker's overhead), and a breakdown
of the worker's CPU by stage, each run alone in this thread (read, analyse, build results,
encode). ``--profile`` adds cProfile's top functions of each stage.
"""

from __future__ import annotations

import os

# As the stack runs a worker: one BLAS thread, set before numpy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterable  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import Any, TypeVar  # noqa: E402
from urllib.parse import parse_qs, urlsplit  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import requests  # noqa: E402
from requests.adapters import BaseAdapter  # noqa: E402

from etl_pipeline.analysis import ForecastConfig, analyze_series  # noqa: E402
from etl_pipeline.cycle import Pipeline  # noqa: E402
from etl_pipeline.settings import ETLSettings  # noqa: E402
from etl_pipeline.sharding import from_shard_query, to_shard_query  # noqa: E402
from monitoring_core import messages  # noqa: E402
from monitoring_core.analytics import analyze_window  # noqa: E402
from monitoring_core.analytics.synthetic import seasonal_series  # noqa: E402
from monitoring_core.kafka import DeliveryReport, Headers, Publisher  # noqa: E402
from monitoring_core.prometheus import PrometheusClient  # noqa: E402
from monitoring_core.settings import KafkaSettings, PrometheusSettings  # noqa: E402

STEP = 15
HOURS = 12
METRICS = 8
PERIODS = (10, 20, 30, 45, 60, None)
URL = "http://prometheus.invalid"
END = datetime(2026, 1, 1, 12, tzinfo=UTC)
_INSTANCE = re.compile(r'instance="(\d+)"')
T = TypeVar("T")


def series_labels(i: int) -> dict[str, str]:
    """Series i as bench_scale.py names it: metric bs_w_<i % 8>, labels job, instance, g."""
    return {"__name__": f"bs_w_{i % METRICS}", "g": str(i % 10), "instance": str(i), "job": "bs_w"}


def answer_bytes(i: int, end: datetime) -> bytes:
    """Prometheus' answer to `m[12h + 1 ms]` at `end` for series i: 2,881 samples at 15 s."""
    points = HOURS * 3600 // STEP + 1
    first = int(end.timestamp()) - (points - 1) * STEP
    values = seasonal_series(
        PERIODS[i % len(PERIODS)], hours=points * STEP / 3600, seed=i, noise=1 + i % 3
    ).to_numpy()[:points]
    samples = [[first + k * STEP, repr(v)] for k, v in enumerate(np.round(values, 3).tolist())]
    body = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [{"metric": series_labels(i), "values": samples}],
        },
    }
    return json.dumps(body, separators=(",", ":")).encode()


class FakePrometheus(BaseAdapter):
    """Prometheus' HTTP API from memory, mounted on the client's own requests session."""

    def __init__(self, answers: list[bytes]) -> None:
        super().__init__()
        self.answers = answers

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **_kwargs: Any
    ) -> requests.Response:
        url = urlsplit(request.url or "")
        params = parse_qs(url.query)
        if url.path == "/api/v1/series":
            body = json.dumps(
                {"status": "success", "data": [series_labels(i) for i in range(len(self.answers))]}
            ).encode()
        elif url.path == "/api/v1/metadata":
            types = {f"bs_w_{m}": [{"type": "gauge", "help": "", "unit": ""}] for m in range(8)}
            body = json.dumps({"status": "success", "data": types}).encode()
        elif url.path == "/api/v1/query":
            found = _INSTANCE.search(params["query"][0])
            assert found is not None, params
            body = self.answers[int(found.group(1))]
        else:
            raise AssertionError(f"unexpected request {request.url}")
        response = requests.Response()
        response.status_code = 200
        response._content = body
        response.headers["Content-Type"] = "application/json"
        response.encoding = "utf-8"
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


class EncodingPublisher(Publisher):
    """Encodes every message as the producer would be handed it; sends nothing."""

    def __init__(self) -> None:
        super().__init__(KafkaSettings(bootstrap_servers="127.0.0.1:1"))
        self.messages = 0
        self.bytes = 0

    def _send(
        self,
        topic: str,
        records: Iterable[tuple[bytes | None, bytes, Headers | None, int | None]],
        timeout: float,
    ) -> DeliveryReport:
        report = DeliveryReport()
        for _key, value, _headers, _partition in records:
            report.sent += 1
            report.acked += 1
            self.bytes += len(value)
        self.messages += report.sent
        return report


def make_pipeline(answers: list[bytes]) -> tuple[Pipeline, EncodingPublisher]:
    client = PrometheusClient(PrometheusSettings(url=URL, step_seconds=STEP))
    client._session.mount(URL, FakePrometheus(answers))
    publisher = EncodingPublisher()
    settings = ETLSettings(scheduler_enabled=False, max_series=len(answers) + 1)
    return Pipeline(settings, client, publisher.settings, publisher, clock=lambda: END), publisher


def cpu(function: Callable[[], T]) -> tuple[T, float, float]:
    """The result, process CPU seconds (every thread) and wall seconds of one call."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = function()
    return result, time.process_time() - cpu0, time.perf_counter() - wall0


def profiled(function: Callable[[], T], top: int) -> tuple[T, str]:
    profile = cProfile.Profile()
    result = profile.runcall(function)
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(top)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    return result, "\n".join(lines[start : start + top + 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=200, help="series in the shard (200)")
    parser.add_argument("--profile", action="store_true", help="cProfile each stage")
    parser.add_argument("--top", type=int, default=25, help="functions per profile (25)")
    args = parser.parse_args()
    n = args.series
    load_before = os.getloadavg()[0]

    answers = [answer_bytes(i, END) for i in range(n)]
    pipeline, publisher = make_pipeline(answers)
    end = pipeline.data_end(END + timedelta(seconds=STEP))  # == END
    plan = pipeline.plan(end)
    queries = [from_shard_query(to_shard_query(q)) for q in plan.queries]
    assert len(queries) == n, len(queries)
    metrics = tuple(sorted({q.name for q in queries}))
    forecast = ForecastConfig(metrics, 10)
    pipeline.run_shard("warm-up", queries[: min(n, 6)], end, forecast)  # imports, first calls

    # 1. The worker's shard, as shard_worker.handle runs it (query threads included).
    shard, worker_cpu, worker_wall = cpu(
        lambda: pipeline.run_shard("bench", queries, end, forecast)
    )
    assert shard.series_count == n and not shard.skipped, shard.skipped

    # 2. The same stages one at a time in this thread, for the breakdown.
    settings, windows = pipeline.settings, pipeline.windows
    start = end - settings.longest_window
    client = pipeline.discovery.prometheus
    options = pipeline.analysis.options(forecast)
    stages: dict[str, float] = {}
    profiles: dict[str, str] = {}

    def stage(name: str, function: Callable[[], T]) -> T:
        if args.profile:
            result, profiles[name] = profiled(function, args.top)
        result, stages[name], _ = cpu(function)
        return result

    reads = stage(
        "read (HTTP client, JSON, pandas)",
        lambda: [client.read_samples(q.promql, start, end, STEP)[0].values for q in queries],
    )
    analyses = stage(
        "analyse (3 windows, analyze_series)",
        lambda: [
            analyze_series(values, end, windows, True, options, q)
            for values, q in zip(reads, queries, strict=True)
        ],
    )
    refs = [messages.SeriesRef.of(q.name, q.labels or {}) for q in queries]
    results = stage(
        "build results (typed payloads)",
        lambda: [
            pipeline.analysis.series_results(ref, outcome, end, 0.0, q)
            for ref, outcome, q in zip(refs, analyses, queries, strict=True)
        ],
    )
    flat = [r for group in results if not isinstance(group, str) for r in group]
    stage("messages and encode", lambda: pipeline.publishing.publish_shard("bench", flat))

    # 3. The reference: the pure analytics of the same series, as bench_analytics.py runs it.
    def reference() -> None:
        for values in reads:
            for w in windows.values():
                analyze_window(
                    values[values.index >= pd.Timestamp(end - w)],
                    forecast=True,
                    bucket=settings.bucket,
                    horizon_minutes=10,
                    min_period_minutes=settings.min_period_minutes,
                    max_period_minutes=settings.max_period_minutes,
                    max_gap=settings.max_gap,
                    end=pd.Timestamp(end),
                )

    _, reference_cpu, _ = cpu(reference)

    ms = 1e3 / n
    print(f"shard                 : {n} series x {len(windows)} windows, 2,881 samples each")
    print(
        f"worker run_shard      : {worker_cpu * ms:.1f} ms CPU per series "
        f"({worker_wall * ms:.1f} ms wall), {shard.message_count} messages, "
        f"{publisher.bytes / 1e6:.1f} MB encoded in all runs"
    )
    print(f"reference (analytics) : {reference_cpu * ms:.1f} ms CPU per series")
    print(f"ratio worker/reference: {worker_cpu / reference_cpu:.2f}x")
    print("worker stages, one at a time in this thread (CPU per series):")
    for name, seconds in stages.items():
        print(f"  {name:38s}: {seconds * ms:6.2f} ms")
    print(f"  {'sum':38s}: {sum(stages.values()) * ms:6.2f} ms")
    for name, text in profiles.items():
        print(f"\n--- profile: {name} ---\n{text}")
    print(
        f"\n1-min load average    : {load_before:.2f} before, {os.getloadavg()[0]:.2f} after "
        "(CPU time moves less with load than wall time)"
    )


if __name__ == "__main__":
    main()
