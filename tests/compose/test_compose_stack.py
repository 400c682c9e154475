"""The README's Docker path, end to end, on the real Docker engine and images built here.

Every request goes to a port that the compose files publish on 127.0.0.1. The chain
(Prometheus -> ETL -> Kafka -> storage -> MySQL -> retrieval) only works if each container
reaches the others by their compose names, and Prometheus only starts if the demo history
was written into the backfill volume. The last test takes both stages down and up again.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import Consumer

from stack.compose import (
    ETL_WORKERS,
    INFRA,
    SERVICES,
    STORAGE_CONSUMERS,
    Compose,
    answers,
    bring_up,
    storage_ports,
)

ROOT = Path(__file__).resolve().parents[2]
RESULTS_TOPIC = "metrics.results"
# A fixed instant inside the backfilled history: its 1 h window holds 240 samples at 15 s.
HISTORY_QUERY = 'count_over_time(cpuLoad{job="summary", instance="106"}[1h])'


def get(url: str, headers: dict[str, str] | None = None, **params: str) -> requests.Response:
    return requests.get(url, params=params, headers=headers, timeout=120)


@pytest.fixture(scope="module")
def etl_run(urls: dict[str, str], admin: dict[str, str]) -> dict:
    """One ETL cycle run now, over the compose network."""
    response = requests.post(f"{urls['etl']}/regen_data", headers=admin, timeout=300)
    assert response.status_code == 200, response.text
    return response.json()


def stored_statistics(urls: dict[str, str], run_id: str, timeout: float = 90) -> list[dict]:
    """cpuLoad's 1 h statistics of that run, once storage has written them."""
    deadline = time.monotonic() + timeout
    while True:
        response = get(f"{urls['retrieval']}/metrics/metric/cpuLoad", run=run_id, window="1h")
        if response.status_code == 200 and response.json().get("statistics"):
            return response.json()["statistics"]
        assert time.monotonic() < deadline, f"run {run_id} never reached retrieval: {response.text}"
        time.sleep(2)


def test_every_service_answers_health(urls: dict[str, str]) -> None:
    for name in ("etl", "sla", "retrieval", "storage"):
        response = get(f"{urls[name]}/health")
        assert response.status_code == 200, f"{name}: {response.text}"
        assert response.json()["status"] == "ok", f"{name}: {response.text}"


def test_prometheus_has_the_backfilled_history(urls: dict[str, str]) -> None:
    at = time.time() - 6 * 3600  # long before the stack started: only the backfill has it
    response = get(f"{urls['prometheus']}/api/v1/query", query=HISTORY_QUERY, time=str(at))
    result = response.json()["data"]["result"]
    assert result, "no demo history: the backfill step did not run"
    assert float(result[0]["value"][1]) == 240


def test_etl_results_reach_mysql_and_come_back(urls: dict[str, str], etl_run: dict) -> None:
    assert etl_run["status"] == "complete" and etl_run["series_count"] >= 8
    items = stored_statistics(urls, etl_run["run_id"])
    assert {item["run_id"] for item in items} == {etl_run["run_id"]}
    assert items[0]["labels"] == {"instance": "106", "job": "summary"}
    # 1 h of 15 s scrapes, read from Prometheus over the compose network
    assert 200 <= items[0]["count"] <= 242


def test_an_sla_is_defined_and_assessed(urls: dict[str, str], admin: dict[str, str]) -> None:
    name = f"compose-{uuid.uuid4().hex[:8]}"
    body = {"name": name, "metrics": [{"metric": "cpuLoad", "min": 0, "max": 1e9}]}
    created = requests.post(f"{urls['sla']}/SLA", json=body, headers=admin, timeout=60)
    assert created.status_code == 201, created.text
    sla_id = created.json()["id"]
    assessed = requests.post(
        f"{urls['sla']}/assess_Violations", params={"sla": sla_id}, headers=admin, timeout=120
    )
    assert assessed.status_code == 200, assessed.text
    (report,) = assessed.json()["slas"]
    assert report["sla"]["id"] == sla_id
    series = report["metrics"][0]["series"]
    assert series and series[0]["windows"]["1h"]["samples_outside"] == 0
    # Its rules reach Prometheus through the shared volume and a reload by the SLA manager.
    deadline = time.monotonic() + 60
    while True:
        groups = get(f"{urls['prometheus']}/api/v1/rules").json()["data"]["groups"]
        if any(name in group["name"] for group in groups):
            break
        assert time.monotonic() < deadline, f"no rule group of {name} in Prometheus: {groups}"
        time.sleep(2)
    retired = requests.delete(f"{urls['sla']}/SLA/{sla_id}", headers=admin, timeout=30)
    assert retired.status_code == 200, retired.text


def test_postman_collection_passes(urls: dict[str, str], compose_env: dict[str, str]) -> None:
    hosts = {name: urls[name] for name in ("etl", "retrieval", "sla", "storage")}
    hosts |= {"admin_token": compose_env["ADMIN_TOKEN"], "read_token": compose_env["READ_TOKEN"]}
    command = [
        "npx", "--no-install", "newman", "run",
        str(ROOT / "postman" / "prometheus-sla-suite.postman_collection.json"),
        "--environment", str(ROOT / "postman" / "local.postman_environment.json"),
        *(f"--env-var={name}={url}" for name, url in hosts.items()),
        "--reporters", "cli", "--color", "off", "--timeout-request", "120000",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def group_shares(compose_env: dict[str, str], group_id: str, members: int) -> list[int]:
    """The partitions each member of `group_id` holds, once `members` hold some (Kafka's own
    view of the group)."""
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{compose_env['KAFKA_HOST_PORT']}"})
    deadline = time.monotonic() + 120
    while True:
        (future,) = admin.describe_consumer_groups([group_id]).values()
        group = future.result(timeout=30)
        held = [len(m.assignment.topic_partitions) for m in group.members]
        if len(held) == members and all(held):
            return held
        assert time.monotonic() < deadline, f"{group_id}: {held}"
        time.sleep(2)


def test_the_etl_workers_share_the_work_topic(compose_env: dict[str, str]) -> None:
    """`--scale etl_worker=3`: three members in the workers' group, sharing the work topic's
    12 partitions."""
    assert sum(group_shares(compose_env, "etl-workers", ETL_WORKERS)) == 12


def test_the_storage_consumers_share_the_results_topic(compose_env: dict[str, str]) -> None:
    """`--scale data_storage=2`: two members in storage's group, each holding some of the
    results topic's partitions, and every replica's health answers on its published port."""
    held = group_shares(compose_env, "data-storage", STORAGE_CONSUMERS)
    assert len(held) == STORAGE_CONSUMERS
    answering = [
        port for port in storage_ports(compose_env) if answers(f"http://127.0.0.1:{port}/health")
    ]
    assert len(answering) == STORAGE_CONSUMERS, answering


def results_watermark(compose_env: dict[str, str]) -> int:
    """How many messages the results topic holds, summed over its partitions."""
    bootstrap = f"127.0.0.1:{compose_env['KAFKA_HOST_PORT']}"
    topics = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30).topics
    assert RESULTS_TOPIC in topics, f"no topic {RESULTS_TOPIC}: {sorted(topics)}"
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"compose-{uuid.uuid4()}"})
    try:
        partitions = topics[RESULTS_TOPIC].partitions
        return sum(
            consumer.get_watermark_offsets(TopicPartition(RESULTS_TOPIC, p), timeout=30)[1]
            for p in partitions
        )
    finally:
        consumer.close()


def test_down_and_up_keep_data_topic_and_history(
    urls: dict[str, str], compose_env: dict[str, str], compose: Compose, etl_run: dict
) -> None:
    at = str(time.time() - 6 * 3600)
    history = get(f"{urls['prometheus']}/api/v1/query", query=HISTORY_QUERY, time=at).json()
    stored = stored_statistics(urls, etl_run["run_id"])
    messages = results_watermark(compose_env)
    assert messages > 0

    compose.down(SERVICES)
    compose.down(INFRA)
    bring_up(compose, compose_env)

    assert stored_statistics(urls, etl_run["run_id"], timeout=30) == stored  # MySQL's volume
    assert results_watermark(compose_env) >= messages  # Kafka's volume
    again = get(f"{urls['prometheus']}/api/v1/query", query=HISTORY_QUERY, time=at).json()
    # Prometheus' volume, and the backfill not written twice into it
    assert again["data"]["result"] == history["data"]["result"]
