"""Rule files generated from SLAs (sla_manager/rulegen.py), checked by Prometheus' own tools.

The oracle is Debian's ``promtool``: ``check rules`` for the syntax and semantics of every
generated file, and ``test rules`` (Prometheus' rule engine on synthetic series) for what
fires when. The scenario is the demo's: cpuLoad in [10, 80] with a 99 % objective over 28d;
the forecast gauge rises while the value is still in range, then the value leaves the range.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sla_manager.rulegen import rule_file
from sla_manager.rules import SLADefinition, parse_sla

from .test_sla_rules import LIMITS

SELECTOR = '{job="summary", instance="106"}'
WINDOWS = ["1h", "3h", "12h"]
CPU = '{__name__="cpuLoad", job="summary", instance="106"}'


@pytest.fixture(autouse=True)
def _promtool() -> None:
    # Debian's prometheus package brings promtool (`make up` installs it): never skipped.
    if shutil.which("promtool") is None:
        pytest.fail("promtool is missing: `make up` installs Debian's prometheus package")


def sla(body: dict) -> SLADefinition:
    return parse_sla(body, SELECTOR, 5, LIMITS, longest_window_seconds=12 * 3600)


# The SLAs of the README and of docs/sla_manager.md, with and without objectives.
DEMO_SLAS = [
    {
        "name": "readme-web",
        "objective": 99,
        "period": "28d",
        "metrics": [
            {"metric": "cpuLoad", "min": 10, "max": 80},
            {"expression": "availableMem / 1e9", "name": "available GB", "min": 4},
        ],
    },
    {
        "name": "web",
        "metrics": [
            {"metric": "cpuLoad", "min": 10, "max": 80},
            {"metric": "cpuTemp", "labels": {"instance": "106"}, "max": 75},
            {"expression": "availableMem / 1e9", "name": "available GB", "min": 4},
        ],
    },
    # A period shorter than the slow alert windows: those pairs are left out.
    {
        "name": "short period",
        "objective": 99.9,
        "period": "12h",
        "metrics": [{"metric": "diskUsage", "max": 90}],
    },
]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120)


def write_rules(tmp_path: Path, definitions: list[SLADefinition]) -> Path:
    path = tmp_path / "sla.rules.yml"
    path.write_text(rule_file(definitions, WINDOWS, 15, 0.5))
    return path


@pytest.mark.parametrize("body", DEMO_SLAS, ids=[b["name"] for b in DEMO_SLAS])
def test_each_demo_sla_passes_promtool_check(tmp_path: Path, body: dict) -> None:
    checked = promtool("check", "rules", str(write_rules(tmp_path, [sla(body)])))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_all_demo_slas_in_one_file(tmp_path: Path) -> None:
    path = write_rules(tmp_path, [sla(body) for body in DEMO_SLAS])
    checked = promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    groups = yaml.safe_load(path.read_text())["groups"]
    names = [group["name"] for group in groups]
    assert len(names) == len(set(names))
    alerts = {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}
    assert alerts == {"SLAErrorBudgetBurn", "SLAOutOfRange", "SLAViolationForecast"}
    short = [g for g in groups if g["name"] == "sla-short period-alerts"][0]["rules"]
    burn = [r for r in short if r["alert"] == "SLAErrorBudgetBurn"]
    # 12h period: the 1d and 3d long windows exceed it; the page pairs (1h, 6h) remain.
    assert [r["labels"]["severity"] for r in burn] == ["page"]


def test_no_objective_no_burn_alerts(tmp_path: Path) -> None:
    path = write_rules(tmp_path, [sla(DEMO_SLAS[1])])
    rules = [r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]
    assert not [r for r in rules if r.get("alert") == "SLAErrorBudgetBurn"]
    assert not [r for r in rules if r.get("record", "").startswith("slo:objective")]


FORECAST_LABELS = {
    "sla": "readme-web",
    "metric": "cpuLoad",
    "series": "instance=106,job=summary",
    "series_id": "460bb3618db99230",
    "job": "sla_manager",
    "instance": "127.0.0.1:5002",
}


def alert(name: str, labels: dict[str, str], annotations: dict[str, str]) -> dict:
    return {"exp_labels": labels, "exp_annotations": annotations}


def burn(severity: str, pairs: str) -> dict:
    return alert(
        "SLAErrorBudgetBurn",
        {
            "sla": "readme-web",
            "metric": "cpuLoad",
            "severity": severity,
            "job": "summary",
            "instance": "106",
        },
        {
            "summary": f"SLA readme-web: cpuLoad burns its error budget too fast ({severity})",
            "description": "SLA readme-web, cpuLoad on instance=106,job=summary: over "
            f"{pairs} the error ratio exceeds the burn factor times 0.01 "
            "(objective 99 % over 28d).",
        },
    )


def test_alerts_fire_in_order_forecast_then_fast_burn(tmp_path: Path) -> None:
    """15 s samples: cpuLoad 50 for 1 h, then 95 (above 80); the forecast probability 0.1,
    then 0.8 from 55m, while the value is still in range."""
    rules = write_rules(tmp_path, [sla(DEMO_SLAS[0])])
    forecast = alert(
        "SLAViolationForecast",
        {**FORECAST_LABELS, "severity": "page"},
        {
            "summary": "SLA readme-web: cpuLoad is forecast to leave its range",
            "description": "SLA readme-web, cpuLoad on instance=106,job=summary: the forecast puts "
            "the probability of being outside [10, 80] within the horizon at 80%.",
        },
    )
    page = burn("page", "5m/1h and 30m/6h")
    ticket = burn("ticket", "2h/1d and 6h/3d")
    out_of_range = alert(
        "SLAOutOfRange",
        {"sla": "readme-web", "metric": "cpuLoad", "severity": "ticket"}
        | {"job": "summary", "instance": "106"},
        {
            "summary": "SLA readme-web: cpuLoad is outside its range now",
            "description": "SLA readme-web, cpuLoad on instance=106,job=summary: the latest "
            "sample is outside [10, 80].",
        },
    )

    def at(time: str, name: str, expected: list[dict]) -> dict:
        return {"eval_time": time, "alertname": name, "exp_alerts": expected}

    probability = ",".join(f'{k}="{v}"' for k, v in FORECAST_LABELS.items())
    tests = {
        "rule_files": [rules.name],
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": [
                    # samples 0..239 (t < 1h) at 50, then 81 samples at 95
                    {"series": 'cpuLoad{job="summary",instance="106"}', "values": "50x239 95x80"},
                    {"series": 'availableMem{job="summary",instance="106"}', "values": "8e9x320"},
                    {
                        "series": f"sla_predicted_violation_probability{{{probability}}}",
                        "values": "0.1x219 0.8x100",
                    },
                ],
                "alert_rule_test": [
                    # in range, forecast calm: nothing
                    at("50m", "SLAViolationForecast", []),
                    at("50m", "SLAErrorBudgetBurn", []),
                    # still in range, the forecast says it will not stay: the early page
                    at("55m", "SLAViolationForecast", [forecast]),
                    at("55m", "SLAErrorBudgetBurn", []),
                    at("55m", "SLAOutOfRange", []),
                    at("1h05m", "SLAOutOfRange", [out_of_range]),
                    # 15 minutes out: the 5m and 1h error ratios (1 and 61/241) exceed
                    # 13.44 * 0.01: the fast burn pages; the slow pairs open a ticket
                    at("1h15m", "SLAErrorBudgetBurn", [page, ticket]),
                ],
                "promql_expr_test": [
                    {
                        # 1h of 241 samples at 15 s (both ends, as the assessment counts),
                        # 61 of them (1h00m to 1h15m) outside
                        "expr": 'slo:sli_error:ratio_rate1h{sla="readme-web",metric="cpuLoad"}',
                        "eval_time": "1h15m",
                        "exp_samples": [
                            {
                                "labels": 'slo:sli_error:ratio_rate1h{sla="readme-web",'
                                'metric="cpuLoad",window="1h",job="summary",instance="106"}',
                                "value": 61 / 241,
                            }
                        ],
                    },
                    {
                        "expr": 'slo:current_burn_rate:ratio{metric="cpuLoad"}',
                        "eval_time": "1h15m",
                        "exp_samples": [
                            {
                                "labels": 'slo:current_burn_rate:ratio{sla="readme-web",'
                                'metric="cpuLoad",job="summary",instance="106"}',
                                "value": 100,
                            }
                        ],
                    },
                ],
            }
        ],
    }
    test_file = tmp_path / "sla.rules.test.yml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    tested = promtool("test", "rules", str(test_file))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_rule_problem_asks_prometheus_once_per_expression() -> None:
    from monitoring_core.prometheus import PrometheusQueryError
    from sla_manager.rulegen import rule_problem

    asked: list[str] = []

    def query(promql: str) -> None:
        asked.append(promql)
        if "time()" in promql:
            raise PrometheusQueryError("subquery is only allowed on instant vector, got scalar")

    good = sla(DEMO_SLAS[0])
    bad = sla({"name": "t", "metrics": [{"expression": "time()", "name": "now", "max": 1}]})
    seen: dict[str, str | None] = {}
    assert rule_problem(good, query, seen) is None
    problem = rule_problem(bad, query, seen)
    assert problem is not None and problem.startswith("now: Prometheus cannot use it")
    assert rule_problem(bad, query, seen) == problem
    assert rule_problem(good, query, seen) is None
    assert len(asked) == 3  # two metrics of the good SLA, one of the bad, each once


def test_awkward_metric_names_stay_literal(tmp_path: Path) -> None:
    # Alert labels and annotations are Go templates; PromQL strings need escapes.
    name = 'load {{ $value }} "quoted" \\ back ü'
    body = {
        "name": "awkward",
        "objective": 99,
        "metrics": [{"metric": "cpuLoad", "name": name, "max": 80}],
    }
    path = write_rules(tmp_path, [sla(body)])
    checked = promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tests = {
        "rule_files": [path.name],
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": [
                    {"series": 'cpuLoad{job="summary",instance="106"}', "values": "95x40"}
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "5m",
                        "alertname": "SLAOutOfRange",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "sla": "awkward",
                                    "metric": name,
                                    "severity": "ticket",
                                    "job": "summary",
                                    "instance": "106",
                                },
                                "exp_annotations": {
                                    "summary": f"SLA awkward: {name} is outside its range now",
                                    "description": f"SLA awkward, {name} on "
                                    "instance=106,job=summary: the latest sample is outside <= 80.",
                                },
                            }
                        ],
                    }
                ],
            }
        ],
    }
    test_file = tmp_path / "awkward.test.yml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False, allow_unicode=True))
    tested = promtool("test", "rules", str(test_file))
    assert tested.returncode == 0, tested.stdout + tested.stderr
