"""The dashboard in a real browser (Debian's chromium, headless, driven by Playwright).

Against the running suite: a fresh ETL run, an SLA on cpuLoad assessed by the SLA manager,
then /dashboard at 1366x768. Expected numbers come from Prometheus itself (the samples and
violations in the chart's own range) and from the SLA manager's answer (its forecast minutes).
The full-page screenshot is saved to test-artifacts/dashboard.png.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from monitoring_core.messages import series_id

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "test-artifacts" / "dashboard.png"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LABELS = {"job": "summary", "instance": "106"}
CPU = 'cpuLoad{job="summary",instance="106"}'
SLA_MAX = 60  # the demo cpuLoad peaks at about 62 every 20 minutes: violations in every hour


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def run_etl(etl: str) -> str:
    """A new ETL run (waiting out one already in progress); its run id."""

    def start() -> str | None:
        response = requests.get(f"{etl}/regen_data", timeout=120)
        if response.status_code == 409:  # a periodic cycle is running: ours comes after it
            return None
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "complete"
        return response.json()["run_id"]

    return wait_until(start, 120, "the ETL to accept /regen_data")


def served_run(retrieval: str, run_id: str) -> bool:
    """True once data_retrieval serves the run as complete (data_storage has written it)."""
    response = requests.get(
        f"{retrieval}/metrics/forecasting/cpuLoad", params={"run": run_id}, timeout=10
    )
    if response.status_code != 200:
        return False
    body = response.json()
    return bool(body["count"]) and body["runs"][0]["status"] == "complete"


def prometheus_instant(url: str, promql: str, at: float) -> float:
    response = requests.get(f"{url}/api/v1/query", params={"query": promql, "time": at}, timeout=10)
    response.raise_for_status()
    (result,) = response.json()["data"]["result"]
    return float(result["value"][1])


@pytest.fixture(scope="module")
def cpu_sla(stack_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Data of a fresh run, and an SLA on cpuLoad (max 60) assessed now; retired afterwards."""
    run_id = run_etl(stack_env["ETL_URL"])
    wait_until(lambda: served_run(stack_env["RETRIEVAL_URL"], run_id), 60,
               f"data_retrieval to serve run {run_id}")  # fmt: skip
    sla_url = stack_env["SLA_URL"]
    body = {
        "name": f"dashboard-test-{uuid.uuid4().hex[:8]}",
        "objective": 99,
        "metrics": [{"metric": "cpuLoad", "labels": LABELS, "min": 0, "max": SLA_MAX}],
    }
    created = requests.post(f"{sla_url}/SLA", json=body, timeout=30)
    assert created.status_code == 201, created.text
    sla = created.json()
    try:
        assessed = requests.get(f"{sla_url}/assess_Violations", params={"sla": sla["id"]},
                                timeout=60)  # fmt: skip
        assert assessed.status_code == 200, assessed.text
        yield {"sla": sla, "assessment": assessed.json()["slas"][0], "run_id": run_id}
    finally:
        requests.delete(f"{sla_url}/SLA/{sla['id']}", timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


def test_dashboard_draws_samples_forecast_sla_and_timings(
    stack_env: dict[str, str], cpu_sla: dict[str, Any], browser: Any
) -> None:
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    page.goto(f"{stack_env['RETRIEVAL_URL']}/dashboard", wait_until="load")
    page.wait_for_selector("body[data-state=ready]", timeout=30_000)
    # The default series is the first with forecasts; pick cpuLoad from the list like an operator.
    cpu_id = series_id("cpuLoad", LABELS)
    assert page.locator(f"#series-select option[value='{cpu_id}']").count() == 1
    page.select_option("#series-select", cpu_id)
    page.wait_for_function(
        "id => document.body.dataset.state === 'ready'"
        " && document.querySelector('#series-title').textContent.startsWith('cpuLoad')",
        arg=cpu_id,
        timeout=30_000,
    )
    chart = page.locator("#series-chart")
    end = float(chart.get_attribute("data-end"))
    assert float(chart.get_attribute("data-start")) == end - 3600

    # Samples: every sample of the last hour at 15 s, as Prometheus counts them at that end.
    expected_samples = prometheus_instant(
        stack_env["PROMETHEUS_URL"], f"count_over_time({CPU}[1h:15s])", end
    )
    assert int(chart.locator("path.samples-line").get_attribute("data-points")) == expected_samples
    assert expected_samples == 241

    # Forecast: its mean continues the samples, with both intervals.
    assert int(chart.locator("polyline.forecast-line").get_attribute("data-points")) >= 1
    assert chart.locator("polygon.band-95").count() == 1
    assert chart.locator("polygon.band-80").count() == 1

    # SLA band, and one marker per sample above 60 (Prometheus' own count on the same range).
    assert chart.locator("rect.sla-band").count() == 1
    above = prometheus_instant(
        stack_env["PROMETHEUS_URL"], f"count_over_time(({CPU} > {SLA_MAX})[1h:15s])", end
    )
    assert above >= 1
    assert chart.locator("circle.violation").count() == above
    # Predicted: every forecast minute the SLA manager assessed, one marker each (our SLA's;
    # other current SLAs on cpuLoad add their own).
    (series,) = cpu_sla["assessment"]["metrics"][0]["series"]
    minutes = series["prediction"]["minutes"]
    assert len(minutes) == 10
    assert chart.locator("circle.predicted").count() >= len(minutes)
    assert cpu_sla["sla"]["name"] in page.locator("#sla-panel").inner_text()
    # Its error budget: the period's budget left, beside the band and in the panel.
    left = series["budget"]["period_budget"]["budget_left"] * 100
    assert f"budget left {left:.1f} %" in (chart.text_content() or "")
    panel = page.locator("#sla-panel").inner_text()
    assert f"budget {left:.1f} % left of 99 % over 28d" in panel
    burn = series["budget"]["windows"]["12h"]["burn_rate"]
    assert f"{burn:.2f}×" in panel  # the windows table's burn column

    # Timings of the last run: a bar per stage and window, and per phase of the run.
    assert page.locator("#timings-chart rect.bar").count() >= 5 * 3
    assert page.locator("#phases-chart rect.bar").count() >= 5
    assert page.locator("#run-info").inner_text().startswith("run ")

    for error in ("#page-error", "#samples-error", "#forecast-error", "#sla-error",
                  "#timings-error"):  # fmt: skip
        assert page.locator(error).is_hidden(), page.locator(error).inner_text()
    # Readable on a laptop screen: nothing below the fold.
    assert page.evaluate("document.documentElement.scrollHeight") <= 768
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert problems == []
    page.close()


def test_dashboard_shows_the_error_text_when_prometheus_is_down(
    stack_env: dict[str, str], browser: Any, serve: Any
) -> None:
    """data_retrieval pointed at a port where no Prometheus listens: the samples route answers
    503 and the page shows that text over the chart; the MySQL panels still draw."""
    url = serve(
        "retrieval-no-prometheus",
        {
            "PROMETHEUS_URL": "http://127.0.0.1:1",
            "MYSQL_HOST": stack_env["MYSQL_HOST"],
            "MYSQL_PORT": stack_env["MYSQL_PORT"],
            "MYSQL_DATABASE": stack_env["MYSQL_DATABASE"],
            "MYSQL_USER": stack_env["DB_READER_USER"],
            "MYSQL_PASSWORD": stack_env["DB_READER_PASSWORD"],
        },
        app="data_retrieval:create_app()",
    )
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(f"{url}/dashboard", wait_until="load")
    page.wait_for_selector("body[data-state=ready]", timeout=30_000)
    error = page.locator("#samples-error")
    assert error.is_visible()
    assert error.inner_text().startswith("503 dependency_unavailable: Prometheus at")
    assert "Samples unavailable" in (page.locator("#series-chart").text_content() or "")
    assert page.locator("#timings-chart rect.bar").count() >= 1
    page.close()
