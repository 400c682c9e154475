"""The storage consumer against the real Kafka and MariaDB: every kind stored, redelivery changes
nothing, dead letters, MySQL down, SIGKILL in the middle of 10,000 messages, SIGTERM, and two
consumers in the group with one SIGKILLed mid-stream.

Expected row counts come from the messages themselves: each message is mapped to rows by
`data_storage.rows.map_message` and the distinct natural keys are counted (hand-checkable: a run
of S series and 3 windows has 3*S statistics rows, 3*S*3*5 forecast points, ...).
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from prometheus_client import CollectorRegistry

from data_storage.app import create_app
from data_storage.bootstrap import StorageServices, bootstrap
from data_storage.consumer import DEAD_LETTER_VALUE_BYTES, StorageConsumer, StorageMetrics
from data_storage.rows import Batch, map_message
from data_storage.samples import demo_series, run_messages
from data_storage.settings import StorageSettings
from data_storage.worker import start_http, start_worker
from monitoring_core.db import Database
from monitoring_core.kafka import Publisher, ensure_topics
from monitoring_core.messages import Message, SeriesRef, StatisticsPayload, encode
from monitoring_core.results_schema import RESULT_TABLES
from monitoring_core.settings import KafkaSettings, MySQLSettings
from stack.compose import PORT_SPAN
from stack.settings import StackSettings

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def kafka(kafka_settings: KafkaSettings, request: pytest.FixtureRequest) -> KafkaSettings:
    """This test's own topic, dead-letter topic and group."""
    name = re.sub(r"[^a-z0-9]", "", request.node.name.lower())[-30:] + uuid.uuid4().hex[:6]
    settings = kafka_settings.model_copy(
        update={
            "topic": f"{kafka_settings.topic}.{name}",
            "dead_letter_topic": f"{kafka_settings.dead_letter_topic}.{name}",
            "group_id": f"{kafka_settings.group_id}-{name}",
        }
    )
    ensure_topics(settings)
    return settings


@pytest.fixture
def reader(mysql_role: Callable[[str], MySQLSettings]) -> Database:
    return Database(mysql_role("reader"), "test-reader")


def expected_counts(messages: list[Message]) -> dict[str, int]:
    """Distinct natural keys per table of the rows these messages map to."""
    batch = Batch()
    for message in messages:
        batch.add(map_message(message))
    return {t.name: len({row[: len(t.key)] for row in rows}) for t, rows in batch.tables()}


def stored_counts(reader: Database, messages: list[Message]) -> dict[str, int]:
    run_ids = sorted({m.run_id for m in messages})
    series_ids = sorted({m.series.id for m in messages if m.series})
    marks = ", ".join(["%s"] * len(run_ids))
    counts = {}
    with reader.transaction() as cursor:
        for table in RESULT_TABLES:
            if table.name in ("series", "series_labels"):  # keyed by series, not run
                smarks = ", ".join(["%s"] * len(series_ids))
                cursor.execute(
                    f"SELECT COUNT(*) AS n FROM {table.name} WHERE series_id IN ({smarks})",
                    series_ids,
                )
            else:
                cursor.execute(
                    f"SELECT COUNT(*) AS n FROM {table.name} WHERE run_id IN ({marks})", run_ids
                )
            counts[table.name] = cursor.fetchone()["n"]
    return {name: n for name, n in counts.items() if n}


def snapshot(reader: Database, run_ids: list[str]) -> dict[str, list[dict]]:
    """Every row of these runs, in key order (to compare before and after a redelivery)."""
    marks = ", ".join(["%s"] * len(run_ids))
    out = {}
    with reader.transaction() as cursor:
        for table in RESULT_TABLES:
            if table.name == "series":
                continue
            order = ", ".join(table.key_names)
            # series_labels: the labels of the series these runs have statistics of.
            where = (
                f"series_id IN (SELECT series_id FROM statistics WHERE run_id IN ({marks}))"
                if table.name == "series_labels"
                else f"run_id IN ({marks})"
            )
            cursor.execute(f"SELECT * FROM {table.name} WHERE {where} ORDER BY {order}", run_ids)
            out[table.name] = cursor.fetchall()
    return out


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def messages_of(prefix: str, runs: int, series: int = 2, start: int = 0) -> list[Message]:
    refs = demo_series(prefix, series)
    out: list[Message] = []
    for i in range(start, start + runs):
        out += run_messages(f"{prefix}-{i}", refs, T0 + timedelta(minutes=i))
    return out


def publish(kafka: KafkaSettings, messages: list[Message]) -> None:
    publisher = Publisher(kafka)
    report = publisher.publish(messages)
    publisher.close()
    assert report.complete, report.errors


FAST = {
    "batch_max_seconds": 0.2,
    "retry_initial_seconds": 0.2,
    "retry_max_seconds": 1.0,
    "lag_interval_seconds": 0.5,
}


@dataclass(frozen=True)
class Running:
    """The storage service started by `storage_thread`, and the port of its HTTP server."""

    services: StorageServices
    port: int

    @property
    def registry(self) -> CollectorRegistry:
        return self.services.registry


@contextmanager
def storage_thread(kafka: KafkaSettings, mysql: MySQLSettings, **overrides) -> Iterator[Running]:
    """The storage service in this process: HTTP on a free port, the consume loop in a thread."""
    services = bootstrap(StorageSettings(port=0, **{**FAST, **overrides}), kafka, mysql)
    server = start_http(services, create_app(services))
    scheduler = start_worker(services)
    try:
        yield Running(services, server.server_port)
    finally:
        scheduler.stop(timeout=60)
        server.shutdown()
        assert not services.consumer.running, "the consumer did not stop"
        assert not scheduler.failed


def consumed(service: Running) -> float:
    return service.registry.get_sample_value("storage_messages_consumed_total") or 0.0


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_every_kind_is_stored_with_the_values_sent(
    kafka: KafkaSettings, mysql_role: Callable[[str], MySQLSettings], reader: Database
) -> None:
    messages = messages_of("kinds", runs=2)
    publish(kafka, messages)
    expected = expected_counts(messages)
    # Hand count for 2 runs of 2 series x 3 windows: 12 statistics, 12*3 forecasts of 5 points.
    assert expected["statistics"] == 12 and expected["forecasts"] == 180
    with storage_thread(kafka, mysql_role("writer")) as service:
        wait_until(lambda: stored_counts(reader, messages) == expected, 60, "every row")
        status, health = get_json(f"http://127.0.0.1:{service.port}/health")
        assert status == 200, health
        assert set(health["checks"]) == {"consumer", "database", "kafka"}
        with urllib.request.urlopen(f"http://127.0.0.1:{service.port}/internal/metrics") as r:
            text = r.read().decode()
        assert f"storage_messages_consumed_total {float(len(messages))}" in text
        assert 'storage_rows_written_total{table="forecasts"} 180.0' in text
        assert "storage_batch_seconds_bucket" in text
        wait_until(lambda: "storage_consumer_lag{" in _metrics(service), 10, "the lag gauge")

    stats = next(m for m in messages if m.kind == "statistics")
    with reader.transaction() as cursor:
        cursor.execute(
            "SELECT * FROM statistics WHERE series_id = %s AND run_id = %s AND window_name = %s",
            (stats.series.id, stats.run_id, stats.window),
        )
        row = cursor.fetchone()
        cursor.execute("SELECT status, series_count FROM runs WHERE run_id = %s", (stats.run_id,))
        run = cursor.fetchone()
        cursor.execute(
            "SELECT labels, last_run_id FROM series WHERE series_id = %s", (stats.series.id,)
        )
        series = cursor.fetchone()
    p = stats.payload
    assert (row["max_value"], row["min_value"], row["mean_value"], row["std_value"]) == (
        p.max,
        p.min,
        p.mean,
        p.std,
    )
    assert (row["p50"], row["p95"], row["p99"], row["sample_count"]) == (
        p.p50,
        p.p95,
        p.p99,
        p.count,
    )
    assert row["computed_at"].replace(tzinfo=UTC) == stats.computed_at
    assert run == {"status": "complete", "series_count": 2}
    assert json.loads(series["labels"]) == stats.series.labels
    assert series["last_run_id"] == "kinds-1"  # the later of the two runs


def _metrics(service: Running) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{service.port}/internal/metrics") as r:
        return r.read().decode()


def test_redelivery_changes_nothing(
    kafka: KafkaSettings, mysql_role: Callable[[str], MySQLSettings], reader: Database
) -> None:
    messages = messages_of("redeliver", runs=2)
    publish(kafka, messages)
    expected = expected_counts(messages)
    run_ids = sorted({m.run_id for m in messages})
    with storage_thread(kafka, mysql_role("writer")) as service:
        wait_until(lambda: consumed(service) == len(messages), 60, "the first delivery")
    first = snapshot(reader, run_ids)
    assert stored_counts(reader, messages) == expected

    # A new group reads the topic from the start: every message is delivered a second time.
    again = kafka.model_copy(update={"group_id": kafka.group_id + "-again"})
    with storage_thread(again, mysql_role("writer")) as service:
        wait_until(lambda: consumed(service) == len(messages), 60, "the redelivery")
    assert stored_counts(reader, messages) == expected
    assert snapshot(reader, run_ids) == first


def read_dead_letters(kafka: KafkaSettings, count: int, timeout: float = 30) -> list:
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap_servers,
            "group.id": f"dlq-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([kafka.dead_letter_topic])
    found = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                found.append(msg)
    finally:
        consumer.close()
    return found


def test_poison_messages_go_to_the_dead_letter_topic(
    kafka: KafkaSettings, mysql_role: Callable[[str], MySQLSettings], reader: Database
) -> None:
    ref = SeriesRef.of("poison_metric", {"instance": "106"})
    good = messages_of("poison", runs=1, series=1)
    unknown_version = json.loads(encode(good[1]))
    unknown_version["schema_version"] = 99
    missing_field = json.loads(encode(good[1]))
    del missing_field["payload"]["count"]
    # Valid for the message schema, refused by the database: sample_count is an INT column.
    too_big = Message(
        run_id="poison-0",
        computed_at=T0,
        series=ref,
        window="1h",
        payload=StatisticsPayload(start=T0, end=T0, count=2**31),
    )
    poison = [
        (b"\x00\xffnot json at all", "not JSON"),
        (json.dumps(unknown_version).encode(), "unknown schema_version 99"),
        (json.dumps(missing_field).encode(), "payload.statistics.count"),
        # json.loads raises RecursionError here: once, it stopped the consumer for good.
        (b"[" * 100_000, "nested too deeply"),
        (encode(too_big), "database rejected the message"),
    ]
    publisher = Publisher(kafka)
    key = good[1].key()  # same key as the good messages: same partition, before them
    for raw, _reason in poison:
        assert publisher.produce_raw(kafka.topic, key, raw).complete
    publisher.close()
    publish(kafka, good)

    with storage_thread(kafka, mysql_role("writer")) as service:
        wait_until(lambda: stored_counts(reader, good) == expected_counts(good), 60, "good rows")
        wait_until(lambda: consumed(service) == len(good) + len(poison), 30, "all consumed")
        assert service.registry.get_sample_value("storage_dead_letters_total") == len(poison)

    letters = read_dead_letters(kafka, len(poison))
    assert len(letters) == len(poison)
    by_value = {}
    for letter in letters:
        body = json.loads(letter.value())
        headers = dict(letter.headers() or [])
        assert headers["dlq.reason"] == body["reason"][:1000].encode()
        assert body["format"] == "data_storage.dead_letter.v1"
        assert body["source"]["topic"] == kafka.topic
        assert letter.key() == key
        by_value[base64.b64decode(body["value_base64"])] = body["reason"]
    for raw, reason in poison:
        assert reason in by_value[raw], (reason, by_value[raw])
    with reader.transaction() as cursor:
        cursor.execute("SELECT COUNT(*) AS n FROM statistics WHERE series_id = %s", (ref.id,))
        assert cursor.fetchone()["n"] == 0


def test_a_large_poison_message_is_dead_lettered_with_its_head_only(
    kafka: KafkaSettings, mysql_role: Callable[[str], MySQLSettings], reader: Database
) -> None:
    # 900 kB of not-JSON: the broker takes it, but a dead letter with all of it in base64
    # (1.2 MB) it would refuse, and the partition behind it would be blocked for good.
    raw = b"\xff" + bytes(range(256)) * (900_000 // 256)
    good = messages_of("large", runs=1, series=1)
    publisher = Publisher(kafka)
    assert publisher.produce_raw(kafka.topic, good[1].key(), raw).complete
    publisher.close()
    publish(kafka, good)

    with storage_thread(kafka, mysql_role("writer")) as service:
        wait_until(lambda: stored_counts(reader, good) == expected_counts(good), 60, "good rows")
        wait_until(lambda: consumed(service) == len(good) + 1, 30, "all consumed")
        assert service.registry.get_sample_value("storage_dead_letters_total") == 1

    [letter] = read_dead_letters(kafka, 1)
    body = json.loads(letter.value())
    assert len(letter.value()) < 400_000
    assert "not JSON" in body["reason"]
    assert (body["value_size"], body["value_truncated"]) == (len(raw), True)
    assert base64.b64decode(body["value_base64"]) == raw[:DEAD_LETTER_VALUE_BYTES]
    assert body["source"]["topic"] == kafka.topic and body["source"]["offset"] >= 0


def test_a_failed_dead_letter_does_not_resend_those_acknowledged_before_it(
    kafka: KafkaSettings, mysql_role: Callable[[str], MySQLSettings]
) -> None:
    small, large = b"\x00small", b"\x00" + b"x" * 2000
    publisher = Publisher(kafka)
    for raw in (small, large):  # one key: one partition, small first, one batch
        assert publisher.produce_raw(kafka.topic, b"one-key", raw).complete
    publisher.close()
    registry = CollectorRegistry()
    # This consumer's producer takes at most 1000 bytes: the large one's dead letter is refused
    # every time, the small one's is acknowledged, and the batch is retried.
    consumer = StorageConsumer(
        kafka,
        Database(mysql_role("writer"), "storage"),
        StorageSettings(port=0, **FAST),
        StorageMetrics(registry),
        publisher=Publisher(kafka, **{"message.max.bytes": 1000}),
    )
    thread = threading.Thread(target=consumer.run, name="storage-consumer")
    thread.start()
    try:
        wait_until(
            lambda: (registry.get_sample_value("storage_retries_total") or 0) >= 3,
            30,
            "the batch to be retried three times",
        )
    finally:
        consumer.stop()
        thread.join(60)
    assert not thread.is_alive(), "the consumer did not stop"

    letters = read_dead_letters(kafka, 10, timeout=5)
    values = [base64.b64decode(json.loads(letter.value())["value_base64"]) for letter in letters]
    assert values == [small]


class TcpProxy:
    """A loopback TCP relay to MariaDB that can be cut and restored on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(32)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut the open ones, as a crashed server would."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
            listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown first: close() alone leaves a thread blocked in accept() listening.
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def test_mysql_down_while_messages_flow_loses_nothing(
    kafka: KafkaSettings, mysql_role: Callable[[str], MySQLSettings], reader: Database
) -> None:
    writer = mysql_role("writer")
    proxy = TcpProxy((writer.host, writer.port))
    proxy.start()
    via_proxy = writer.model_copy(update={"port": proxy.port, "connect_timeout_seconds": 2})
    before = messages_of("outage", runs=1)
    during = messages_of("outage", runs=2, start=1)
    after = messages_of("outage", runs=1, start=3)
    try:
        with storage_thread(kafka, via_proxy) as service:
            publish(kafka, before)
            wait_until(
                lambda: stored_counts(reader, before) == expected_counts(before),
                60,
                "rows before the outage",
            )
            proxy.stop()
            publish(kafka, during)
            wait_until(
                lambda: (service.registry.get_sample_value("storage_retries_total") or 0) >= 2,
                30,
                "the consumer to hold its batch and retry",
            )
            status, health = get_json(f"http://127.0.0.1:{service.port}/health")
            assert status == 503 and not health["checks"]["database"]["ok"], health
            assert health["checks"]["consumer"]["ok"] and health["checks"]["kafka"]["ok"]
            # Nothing of the runs sent during the outage (their series exist from before).
            assert set(stored_counts(reader, during)) == {"series", "series_labels"}
            proxy.start()
            publish(kafka, after)
            everything = before + during + after
            wait_until(
                lambda: stored_counts(reader, everything) == expected_counts(everything),
                90,
                "every row after MySQL came back",
            )
            assert get_json(f"http://127.0.0.1:{service.port}/health")[0] == 200
    finally:
        proxy.stop()


def storage_process(
    kafka: KafkaSettings, mysql: MySQLSettings, log: Path, port: int = 0
) -> subprocess.Popen:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC": kafka.topic,
        "KAFKA_DEAD_LETTER_TOPIC": kafka.dead_letter_topic,
        "KAFKA_GROUP_ID": kafka.group_id,
        "KAFKA_PARTITIONS": str(kafka.partitions),
        "MYSQL_HOST": mysql.host,
        "MYSQL_PORT": str(mysql.port),
        "MYSQL_DATABASE": mysql.database,
        "MYSQL_USER": mysql.user,
        "MYSQL_PASSWORD": mysql.password.get_secret_value(),
        "STORAGE_PORT": str(port),
        "STORAGE_BATCH_MAX_MESSAGES": "100",
        "STORAGE_BATCH_MAX_SECONDS": "0.2",
        # The restarted consumer gets the killed one's partitions after this, not after 45 s.
        "STORAGE_SESSION_TIMEOUT_MS": "6000",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "data_storage"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def committed_everything(kafka: KafkaSettings) -> bool:
    """Whether the group's committed offsets reach the end of every partition."""
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap_servers,
            "group.id": kafka.group_id,
            "enable.auto.commit": False,
        }
    )
    try:
        parts = [TopicPartition(kafka.topic, p) for p in range(kafka.partitions)]
        for tp in consumer.committed(parts, timeout=10):
            _low, high = consumer.get_watermark_offsets(tp, timeout=10)
            if tp.offset != high:
                return False
        return True
    finally:
        consumer.close()


def test_sigkill_in_the_middle_of_10000_messages_then_restart_stores_every_row_once(
    kafka: KafkaSettings,
    mysql_role: Callable[[str], MySQLSettings],
    reader: Database,
    tmp_path: Path,
) -> None:
    refs = demo_series("killed", 8)
    messages: list[Message] = []
    run = 0
    while len(messages) < 10_000:  # 147 messages per run of 8 series
        messages += run_messages(f"killed-{run}", refs, T0 + timedelta(minutes=run))
        run += 1
    publish(kafka, messages)
    expected = expected_counts(messages)
    log = tmp_path / "storage.log"

    first = storage_process(kafka, mysql_role("writer"), log)
    try:
        wait_until(
            lambda: (
                stored_counts(reader, messages).get("statistics", 0) >= expected["statistics"] // 10
            ),
            60,
            "a tenth of the rows",
        )
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    at_kill = stored_counts(reader, messages)
    assert at_kill != expected, "killed too late to prove anything"

    second = storage_process(kafka, mysql_role("writer"), log)
    try:
        wait_until(lambda: stored_counts(reader, messages) == expected, 120, "every row")
        wait_until(lambda: committed_everything(kafka), 30, "the offsets of every message")
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, log.read_text()[-2000:]
    finally:
        second.kill()
    assert stored_counts(reader, messages) == expected
    assert "consumer closed" in log.read_text()


def group_assignment(kafka: KafkaSettings) -> list[set[int]]:
    """The partitions of the topic each member of the group holds, as the broker tells."""
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap_servers})
    (future,) = admin.describe_consumer_groups([kafka.group_id], request_timeout=10).values()
    group = future.result()
    return [
        {tp.partition for tp in member.assignment.topic_partitions if tp.topic == kafka.topic}
        for member in group.members
    ]


def own_port() -> int:
    """A free port outside the compose test's range (stack.compose.host_port's)."""
    base = StackSettings().compose_port_base
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not base <= port < base + PORT_SPAN:
            return port


def consumed_by(port: int) -> float:
    """storage_messages_consumed_total of the process serving ``port`` (0 once it is gone)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/internal/metrics", timeout=5) as r:
            text = r.read().decode()
    except (urllib.error.URLError, OSError):
        return 0.0
    lines = [line for line in text.splitlines() if line.startswith("storage_messages_consumed")]
    return float(lines[0].split()[-1]) if lines else 0.0


def test_two_consumers_in_the_group_one_sigkilled_mid_stream_every_row_stored_once(
    kafka: KafkaSettings,
    mysql_role: Callable[[str], MySQLSettings],
    reader: Database,
    tmp_path: Path,
) -> None:
    refs = demo_series("pair", 8)
    messages: list[Message] = []
    run = 0
    while len(messages) < 10_000:  # 147 messages per run of 8 series
        messages += run_messages(f"pair-{run}", refs, T0 + timedelta(minutes=run))
        run += 1
    expected = expected_counts(messages)
    ports = [own_port(), own_port()]
    consumers = [
        storage_process(kafka, mysql_role("writer"), tmp_path / f"storage-{i}.log", port)
        for i, port in enumerate(ports)
    ]
    try:
        # Both in the group before anything is published: the broker splits the 3 partitions.
        def split() -> bool:
            try:
                held = group_assignment(kafka)
            except KafkaException:
                return False
            return len(held) == 2 and all(held) and set().union(*held) == {0, 1, 2}

        wait_until(split, 60, "two members holding every partition between them")
        publish(kafka, messages)
        wait_until(lambda: all(consumed_by(port) > 0 for port in ports), 60, "both consuming")
        wait_until(
            lambda: (
                stored_counts(reader, messages).get("statistics", 0) >= expected["statistics"] // 10
            ),
            60,
            "a tenth of the rows",
        )
        killed, survivor = consumers
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        assert stored_counts(reader, messages) != expected, "killed too late to prove anything"
        # The survivor gets the killed one's partitions after the session timeout (6 s) and
        # consumes from their last committed offsets: nothing lost, nothing stored twice.
        wait_until(lambda: stored_counts(reader, messages) == expected, 120, "every row")
        wait_until(lambda: committed_everything(kafka), 30, "the offsets of every message")
        assert group_assignment(kafka) == [{0, 1, 2}]
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(30) == 0
    finally:
        for process in consumers:
            process.kill()
    # Rows counted in MySQL against the distinct natural keys of the messages sent.
    assert stored_counts(reader, messages) == expected
