"""Read-side scale benchmark: the running retrieval API with M series of one run stored.

The read baseline of issue 12 (today's code). With the stack up (`make up`):

1. Stores the results of one complete run of ``--series`` series (statistics, metadata, three
   forecasts and timings per series and window, as data_storage.samples builds them) in the
   stack's MySQL through the storage writer's own code (data_storage.rows + writer, as the
   writer role). Series i is metric ``br_<tag>_<i % 8>`` with labels job and instance=i;
   100 more series share the metric ``br_<tag>_page``, so that one request reads exactly 100
   series (today's API has no paging: that metric, one window, stands in for a page).
2. Drives the stack's running retrieval API (gunicorn, as `make up` starts it) from
   ``--clients`` keep-alive clients, each its own process (`concurrent.futures` with a
   `requests` session, so the clients' GIL does not queue requests), for ``--seconds`` per
   route and at least one request per client:
   - ``lookup``: ``/metrics/metric/<name>?label.instance=<i>`` (one series, random i),
   - ``forecasts``: ``/metrics/forecasting/<name>?label.instance=<i>``,
   - ``list``: ``GET /metrics``,
   - ``page``: ``/metrics/metric/br_<tag>_page?window=1h`` (100 series),
   and prints p50/p95/p99 latency and the response size per route.
3. Does the same with ``--reference`` series (default 1,000) first, and prints the ratios.

Each size's run and series are deleted at the end (its own run id and metric names), so the
stack stays usable.

    python bench/bench_read_scale.py [--series 100000] [--reference 1000] [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stackdb import delete_runs, read_env, role_settings  # noqa: E402

from data_storage.consumer import write_batch  # noqa: E402
from data_storage.rows import Batch, map_message  # noqa: E402
from data_storage.samples import run_messages  # noqa: E402
from monitoring_core.db import Database  # noqa: E402
from monitoring_core.messages import Message, RunRecord, SeriesRef  # noqa: E402

METRICS = 8
PAGE = 100
SERIES_PER_BATCH = 500
ROUTES = ("lookup", "forecasts", "list", "page")


@dataclass(frozen=True)
class Stored:
    tag: str
    run_id: str
    series: int  # besides the page's 100


def layout(tag: str, count: int) -> list[SeriesRef]:
    """`count` series over 8 metrics, then the page metric's 100."""
    job = f"br_{tag}"
    refs = [SeriesRef.of(f"{job}_{i % METRICS}", {"job": job, "instance": str(i)})
            for i in range(count)]  # fmt: skip
    refs += [SeriesRef.of(f"{job}_page", {"job": job, "instance": str(i)}) for i in range(PAGE)]
    return refs


def store(env: dict[str, str], stored: Stored) -> tuple[float, int]:
    """One complete run of the series, written batch by batch by the storage writer; the
    run's record last, so that the run is complete only once every row is in."""
    db = Database(role_settings(env, "writer"), "bench-read-scale")
    started_at = datetime.now(UTC)
    refs = layout(stored.tag, stored.series)
    mark = time.perf_counter()
    rows = 0
    messages = 0
    for first in range(0, len(refs), SERIES_PER_BATCH):
        batch = Batch()
        chunk = refs[first : first + SERIES_PER_BATCH]
        for message in run_messages(stored.run_id, chunk, started_at):
            if message.series is not None:  # the run's own records come once, at the end
                batch.add(map_message(message))
                messages += 1
        rows += write_batch(db, batch, 1000)
    finished = started_at + timedelta(seconds=time.perf_counter() - mark)
    record = RunRecord(status="complete", started_at=started_at, finished_at=finished,
                       series_count=len(refs), message_count=messages + 1)  # fmt: skip
    batch = Batch()
    batch.add(map_message(Message(run_id=stored.run_id, computed_at=finished, payload=record)))
    rows += write_batch(db, batch, 1000)
    return time.perf_counter() - mark, rows


def paths(stored: Stored, route: str, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    job = f"br_{stored.tag}"
    if route == "list":
        return ["/metrics"]
    if route == "page":
        return [f"/metrics/metric/{job}_page?window=1h"]
    kind = "metric" if route == "lookup" else "forecasting"
    picks = (rng.randrange(stored.series) for _ in range(count))
    return [f"/metrics/{kind}/{job}_{i % METRICS}?label.instance={i}" for i in picks]


def client(
    base: str, token: str, route_paths: list[str], start_at: float, stop_at: float
) -> list[tuple[float, int, int]]:
    """One keep-alive client: (latency ms, bytes, status) of each request it sent in time."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    out: list[tuple[float, int, int]] = []
    while time.time() < start_at:
        time.sleep(0.01)
    k = 0
    while not out or time.time() < stop_at:
        path = route_paths[k % len(route_paths)]
        k += 1
        mark = time.perf_counter()
        response = session.get(base + path, timeout=600)
        size = len(response.content)
        out.append(((time.perf_counter() - mark) * 1000, size, response.status_code))
    session.close()
    return out


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def measure(
    pool: ProcessPoolExecutor, env: dict[str, str], stored: Stored, clients: int, seconds: float
) -> dict[str, dict[str, float]]:
    base = env["RETRIEVAL_URL"]
    token = env["READ_TOKEN"]
    results: dict[str, dict[str, float]] = {}
    for route in ROUTES:
        start_at = time.time() + 1.0
        futures = [
            pool.submit(client, base, token, paths(stored, route, 200, seed),
                        start_at, start_at + seconds)
            for seed in range(clients)
        ]  # fmt: skip
        samples = [s for f in futures for s in f.result()]
        wall = max(time.time() - start_at, seconds)
        latencies = sorted(s[0] for s in samples)
        errors = sum(1 for s in samples if s[2] != 200)
        results[route] = {
            "requests": len(samples),
            "errors": errors,
            "per_second": len(samples) / wall,
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99),
            "bytes": statistics.mean(s[1] for s in samples),
        }
        r = results[route]
        print(
            f"  {route:9s} {r['requests']:5.0f} requests ({r['per_second']:.1f}/s, "
            f"{r['errors']:.0f} errors): p50 {r['p50']:.0f} ms, p95 {r['p95']:.0f} ms, "
            f"p99 {r['p99']:.0f} ms, {r['bytes'] / 1024:.1f} KiB; load average "
            f"{os.getloadavg()[0]:.1f}",
            flush=True,
        )
        if errors:
            bad = next(s for s in samples if s[2] != 200)
            print(f"    first error: status {bad[2]}", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--reference", type=int, default=1_000)
    parser.add_argument("--quick", action="store_true", help="10,000 series against 1,000")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0, help="per route")
    args = parser.parse_args()
    count = 10_000 if args.quick else args.series

    env = read_env()
    # SIGTERM unwinds like Ctrl-C, so that the rows stored so far are deleted.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    figures = {}
    with ProcessPoolExecutor(max_workers=args.clients) as pool:
        for label, n in (("reference", args.reference), ("main", count)):
            stored = Stored(uuid.uuid4().hex[:8], str(uuid.uuid4()), n)
            try:
                seconds, rows = store(env, stored)
                print(f"{label}: {n + PAGE} series of run {stored.run_id} stored: {rows:,} rows "
                      f"in {seconds:.0f} s; {args.clients} clients, {args.seconds:.0f} s "
                      "per route", flush=True)  # fmt: skip
                figures[label] = measure(pool, env, stored, args.clients, args.seconds)
            finally:
                delete_runs(env, [stored.run_id], f"br_{stored.tag}_")
    reference, main_figures = figures["reference"], figures["main"]
    print(f"\n{count + PAGE} vs {args.reference + PAGE} series stored:")
    for route in ROUTES:
        a, b = main_figures[route], reference[route]
        print(
            f"  {route:9s} p50 {a['p50'] / b['p50']:.1f}x, p99 {a['p99'] / b['p99']:.1f}x, "
            f"size {a['bytes'] / b['bytes']:.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
