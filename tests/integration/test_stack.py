"""Each real part of the stack answers: Kafka, MariaDB (as least-privileged users), Prometheus."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import mysql.connector
import pytest
import requests
from confluent_kafka.admin import AdminClient

from monitoring_core.db import Database, DatabaseUnavailable, connect, migrate, wait_for_database
from monitoring_core.kafka import Publisher, ensure_topics, make_consumer
from monitoring_core.messages import Message, RunRecord, decode
from monitoring_core.prometheus import PrometheusClient

pytestmark = pytest.mark.integration


def test_a_work_topic_created_smaller_gets_its_missing_partitions(kafka_settings) -> None:  # noqa: ANN001
    """A work topic made with 2 partitions (an older KAFKA_WORK_PARTITIONS) grows to the
    setting's 5, as the broker itself reports; asking again changes nothing."""
    small = kafka_settings.model_copy(
        update={
            "topic": kafka_settings.topic + ".grow",
            "dead_letter_topic": kafka_settings.dead_letter_topic + ".grow",
            "work_topic": kafka_settings.topic + ".grow.work",
            "shard_status_topic": kafka_settings.topic + ".grow.shards",
            "work_partitions": 2,
        }
    )
    ensure_topics(small)
    admin = AdminClient({"bootstrap.servers": small.bootstrap_servers})

    def partitions() -> int:
        return len(
            admin.list_topics(small.work_topic, timeout=10).topics[small.work_topic].partitions
        )

    assert partitions() == 2
    grown = small.model_copy(update={"work_partitions": 5})
    ensure_topics(grown)
    assert partitions() == 5
    ensure_topics(grown)
    ensure_topics(small)  # a process with the older setting shrinks nothing and fails nothing
    assert partitions() == 5


def test_message_goes_through_the_broker(kafka_settings):
    # A topic of this test alone: other tests of the run publish to the run's topic.
    kafka_settings = kafka_settings.model_copy(
        update={
            "topic": kafka_settings.topic + ".stack",
            "group_id": kafka_settings.group_id + "-stack",
        }
    )
    ensure_topics(kafka_settings)
    sent = Message(
        run_id="stack-test",
        computed_at=datetime.now(UTC),
        payload=RunRecord(status="running", started_at=datetime.now(UTC), series_count=3),
    )
    publisher = Publisher(kafka_settings)
    report = publisher.publish([sent])
    assert report.complete, report.errors

    consumer = make_consumer(kafka_settings)
    consumer.subscribe([kafka_settings.topic])
    try:
        deadline = time.monotonic() + 30
        received = None
        while received is None and time.monotonic() < deadline:
            record = consumer.poll(1.0)
            if record is not None and record.error() is None:
                received = record
    finally:
        consumer.close()
    assert received is not None, "no message came back from the broker within 30 s"
    assert received.key() == b"stack-test"
    assert decode(received.value()) == sent


def test_row_written_and_read_back_as_least_privileged_users(mysql_role):
    started = datetime(2026, 1, 2, 3, 4, 5, 678000)
    with Database(mysql_role("writer")).transaction() as cursor:
        cursor.execute(
            "INSERT INTO runs (run_id, started_at, status, series_count) VALUES (%s, %s, %s, %s)",
            ("run-db-test", started, "running", 8),
        )
    with Database(mysql_role("reader")).transaction() as cursor:
        cursor.execute(
            "SELECT started_at, status, series_count FROM runs WHERE run_id = %s", ("run-db-test",)
        )
        assert cursor.fetchall() == [
            {"started_at": started, "status": "running", "series_count": 8}
        ]


@pytest.mark.parametrize(
    ("role", "statement"),
    [
        ("reader", "INSERT INTO runs (run_id, started_at, status) VALUES ('x', NOW(), 'x')"),
        ("writer", "DELETE FROM runs"),
        ("writer", "DROP TABLE runs"),
        ("writer", "CREATE TABLE intruder (id INT)"),
        ("sla", "UPDATE runs SET status = 'tampered'"),
    ],
)
def test_each_role_is_refused_what_it_does_not_need(mysql_role, role, statement):
    connection = connect(mysql_role(role))
    try:
        with pytest.raises(mysql.connector.errors.ProgrammingError, match="denied"):
            connection.cursor().execute(statement)
    finally:
        connection.close()


def test_migrations_are_idempotent(mysql_role, db_roles):
    assert migrate(mysql_role("migrator"), db_roles) == []


def test_a_missing_account_skips_its_grants_and_the_migration_goes_on(mysql_role, db_roles, caplog):
    """A compose volume from before an account existed (MySQL creates accounts at its first
    start only): the real MariaDB refuses the GRANT, the migration warns and grants the rest."""
    roles = db_roles.model_copy(update={"etl_user": "no_such_account_x"})
    with caplog.at_level("WARNING", logger="monitoring_core.db"):
        assert migrate(mysql_role("migrator"), roles) == []
    assert "'no_such_account_x' does not exist" in caplog.text
    assert "does not exist" not in caplog.text.replace("'no_such_account_x' does not exist", "")


def test_a_version_applied_under_another_file_name_stops_the_migration(mysql_role, tmp_path):
    """A database migrated from another version of sql/ (its 002 is another file) is refused
    with both names, not silently skipped."""
    migrator = mysql_role("migrator")
    name = f"{migrator.database}_renamed"
    admin = connect(migrator)
    admin.cursor().execute(f"CREATE DATABASE `{name}`")
    settings = migrator.model_copy(update={"database": name})
    try:
        (tmp_path / "001_a.sql").write_text("CREATE TABLE a (id INT PRIMARY KEY);\n")
        (tmp_path / "002_b.sql").write_text("CREATE TABLE b (id INT PRIMARY KEY);\n")
        assert migrate(settings, sql_dir=tmp_path) == ["001_a.sql", "002_b.sql"]
        (tmp_path / "002_b.sql").rename(tmp_path / "003_b.sql")
        (tmp_path / "002_c.sql").write_text("CREATE TABLE c (id INT PRIMARY KEY);\n")
        with pytest.raises(DatabaseUnavailable, match="migration 2 was applied as 002_b.sql"):
            migrate(settings, sql_dir=tmp_path)
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def test_a_migration_stopped_half_way_completes_on_the_rerun(mysql_role, tmp_path):
    """MySQL commits DDL at once: the rerun meets what the failed run made and goes on."""
    migrator = mysql_role("migrator")
    name = f"{migrator.database}_half"
    admin = connect(migrator)
    admin.cursor().execute(f"CREATE DATABASE `{name}`")
    settings = migrator.model_copy(update={"database": name})
    migration = tmp_path / "001_half.sql"
    made = "CREATE TABLE a (id INT PRIMARY KEY, v INT);\nCREATE INDEX a_v ON a (v);\n"
    try:
        migration.write_text(made + "SELECT * FROM no_such_table;\n")
        with pytest.raises(DatabaseUnavailable, match="no_such_table"):
            migrate(settings, sql_dir=tmp_path)
        migration.write_text(made + "CREATE TABLE b (id INT PRIMARY KEY);\n")
        assert migrate(settings, sql_dir=tmp_path) == ["001_half.sql"]
        assert migrate(settings, sql_dir=tmp_path) == []
        cursor = admin.cursor()
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (name,)
        )
        assert {row[0] for row in cursor.fetchall()} == {"a", "b", "schema_migrations"}
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def test_waiting_for_a_database_that_never_comes_ends_with_the_reason(mysql_role):
    closed = mysql_role("migrator").model_copy(update={"port": 1})
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable, match="127.0.0.1:1"):
        wait_for_database(closed, seconds=3)
    assert time.monotonic() - started >= 3


def test_twelve_hours_of_demo_history_at_the_scrape_interval(prometheus_settings):
    end = datetime.now(UTC)
    result = PrometheusClient(prometheus_settings).read_samples(
        'cpuLoad{job="summary",instance="106"}', end - timedelta(hours=12), end
    )
    assert len(result) == 1
    assert result[0].labels == {"job": "summary", "instance": "106"}
    # 12 h at 15 s is 2,880 scrapes; the backfill must hold nearly all of them (a restarted
    # Prometheus misses the scrapes while it was down).
    assert len(result[0].values) >= 2800


def test_node_exporter_series_present(prometheus_settings):
    client = PrometheusClient(prometheus_settings)
    deadline = time.monotonic() + 45  # Prometheus scrapes every 15 s after it starts
    while True:
        result = client.query('node_load1{job="node"}')
        if result or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert result, "no node exporter series in Prometheus"
    assert float(result[0]["value"][1]) >= 0


def test_demo_exporter_is_scraped_as_the_seed_job(prometheus_settings):
    url = f"{prometheus_settings.url}/api/v1/targets"
    targets = requests.get(url, timeout=5).json()["data"]["activeTargets"]
    summary = [t for t in targets if t["labels"].get("job") == "summary"]
    assert [t["labels"]["instance"] for t in summary] == ["106"]
