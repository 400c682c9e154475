"""The SLA manager served by gunicorn (as the stack runs it) against the real stack, over HTTP."""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime

import pytest
import requests

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def service(stack_env, mysql_role, serve) -> str:  # noqa: ANN001
    """gunicorn with the stack's command line, the sla role on this run's database."""
    db = mysql_role("sla")
    env = {
        "PROMETHEUS_URL": stack_env["PROMETHEUS_URL"],
        "MYSQL_HOST": db.host,
        "MYSQL_PORT": str(db.port),
        "MYSQL_DATABASE": db.database,
        "MYSQL_USER": db.user,
        "MYSQL_PASSWORD": db.password.get_secret_value(),
        "SLA_ASSESSMENT_INTERVAL_SECONDS": "2",
    }
    return serve("sla", env, app="sla_manager.wsgi:application()")


def admin() -> dict[str, str]:
    """The admin token of the services the tests start (tests/conftest.py)."""
    return {"Authorization": f"Bearer {os.environ['ADMIN_TOKEN']}"}


def define_sla(url: str, name: str, metrics: list[dict]) -> dict:
    response = requests.post(
        f"{url}/SLA", json={"name": name, "metrics": metrics}, headers=admin(), timeout=30
    )
    assert response.status_code == 201, response.text
    return response.json()


def last_assessed(url: str, sla_name: str) -> float | None:
    text = requests.get(f"{url}/internal/metrics", timeout=10).text
    prefix = f'sla_last_assessment_timestamp_seconds{{sla="{sla_name}"}} '
    values = [float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)]
    return values[0] if values else None


def test_define_assess_report_and_retire_over_http(service: str, stack_env) -> None:  # noqa: ANN001
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    sla = define_sla(
        service,
        name,
        [
            {"metric": "cpuLoad", "min": 30, "max": 60},
            {"metric": "inodeUsage", "min": 0, "max": 100},
        ],
    )
    assessed = requests.get(
        f"{service}/assess_Violations", params={"sla": sla["id"]}, headers=admin(), timeout=60
    )
    assert assessed.status_code == 200
    (result,) = assessed.json()["slas"]
    cpu, inode = result["metrics"]
    # The raw samples of [end - 1h, end]: Prometheus' own count_over_time(m[1h]) at that end.
    end = datetime.fromisoformat(result["window_end"]).timestamp()
    counted = requests.get(
        f"{stack_env['PROMETHEUS_URL']}/api/v1/query",
        params={"query": 'count_over_time(cpuLoad{job="summary",instance="106"}[1h])', "time": end},
        timeout=10,
    ).json()["data"]["result"][0]["value"][1]
    assert cpu["series"][0]["windows"]["1h"]["samples"] == int(counted)
    assert inode["series"][0]["windows"]["12h"]["samples_outside"] == 0

    counts = requests.get(f"{service}/get_Violations_Num", params={"sla": sla["id"]}, timeout=30)
    windows = counts.json()["slas"][0]["windows"]
    # Each window on its own: the 1h total is cpuLoad's 1h count (inodeUsage adds none).
    assert windows["1h"]["samples_outside"] == cpu["series"][0]["windows"]["1h"]["samples_outside"]
    assert windows["1h"]["samples_outside"] <= windows["3h"]["samples_outside"]
    assert windows["3h"]["samples_outside"] <= windows["12h"]["samples_outside"]

    prediction = requests.get(
        f"{service}/get_SLA_pred_status", params={"sla": sla["id"]}, timeout=30
    )
    assert prediction.json()["slas"][0]["metrics"][1]["series"][0]["likely"] is False

    # The periodic assessment (every 2 s here) moves the exported assessment time on.
    first = last_assessed(service, name)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and last_assessed(service, name) == first:
        time.sleep(0.5)
    assert last_assessed(service, name) != first

    retired = requests.delete(f"{service}/SLA/{sla['id']}", headers=admin(), timeout=10)
    assert retired.status_code == 200
    listed = requests.get(f"{service}/SLA", timeout=10).json()["slas"]
    assert sla["id"] not in [s["id"] for s in listed]


def test_errors_are_json_with_the_right_status(service: str) -> None:
    bad = requests.post(
        f"{service}/SLA", json={"name": "x", "metrics": []}, headers=admin(), timeout=10
    )
    assert bad.status_code == 400 and bad.json()["error"] == "bad_request"
    huge = requests.post(
        f"{service}/SLA",
        data=b"{" + b" " * 100_000 + b"}",
        headers={"Content-Type": "application/json", **admin()},
        timeout=10,
    )
    assert huge.status_code == 413 and "error" in huge.json()
    missing = requests.get(f"{service}/SLA/999999999", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert requests.get(f"{service}/health", timeout=10).json()["status"] == "ok"
