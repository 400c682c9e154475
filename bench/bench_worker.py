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
import gzip  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import pstats  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterable  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402
from typing import Any, TypeVar  # noqa: E402
from urllib.parse import parse_qs, urlsplit  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import requests  # noqa: E402
from requests.adapters import BaseAdapter  # noqa: E402

from etl_pipeline.analysis import ForecastConfig, analyze_series  # noqa: E402
from etl_pipeline.cycle import Pipeline, ShardResult  # noqa: E402
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


def make_pipeline(
    answers: list[bytes], url: str | None = None
) -> tuple[Pipeline, EncodingPublisher]:
    """The worker's pipeline; Prometheus answers from memory, or from `url` when given."""
    client = PrometheusClient(PrometheusSettings(url=url or URL, step_seconds=STEP))
    if url is None:
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


class Served:
    """The same answers over real HTTP (gzip when asked, as Prometheus does) from a child
    process on 127.0.0.1, so that the socket reads and the decompression count in the worker;
    the server's own CPU does not (it is another process)."""

    def __init__(self, answers: list[bytes]) -> None:
        context = multiprocessing.get_context("spawn")
        ready = context.Queue()
        self.process = context.Process(target=_serve, args=(answers, ready), daemon=True)
        self.process.start()
        self.url = f"http://127.0.0.1:{ready.get(timeout=60)}"

    def close(self) -> None:
        self.process.terminate()
        self.process.join(10)


def _serve(answers: list[bytes], ready: Any) -> None:
    zipped = [gzip.compress(a, compresslevel=1) for a in answers]
    fake = FakePrometheus(answers)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            request = requests.Request("GET", f"{URL}{self.path}").prepare()
            body = fake.send(request).content
            headers = {"Content-Type": "application/json"}
            if "gzip" in self.headers.get("Accept-Encoding", "") and len(body) > 1400:
                query = parse_qs(urlsplit(self.path).query).get("query", [""])[0]
                found = _INSTANCE.search(query)
                body = zipped[int(found.group(1))] if found else gzip.compress(body, 1)
                headers["Content-Encoding"] = "gzip"
            self.send_response(200)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ready.put(server.server_address[1])
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=200, help="series in the shard (200)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the least CPU (3)")
    parser.add_argument("--http", action="store_true", help="answers over HTTP from a child")
    parser.add_argument("--profile", action="store_true", help="cProfile each stage")
    parser.add_argument("--top", type=int, default=25, help="functions per profile (25)")
    args = parser.parse_args()
    n = args.series
    load_before = os.getloadavg()[0]

    answers = [answer_bytes(i, END) for i in range(n)]
    served = Served(answers) if args.http else None
    pipeline, publisher = make_pipeline(answers, served.url if served else None)
    end = pipeline.data_end(END + timedelta(seconds=STEP))  # == END
    plan = pipeline.plan(end)
    queries = [from_shard_query(to_shard_query(q)) for q in plan.queries]
    assert len(queries) == n, len(queries)
    metrics = tuple(sorted({q.name for q in queries}))
    forecast = ForecastConfig(metrics, 10)
    pipeline.run_shard("warm-up", queries[: min(n, 6)], end, forecast)  # imports, first calls

    settings, windows = pipeline.settings, pipeline.windows
    start = end - settings.longest_window
    client = pipeline.discovery.prometheus
    options = pipeline.analysis.options(forecast)
    refs = [messages.SeriesRef.of(q.name, q.labels or {}) for q in queries]
    least: dict[str, float] = {}
    walls: dict[str, float] = {}
    profiles: dict[str, str] = {}

    def measure(name: str, function: Callable[[], T]) -> T:
        if args.profile and name not in profiles:
            _, profiles[name] = profiled(function, args.top)
        result, seconds, wall = cpu(function)
        least[name] = min(least.get(name, seconds), seconds)
        walls[name] = min(walls.get(name, wall), wall)
        return result

    def reference(reads: list[pd.Series]) -> None:
        """The pure analytics of the same series, as bench_analytics.py runs it."""
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

    def one_run() -> ShardResult:
        # The worker's shard as shard_worker.handle runs it (the query threads included) ...
        shard = measure("worker", lambda: pipeline.run_shard("bench", queries, end, forecast))
        assert shard.series_count == n and not shard.skipped, shard.skipped
        # ... its stages one at a time in this thread, for the breakdown ...
        reads = measure(
            "read (HTTP client, JSON, pandas)",
            lambda: [client.read_samples(q.promql, start, end, STEP)[0].values for q in queries],
        )
        analyses = measure(
            "analyse (3 windows, analyze_series)",
            lambda: [
                analyze_series(values, end, windows, True, options, q)
                for values, q in zip(reads, queries, strict=True)
            ],
        )
        results = measure(
            "build results (typed payloads)",
            lambda: [
                pipeline.analysis.series_results(ref, outcome, end, 0.0, q)
                for ref, outcome, q in zip(refs, analyses, queries, strict=True)
            ],
        )
        flat = [r for group in results if not isinstance(group, str) for r in group]
        measure("messages and encode", lambda: pipeline.publishing.publish_shard("bench", flat))
        # ... and the reference.
        measure("reference", lambda: reference(reads))
        return shard

    for _ in range(args.repeat):
        shard = one_run()
    if served is not None:
        served.close()

    ms = 1e3 / n
    worker, ref = least.pop("worker"), least.pop("reference")
    print(
        f"shard                 : {n} series x {len(windows)} windows, 2,881 samples each, "
        f"answers {'over HTTP (gzip)' if served else 'from memory'}; least of {args.repeat} runs"
    )
    print(
        f"worker run_shard      : {worker * ms:.1f} ms CPU per series "
        f"({walls['worker'] * ms:.1f} ms wall), {shard.message_count} messages"
    )
    print(f"reference (analytics) : {ref * ms:.1f} ms CPU per series")
    print(f"ratio worker/reference: {worker / ref:.2f}x")
    print("worker stages, one at a time in this thread (CPU per series):")
    for name, seconds in least.items():
        print(f"  {name:38s}: {seconds * ms:6.2f} ms")
    print(f"  {'sum':38s}: {sum(least.values()) * ms:6.2f} ms")
    for name, text in profiles.items():
        print(f"\n--- profile: {name} ---\n{text}")
    print(
        f"\n1-min load average    : {load_before:.2f} before, {os.getloadavg()[0]:.2f} after "
        "(CPU time moves less with load than wall time)"
    )


if __name__ == "__main__":
    main()
