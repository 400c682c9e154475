"""Read benchmark: requests/s and latency of GET /metrics/metric/<name> under gunicorn.

Builds a throwaway database (test_bench_*, migrated and granted like conftest's test_database),
fills it with `--runs` ETL runs of 8 series as the writer role, starts the retrieval app under
gunicorn as the reader role (4 workers, 2 threads, as the stack runs it), and drives it from
`--clients` concurrent keep-alive connections on loopback (threads spread over a few processes,
so the load generator's own GIL does not queue requests) for `--seconds`.

    python bench/bench_read.py [--runs 300] [--clients 32] [--seconds 15]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data_storage.consumer import write_batch  # noqa: E402
from data_storage.rows import Batch, map_message  # noqa: E402
from data_storage.samples import demo_series, run_messages  # noqa: E402
from monitoring_core.db import Database, connect, migrate  # noqa: E402
from monitoring_core.settings import DatabaseRoles, MySQLSettings  # noqa: E402
from stack.settings import StackSettings  # noqa: E402


def read_env() -> dict[str, str]:
    path = StackSettings().env_file
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def role_settings(env: dict[str, str], role: str, database: str) -> MySQLSettings:
    return MySQLSettings(
        host=env["MYSQL_HOST"],
        port=int(env["MYSQL_PORT"]),
        database=database,
        user=env[f"DB_{role.upper()}_USER"],
        password=env[f"DB_{role.upper()}_PASSWORD"],
    )


def create_database(env: dict[str, str], prefix: str) -> str:
    """A throwaway database the migrator may create (test_*), migrated and granted."""
    name = f"test_{prefix}_{uuid.uuid4().hex[:8]}"
    admin = role_settings(env, "migrator", "metrics")
    connection = connect(admin, database="")
    try:
        connection.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        connection.commit()
    finally:
        connection.close()
    roles = DatabaseRoles(
        migrator_user=env["DB_MIGRATOR_USER"],
        writer_user=env["DB_WRITER_USER"],
        reader_user=env["DB_READER_USER"],
        sla_user=env["DB_SLA_USER"],
    )
    migrate(admin.model_copy(update={"database": name}), roles)
    return name


def drop_database(env: dict[str, str], name: str) -> None:
    connection = connect(role_settings(env, "migrator", "metrics"), database="")
    try:
        connection.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        connection.commit()
    finally:
        connection.close()


def fill(db: Database, runs: int) -> int:
    series = demo_series("bench", 8)
    start = datetime.now(UTC) - timedelta(minutes=runs)
    rows = 0
    for first in range(0, runs, 20):
        batch = Batch()
        for i in range(first, min(first + 20, runs)):
            for message in run_messages(f"bench-{i:05d}", series, start + timedelta(minutes=i)):
                batch.add(map_message(message))
        rows += write_batch(db, batch, 1000)
    return rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(env: dict[str, str], database: str, port: int, workers: int) -> subprocess.Popen:
    reader = role_settings(env, "reader", database)
    child_env = {
        **os.environ,
        "MYSQL_HOST": reader.host,
        "MYSQL_PORT": str(reader.port),
        "MYSQL_DATABASE": database,
        "MYSQL_USER": reader.user,
        "MYSQL_PASSWORD": reader.password.get_secret_value(),
    }
    command = [
        str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--threads", "2", "data_retrieval:create_app()",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("gunicorn did not become healthy")


def drive(port: int, path: str, threads: int, warmup: float, seconds: float, out) -> None:  # noqa: ANN001
    """One load process: `threads` keep-alive clients; sends its latencies (ms) back."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    start_at = time.monotonic() + warmup
    stop_at = start_at + seconds

    def client(slot: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while (now := time.monotonic()) < stop_at:
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                ok = False
            if now >= start_at:
                latencies[slot].append((time.monotonic() - now) * 1000)
                errors[slot] += not ok
        connection.close()

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    out.send(([x for slot in latencies for x in slot], sum(errors)))
    out.close()


def load(port: int, path: str, clients: int, processes: int, seconds: float) -> dict[str, float]:
    pipes, procs = [], []
    ctx = multiprocessing.get_context("spawn")
    for i in range(processes):
        threads = clients // processes + (1 if i < clients % processes else 0)
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=drive, args=(port, path, threads, 2.0, seconds, child))
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    latencies: list[float] = []
    errors = 0
    for parent in pipes:
        got, errs = parent.recv()
        latencies += got
        errors += errs
    for proc in procs:
        proc.join()
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "requests_per_second": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
        "max_ms": latencies[-1],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="ETL runs of history to store")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--path", default="/metrics/metric/bench_0")
    args = parser.parse_args()

    env = read_env()
    database = create_database(env, "bench_read")
    process = None
    try:
        started = time.perf_counter()
        rows = fill(Database(role_settings(env, "writer", database), "bench-writer"), args.runs)
        print(
            f"stored {args.runs} runs of 8 series: {rows} rows in "
            f"{time.perf_counter() - started:.1f}s"
        )
        port = free_port()
        process = start_gunicorn(env, database, port, args.workers)
        connection = http.client.HTTPConnection("127.0.0.1", port)
        connection.request("GET", args.path)
        body = json.loads(connection.getresponse().read())
        print(
            f"GET {args.path}: {body['count']} statistics objects of run "
            f"{body['statistics'][0]['run_id']}"
        )
        result = load(port, args.path, args.clients, args.processes, args.seconds)
        print(
            f"{args.clients} clients, {args.workers} gunicorn workers x 2 threads, "
            f"{args.seconds:.0f}s: {result['requests_per_second']:.0f} requests/s, "
            f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
            f"max {result['max_ms']:.1f} ms, errors {result['errors']}"
        )
    finally:
        if process is not None:
            process.terminate()
            process.wait(30)
        drop_database(env, database)
    return 0


if __name__ == "__main__":
    sys.exit(main())
