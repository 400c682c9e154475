"""The distributed ETL cycle on the real Kafka, MariaDB and Prometheus: an elected scheduler,
ETL workers in one consumer group (`python -m etl_pipeline.shard_worker` processes), and the
storage consumer writing the results into this run's database.

2,000 series of their own (job `bs_<tag>`, imported with promtool as bench/bench_scale.py does,
one 1h window to keep the cycle short: the sharing, not the analytics, is under test).
Expected values come from the setup itself: 2,000 series imported, one window, so 2,000
statistics rows per run; a shard's worker is named in its statuses on the status topic.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from etl_pipeline.analysis import ForecastConfig
from etl_pipeline.bootstrap import bootstrap
from etl_pipeline.results import RunResult
from etl_pipeline.scheduler import CycleScheduler
from etl_pipeline.service import RunInProgress
from etl_pipeline.settings import ETLSettings
from etl_pipeline.store import RunStore
from monitoring_core.db import Database
from monitoring_core.kafka import ensure_topics, make_consumer
from monitoring_core.leader import Leadership
from monitoring_core.messages import ShardStatus, decode_as
from monitoring_core.settings import KafkaSettings, MySQLSettings, PrometheusSettings
from stack.settings import StackSettings

from .test_storage_consumer import storage_thread

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from bench_scale import STEP, import_history, wait_loaded, write_history  # noqa: E402

pytestmark = pytest.mark.integration

SERIES = 2_000
SESSION_TIMEOUT = 6  # seconds: the broker's smallest (group.min.session.timeout.ms)
PARTITIONS = 4
TAG = uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def series_loaded(prometheus_settings: PrometheusSettings) -> PrometheusSettings:
    """2,000 gauges of 2 h history at 15 s, ending now. Not in the future: Prometheus refuses
    every scrape older than an imported block's end ("out of bounds"), which would stop the
    stack's own series until then. The cycles' 1h windows end a few minutes after the
    history: each series is still analysed once (its statistics say where it ended)."""
    stack = StackSettings()
    now = (int(time.time()) // STEP) * STEP - STEP
    with tempfile.TemporaryDirectory(dir=stack.home) as tmp:
        source = Path(tmp) / "history.om"
        write_history(source, TAG, list(range(SERIES)), now - 2 * 3600, now)
        import_history(source, stack.home / "prometheus" / "data")
    wait_loaded(prometheus_settings.url, f'{{job="bs_{TAG}"}}', now, SERIES, 240)
    return prometheus_settings.model_copy(update={"selector": f'{{job="bs_{TAG}"}}'})


@pytest.fixture(scope="module")
def kafka(kafka_settings: KafkaSettings) -> KafkaSettings:
    settings = kafka_settings.model_copy(
        update={
            "topic": f"{kafka_settings.topic}.dist",
            "dead_letter_topic": f"{kafka_settings.dead_letter_topic}.dist",
            "group_id": f"{kafka_settings.group_id}-dist",
            "work_topic": f"test.{TAG}.work",
            "shard_status_topic": f"test.{TAG}.shards",
            "work_partitions": PARTITIONS,
        }
    )
    ensure_topics(settings)
    return settings


@pytest.fixture(scope="module")
def etl_settings() -> ETLSettings:
    return ETLSettings(
        scheduler_enabled=False,
        distributed=True,
        windows="1h",
        max_series=SERIES,
        shard_series=100,  # 20 shards: 5 on each of the 4 partitions
        worker_group=f"etl-{TAG}",
        worker_session_timeout_seconds=SESSION_TIMEOUT,
        shard_timeout_seconds=300,
    )


@pytest.fixture(scope="module")
def storage(kafka: KafkaSettings, mysql_role) -> Iterator[None]:  # noqa: ANN001
    with storage_thread(kafka, mysql_role("writer")):
        yield


class Worker:
    """One process (by default `python -m etl_pipeline.shard_worker`), and its log lines."""

    def __init__(self, env: dict[str, str], command: list[str] | None = None) -> None:
        self.process = subprocess.Popen(
            command or [sys.executable, "-m", "etl_pipeline.shard_worker"],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: gunicorn's master and worker
        )
        self.name = f"{os.uname().nodename}-{self.process.pid}"
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def assigned(self) -> bool:
        return any("assigned work partitions [" in line and "[]" not in line for line in self.lines)

    def kill(self) -> None:
        """SIGKILL the whole process group (gunicorn's master and its worker alike)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(10)
        assert self.process.stderr is not None
        self.process.stderr.close()


@pytest.fixture(scope="module")
def worker_env(
    series_loaded: PrometheusSettings, kafka: KafkaSettings, etl_settings: ETLSettings
) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "PROMETHEUS_URL": series_loaded.url,
        "PROMETHEUS_SELECTOR": series_loaded.selector,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC": kafka.topic,
        "KAFKA_WORK_TOPIC": kafka.work_topic,
        "KAFKA_SHARD_STATUS_TOPIC": kafka.shard_status_topic,
        "KAFKA_WORK_PARTITIONS": str(kafka.work_partitions),
        "ETL_WINDOWS": etl_settings.windows,
        "ETL_MAX_SERIES": str(etl_settings.max_series),
        "ETL_WORKER_GROUP": etl_settings.worker_group,
        "ETL_WORKER_SESSION_TIMEOUT_SECONDS": str(SESSION_TIMEOUT),
        "ETL_SCHEDULER_ENABLED": "false",
    }


def start_workers(env: dict[str, str], count: int) -> list[Worker]:
    workers = [Worker(env) for _ in range(count)]
    deadline = time.monotonic() + 90
    while not all(w.assigned() for w in workers):
        if time.monotonic() > deadline:
            for w in workers:
                w.stop()
            pytest.fail("the workers were not all assigned partitions:\n" + "".join(
                line for w in workers for line in w.lines[-5:]
            ))  # fmt: skip
        time.sleep(0.5)
    return workers


@pytest.fixture(scope="module")
def scheduler(
    series_loaded: PrometheusSettings,
    kafka: KafkaSettings,
    etl_settings: ETLSettings,
    mysql_role,  # noqa: ANN001
    storage: None,
) -> Iterator[CycleScheduler]:
    services = bootstrap(etl_settings, series_loaded, kafka)
    etl_mysql: MySQLSettings = mysql_role("etl")
    built = CycleScheduler(
        services.pipeline,
        kafka,
        etl_mysql,
        RunStore(Database(etl_mysql, "etl-test", read_only=True)),
        ForecastConfig(("none",), 10),
    )
    yield built
    services.service.close()


def statuses(kafka: KafkaSettings, run_id: str) -> list[ShardStatus]:
    """Every shard status of the run, read back from the status topic's beginning."""
    consumer = make_consumer(kafka, **{"group.id": f"reader-{uuid.uuid4().hex[:6]}"})
    try:
        topic = kafka.shard_status_topic
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, 0)])
        found = []
        while True:
            message = consumer.poll(2.0)
            if message is None or message.error():
                break
            status = decode_as(ShardStatus, message.value())
            if status.run_id == run_id:
                found.append(status)
            if message.offset() >= high - 1:
                break
        return found
    finally:
        consumer.close()


def stored_statistics(mysql_role, run_id: str) -> tuple[int, int]:  # noqa: ANN001
    """Rows of the run in `statistics`, and its distinct series."""
    db = Database(mysql_role("reader"), "dist-check", read_only=True)
    with db.transaction() as cursor:
        cursor.execute(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT series_id) AS s FROM statistics"
            " WHERE run_id = %s",
            (run_id,),
        )
        row = cursor.fetchone()
    return row["n"], row["s"]


def shares(done: list[ShardStatus]) -> Counter[str]:
    share: Counter[str] = Counter()
    for status in done:
        share[status.worker] += status.series_count
    return share


def test_two_workers_analyse_every_series_once_in_even_shares(
    scheduler: CycleScheduler,
    worker_env: dict[str, str],
    kafka: KafkaSettings,
    mysql_role,  # noqa: ANN001
) -> None:
    workers = start_workers(worker_env, 2)
    try:
        result = scheduler.run_now()
    finally:
        for w in workers:
            w.stop()
    assert result.status == "complete", result.reason
    assert result.series_count == SERIES and result.shard_count == 20
    assert result.retried_shards == []

    found = statuses(kafka, result.run_id)
    done = [s for s in found if s.status == "done"]
    started = Counter(s.shard for s in found if s.status == "started")
    # Each shard started and finished once: no series was analysed twice.
    assert sorted(s.shard for s in done) == list(range(20))
    assert set(started.values()) == {1}
    share = shares(done)
    assert set(share) == {w.name for w in workers}, share
    low, high = min(share.values()), max(share.values())
    assert (high - low) / high <= 0.20, share
    # MySQL holds each series once for the run (one window: one statistics row per series).
    assert stored_statistics(mysql_role, result.run_id) == (SERIES, SERIES)
    stored = scheduler.store.run(result.run_id)
    assert stored is not None and stored.status == "complete" and stored.shard_count == 20


def in_hand(scheduler: CycleScheduler, kafka: KafkaSettings, worker: str) -> bool:
    """Whether `worker` finished a shard of the running run and has started another."""
    run = scheduler.store.latest("running")
    if run is None:
        return False
    mine = [s for s in statuses(kafka, run.run_id) if s.worker == worker]
    done = {s.shard for s in mine if s.status == "done"}
    return bool(done) and bool({s.shard for s in mine if s.status == "started"} - done)


def test_a_worker_killed_mid_shard_has_its_shard_redone_by_the_other(
    scheduler: CycleScheduler,
    worker_env: dict[str, str],
    kafka: KafkaSettings,
    mysql_role,  # noqa: ANN001
) -> None:
    workers = start_workers(worker_env, 2)
    victim, survivor = workers
    answer: list[RunResult] = []
    cycle = threading.Thread(target=lambda: answer.append(scheduler.run_now()))
    began = time.monotonic()
    cycle.start()
    try:
        # Wait until the victim has finished one shard and holds another one (its "started"
        # status is on the status topic, its "done" is not), then kill it.
        deadline = time.monotonic() + 120
        while not in_hand(scheduler, kafka, victim.name):
            assert time.monotonic() < deadline, "the victim never held a shard after its first"
            time.sleep(0.1)
        killed_at = time.monotonic()
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        cycle.join(300)
    finally:
        for w in workers:
            w.stop()
    (result,) = answer
    finished = time.monotonic()
    assert result.status == "complete", result.reason
    assert result.retried_shards, "the victim's shard in hand is named retried"
    found = statuses(kafka, result.run_id)
    retried = {s.shard for s in found if s.status == "started" and s.worker == survivor.name}
    assert set(result.retried_shards) <= retried
    # Every series' results are in MySQL once for this run.
    assert stored_statistics(mysql_role, result.run_id) == (SERIES, SERIES)
    # Within one more session timeout than the work itself: the survivor's own time per shard
    # times the shards it did, plus the session timeout before the victim's partitions moved.
    done = [s for s in found if s.status == "done" and s.worker == survivor.name]
    work = sum(s.seconds for s in done)
    assert finished - killed_at <= work + SESSION_TIMEOUT + 10, (finished - killed_at, work)
    assert finished - began > 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_killed_scheduler_is_replaced_by_the_standby_and_no_cycle_runs_twice(
    scheduler: CycleScheduler,
    worker_env: dict[str, str],
    kafka: KafkaSettings,
    mysql_role,  # noqa: ANN001
) -> None:
    """Two ETL API replicas (gunicorn, as the stack runs them) tick every INTERVAL seconds; the
    leader is SIGKILLed mid-cycle. MySQL drops its lock with its connection, so the standby
    leads at its next tick (at most INTERVAL seconds later) and adopts the run in flight."""
    interval = 20
    etl = mysql_role("etl")
    env = {
        **worker_env,
        "ETL_SCHEDULER_ENABLED": "true",
        "ETL_DISTRIBUTED": "true",
        "ETL_INTERVAL_SECONDS": str(interval),
        "ETL_SHARD_SERIES": "100",
        "MYSQL_HOST": etl.host,
        "MYSQL_PORT": str(etl.port),
        "MYSQL_DATABASE": etl.database,
        "MYSQL_USER": etl.user,
        "MYSQL_PASSWORD": etl.password.get_secret_value(),
    }
    gunicorn = str(Path(sys.executable).parent / "gunicorn")

    def replica() -> Worker:
        bind = f"127.0.0.1:{free_port()}"
        return Worker(env, [gunicorn, "--bind", bind, "--workers", "1", "--threads", "4",
                            "etl_pipeline.wsgi:application()"])  # fmt: skip

    def leading(process: Worker) -> bool:
        return any("etl-scheduler: leading" in line for line in process.lines)

    workers = start_workers(worker_env, 2)
    first = replica()
    standby: Worker | None = None
    try:
        deadline = time.monotonic() + 60
        while not leading(first):
            assert time.monotonic() < deadline, "".join(first.lines[-20:])
            time.sleep(0.2)
        standby = replica()
        # Mid-cycle: the run handed out its shards and some are done.
        deadline = time.monotonic() + 120
        while True:
            run = scheduler.store.latest("running")
            if run is not None and run.shard_count:
                found = statuses(kafka, run.run_id)
                if sum(s.status == "done" for s in found) >= 2:
                    break
            assert time.monotonic() < deadline, "no cycle got under way"
            time.sleep(0.5)
        first.kill()
        killed_at = time.monotonic()
        while not leading(standby):
            assert time.monotonic() - killed_at < interval + 10, "".join(standby.lines[-20:])
            time.sleep(0.2)
        took_over = time.monotonic() - killed_at
        stored = scheduler.wait_stored(run.run_id, timeout=180)
    finally:
        for process in [*workers, first, *([standby] if standby else [])]:
            process.stop()
    print(f"the standby led {took_over:.1f} s after the SIGKILL (interval {interval} s)")
    assert took_over <= interval + 5, took_over
    assert stored is not None and stored.status == "complete", stored
    # Adopted, not run again: each shard was started and finished once, by the workers.
    found = statuses(kafka, run.run_id)
    assert Counter(s.shard for s in found if s.status == "started") == Counter(range(20))
    assert Counter(s.shard for s in found if s.status == "done") == Counter(range(20))
    assert stored_statistics(mysql_role, run.run_id) == (SERIES, SERIES)


def test_an_on_demand_run_waits_for_no_replica_and_runs_no_second_cycle(
    series_loaded: PrometheusSettings,
    kafka: KafkaSettings,
    etl_settings: ETLSettings,
    mysql_role,  # noqa: ANN001
) -> None:
    """/regen_data's cycle takes the cycle lock every replica shares: while another replica
    holds it (here a Leadership of the same role on the real MariaDB), the answer is
    RunInProgress (the route's 409) and nothing runs or is stored; once it is free, the same
    call gets the lock."""
    etl = mysql_role("etl")
    services = bootstrap(
        etl_settings.model_copy(update={"distributed": True}),
        series_loaded,
        kafka,
        mysql_settings=etl,
    )
    other_replica = Leadership(etl, "etl-cycle")
    try:
        assert other_replica.lead()
        before = services.service.store.forecast()
        with pytest.raises(RunInProgress):
            services.service.run_now(ForecastConfig(("none",), 10))
        assert services.service.store.forecast() == before  # the refused setting is not kept
        other_replica.release()
        assert services.scheduler.cycle_lock.lead(), "the lock is free again for this replica"
    finally:
        services.scheduler.close()
        other_replica.release()
        services.service.close()
