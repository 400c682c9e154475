"""End to end over HTTP: Kafka -> `python -m data_storage` -> MariaDB -> gunicorn data_retrieval.

Both services run as the stack runs them (subprocesses, their own DB roles, gunicorn with
several workers). The expected values are the fields of the messages that were published.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from data_storage.samples import demo_series, run_messages
from monitoring_core.kafka import Publisher, ensure_topics
from monitoring_core.messages import Message
from monitoring_core.settings import KafkaSettings, MySQLSettings

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def db_env(mysql: MySQLSettings) -> dict[str, str]:
    return {
        "MYSQL_HOST": mysql.host,
        "MYSQL_PORT": str(mysql.port),
        "MYSQL_DATABASE": mysql.database,
        "MYSQL_USER": mysql.user,
        "MYSQL_PASSWORD": mysql.password.get_secret_value(),
    }


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )


@pytest.fixture
def services(
    kafka_settings: KafkaSettings, mysql_role: Callable[[str], MySQLSettings], tmp_path: Path
) -> Iterator[tuple[KafkaSettings, int]]:
    """The storage consumer and the read API on free ports; yields (kafka, retrieval port)."""
    kafka = kafka_settings.model_copy(
        update={
            "topic": kafka_settings.topic + ".e2e",
            "dead_letter_topic": kafka_settings.topic + ".e2e.dlq",
            "group_id": kafka_settings.group_id + "-e2e",
        }
    )
    ensure_topics(kafka)
    storage_port, retrieval_port = free_port(), free_port()
    storage = start(
        [sys.executable, "-m", "data_storage"],
        {
            **db_env(mysql_role("writer")),
            "STORAGE_PORT": str(storage_port),
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "KAFKA_TOPIC": kafka.topic,
            "KAFKA_DEAD_LETTER_TOPIC": kafka.dead_letter_topic,
            "KAFKA_GROUP_ID": kafka.group_id,
        },
        tmp_path / "storage.log",
    )
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    retrieval = start(
        [
            gunicorn,
            "--bind",
            f"127.0.0.1:{retrieval_port}",
            "--workers",
            "2",
            "--threads",
            "2",
            "data_retrieval:create_app()",
        ],
        db_env(mysql_role("reader")),
        tmp_path / "retrieval.log",
    )
    try:
        for name, port in (("data_storage", storage_port), ("data_retrieval", retrieval_port)):
            wait_for(
                lambda p=port: get(f"http://127.0.0.1:{p}/health")[0] == 200,
                60,
                f"{name} to be healthy",
            )
        yield kafka, retrieval_port
        for process in (storage, retrieval):
            process.send_signal(signal.SIGTERM)
        for process, log in ((storage, "storage.log"), (retrieval, "retrieval.log")):
            assert process.wait(30) == 0, (tmp_path / log).read_text()[-2000:]
    finally:
        for process in (storage, retrieval):
            process.kill()


def test_published_results_come_back_from_the_api_exactly(services) -> None:  # noqa: ANN001
    kafka, port = services
    refs = demo_series("e2e_chain", 2)
    messages: list[Message] = list(run_messages("e2e-run-1", refs, T0))
    publisher = Publisher(kafka)
    assert publisher.publish(messages).complete
    publisher.close()
    base = f"http://127.0.0.1:{port}"
    metric = refs[0].metric

    wait_for(
        lambda: get(f"{base}/metrics/metric/{metric}")[1].get("count") == 3,
        60,
        "the statistics of the run",
    )
    status, body = get(f"{base}/metrics/metric/{metric}")
    assert status == 200
    for item in body["statistics"]:
        sent = next(
            m
            for m in messages
            if m.kind == "statistics" and m.series == refs[0] and m.window == item["window"]
        )
        p = sent.payload
        assert item["run_id"] == "e2e-run-1" and item["labels"] == refs[0].labels
        assert [item[k] for k in ("max", "min", "mean", "std", "count", "p50", "p95", "p99")] == [
            p.max,
            p.min,
            p.mean,
            p.std,
            p.count,
            p.p50,
            p.p95,
            p.p99,
        ]
        assert datetime.fromisoformat(item["start"]) == p.start
        assert datetime.fromisoformat(item["computed_at"]) == sent.computed_at

    status, body = get(f"{base}/metrics/forecasting/{metric}?window=1h&aggregate=mean")
    assert status == 200 and body["count"] == 1
    sent = next(
        m
        for m in messages
        if m.kind == "forecast"
        and m.series == refs[0]
        and m.window == "1h"
        and m.payload.aggregate == "mean"
    )
    forecast = body["forecasts"][0]
    assert forecast["holdout_mase"] == sent.payload.holdout_mase
    assert [(pt["value"], pt["lower_95"], pt["upper_95"]) for pt in forecast["points"]] == [
        (pt.value, pt.lower_95, pt.upper_95) for pt in sent.payload.points
    ]

    status, body = get(f"{base}/metrics/metadati/{metric}?window=3h")
    sent = next(
        m for m in messages if m.kind == "metadata" and m.series == refs[0] and m.window == "3h"
    )
    assert body["metadata"][0]["autocorrelation"]["lags"] == sent.payload.autocorrelation.lags

    # The listing is paged (a used stack holds more than a page): filtered to this test's
    # metrics in SQL.
    mine = []
    for name in sorted({ref.metric for ref in refs}):
        status, listing = get(f"{base}/metrics?metric={name}")
        assert status == 200, listing
        mine += listing["series"]
    assert {s["last_run_id"] for s in mine} == {"e2e-run-1"} and len(mine) == 2
    assert get(f"{base}/metrics/metric/no_such_metric")[0] == 404
    assert get(f"{base}/metrics/metric/{metric}?window=1h'--")[0] == 400
    assert get(f"{base}/openapi.json")[0] == 200
