"""Ingest benchmark: the storage consumer against the seed's way, on the same messages.

Publishes `--runs` ETL runs of 8 series (147 messages each) to a unique topic, then consumes
them twice, each into its own throwaway database (test_bench_*, migrated and granted like
conftest's test_database), as the writer role:

- the seed's way: poll one message, one INSERT per row and one COMMIT per message;
- data_storage's consumer: batches, one transaction and a few prepared multi-row upserts
  per table.

Each is timed from the first message it polls to the last one it has committed, and prints
messages/s and rows/s; the databases must end up with the same row counts. For data_storage
it also prints where the time went: decoding and mapping, SQL (executing and committing),
the rest of the loop (polling, offset commits), and garbage-collector pauses.

    python bench/bench_ingest.py [--runs 40]
"""

from __future__ import annotations

import argparse
import gc
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_read import create_database, drop_database, read_env, role_settings  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402

from data_storage.consumer import StorageConsumer, StorageMetrics  # noqa: E402
from data_storage.rows import map_message  # noqa: E402
from data_storage.samples import demo_series, run_messages  # noqa: E402
from data_storage.settings import StorageSettings  # noqa: E402
from monitoring_core.db import Database, connect  # noqa: E402
from monitoring_core.kafka import Publisher, ensure_topics, make_consumer  # noqa: E402
from monitoring_core.messages import decode  # noqa: E402
from monitoring_core.results_schema import RESULT_TABLES  # noqa: E402
from monitoring_core.settings import KafkaSettings, MySQLSettings  # noqa: E402


def seed_way(kafka: KafkaSettings, settings: MySQLSettings, total: int) -> tuple[float, int]:
    """One message at a time: every row its own INSERT, a COMMIT per message (auto-committed
    offsets, as the seed's consumer had). Returns (seconds, rows)."""
    consumer = make_consumer(
        kafka, **{"group.id": f"{kafka.group_id}-seed", "enable.auto.commit": True}
    )
    consumer.subscribe([kafka.topic])
    sql = {table.name: table.upsert_sql() for table in RESULT_TABLES}
    connection = connect(settings)  # one connection, as the seed held
    cursor = connection.cursor()
    done = rows = 0
    first = 0.0  # when the first message arrived
    try:
        while done < total:
            msg = consumer.poll(1.0)
            if msg is None or msg.error() is not None:
                continue
            first = first or time.perf_counter()
            for table, table_rows in map_message(decode(msg.value())).items():
                for row in table_rows:
                    cursor.execute(sql[table], row)
                    rows += 1
            connection.commit()
            done += 1
        return time.perf_counter() - first, rows
    finally:
        consumer.close()
        connection.close()


def storage_way(kafka: KafkaSettings, db: Database, total: int) -> tuple[float, int]:
    """data_storage's consumer, as `python -m data_storage` runs it. Returns (seconds, rows)."""
    registry = CollectorRegistry()
    consumer = StorageConsumer(
        kafka.model_copy(update={"group_id": f"{kafka.group_id}-storage"}),
        db,
        StorageSettings(port=0),
        StorageMetrics(registry),
    )
    first: list[float] = []
    poll = consumer._poll

    def timed_poll(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - the clock starts at the first message
        got = poll(*args, **kwargs)
        if got and not first:
            first.append(time.perf_counter())
        return got

    consumer._poll = timed_poll  # type: ignore[method-assign]
    # Breakdown: time in the writer (SQL: execute and commit) and in store() around it
    # (decode and map), and the garbage collector's pauses in any thread meanwhile.
    spent = {"store": 0.0, "sql": 0.0, "gc": 0.0}
    write, store = consumer.writer.write, consumer.store

    def timed(key: str, call):  # noqa: ANN001, ANN202
        def run(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - started

        return run

    consumer.writer.write = timed("sql", write)  # type: ignore[method-assign]
    consumer.store = timed("store", store)  # type: ignore[method-assign]
    gc_started: list[float] = []

    def on_gc(phase: str, _info: dict) -> None:
        if phase == "start":
            gc_started[:] = [time.perf_counter()]
        elif gc_started and first:
            spent["gc"] += time.perf_counter() - gc_started[0]

    thread = threading.Thread(target=consumer.run)
    gc.callbacks.append(on_gc)
    thread.start()
    try:
        while (registry.get_sample_value("storage_messages_consumed_total") or 0) < total:
            time.sleep(0.002)
        elapsed = time.perf_counter() - first[0]
    finally:
        consumer.stop()
        thread.join(60)
        gc.callbacks.remove(on_gc)
    rows = sum(
        registry.get_sample_value("storage_rows_written_total", {"table": t.name}) or 0
        for t in RESULT_TABLES
    )
    batches = registry.get_sample_value("storage_batch_seconds_count")
    busy = registry.get_sample_value("storage_batch_seconds_sum")
    print(
        f"  data_storage: {batches:.0f} batches, {busy:.2f}s storing of {elapsed:.2f}s: "
        f"{spent['store'] - spent['sql']:.2f}s decode and map, {spent['sql']:.2f}s SQL, "
        f"{elapsed - spent['store']:.2f}s polling, committing offsets and waiting for more; "
        f"garbage collector pauses {spent['gc']:.2f}s"
    )
    return elapsed, int(rows)


def table_counts(db: Database) -> dict[str, int]:
    with db.transaction() as cursor:
        out = {}
        for table in RESULT_TABLES:
            cursor.execute(f"SELECT COUNT(*) AS n FROM {table.name}")
            out[table.name] = cursor.fetchone()["n"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="ETL runs of 8 series to publish")
    args = parser.parse_args()

    env = read_env()
    name = f"bench.{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(
        bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
        topic=f"{name}.results",
        dead_letter_topic=f"{name}.dlq",
        group_id=name,
        partitions=3,
    )
    ensure_topics(kafka)
    series = demo_series("ingest", 8)
    start = datetime.now(UTC) - timedelta(minutes=args.runs)
    messages = [
        message
        for i in range(args.runs)
        for message in run_messages(f"ingest-{i:05d}", series, start + timedelta(minutes=i))
    ]
    expected_rows = 0
    for message in messages:
        expected_rows += sum(len(rows) for rows in map_message(message).values())
    publisher = Publisher(kafka)
    report = publisher.publish(messages)
    publisher.close()
    assert report.complete, report.errors
    print(f"published {len(messages)} messages ({expected_rows} rows) to {kafka.topic}")

    databases = [create_database(env, "bench_ingest"), create_database(env, "bench_ingest")]
    try:
        seed_settings, storage_settings = (role_settings(env, "writer", d) for d in databases)
        results = {
            "seed (INSERT per row, COMMIT per message)": seed_way(
                kafka, seed_settings, len(messages)
            ),
            "data_storage (batched upserts)": storage_way(
                kafka, Database(storage_settings, "bench-storage"), len(messages)
            ),
        }
        rates = {}
        for label, (seconds, sent) in results.items():
            # rows/s counts the rows the messages map to, the same work for both; data_storage
            # sends fewer (one series upsert per series and batch instead of one per message).
            rates[label] = len(messages) / seconds
            print(
                f"{label}: {len(messages)} messages ({expected_rows} rows) in {seconds:.2f}s: "
                f"{len(messages) / seconds:.0f} messages/s, {expected_rows / seconds:.0f} rows/s"
                f" ({sent} rows sent)"
            )
        seed_rate, storage_rate = rates.values()
        print(f"speed-up: {storage_rate / seed_rate:.1f}x")
        counts = [
            table_counts(Database(role_settings(env, "reader", d), "bench-check"))
            for d in databases
        ]
        assert counts[0] == counts[1], counts
        print(f"both databases hold the same rows: {counts[0]}")
    finally:
        for database in databases:
            drop_database(env, database)
        admin = AdminClient({"bootstrap.servers": kafka.bootstrap_servers})
        for future in admin.delete_topics([kafka.topic, kafka.dead_letter_topic]).values():
            future.result(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
