"""SLA definitions: every validation case answers BadRequest with a reason; PromQL building."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from monitoring_core.promql_guard import PromQLLimits
from monitoring_core.web import BadRequest
from sla_manager.rules import build_selector, parse_sla
from sla_manager.settings import SLASettings

SELECTOR = '{job="summary", instance="106"}'


def sla(*metrics: dict, name: str = "web") -> dict:
    return {"name": name, "metrics": list(metrics)}


LIMITS = PromQLLimits(max_range=timedelta(hours=12), min_subquery_step=timedelta(seconds=15))


def parse(body: object, max_metrics: int = 5):
    return parse_sla(body, SELECTOR, max_metrics, LIMITS)


def test_a_metric_with_both_bounds_becomes_the_selector_plus_its_labels() -> None:
    parsed = parse(sla({"metric": "cpuLoad", "labels": {"core": "0"}, "min": 1, "max": 60}))
    (metric,) = parsed.metrics
    assert metric.promql == '{__name__="cpuLoad", job="summary", instance="106", core="0"}'
    assert (metric.name, metric.min, metric.max) == ("cpuLoad", 1.0, 60.0)


def test_one_bound_is_enough_and_an_expression_may_replace_the_metric() -> None:
    parsed = parse(
        sla(
            {"metric": "cpuTemp", "max": 90},
            {"expression": " rate(x[5m]) ", "name": "x rate", "min": 0},
        )
    )
    assert (parsed.metrics[0].min, parsed.metrics[0].max) == (None, 90.0)
    # Stored as the user wrote it; queried as the guard renders it, inside the selector.
    assert parsed.metrics[1].expression == "rate(x[5m])"
    assert parsed.metrics[1].promql == ('rate({__name__="x", job="summary", instance="106"}[300s])')
    assert parsed.metrics[1].name == "x rate"


def test_label_values_are_escaped_as_promql_strings() -> None:
    # Hand check: PromQL double-quoted strings escape " and \ (and a newline); an emoji
    # stays itself (json.dumps wrote the surrogate pair "\ud83d\ude00", which PromQL rejects).
    assert build_selector("{}", "m", {"a": 'x"y\\z'}) == '{__name__="m", a="x\\"y\\\\z"}'
    assert build_selector("", "m", {}) == '{__name__="m"}'
    assert build_selector("", "m", {"a": "\U0001f600"}) == '{__name__="m", a="\U0001f600"}'
    assert "\\u" not in build_selector(SELECTOR, "m", {"a": "\U0001f600"})


def test_a_label_value_with_a_lone_surrogate_is_rejected() -> None:
    # JSON "\ud83d" alone decodes to a lone surrogate, which no UTF-8 request can carry.
    body = sla({"metric": "m", "labels": {"a": "\ud83d"}, "max": 1})
    with pytest.raises(BadRequest, match="not valid Unicode"):
        parse(body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "JSON object"),
        ({"metrics": [{"metric": "m", "max": 1}]}, "'name'"),
        (sla({"metric": "m", "max": 1}, name=""), "'name'"),
        ({"name": "x", "metrics": [], "extra": 1}, "unknown fields"),
        (sla(), "non-empty list"),
        (sla(*[{"metric": f"m{i}", "max": 1} for i in range(6)]), "too many metrics: 6"),
        (sla({"metric": "m", "min": 5, "max": 5}), "must be below"),
        (sla({"metric": "m", "min": 6, "max": 5}), "must be below"),
        (sla({"metric": "m", "min": math.nan}), "finite"),
        (sla({"metric": "m", "max": math.inf}), "finite"),
        (sla({"metric": "m"}), "at least one bound"),
        (sla({"metric": "m", "min": None, "max": None}), "at least one bound"),
        (sla({"metric": "m", "max": "10"}), "must be a number"),
        (sla({"metric": "m", "max": True}), "must be a number"),
        (sla({"metric": "bad name", "max": 1}), "metric name"),
        (sla({"metric": "m", "labels": {"__name__": "x"}, "max": 1}), "label name"),
        (sla({"metric": "m", "labels": {"a": 1}, "max": 1}), "must be a string"),
        (sla({"metric": "m", "labels": ["a"], "max": 1}), "object of label"),
        (sla({"max": 1}), "exactly one of"),
        (sla({"metric": "m", "expression": "m", "max": 1}), "exactly one of"),
        (sla({"expression": "  ", "max": 1}), "non-empty"),
        (sla({"expression": "x" * 2001, "max": 1}), "longer than"),
        (sla({"expression": "x" * 201, "max": 1}), "needs a 'name'"),
        (sla({"expression": "x", "name": "", "max": 1}), "1-200 characters"),
        (sla({"expression": "m", "labels": {}, "max": 1}), "inside the expression"),
        (sla({"metric": "m", "max": 1, "colour": "red"}), "unknown fields"),
        (sla({"metric": "m", "max": 1}, {"metric": "m", "min": 0}), "unique"),
        (sla("cpuLoad"), "must be an object"),
        ({**sla({"metric": "m", "max": 1}), "horizon_minutes": 0}, "from 1 to 60, got 0"),
        ({**sla({"metric": "m", "max": 1}), "horizon_minutes": 61}, "from 1 to 60, got 61"),
        ({**sla({"metric": "m", "max": 1}), "horizon_minutes": 1.5}, "whole number"),
        ({**sla({"metric": "m", "max": 1}), "horizon_minutes": "30"}, "whole number"),
        ({**sla({"metric": "m", "max": 1}), "horizon_minutes": True}, "whole number"),
    ],
)
def test_every_invalid_definition_is_rejected_with_its_reason(body: object, reason: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse(body)
    assert reason in caught.value.reason
    assert caught.value.status == 400


def test_an_sla_may_set_its_own_horizon_of_1_to_60_minutes() -> None:
    assert parse(sla({"metric": "m", "max": 1})).horizon_minutes is None  # the default
    for minutes in (1, 30, 60):
        body = {**sla({"metric": "m", "max": 1}), "horizon_minutes": minutes}
        assert parse(body).horizon_minutes == minutes


def test_the_metric_limit_is_a_setting() -> None:
    six = sla(*[{"metric": f"m{i}", "max": 1} for i in range(6)])
    assert len(parse(six, max_metrics=6).metrics) == 6


def test_windows_come_from_a_comma_list_sorted_by_length(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLA_WINDOWS", "12h, 30m,1h")
    assert SLASettings().windows == ("30m", "1h", "12h")
    monkeypatch.setenv("SLA_WINDOWS", "1 hour")
    with pytest.raises(ValueError, match="not a duration"):
        SLASettings()
