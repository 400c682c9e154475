"""Objectives, error budgets, OpenSLO and generated rules against the real Prometheus (demo
data) and MariaDB (the sla role, schema with sql/005).

Oracles: the assessment's own window counts, Prometheus itself (the generated recording
rules' expressions and ``count_over_time`` / ``sum_over_time`` evaluated at the assessment's
aligned window end), ``promtool check rules`` on the served rule files, and the OpenSLO round
trip through the database.
"""

from __future__ import annotations

import subprocess
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitoring_core.prometheus import PrometheusClient
from sla_manager import create_app
from sla_manager.bootstrap import bootstrap
from sla_manager.budget import outside_promql
from sla_manager.settings import SLASettings

pytestmark = pytest.mark.integration

CPU = {"metric": "cpuLoad", "min": 30, "max": 60}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def app_factory(prometheus_settings, mysql_role):  # noqa: ANN001, ANN201
    def build():  # noqa: ANN202
        return create_app(
            bootstrap(
                SLASettings(assessment_interval_seconds=0), prometheus_settings, mysql_role("sla")
            )
        )

    return build


@pytest.fixture(scope="module")
def client(app_factory, admin):  # noqa: ANN001, ANN201
    return admin(app_factory().test_client())  # defines and assesses: the admin's token


def instant(prometheus: PrometheusClient, promql: str, at: float) -> float:
    result = prometheus._call("custom_query", query=promql, params={"time": at})
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else 0.0


def test_objective_is_stored_and_read_back_after_a_restart(app_factory, client) -> None:  # noqa: ANN001
    name = unique("slo")
    made = client.post(
        "/SLA", json={"name": name, "objective": 99.5, "period": "4w", "metrics": [CPU]}
    )
    assert made.status_code == 201, made.get_json()
    assert (made.get_json()["objective"], made.get_json()["period"]) == (99.5, "28d")
    again = app_factory().test_client().get(f"/SLA/{made.get_json()['id']}").get_json()
    assert (again["objective"], again["period"]) == (99.5, "28d")
    plain = client.post("/SLA", json={"name": unique("plain"), "metrics": [CPU]}).get_json()
    assert (plain["objective"], plain["period"]) == (None, None)


def test_budget_figures_follow_the_assessment_and_prometheus(client, prometheus_settings) -> None:  # noqa: ANN001
    """Per window the budget is the assessment's own counts; the burn-rate windows are counted
    the same way (1h equals the assessment's 1h); all of them agree with Prometheus' own raw
    samples of the window (a range selector at its end, within two samples: the assessment's
    end is a step boundary read a moment apart), and the period is Prometheus' count on the
    budget's 60 s grid (budget.period_step), as the period figure is defined."""
    sla = client.post(
        "/SLA", json={"name": unique("budget"), "objective": 99, "metrics": [CPU]}
    ).get_json()
    (result,) = client.get(f"/assess_Violations?sla={sla['id']}").get_json()["slas"]
    assert result["objective"] == {"objective": 99.0, "period": "28d"}
    (series,) = result["metrics"][0]["series"]
    budget = series["budget"]
    allowed = 0.01 * 28 * 86400  # seconds of violation the 28d budget holds
    for window, counted in series["windows"].items():
        figures = budget["windows"][window]
        assert (figures["samples"], figures["samples_outside"]) == (
            counted["samples"],
            counted["samples_outside"],
        )
        assert figures["budget_consumed"] == pytest.approx(counted["seconds_outside"] / allowed)
        ratio = counted["samples_outside"] / counted["samples"]
        assert figures["burn_rate"] == pytest.approx(ratio / 0.01)
    assert budget["burn_rates"]["1h"] == budget["windows"]["1h"]
    end = datetime.fromisoformat(result["window_end"]).timestamp()
    prometheus = PrometheusClient(prometheus_settings)
    promql = sla["metrics"][0]["promql"]
    outside = outside_promql(promql, 30, 60)
    for window, figures in {**budget["burn_rates"], **budget["windows"]}.items():
        # Prometheus' raw samples of the window (a range selector at its end), counted here.
        (answer,) = prometheus._call(
            "custom_query", query=f"{promql}[{window}]", params={"time": end}
        )
        values = [float(v) for _, v in answer["values"]]
        samples, bad = len(values), sum(v < 30 or v > 60 for v in values)
        assert abs(figures["samples"] - samples) <= 2, window
        assert abs(figures["samples_outside"] - bad) <= 2, window
    period = budget["period_budget"]  # 28d at 60 s (budget.period_step)
    assert period["samples"] == instant(prometheus, f"count_over_time(({promql})[28d:60s])", end)
    bad = instant(prometheus, f"sum_over_time(({outside})[28d:60s])", end)
    assert period["samples_outside"] == bad
    assert period["budget_consumed"] == pytest.approx(bad * 60 / allowed)


def test_recording_rule_expressions_give_the_assessed_ratios(client, prometheus_settings) -> None:  # noqa: ANN001
    """The generated slo:sli_error:ratio_rate<w> expressions, evaluated by Prometheus at the
    assessment's aligned end, give the assessment's error ratios: the same samples while the
    assessment reads the step grid; within two samples' share where it reads raw samples."""
    sla = client.post(
        "/SLA", json={"name": unique("rules"), "objective": 99, "metrics": [CPU]}
    ).get_json()
    (result,) = client.get(f"/assess_Violations?sla={sla['id']}").get_json()["slas"]
    (series,) = result["metrics"][0]["series"]
    end = datetime.fromisoformat(result["window_end"]).timestamp()
    rules = yaml.safe_load(client.get(f"/SLA/{sla['id']}/rules").get_data(as_text=True))
    records = {
        rule["labels"]["window"]: rule["expr"]
        for group in rules["groups"]
        for rule in group["rules"]
        if rule.get("record", "").startswith("slo:sli_error:ratio_rate")
        and "[" in rule["expr"]
        and "slo:" not in rule["expr"]
    }
    prometheus = PrometheusClient(prometheus_settings)
    expected = {**series["budget"]["burn_rates"], **series["budget"]["windows"]}
    for window, figures in expected.items():
        recorded = instant(prometheus, records[window], end)
        assert abs(recorded - figures["error_ratio"]) <= 2 / figures["samples"], window


def test_served_rule_files_pass_promtool(client, tmp_path: Path) -> None:  # noqa: ANN001
    made = client.post(
        "/SLA",
        json={
            "name": unique("promtool"),
            "objective": 99.9,
            "period": "30d",
            "metrics": [CPU, {"expression": "availableMem / 1e9", "name": "GB", "min": 1}],
        },
    ).get_json()
    for path in (f"/SLA/{made['id']}/rules", "/rules"):
        answer = client.get(path)
        assert answer.status_code == 200 and answer.mimetype == "application/yaml"
        target = tmp_path / f"{path.strip('/').replace('/', '_')}.yml"
        target.write_text(answer.get_data(as_text=True))
        checked = subprocess.run(
            ["promtool", "check", "rules", str(target)], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
    assert client.get("/SLA/999999999999/rules").status_code == 404


def test_openslo_round_trip_through_the_database(client) -> None:  # noqa: ANN001
    name = unique("openslo")
    document = {
        "apiVersion": "openslo/v1",
        "kind": "SLO",
        "metadata": {"name": name},
        "spec": {
            "budgetingMethod": "Occurrences",
            "timeWindow": [{"duration": "28d", "isRolling": True}],
            "objectives": [
                {"op": "gte", "value": 30, "target": 0.995, "indicator": _indicator("cpuLoad")},
                {"op": "lte", "value": 60, "target": 0.995, "indicator": _indicator("cpuLoad")},
            ],
        },
    }
    first = client.post("/SLA", data=yaml.safe_dump(document), content_type="application/yaml")
    assert first.status_code == 201, first.get_json()
    exported = client.get(f"/SLA/{first.get_json()['id']}?format=openslo")
    assert exported.mimetype == "application/yaml"
    second = client.post("/SLA", data=exported.get_data(), content_type="application/yaml")
    assert second.status_code == 201, second.get_json()

    def same(sla: dict[str, Any]) -> tuple[Any, ...]:
        return sla["name"], sla["metrics"], sla["objective"], sla["period"]

    assert same(second.get_json()) == same(first.get_json())
    assert second.get_json()["version"] == first.get_json()["version"] + 1
    # JSON with apiVersion/kind is OpenSLO too
    third = client.post("/SLA", json=yaml.safe_load(exported.get_data(as_text=True)))
    assert third.status_code == 201 and same(third.get_json()) == same(first.get_json())


def _indicator(metric: str) -> dict[str, Any]:
    return {
        "metadata": {"name": metric},
        "spec": {
            "thresholdMetric": {"metricSource": {"type": "Prometheus", "spec": {"metric": metric}}}
        },
    }


def test_an_expression_prometheus_cannot_put_in_a_rule_answers_400(client) -> None:  # noqa: ANN001
    # time() is a scalar: a subquery over it does not parse, so neither the assessments' read
    # (refused first, by the same read) nor a rule (one such rule would stop Prometheus from
    # loading the whole rule file) can use it.
    answer = client.post(
        "/SLA",
        json={"name": unique("scalar"), "metrics": [{"expression": "time() / 1e9", "max": 5}]},
    )
    assert answer.status_code == 400
    assert "subquery is only allowed on instant vector" in answer.get_json()["reason"]
    rules = client.get("/rules").get_data(as_text=True)
    assert "time() / 1e9" not in rules
    assert "subquery is only allowed on instant vector" in answer.get_json()["reason"]


OPENSLO = Path(__file__).resolve().parents[1] / "data" / "openslo" / "accepted"
SHARE_MIN = 0.39  # about the demo host's median share of memory available: both sides occur


def raw_values(prometheus: PrometheusClient, selector: str, at: float) -> dict[float, float]:
    """Prometheus' raw samples of ``selector[1h]`` at ``at``, by timestamp."""
    (answer,) = prometheus._call("custom_query", query=f"{selector}[1h]", params={"time": at})
    return {float(t): float(v) for t, v in answer["values"]}


def test_openslo_ratio_metric_is_assessed_as_its_ratio(client, prometheus_settings) -> None:  # noqa: ANN001
    """A ratioMetric (bad/total of the demo host's memory gauges, counter: false) is assessed
    as its ratio: the 1h window's samples and samples below the bound are those of the ratio
    computed here from Prometheus' raw samples of the two gauges (scraped together, so paired
    by timestamp), within two samples (the assessment reads the expression on the step grid);
    export then import gives the same SLA."""
    document = yaml.safe_load((OPENSLO / "ratio-bad-total-gauges.yaml").read_text())
    document["metadata"]["name"] = unique("ratio")
    document["spec"]["objectives"][0]["value"] = SHARE_MIN
    first = client.post("/SLA", data=yaml.safe_dump(document), content_type="application/yaml")
    assert first.status_code == 201, first.get_json()
    sla = first.get_json()
    (metric,) = sla["metrics"]
    assert (metric["min"], metric["max"], sla["objective"]) == (SHARE_MIN, None, 95.0)
    (result,) = client.get(f"/assess_Violations?sla={sla['id']}").get_json()["slas"]
    (series,) = result["metrics"][0]["series"]
    window = series["windows"]["1h"]

    end = datetime.fromisoformat(result["window_end"]).timestamp()
    prometheus = PrometheusClient(prometheus_settings)
    used = raw_values(prometheus, 'realUsedMem{job="summary", instance="106"}', end)
    available = raw_values(prometheus, 'availableMem{job="summary", instance="106"}', end)
    shares = [1 - used[t] / (used[t] + available[t]) for t in sorted(used) if t in available]
    below = sum(share < SHARE_MIN for share in shares)
    assert len(shares) >= 200 and 0 < below < len(shares)  # both sides of the bound occur
    assert abs(window["samples"] - len(shares)) <= 2
    assert abs(window["samples_outside"] - below) <= 2

    exported = client.get(f"/SLA/{sla['id']}?format=openslo")
    indicator = yaml.safe_load(exported.get_data(as_text=True))["spec"]["indicator"]
    assert (
        indicator["spec"]["thresholdMetric"]["metricSource"]["spec"]["query"]
        == (metric["expression"])
    )
    again = client.post("/SLA", data=exported.get_data(), content_type="application/yaml")
    assert again.status_code == 201, again.get_json()
    assert [again.get_json()[k] for k in ("metrics", "objective", "period")] == [
        sla[k] for k in ("metrics", "objective", "period")
    ]


def test_openslo_ratio_of_counters_reads_their_rates(client, prometheus_settings) -> None:  # noqa: ANN001
    """counter: true on the demo's one ever-increasing series (push_time_seconds, one second
    per second) over itself: the ratio of the two 5m rates is 1 wherever Prometheus has the
    rate, so every 1h sample is in range of the target 0.99, and there is one per raw sample of
    the series (within two: the step grid)."""
    document = yaml.safe_load((OPENSLO / "ratio-good-total-counters.yaml").read_text())
    document["metadata"]["name"] = unique("counters")
    ratio = document["spec"]["indicator"]["spec"]["ratioMetric"]
    for part in ("good", "total"):
        ratio[part]["metricSource"]["spec"]["query"] = "push_time_seconds"
    made = client.post("/SLA", json=document)
    assert made.status_code == 201, made.get_json()
    (metric,) = made.get_json()["metrics"]
    assert metric["promql"].count("rate(") == 2 and metric["min"] == 0.99
    (result,) = client.get(f"/assess_Violations?sla={made.get_json()['id']}").get_json()["slas"]
    (series,) = result["metrics"][0]["series"]
    end = datetime.fromisoformat(result["window_end"]).timestamp()
    prometheus = PrometheusClient(prometheus_settings)
    raw = raw_values(prometheus, 'push_time_seconds{job="summary", instance="106"}', end)
    assert abs(series["windows"]["1h"]["samples"] - len(raw)) <= 2
    assert series["windows"]["1h"]["samples_outside"] == 0
