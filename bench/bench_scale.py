"""Scale benchmark: one ETL cycle over N series in the stack's real Prometheus, to MySQL.

The baseline of issue 12 (today's single ETL process). With the stack up (`make up`):

1. Writes ``--series`` synthetic gauges (12 h of 15 s history, ending ``--lead-minutes``
   in the future so that the cycle's windows are full whenever it starts) as OpenMetrics
   text, and imports them with ``promtool tsdb create-blocks-from openmetrics`` into the
   stack's Prometheus data directory, as the stack's own backfill does. They are never
   scraped, and live under a job and metric names of their own (``bs_<tag>``), new on every
   invocation, so they never mix with the demo series, with tests or with an earlier run.
   Prometheus loads the new blocks at its next block reload (within a minute).
2. Starts an ETL process of its own (gunicorn, one worker, no scheduler, a spawn pool of
   ``--processes``, its selector on the job, every series forecast, publishing to the
   stack's topic so that the stack's running data_storage writes the results) and runs ONE
   cycle at a time through ``POST /regen_data``. Only every 10th series (the reference) is
   imported at first: a cold warm-up cycle and the reference cycle run over those; then the
   rest is imported and the main cycle runs over all of them, on a warm process and pool as
   a running service's cycles are. For each cycle it measures
   - the cycle's stages (start, discover, query, analyze, publish, total) from the run record,
   - the time from the cycle's start to the last row of that run in MySQL: the result tables
     are polled (row counts of the run) until the storage consumer group has committed
     everything on the topic and the counts stay put; the first poll that saw the final
     counts is the last row's time (at most one poll interval late),
   - the peak resident memory of the ETL process tree (gunicorn, its worker and the pool's
     processes), sampled from /proc every 0.2 s, and the sum of each process' own peak
     (VmHWM, since the process started).
3. Prints the main cycle against the reference (per-series time and memory ratios), and a
   projection of how many such ETL processes a 100,000-series Prometheus would need for a
   5-minute cycle at the measured rate.

The runs' rows are deleted from MySQL at the end (the samples stay in Prometheus under
their own job until its retention drops them; Prometheus' admin API is off in the stack).

    python bench/bench_scale.py [--series 10000] [--quick] [--processes 2]
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import requests
from confluent_kafka import Consumer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stackdb import RESULT_TABLES, delete_runs, free_port, read_env, role_settings  # noqa: E402

from monitoring_core.analytics.synthetic import seasonal_series  # noqa: E402
from monitoring_core.db import connect  # noqa: E402
from monitoring_core.settings import KafkaSettings  # noqa: E402
from stack.settings import StackSettings  # noqa: E402

STEP = 15
HISTORY_HOURS = 12
METRICS = 8
PERIODS = (10, 20, 30, 45, 60, None)
TARGET_SERIES = 100_000
TARGET_CYCLE_SECONDS = 300


# ---- the series, into Prometheus ------------------------------------------------------------


def write_history(path: Path, tag: str, indices: list[int], start: int, end: int) -> int:
    """OpenMetrics text of the gauges `indices` over [start, end] at 15 s; samples written.

    Series i is metric ``bs_<tag>_<i % 8>`` with labels job, instance=i and g=i % 10 (the
    reference cycle selects g="0"), a season of 10-60 min or none. One metric family's samples
    are contiguous, as OpenMetrics requires."""
    points = (end - start) // STEP + 1
    stamps = [f" {start + k * STEP}\n" for k in range(points)]
    samples = 0
    with path.open("w", encoding="ascii") as out:
        for metric in range(METRICS):
            name = f"bs_{tag}_{metric}"
            out.write(f"# TYPE {name} gauge\n")
            for i in (i for i in indices if i % METRICS == metric):
                values = seasonal_series(
                    PERIODS[i % len(PERIODS)], hours=points * STEP / 3600, seed=i, noise=1 + i % 3
                ).to_numpy()[:points]
                prefix = f'{name}{{job="bs_{tag}",instance="{i}",g="{i % 10}"}} '
                text = map(repr, np.round(values, 3).tolist())
                out.write("".join([prefix + v + s for v, s in zip(text, stamps, strict=True)]))
                samples += points
        out.write("# EOF\n")
    return samples


def import_history(source: Path, data_dir: Path) -> None:
    # One block per day: promtool parses the whole file once per block range.
    subprocess.run(
        [
            "promtool", "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=24h",
            str(source), str(data_dir),
        ],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def wait_loaded(prometheus: str, selector: str, at: int, expected: int, timeout: float) -> float:
    """Seconds until Prometheus answers `expected` series for the selector (block reload)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        answer = requests.get(
            f"{prometheus}/api/v1/query",
            params={"query": f"count({selector})", "time": str(at)},
            timeout=30,
        ).json()
        result = answer.get("data", {}).get("result", [])
        if result and int(float(result[0]["value"][1])) >= expected:
            return time.monotonic() - started
        time.sleep(2)
    raise SystemExit(f"Prometheus did not load the benchmark's blocks within {timeout:.0f}s")


# ---- one ETL process, one cycle ---------------------------------------------------------------


class MemorySampler:
    """Peak summed RSS of a process tree, sampled from /proc every `interval` seconds."""

    def __init__(self, root: int, interval: float = 0.2) -> None:
        self.root = root
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def tree(self) -> list[int]:
        found, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            found.append(pid)
            for children in Path(f"/proc/{pid}/task").glob("*/children"):
                try:
                    todo += [int(c) for c in children.read_text().split()]
                except OSError:
                    pass  # the task ended between the listing and the read
        return found

    @staticmethod
    def status_kib(pid: int, field_name: str) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def cpu_seconds(self) -> float:
        """User + system CPU of the tree, with what its ended children left to their parents."""
        ticks = 0
        for pid in self.tree():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
        return ticks / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int:
        return 1024 * sum(self.status_kib(pid, "VmRSS") for pid in self.tree())

    def hwm_bytes(self) -> int:
        """Sum of every live process' own peak (an upper bound: peaks need not coincide)."""
        return 1024 * sum(self.status_kib(pid, "VmHWM") for pid in self.tree())

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_bytes = max(self.peak_bytes, self.rss_bytes())

    def __enter__(self) -> MemorySampler:
        self.peak_bytes = self.rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def start_etl(
    env: dict[str, str], selector: str, metrics: str, processes: int, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """An ETL of the benchmark's own (not the stack's): its selector, no scheduler."""
    port = free_port()
    child_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ETL_", "PROMETHEUS_"))},
        "PROMETHEUS_URL": env["PROMETHEUS_URL"],
        "PROMETHEUS_SELECTOR": selector,
        "KAFKA_BOOTSTRAP_SERVERS": env["KAFKA_BOOTSTRAP_SERVERS"],
        "ADMIN_TOKEN": env["ADMIN_TOKEN"],
        "READ_TOKEN": env["READ_TOKEN"],
        # Its runs, the cycle lock and the forecast setting are the stack's database's (a
        # forecast setting stored there by POST /forecasting would replace the one below).
        "MYSQL_HOST": env["MYSQL_HOST"],
        "MYSQL_PORT": env["MYSQL_PORT"],
        "MYSQL_DATABASE": env["MYSQL_DATABASE"],
        "MYSQL_USER": env["DB_ETL_USER"],
        "MYSQL_PASSWORD": env["DB_ETL_PASSWORD"],
        "ETL_SCHEDULER_ENABLED": "false",
        "ETL_MAX_SERIES": "100000",
        "ETL_FORECAST_METRICS": metrics,
        "ETL_ANALYSIS_PROCESSES": str(processes),
        "ETL_PROCESS_POOL_MIN_SERIES": "1",
        "ETL_PUBLISH_TIMEOUT_SECONDS": "300",
        # As the stack runs its services: one BLAS thread (stack/servers/services.py).
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    command = [
        str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}",
        "--workers", "1", "--threads", "2", "--timeout", "3600", "etl_pipeline:create_app()",
    ]  # fmt: skip
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=child_env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=5).status_code == 200:
                return process, url
        except requests.RequestException:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.5)
    process.terminate()
    raise SystemExit(f"the benchmark's ETL did not become healthy (log: {log})")


def storage_lag(consumer: Consumer, topic: str) -> int:
    """Messages on the topic that the stack's data_storage group has not committed yet."""
    metadata = consumer.list_topics(topic, timeout=10)
    partitions = [TopicPartition(topic, p) for p in metadata.topics[topic].partitions]
    committed = consumer.committed(partitions, timeout=10)
    lag = 0
    for tp in committed:
        _low, high = consumer.get_watermark_offsets(tp, timeout=10)
        lag += high - max(tp.offset, 0)
    return lag


def count_rows(cursor, run_id: str) -> tuple[int, ...]:  # noqa: ANN001
    counts = []
    for table in RESULT_TABLES:
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE run_id = %s", [run_id])
        counts.append(int(cursor.fetchone()[0]))
    return tuple(counts)


@dataclass
class Cycle:
    label: str
    series: int
    summary: dict = field(default_factory=dict)
    started_at: float = 0.0  # unix time of the cycle's start (the run record)
    returned_at: float = 0.0
    last_row_at: float = 0.0
    rows: tuple[int, ...] = ()
    peak_rss: int = 0
    peak_hwm: int = 0
    cpu: float = 0.0  # CPU seconds of the ETL tree during the cycle
    load: float = 0.0  # the machine's 1-minute load average when the cycle ended

    @property
    def to_mysql(self) -> float:
        return self.last_row_at - self.started_at

    @property
    def stages(self) -> dict[str, float]:
        return self.summary["stages"]


def run_cycle(env: dict[str, str], url: str, pid: int, label: str, series: int) -> Cycle:
    """One cycle of the running ETL through POST /regen_data, followed into MySQL."""
    cycle = Cycle(label, series)
    reader = connect(role_settings(env, "reader"))
    kafka = KafkaSettings(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"])
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap_servers, "group.id": kafka.group_id,
                         "enable.auto.commit": False})  # fmt: skip
    try:
        sampler = MemorySampler(pid)
        cpu_before = sampler.cpu_seconds()
        with sampler:
            response = requests.post(
                f"{url}/regen_data",
                headers={"Authorization": f"Bearer {env['ADMIN_TOKEN']}"},
                timeout=3600,
            )
            cycle.returned_at = time.time()
            cycle.peak_hwm = sampler.hwm_bytes()
            cycle.cpu = sampler.cpu_seconds() - cpu_before
            cycle.load = os.getloadavg()[0]
        cycle.peak_rss = sampler.peak_bytes
        if response.status_code != 200:
            raise SystemExit(f"{label}: /regen_data answered {response.status_code}: "
                             f"{response.text[:500]}")  # fmt: skip
        cycle.summary = response.json()
        if cycle.summary["series_count"] != series:
            raise SystemExit(f"{label}: the cycle saw {cycle.summary['series_count']} series, "
                             f"not {series}")  # fmt: skip
        follow_to_mysql(cycle, reader, consumer, kafka.topic)
    finally:
        consumer.close()
        reader.close()
    return cycle


def follow_to_mysql(cycle: Cycle, reader, consumer: Consumer, topic: str) -> None:  # noqa: ANN001
    """The time of the cycle's last row in MySQL: poll the run's counts until storage has
    committed the whole topic and the counts stayed put for a few polls; the first poll with
    the final counts is it."""
    series = cycle.series
    cycle.started_at = datetime.fromisoformat(cycle.summary["started_at"]).timestamp()
    run_id = cycle.summary["run_id"]
    first_seen: dict[tuple[int, ...], float] = {}
    stable = 0
    previous: tuple[int, ...] = ()
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        reader.commit()  # a fresh snapshot (REPEATABLE READ)
        cursor = reader.cursor()
        counts = count_rows(cursor, run_id)
        cursor.close()
        first_seen.setdefault(counts, time.time())
        stable = stable + 1 if counts == previous else 0
        previous = counts
        if stable >= 3 and counts[0] == series * 3 and storage_lag(consumer, topic) == 0:
            break
        time.sleep(0.5)
    else:
        raise SystemExit(f"{cycle.label}: storage did not finish the run within 30 minutes")
    cycle.rows = previous
    # Counts already final at the first poll: the last row came no later than that poll.
    cycle.last_row_at = first_seen[previous]


# ---- the distributed cycle: a scheduler here, N ETL workers ------------------------------------


def start_workers(env: dict[str, str], kafka: KafkaSettings, group: str, count: int,
                  log_dir: Path) -> list[tuple[subprocess.Popen[bytes], Path]]:  # fmt: skip
    """`count` ETL workers (python -m etl_pipeline.shard_worker) in `group`, once each holds
    partitions of the benchmark's work topic."""
    child_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ETL_", "PROMETHEUS_"))},
        "PROMETHEUS_URL": env["PROMETHEUS_URL"],
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_WORK_TOPIC": kafka.work_topic,
        "KAFKA_SHARD_STATUS_TOPIC": kafka.shard_status_topic,
        "ETL_WORKER_GROUP": group,
        "ETL_MAX_SERIES": "100000",
        "ETL_PUBLISH_TIMEOUT_SECONDS": "300",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    workers = []
    for index in range(count):
        log = log_dir / f"bench_scale_worker_{count}_{index}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "etl_pipeline.shard_worker"],
                                       cwd=ROOT, env=child_env, stdout=out, stderr=out)  # fmt: skip
        workers.append((process, log))
    deadline = time.monotonic() + 120
    while not all("assigned work partitions [" in log.read_text() for _, log in workers):
        if time.monotonic() > deadline:
            raise SystemExit(f"the workers were not assigned partitions (logs in {log_dir})")
        time.sleep(0.5)
    time.sleep(3)  # a rebalance for the last joiner settles
    return workers


def run_distributed(env: dict[str, str], selector: str, metrics: str, workers: int,
                    series: int, log_dir: Path) -> Cycle:  # fmt: skip
    """One distributed cycle over the benchmark's series: the scheduler in this process (its
    discovery and the shard statuses), `workers` ETL worker processes; followed into MySQL."""
    from etl_pipeline.analysis import ForecastConfig
    from etl_pipeline.bootstrap import bootstrap
    from etl_pipeline.scheduler import CycleScheduler
    from etl_pipeline.settings import ETLSettings
    from etl_pipeline.store import RunStore
    from monitoring_core.db import Database
    from monitoring_core.kafka import ensure_topics
    from monitoring_core.settings import PrometheusSettings

    tag = uuid.uuid4().hex[:8]
    kafka = KafkaSettings(
        bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
        work_topic=f"bench.{tag}.work",
        shard_status_topic=f"bench.{tag}.shards",
    )
    ensure_topics(kafka)
    settings = ETLSettings(scheduler_enabled=False, distributed=True, max_series=100_000,
                           forecast_metrics=metrics, publish_timeout_seconds=300)  # fmt: skip
    etl_db = role_settings(env, "etl")
    services = bootstrap(
        settings, PrometheusSettings(url=env["PROMETHEUS_URL"], selector=selector), kafka,
        mysql_settings=etl_db,
    )  # fmt: skip
    forecast = ForecastConfig(settings.forecast_metric_names, settings.horizon_minutes)
    scheduler = CycleScheduler(services.pipeline, kafka, etl_db,
                               RunStore(Database(etl_db, "bench")), forecast)  # fmt: skip
    processes = start_workers(env, kafka, f"bench-{tag}", workers, log_dir)
    cycle = Cycle(f"{workers} worker(s)", series)
    reader = connect(role_settings(env, "reader"))
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap_servers, "group.id": kafka.group_id,
                         "enable.auto.commit": False})  # fmt: skip
    samplers = [MemorySampler(p.pid) for p, _ in processes]
    try:
        cpu_before = sum(s.cpu_seconds() for s in samplers)
        for sampler in samplers:
            sampler.__enter__()
        # The benchmark's own forecast setting, not stored for the stack's ETL (as run_now's is).
        run_id = str(uuid.uuid4())
        result = scheduler.run_exclusive(lambda: scheduler.cycle(run_id, forecast), adopt=False)
        assert result is not None
        cycle.returned_at = time.time()
        cycle.peak_hwm = sum(s.hwm_bytes() for s in samplers)
        cycle.cpu = sum(s.cpu_seconds() for s in samplers) - cpu_before
        cycle.load = os.getloadavg()[0]
        for sampler in samplers:
            sampler.__exit__()
        # Each worker's own peak, summed: an upper bound of the workers' peak together.
        cycle.peak_rss = sum(s.peak_bytes for s in samplers)
        cycle.summary = result.summary()
        if result.status != "complete" or result.series_count != series:
            raise SystemExit(f"{cycle.label}: {result.status}, {result.series_count} series: "
                             f"{result.reason}")  # fmt: skip
        follow_to_mysql(cycle, reader, consumer, kafka.topic)
    finally:
        for process, _ in processes:
            process.terminate()
        for process, _ in processes:
            process.wait(60)
        consumer.close()
        reader.close()
        services.close()
    return cycle


def main_distributed(args: argparse.Namespace, count: int) -> int:
    """`--workers 1,2`: one distributed cycle per worker count over the same series."""
    stack = StackSettings()
    env = read_env()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    tag = uuid.uuid4().hex[:8]
    job = f"bs_{tag}"
    now = (int(time.time()) // STEP) * STEP
    start, end = now - HISTORY_HOURS * 3600 - 600, now + args.lead_minutes * 60
    with tempfile.TemporaryDirectory(dir=stack.home) as tmp:
        source = Path(tmp) / "history.om"
        mark = time.perf_counter()
        write_history(source, tag, list(range(count)), start, end)
        import_history(source, stack.home / "prometheus" / "data")
        print(f"job {job}: {count} series written and imported in "
              f"{time.perf_counter() - mark:.0f} s", flush=True)  # fmt: skip
    wait_loaded(env["PROMETHEUS_URL"], f'{{job="{job}"}}', now, count, 240)
    metrics = ",".join(f"{job}_{m}" for m in range(METRICS))
    counts = [int(n) for n in args.workers.split(",")]
    cycles: list[Cycle] = []
    try:
        for workers in counts:
            cycle = run_distributed(env, f'{{job="{job}"}}', metrics, workers, count, stack.logs)
            cycles.append(cycle)
            describe(cycle)
    finally:
        if not args.keep_rows:
            delete_runs(env, [c.summary["run_id"] for c in cycles if c.summary], f"{job}_")
    rates = {n: c.series / c.to_mysql for n, c in zip(counts, cycles, strict=True)}
    if len(counts) >= 2:
        low, high = counts[0], counts[-1]
        efficiency = (rates[high] / rates[low]) / (high / low)
        print(f"scaling efficiency {low} -> {high} workers: {efficiency:.2f} "
              f"({rates[low]:.1f} -> {rates[high]:.1f} series/s to MySQL)")  # fmt: skip
    best = counts[-1]
    per_worker = rates[best] / best
    needed = math.ceil(TARGET_SERIES / (per_worker * TARGET_CYCLE_SECONDS))
    print(f"projection: {per_worker:.1f} series/s per worker (with {best}) from cycle start to "
          f"MySQL; {TARGET_SERIES:,} series in a {TARGET_CYCLE_SECONDS} s cycle need {needed} "
          f"workers at that rate (and the work topic at least that many partitions)")  # fmt: skip
    return 0


# ---- report ---------------------------------------------------------------------------------


def describe(cycle: Cycle) -> None:
    s = cycle.stages
    stages = ", ".join(f"{k} {s[k]:.1f} s" for k in ("start", "discover", "query", "analyze",
                                                      "publish", "total") if k in s)  # fmt: skip
    print(
        f"{cycle.label}: {cycle.series} series x 3 windows, {cycle.summary['message_count']} "
        f"messages, {sum(cycle.rows)} rows\n"
        f"  stages: {stages}\n"
        f"  cycle start -> last row in MySQL: {cycle.to_mysql:.1f} s "
        f"(storage finished {cycle.last_row_at - cycle.returned_at:+.1f} s after the ETL)\n"
        f"  per series: {1000 * cycle.to_mysql / cycle.series:.1f} ms wall, "
        f"{1000 * cycle.cpu / cycle.series:.1f} ms CPU of the ETL tree "
        f"({cycle.cpu:.0f} CPU s in all; load average {cycle.load:.1f} on {os.cpu_count()} cores)\n"
        f"  peak memory of the ETL tree: {cycle.peak_rss / 2**30:.2f} GiB sampled "
        f"(sum of each process' own peak: {cycle.peak_hwm / 2**30:.2f} GiB)",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 series (a smoke run)")
    parser.add_argument("--processes", type=int, default=2, help="the ETL's analysis pool")
    parser.add_argument("--lead-minutes", type=int, default=30,
                        help="history ends this far in the future")  # fmt: skip
    parser.add_argument("--keep-rows", action="store_true", help="leave the runs in MySQL")
    parser.add_argument("--workers", default="",
                        help="e.g. 1,2: distributed cycles with that many ETL workers")  # fmt: skip
    args = parser.parse_args()
    count = 1_000 if args.quick else args.series
    if count < 10:
        parser.error("--series must be at least 10")
    if args.workers:
        return main_distributed(args, count)

    stack = StackSettings()
    env = read_env()
    # SIGTERM unwinds like Ctrl-C: the benchmark's ETL is stopped and its rows deleted.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    tag = uuid.uuid4().hex[:8]
    job = f"bs_{tag}"
    now = (int(time.time()) // STEP) * STEP
    # 10 minutes more than the longest window behind, and a lead ahead: full windows whenever
    # the cycles start.
    start, end = now - HISTORY_HOURS * 3600 - 600, now + args.lead_minutes * 60
    print(f"job {job}: {count} series, 12 h at {STEP} s, ending {args.lead_minutes} min ahead",
          flush=True)  # fmt: skip

    def load(label: str, indices: list[int], expected: int) -> None:
        with tempfile.TemporaryDirectory(dir=stack.home) as tmp:
            source = Path(tmp) / "history.om"
            mark = time.perf_counter()
            samples = write_history(source, tag, indices, start, end)
            written = time.perf_counter() - mark
            size = source.stat().st_size
            mark = time.perf_counter()
            import_history(source, stack.home / "prometheus" / "data")
            imported = time.perf_counter() - mark
        loaded = wait_loaded(env["PROMETHEUS_URL"], f'{{job="{job}"}}', now, expected, 240)
        print(f"  {label}: {samples:,} samples ({size / 2**20:.0f} MiB of OpenMetrics) written "
              f"in {written:.0f} s, imported by promtool in {imported:.0f} s, loaded by "
              f"Prometheus {loaded:.0f} s later", flush=True)  # fmt: skip

    # One ETL process for every cycle, its selector on the whole job: the reference series
    # (every 10th) go in first, and the rest only after the reference cycles, so that the main
    # cycle finds the process and its pool warm, as a running service's cycles do.
    reference_ids = list(range(0, count, 10))
    load("reference series", reference_ids, len(reference_ids))
    log = stack.logs / "bench_scale_etl.log"
    metrics = ",".join(f"{job}_{m}" for m in range(METRICS))
    process, url = start_etl(env, f'{{job="{job}"}}', metrics, args.processes, log)
    print(f"  the benchmark's ETL: pid {process.pid}, {url}, log {log}", flush=True)
    cycles: list[Cycle] = []
    try:
        warmup = run_cycle(env, url, process.pid, "warm-up (reference, cold)", len(reference_ids))
        cycles.append(warmup)
        describe(warmup)
        cycles.append(run_cycle(env, url, process.pid, "reference", len(reference_ids)))
        describe(cycles[-1])
        load("the other series", [i for i in range(count) if i % 10], count)
        cycles.append(run_cycle(env, url, process.pid, "main", count))
        describe(cycles[-1])
    finally:
        process.terminate()
        process.wait(60)
        if not args.keep_rows:
            delete_runs(env, [c.summary["run_id"] for c in cycles if c.summary], f"{job}_")
    _, reference, main_cycle = cycles
    per_series = (main_cycle.to_mysql / main_cycle.series) / (reference.to_mysql / reference.series)
    print(
        f"\nmain vs reference ({main_cycle.series} vs {reference.series} series): "
        f"time per series {per_series:.2f}x, total time "
        f"{main_cycle.to_mysql / reference.to_mysql:.1f}x, peak memory "
        f"{main_cycle.peak_rss / reference.peak_rss:.1f}x, stages "
        + ", ".join(
            f"{k} {main_cycle.stages[k] / max(reference.stages[k], 1e-9):.1f}x"
            for k in ("query", "analyze", "publish")
        )
    )
    rate = main_cycle.series / main_cycle.to_mysql
    needed = math.ceil(TARGET_SERIES / (rate * TARGET_CYCLE_SECONDS))
    cores = TARGET_SERIES * main_cycle.cpu / main_cycle.series / TARGET_CYCLE_SECONDS
    print(
        f"projection: one ETL process (pool of {args.processes}) moved {rate:.1f} series/s "
        f"from cycle start to MySQL here; {TARGET_SERIES:,} series in a "
        f"{TARGET_CYCLE_SECONDS} s cycle need {needed} such processes at this rate, with "
        f"perfect scaling (today the ETL cannot share a cycle between processes at all). "
        f"By CPU ({1000 * main_cycle.cpu / main_cycle.series:.1f} ms per series, which load "
        f"inflates less than wall time): {cores:.1f} cores busy for the whole cycle, i.e. "
        f"{math.ceil(cores)} one-core workers"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
