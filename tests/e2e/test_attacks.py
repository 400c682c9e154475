"""Attacks on the running services (gunicorn, the real Prometheus, Kafka and MariaDB): each
gets its stated 4xx and changes nothing stored.

The services are this module's own (started by `serve` on this run's database and topic, with
the tests' tokens), except where the stack's own services are read: /health, and its logs.
What is stored is read back from MariaDB directly, as the sla role.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from data_retrieval import create_app as create_retrieval
from data_retrieval.bootstrap import bootstrap as bootstrap_retrieval
from monitoring_core.db import connect
from monitoring_core.settings import KafkaSettings, MySQLSettings
from stack.settings import StackSettings

pytestmark = pytest.mark.e2e

RUN = uuid.uuid4().hex[:8]
NO_SUCH_SLA = "999999999999"
# Expensive only at the assessment's resolution: at POST the check covers 15 minutes at 1-minute
# steps (milliseconds); assessed over 12 h at 15 s it takes seconds in Prometheus.
HEAVY = (
    "quantile_over_time(0.5, cpuLoad[12h:15s]) + quantile_over_time(0.5, cpuTemp[12h:15s])"
    " + quantile_over_time(0.5, diskUsage[12h:15s])"
)
HOSTILE = [
    # reads every series Prometheus has
    '{__name__=~".+"}',
    '{__name__=~".*", job="summary"}',
    'count by (__name__) ({__name__=~".+"})',
    'count by (__name__) ({job=~".+"})',
    '{job="summary"}',
    'sum(rate({__name__=~".+"}[5m]))',
    'absent_over_time({__name__=~"cpu.*"}[5m])',
    'topk(1000000000, {__name__=~".+"})',
    'cpuLoad or {__name__=~"up|scrape_.*"}',
    '{instance="106", __name__!~"cpuLoad"}',
    # huge ranges and subqueries, fine steps
    "max_over_time(cpuLoad[7d])",
    "max_over_time(cpuLoad[30d])",
    "max_over_time(cpuLoad[7d:1s])",
    "max_over_time(cpuLoad[12h:1s])",
    "avg_over_time(rate(cpuLoad[5m])[12h:1s])",
    "max_over_time(max_over_time(cpuLoad[1h:])[12h:])",
    "cpuLoad offset 30d",
    "cpuLoad @ 0",
    "max_over_time(cpuLoad[1h:] @ start())",
    # outside the allow-list
    'label_replace(cpuLoad, "job", "other", "", "")',
    'label_join(cpuLoad, "x", ",", "job", "instance")',
    'count_values("value", cpuLoad)',
    "holt_winters(cpuLoad[1h], 0.5, 0.5)",
    "sort_desc(cpuLoad)",
    # outside the watched series, with quotes and backslashes in label values
    'cpuLoad{job="node"}',
    'cpuLoad{instance="localhost:9100"}',
    'cpuLoad{job="summary\\" or up{job=\\"node"}',
    'cpuLoad{job="\\\\", instance="106"}',
    'cpuLoad{core="\\"\\\\\\n"}',
    # too many selectors, too deep, not an instant vector, not PromQL
    " + ".join(["cpuLoad"] * 11),
    "(" * 60 + "cpuLoad" + ")" * 60,
    "cpuLoad[5m]",
    "cpuLoad[5m:]",
    '"cpuLoad"',
    "rate(cpuLoad[5m]",
    "cpuLoad{",
]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer(os.environ.get("ADMIN_TOKEN", ""))  # the tests' own (tests/conftest.py)
READ = bearer(os.environ.get("READ_TOKEN", ""))


def sla_env(mysql_role: Callable[[str], MySQLSettings], stack_env: dict[str, str]) -> dict:
    db = mysql_role("sla")
    return {
        "PROMETHEUS_URL": stack_env["PROMETHEUS_URL"],
        "MYSQL_HOST": db.host,
        "MYSQL_PORT": str(db.port),
        "MYSQL_DATABASE": db.database,
        "MYSQL_USER": db.user,
        "MYSQL_PASSWORD": db.password.get_secret_value(),
        "SLA_ASSESSMENT_INTERVAL_SECONDS": "0",
        "WORK_RATE_LIMIT": "10000/minute",
    }


@pytest.fixture(scope="module")
def sla(stack_env, mysql_role, serve) -> str:  # noqa: ANN001
    return serve("sla", sla_env(mysql_role, stack_env), app="sla_manager.wsgi:application()")


@pytest.fixture(scope="module")
def etl(stack_env, kafka_settings: KafkaSettings, serve) -> str:  # noqa: ANN001
    env = {
        "PROMETHEUS_URL": stack_env["PROMETHEUS_URL"],
        "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "KAFKA_TOPIC": kafka_settings.topic,
        "KAFKA_DEAD_LETTER_TOPIC": kafka_settings.dead_letter_topic,
        "KAFKA_PARTITIONS": str(kafka_settings.partitions),
        "ETL_SCHEDULER_ENABLED": "false",
    }
    return serve("etl", env, app="etl_pipeline.wsgi:application()")


@pytest.fixture(scope="module")
def stored(mysql_role: Callable[[str], MySQLSettings]) -> Callable[[str, tuple], int]:
    """`stored(sql, params)`: the count a query over the SLA tables finds, read directly."""

    def count(sql: str, params: tuple) -> int:
        connection = connect(mysql_role("sla"))
        try:
            cursor = connection.cursor()
            cursor.execute(sql, params)
            return int(cursor.fetchone()[0])
        finally:
            connection.close()

    return count


def define(url: str, name: str, metrics: list[dict], headers: dict | None = None) -> Any:
    body = {"name": name, "metrics": metrics}
    headers = ADMIN if headers is None else headers
    return requests.post(f"{url}/SLA", json=body, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def victim(sla: str) -> Iterator[dict]:
    """An SLA of this module that the attacks try to change; retired at the end."""
    created = define(sla, f"attack-victim-{RUN}", [{"metric": "cpuLoad", "min": 0, "max": 100}])
    assert created.status_code == 201, created.text
    yield created.json()
    requests.delete(f"{sla}/SLA/{created.json()['id']}", headers=ADMIN, timeout=10)


# ---- tokens ---------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, READ], ids=["no token", "read token"])
def test_sla_routes_that_change_things_refuse_without_the_admin_scope(
    sla: str, victim: dict, stored: Callable[[str, tuple], int], headers: dict
) -> None:
    status = 403 if headers else 401
    name = f"attack-unauthorized-{RUN}"
    attempts = [
        define(sla, name, [{"metric": "cpuLoad", "max": 1}], headers),
        requests.delete(f"{sla}/SLA/{victim['id']}", headers=headers, timeout=10),
        requests.get(f"{sla}/assess_Violations", params={"sla": victim["id"]}, headers=headers),
        requests.post(f"{sla}/assess_Violations", params={"sla": victim["id"]}, headers=headers),
        requests.post(f"{sla}/assess_Violations", headers=headers, timeout=10),
    ]
    for response in attempts:
        assert response.status_code == status, (response.request.url, response.text)
        assert response.json()["error"] == ("forbidden" if headers else "unauthorized")
        if status == 401:
            assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert stored("SELECT COUNT(*) FROM slas WHERE name = %s", (name,)) == 0
    active = "SELECT COUNT(*) FROM slas WHERE sla_id = %s AND retired_at IS NULL"
    assert stored(active, (victim["id"],)) == 1
    assert stored("SELECT COUNT(*) FROM sla_assessments WHERE sla_id = %s", (victim["id"],)) == 0


@pytest.mark.parametrize("headers", [{}, READ], ids=["no token", "read token"])
def test_etl_routes_that_start_work_refuse_without_the_admin_scope(etl: str, headers: dict) -> None:
    status = 403 if headers else 401
    before = requests.get(f"{etl}/forecasting", timeout=10).json()
    last = requests.get(f"{etl}/all_data", timeout=30)
    attempts = [
        requests.get(f"{etl}/regen_data", headers=headers, timeout=30),
        requests.post(f"{etl}/regen_data", headers=headers, timeout=30),
        requests.post(
            f"{etl}/forecasting",
            json={"metrics": ["cpuLoad"], "horizon_minutes": 4},
            headers=headers,
            timeout=30,
        ),
    ]
    for response in attempts:
        assert response.status_code == status, (response.request.url, response.text)
    assert requests.get(f"{etl}/forecasting", timeout=10).json() == before
    after = requests.get(f"{etl}/all_data", timeout=30)
    assert after.status_code == last.status_code  # no cycle ran
    if last.status_code == 200:
        assert after.json()["run"]["run_id"] == last.json()["run"]["run_id"]


def test_reads_stay_open_by_default_and_a_cross_site_get_cannot_start_work(sla: str) -> None:
    assert requests.get(f"{sla}/SLA", timeout=10).status_code == 200
    # What a web page can fire at a user's browser: a plain GET, no Authorization header.
    page = requests.get(f"{sla}/assess_Violations", headers={"Origin": "http://evil.example"})
    assert page.status_code == 401


# ---- PromQL -------------------------------------------------------------------------------


def test_there_are_thirty_or_more_hostile_expressions() -> None:
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize("expression", HOSTILE)
def test_hostile_promql_is_refused_with_a_reason_and_nothing_is_stored(
    sla: str, stored: Callable[[str, tuple], int], expression: str
) -> None:
    name = f"attack-promql-{RUN}-{uuid.uuid4().hex[:6]}"
    response = define(sla, name, [{"expression": expression, "name": "hostile", "max": 1}])
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "bad_request" and body["reason"].startswith("metrics[0]")
    assert stored("SELECT COUNT(*) FROM slas WHERE name = %s", (name,)) == 0


# ---- bounded work -------------------------------------------------------------------------


def test_an_sla_flood_stops_at_the_cap_with_409(
    stack_env,
    mysql_role,
    serve,
    stored: Callable[[str, tuple], int],  # noqa: ANN001
) -> None:
    current = stored("SELECT COUNT(*) FROM slas WHERE retired_at IS NULL", ())
    env = {**sla_env(mysql_role, stack_env), "SLA_MAX_CURRENT": str(current + 3)}
    url = serve("sla-capped", env, app="sla_manager.wsgi:application()")
    metric = [{"metric": "inodeUsage", "min": 0, "max": 100}]
    answers = [define(url, f"attack-flood-{RUN}-{i}", metric) for i in range(6)]
    created = [a.json()["id"] for a in answers if a.status_code == 201]
    try:
        assert [a.status_code for a in answers] == [201, 201, 201, 409, 409, 409]
        assert answers[-1].json()["error"] == "conflict"
        assert "SLA_MAX_CURRENT" in answers[-1].json()["reason"]
        flooded = "SELECT COUNT(*) FROM slas WHERE name LIKE %s"
        assert stored(flooded, (f"attack-flood-{RUN}-%",)) == 3
        # At the cap, an existing name still gets a new version (it adds no current SLA).
        again = define(url, f"attack-flood-{RUN}-0", metric)
        assert again.status_code == 201, again.text
        created.append(again.json()["id"])
    finally:
        for sla_id in created:
            requests.delete(f"{url}/SLA/{sla_id}", headers=ADMIN, timeout=10)


def test_a_burst_past_the_rate_limit_answers_429_with_retry_after(
    stack_env,
    mysql_role,
    serve,  # noqa: ANN001
) -> None:
    env = {**sla_env(mysql_role, stack_env), "WORK_RATE_LIMIT": "3/minute"}
    url = serve("sla-limited", env, app="sla_manager.wsgi:application()")
    route = f"{url}/assess_Violations"
    # Refused callers use up nobody's quota.
    assert {requests.post(route, timeout=10).status_code for _ in range(5)} == {401}
    burst = [
        requests.post(route, params={"sla": NO_SUCH_SLA}, headers=ADMIN, timeout=10)
        for _ in range(6)
    ]
    assert [r.status_code for r in burst] == [404, 404, 404, 429, 429, 429]
    limited = burst[-1]
    assert limited.json()["error"] == "too_many_requests"
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    # The GET twin is its own route with its own quota; the reads are not limited at all.
    assert requests.get(route, params={"sla": NO_SUCH_SLA}, headers=ADMIN).status_code == 404
    assert all(requests.get(f"{url}/SLA", timeout=10).ok for _ in range(10))


def gauge_lines(url: str, name: str) -> list[str]:
    text = requests.get(f"{url}/internal/metrics", timeout=10).text
    return [line for line in text.splitlines() if line.startswith(name)]


def test_one_expression_timing_out_leaves_the_other_slas_assessed_exported_and_alerted(
    stack_env,
    mysql_role,
    serve,  # noqa: ANN001
    alert_receiver,  # noqa: ANN001
) -> None:
    env = {
        **sla_env(mysql_role, stack_env),
        "SLA_QUERY_TIMEOUT_SECONDS": "1",
        "SLA_ASSESSMENT_INTERVAL_SECONDS": "3",
        "SLA_WEBHOOK_URL": f"{alert_receiver.base}/hook?token=s3cret",
        "SLA_WEBHOOK_BACKOFF_SECONDS": "0.1",
    }
    url = serve("sla-timeout", env, app="sla_manager.wsgi:application()")
    slow_name, fine_name = f"attack-slow-{RUN}", f"attack-fine-{RUN}"
    # Accepted at POST: the check's 15 minutes are cheap.
    slow = define(
        url,
        slow_name,
        [
            {"expression": HEAVY, "name": "heavy", "max": 1e9},
            {"metric": "cpuLoad", "name": "cpu beside it", "max": 1},
        ],
    )
    assert slow.status_code == 201, slow.text
    fine = define(url, fine_name, [{"metric": "cpuLoad", "max": 1}])
    assert fine.status_code == 201, fine.text
    ids = [slow.json()["id"], fine.json()["id"]]
    try:
        assessed = requests.post(f"{url}/assess_Violations", headers=ADMIN, timeout=60)
        assert assessed.status_code == 200, assessed.text
        by_id = {result["sla"]["id"]: result for result in assessed.json()["slas"]}
        heavy, beside = by_id[ids[0]]["metrics"]
        assert heavy["reason"] == "not assessed: query timed out after 1s", heavy
        assert heavy["series"] == []
        assert beside["reason"] is None and beside["series"][0]["in_range_now"] is False
        (fine_metric,) = by_id[ids[1]]["metrics"]
        assert fine_metric["series"][0]["in_range_now"] is False

        # The periodic assessment goes on; the gauges and the webhook carry the others.
        def exported() -> bool:
            names = " ".join(gauge_lines(url, "sla_value_in_range"))
            return f'sla="{fine_name}"' in names and 'metric="cpu beside it"' in names

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not exported():
            time.sleep(0.5)
        assert exported()
        assert not [line for line in gauge_lines(url, "sla_value_in_range") if "heavy" in line]
        while (
            time.monotonic() < deadline
            and len({a["labels"]["sla"] for a in alert_receiver.alerts}) < 2
        ):
            time.sleep(0.5)
        alerted = {(a["labels"]["sla"], a["labels"]["metric"]) for a in alert_receiver.alerts}
        assert {(slow_name, "cpu beside it"), (fine_name, "cpuLoad")} <= alerted
        stored_views = requests.get(f"{url}/get_Violations", params={"sla": ids[0]}, timeout=30)
        assert stored_views.json()["slas"][0]["metrics"][0]["reason"].endswith("timed out after 1s")
    finally:
        for sla_id in ids:
            requests.delete(f"{url}/SLA/{sla_id}", headers=ADMIN, timeout=10)


# ---- nothing leaked -----------------------------------------------------------------------


def secrets_of(stack_env: dict[str, str]) -> list[str]:
    """Every credential the stack generated (passwords, tokens)."""
    return [v for k, v in stack_env.items() if k.endswith(("_PASSWORD", "_TOKEN")) and v]


def test_anonymous_health_shows_only_ok_per_check_and_no_secret(stack_env: dict[str, str]) -> None:
    secrets = secrets_of(stack_env)
    accounts = [v for k, v in stack_env.items() if k.startswith("DB_") and k.endswith("_USER")]
    for key in ("ETL_URL", "RETRIEVAL_URL", "SLA_URL", "STORAGE_URL"):
        response = requests.get(f"{stack_env[key]}/health", timeout=10)
        body = response.json()
        assert set(body) == {"service", "status", "checks"}, key
        for name, check in body["checks"].items():
            assert set(check) == {"ok"}, (key, name, check)
        checks = json.dumps(body["checks"])  # (the sla account is named as its service)
        for secret in secrets:
            assert secret not in response.text, key
        for account in accounts:
            assert account not in checks, key
        detailed = requests.get(
            f"{stack_env[key]}/health", headers=bearer(stack_env["READ_TOKEN"]), timeout=10
        ).json()
        assert any("seconds" in check for check in detailed["checks"].values()), key


def test_a_failing_dependency_is_named_but_its_driver_message_and_account_are_not(
    stack_env: dict[str, str], mysql_role: Callable[[str], MySQLSettings]
) -> None:
    wrong = mysql_role("reader").model_copy(update={"password": SecretStr("not-the-password")})
    client = create_retrieval(bootstrap_retrieval(mysql=wrong)).test_client()
    health = client.get("/health")
    assert health.status_code == 503 and health.get_json()["checks"] == {"database": {"ok": False}}
    answer = client.get("/metrics")
    assert answer.status_code == 503
    assert answer.get_json()["dependency"] == "MySQL"
    for leak in (wrong.user, "Access denied", wrong.host, str(wrong.port)):
        assert leak not in answer.get_data(as_text=True), leak
        assert leak not in health.get_data(as_text=True), leak


def test_no_credential_appears_in_any_stack_log(stack_env: dict[str, str]) -> None:
    secrets = secrets_of(stack_env)
    logs = StackSettings().logs
    files = sorted(logs.glob("*.log"))
    assert files, f"no logs in {logs}"
    for path in files:
        text = path.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, f"a credential appears in {path}"


# What each of the stack's services may hold: its own database password and
# the tokens of the scopes it checks; never the migrator's or another role's.
SERVICE_CREDENTIALS = {
    "etl_pipeline": {"ADMIN_TOKEN", "READ_TOKEN", "DB_ETL_PASSWORD"},
    "sla_manager": {"ADMIN_TOKEN", "READ_TOKEN", "DB_SLA_PASSWORD"},
    "data_retrieval": {"READ_TOKEN", "DB_READER_PASSWORD"},
    "data_storage": {"READ_TOKEN", "DB_WRITER_PASSWORD"},
}


@pytest.mark.parametrize("service", sorted(SERVICE_CREDENTIALS))
def test_each_stack_service_holds_only_its_own_credentials(
    stack_env: dict[str, str], service: str
) -> None:
    pid = (StackSettings().run / f"{service}.pid").read_text().strip()
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    values = set(raw.split("\0"))
    held = {
        name
        for name, value in stack_env.items()
        if name.endswith(("_PASSWORD", "_TOKEN")) and any(v.endswith("=" + value) for v in values)
    }
    assert held == SERVICE_CREDENTIALS[service]
