"""Read-side scale benchmark: the running retrieval API with M series of one run stored.

Issue 12's read side (labels in `series_labels`, cursor pages). With the stack up (`make up`):

1. Stores the results of one complete run of ``--series`` series (statistics, metadata, three
   forecasts and timings per series and window, as data_storage.samples builds them) in the
   stack's MySQL through the storage writer's own code (data_storage.rows + writer, as the
   writer role, so series_labels too). Series i is metric ``br_<tag>_<i % 8>`` with labels job
   and instance=i; 100 more series share the metric ``br_<tag>_page`` (the old stand-in for a
   page, kept so that the old path's figure can be compared).
2. Drives the stack's running retrieval API (gunicorn, as `make up` starts it) from
   ``--clients`` keep-alive clients, each its own process (`concurrent.futures` with an
   http.client connection, so the clients' GIL does not queue requests), for ``--seconds`` per
   route and at least one request per client:
   - ``lookup``: ``/metrics/metric/<name>?label.instance=<i>`` (one series, random i),
   - ``forecasts``: ``/metrics/forecasting/<name>?label.instance=<i>``,
   - ``find``: ``GET /metrics?label.instance=<i>`` (the series of every metric with that label),
   - ``list``: ``GET /metrics?limit=100&next=<cursor>`` (a page of 100 series at a random depth),
   - ``page``: ``/metrics/metric/<name>?window=1h&limit=100&next=<cursor>`` (100 series'
     statistics at a random depth of a metric of M/8 series),
   and prints p50/p95/p99 latency and the response size per route.
3. Measures the old path against the new in this process, one lookup at a time
   (``--old-requests`` each, 0 to skip): the statement the read API ran before issue 12 for a
   label lookup (every series of the metric joined to its latest statistics, the labels
   filtered in Python afterwards) and the read API's `Reader` now, on the same series.
4. Does the same with ``--reference`` series (default 1,000) first, and prints the ratios of
   the M-series figures to the reference's (flat = the cost does not grow with M).

Each size's run and series are deleted at the end (its own run id and metric names), so the
stack stays usable.

    python bench/bench_read_scale.py [--series 100000] [--reference 1000] [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import json
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
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stackdb import delete_runs, read_env, role_settings  # noqa: E402

from data_retrieval.queries import Reader, latest_run_sql  # noqa: E402
from data_storage.consumer import write_batch  # noqa: E402
from data_storage.rows import Batch, map_message  # noqa: E402
from data_storage.samples import run_messages  # noqa: E402
from monitoring_core.db import Database  # noqa: E402
from monitoring_core.messages import Message, RunRecord, SeriesRef, series_id  # noqa: E402
from monitoring_core.params import Cursor, Query  # noqa: E402
from monitoring_core.results_read import STATISTICS_KIND  # noqa: E402

METRICS = 8
PAGE = 100
SERIES_PER_BATCH = 500
ROUTES = ("lookup", "forecasts", "find", "list", "page")


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


def store_chunk(
    env: dict[str, str], stored: Stored, first: int, last: int, started_at: datetime
) -> tuple[int, int]:
    """Series first..last-1 of the layout, written batch by batch: (rows, messages)."""
    db = Database(role_settings(env, "writer"), "bench-read-scale")
    refs = layout(stored.tag, stored.series)[first:last]
    rows = messages = 0
    for start in range(0, len(refs), SERIES_PER_BATCH):
        batch = Batch()
        for message in run_messages(stored.run_id, refs[start : start + SERIES_PER_BATCH],
                                    started_at):  # fmt: skip
            if message.series is not None:  # the run's own records come once, at the end
                batch.add(map_message(message))
                messages += 1
        rows += write_batch(db, batch, 1000)
    return rows, messages


def _default_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def store(env: dict[str, str], stored: Stored, writers: int) -> tuple[float, int]:
    """One complete run of the series, written by `writers` processes of the storage writer's
    code; the run's record last, so that the run is complete only once every row is in."""
    started_at = datetime.now(UTC)
    total = stored.series + PAGE
    mark = time.perf_counter()
    step = SERIES_PER_BATCH * 4
    # The writers die on SIGTERM (the parent's handler would only fail their current chunk).
    with ProcessPoolExecutor(max_workers=writers, initializer=_default_sigterm) as pool:
        futures = [
            pool.submit(store_chunk, env, stored, first, min(first + step, total), started_at)
            for first in range(0, total, step)
        ]
        done = [f.result() for f in futures]
    rows = sum(r for r, _ in done)
    messages = sum(m for _, m in done)
    finished = started_at + timedelta(seconds=time.perf_counter() - mark)
    record = RunRecord(status="complete", started_at=started_at, finished_at=finished,
                       series_count=total, message_count=messages + 1)  # fmt: skip
    batch = Batch()
    batch.add(map_message(Message(run_id=stored.run_id, computed_at=finished, payload=record)))
    db = Database(role_settings(env, "writer"), "bench-read-scale")
    rows += write_batch(db, batch, 1000)
    return time.perf_counter() - mark, rows


def _series_id(stored: Stored, i: int) -> str:
    job = f"br_{stored.tag}"
    return series_id(f"{job}_{i % METRICS}", {"job": job, "instance": str(i)})


def paths(stored: Stored, route: str, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    job = f"br_{stored.tag}"
    picks = [rng.randrange(stored.series) for _ in range(count)]
    if route == "find":
        return [f"/metrics?label.instance={i}" for i in picks]
    if route in ("list", "page"):
        # A cursor just after a random series of the benchmark: a page that deep.
        cursors = [Cursor(f"{job}_{i % METRICS}", _series_id(stored, i)).encode() for i in picks]
        if route == "list":
            return [f"/metrics?limit={PAGE}&next={c}" for c in cursors]
        return [
            f"/metrics/metric/{job}_{i % METRICS}?window=1h&limit={PAGE}&next={c}"
            for i, c in zip(picks, cursors, strict=True)
        ]
    kind = "metric" if route == "lookup" else "forecasting"
    return [f"/metrics/{kind}/{job}_{i % METRICS}?label.instance={i}" for i in picks]


def old_lookup(db: Database, metric: str, instance: str) -> list[dict[str, object]]:
    """The read API's label lookup before issue 12: every series of the metric joined to its
    latest statistics in one statement, the labels parsed and filtered in Python."""
    latest, params = latest_run_sql(STATISTICS_KIND, Query())
    with db.transaction() as cursor:
        cursor.execute(
            f"SELECT s.labels AS series_labels, {STATISTICS_KIND.columns} FROM series s"
            f" JOIN {STATISTICS_KIND.table} ON t.series_id = s.series_id AND t.run_id = ({latest})"
            " WHERE s.metric = %s",
            [*params, metric],
        )
        rows = cursor.fetchall()
    return [r for r in rows if json.loads(r["series_labels"]).get("instance") == instance]


def measure_serial(env: dict[str, str], stored: Stored, requests_: int) -> dict[str, float]:
    """One label lookup at a time in this process, the old way and the new (the read API's
    `Reader` on the same database): p50 and p99 of each, ms."""
    db = Database(role_settings(env, "reader"), "bench-read-serial", read_only=True)
    reader = Reader(db)
    rng = random.Random(7)
    job = f"br_{stored.tag}"
    old, new = [], []
    for _ in range(requests_):
        i = rng.randrange(stored.series)
        metric = f"{job}_{i % METRICS}"
        mark = time.perf_counter()
        found = old_lookup(db, metric, str(i))
        old.append((time.perf_counter() - mark) * 1000)
        mark = time.perf_counter()
        body = reader.read(STATISTICS_KIND, metric, Query(labels={"instance": str(i)}))
        new.append((time.perf_counter() - mark) * 1000)
        assert len(found) == body["count"] == 3, (found, body)  # its three windows
    old.sort()
    new.sort()
    figures = {
        "old_p50": percentile(old, 50),
        "old_p99": percentile(old, 99),
        "new_p50": percentile(new, 50),
        "new_p99": percentile(new, 99),
    }
    print(
        f"  lookup, 1 client, {requests_} requests in this process: old way p50 "
        f"{figures['old_p50']:.1f} ms, p99 {figures['old_p99']:.1f} ms; new p50 "
        f"{figures['new_p50']:.1f} ms, p99 {figures['new_p99']:.1f} ms: "
        f"{figures['old_p50'] / figures['new_p50']:.0f}x / "
        f"{figures['old_p99'] / figures['new_p99']:.0f}x faster",
        flush=True,
    )
    return figures


def client(
    base: str, token: str, route_paths: list[str], start_at: float, stop_at: float
) -> list[tuple[float, int, int]]:
    """One keep-alive client: (latency ms, bytes, status) of each request it sent in time.

    The standard library's http.client, not `requests`: the clients share the 2 cores with the
    server, and a `requests` session spent 1.4 ms of CPU per request, 30 % of the machine at
    440 requests/s (http.client: 0.3 ms), which is load that remote clients would not add."""
    url = urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=600)
    headers = {"Authorization": f"Bearer {token}"}
    out: list[tuple[float, int, int]] = []
    while time.time() < start_at:
        time.sleep(0.01)
    k = 0
    while not out or time.time() < stop_at:
        path = route_paths[k % len(route_paths)]
        k += 1
        mark = time.perf_counter()
        connection.request("GET", url.path.rstrip("/") + path, headers=headers)
        response = connection.getresponse()
        size = len(response.read())
        out.append(((time.perf_counter() - mark) * 1000, size, response.status))
    connection.close()
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
    parser.add_argument(
        "--old-requests", type=int, default=20, help="serial lookups, old and new way (0: none)"
    )
    parser.add_argument("--writers", type=int, default=4, help="processes storing the rows")
    parser.add_argument(
        "--keep", action="store_true", help="leave the main size's rows stored (prints --reuse)"
    )
    parser.add_argument(
        "--reuse", metavar="TAG:RUN_ID", help="measure rows a --keep run left (same --series)"
    )
    args = parser.parse_args()
    count = 10_000 if args.quick else args.series

    env = read_env()
    # SIGTERM unwinds like Ctrl-C, so that the rows stored so far are deleted.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    figures = {}
    with ProcessPoolExecutor(max_workers=args.clients) as pool:
        for label, n in (("reference", args.reference), ("main", count)):
            reused = args.reuse is not None and label == "main"
            if reused:
                tag, run_id = args.reuse.split(":", 1)
                stored = Stored(tag, run_id, n)
            else:
                stored = Stored(uuid.uuid4().hex[:8], str(uuid.uuid4()), n)
            keep = reused or (args.keep and label == "main")
            try:
                if not reused:
                    seconds, rows = store(env, stored, args.writers)
                    print(f"{label}: {n + PAGE} series of run {stored.run_id} stored: {rows:,} "
                          f"rows in {seconds:.0f} s", flush=True)  # fmt: skip
                if keep:
                    print(f"  kept: --reuse {stored.tag}:{stored.run_id}", flush=True)
                print(f"{label}: {args.clients} clients, {args.seconds:.0f} s per route")
                figures[label] = measure(pool, env, stored, args.clients, args.seconds)
                if args.old_requests:
                    measure_serial(env, stored, args.old_requests)
            finally:
                if not keep:
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
