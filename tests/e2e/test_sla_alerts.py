"""The generated rules in the real Prometheus of the stack: the forecast alert fires while the
value is still in range, then the fast-burn page once it has left the range.

The series is demo-shaped (cpuLoad's labels) but its course is known in advance: a ramp of
one unit per minute, ``cpuLoad * 0 + (time() - T0) / 60``, that crosses its maximum 150 s
after the SLA is defined. The stack's SLA manager (which Prometheus scrapes, and which writes
the rule file Prometheus loads) forecasts the crossing; Prometheus' own rule engine decides
what fires. About three minutes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.e2e

MAX = 100.0
LEAD_SECONDS = 150  # the ramp crosses MAX this long after the SLA is defined


def firing(prometheus: str, sla: str) -> dict[str, list[dict[str, Any]]]:
    """Firing alerts of one SLA, by alert name, from Prometheus' /api/v1/alerts."""
    answer = requests.get(f"{prometheus}/api/v1/alerts", timeout=10).json()
    found: dict[str, list[dict[str, Any]]] = {}
    for alert in answer["data"]["alerts"]:
        if alert["labels"].get("sla") == sla and alert["state"] == "firing":
            found.setdefault(alert["labels"]["alertname"], []).append(alert)
    return found


def value_now(prometheus: str, expression: str) -> float:
    answer = requests.get(
        f"{prometheus}/api/v1/query", params={"query": expression}, timeout=10
    ).json()
    return float(answer["data"]["result"][0]["value"][1])


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(3)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def test_forecast_alert_then_fast_burn_in_prometheus(stack_env: dict[str, str]) -> None:
    sla_url, prometheus = stack_env["SLA_URL"], stack_env["PROMETHEUS_URL"]
    name = f"e2e-alerts-{uuid.uuid4().hex[:8]}"
    t0 = time.time() - (MAX * 60 - LEAD_SECONDS)
    expression = f'cpuLoad{{job="summary", instance="106"}} * 0 + (time() - {t0:.0f}) / 60'
    body = {
        "name": name,
        # 99.9 %: the page threshold is an error ratio of 13.44 * 0.001, about 4 samples of
        # the last hour out of range, so the page follows the crossing within a minute or two.
        "objective": 99.9,
        "period": "28d",
        "metrics": [{"expression": expression, "name": "ramp", "max": MAX}],
    }
    admin = {"Authorization": f"Bearer {stack_env['ADMIN_TOKEN']}"}
    defined = requests.post(f"{sla_url}/SLA", json=body, headers=admin, timeout=60)
    assert defined.status_code == 201, defined.text
    sla_id = defined.json()["id"]
    try:
        # The rule file was rewritten and Prometheus reloaded by the POST.
        rules = requests.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
        assert f"sla-{name}-alerts" in {group["name"] for group in rules}

        def forecast_fires() -> dict[str, list[dict[str, Any]]] | None:
            # Assess now (the stack assesses every 60 s): the gauge Prometheus scrapes.
            requests.post(
                f"{sla_url}/assess_Violations", params={"sla": sla_id}, headers=admin, timeout=60
            )
            alerts = firing(prometheus, name)
            return alerts if "SLAViolationForecast" in alerts else None

        early = wait_for(forecast_fires, LEAD_SECONDS - 20, "SLAViolationForecast")
        assert value_now(prometheus, expression) < MAX, "the forecast alert came too late"
        assert "SLAErrorBudgetBurn" not in early and "SLAOutOfRange" not in early
        assert early["SLAViolationForecast"][0]["labels"]["severity"] == "page"

        def page_fires() -> list[dict[str, Any]] | None:
            burning = firing(prometheus, name).get("SLAErrorBudgetBurn", [])
            return [a for a in burning if a["labels"]["severity"] == "page"] or None

        pages = wait_for(page_fires, LEAD_SECONDS + 240, "SLAErrorBudgetBurn (page)")
        assert value_now(prometheus, expression) > MAX
        assert pages[0]["labels"]["metric"] == "ramp"
    finally:
        requests.delete(f"{sla_url}/SLA/{sla_id}", headers=admin, timeout=30)
    rules = requests.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    assert f"sla-{name}-alerts" not in {group["name"] for group in rules}
