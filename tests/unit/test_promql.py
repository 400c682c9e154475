"""PromQL selectors and the step grid, checked by hand (the real parser: tests/integration)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitoring_core.promql import MAX_POINTS, align_end, is_metric_name, quote, selector


def test_a_value_escapes_backslash_quote_and_newline_and_keeps_non_ascii() -> None:
    # By hand, as Go's strconv.Unquote reads a double-quoted string: \ -> \\, " -> \", a
    # newline -> \n; the emoji stays one character (json.dumps wrote "\ud83d\ude00").
    assert quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    assert quote("caf\u00e9 \U0001f600") == '"caf\u00e9 \U0001f600"'
    assert quote("") == '""'


def test_a_selector_is_exact_name_first_then_sorted_labels() -> None:
    assert selector("cpuLoad", {"job": "summary", "instance": "106"}) == (
        '{__name__="cpuLoad", instance="106", job="summary"}'
    )
    # Upper case sorts before "__name__" in ASCII; the name stays first all the same.
    assert selector("m", {"Zone": "a"}) == '{__name__="m", Zone="a"}'
    assert selector("m", {}) == '{__name__="m"}'


def test_extra_matchers_go_in_as_they_are_after_the_name() -> None:
    assert selector("m", {"b": "x\U0001f600"}, extra=' job=~"a|b" ') == (
        '{__name__="m", job=~"a|b", b="x\U0001f600"}'
    )


def test_the_name_cannot_also_be_a_label() -> None:
    with pytest.raises(ValueError, match="__name__"):
        selector("m", {"__name__": "n"})


def test_align_end_floors_to_a_multiple_of_the_step() -> None:
    now = datetime(2026, 11, 29, 12, 0, 29, 999_000, tzinfo=UTC)
    assert align_end(now, 15) == datetime(2026, 11, 29, 12, 0, 15, tzinfo=UTC)
    assert align_end(datetime(2026, 11, 29, 12, 0, 15, tzinfo=UTC), 15).second == 15
    assert align_end(now, 60) == datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
    assert align_end(now, 15).tzinfo is UTC


def test_max_points_is_prometheus_own_limit() -> None:
    # Prometheus' API: "exceeded maximum resolution of 11,000 points per timeseries".
    assert MAX_POINTS == 11_000


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("cpuLoad", True),
        ("node:cpu_seconds:rate5m", True),  # recording-rule names: colons are Prometheus'
        ("_x", True),
        ("a" * 255, True),  # the width of series.metric and sla_metrics.metric
        ("a" * 256, False),
        ("9lives", False),
        ("cpu-load", False),
        ("", False),
        (None, False),
    ],
)
def test_one_metric_name_rule_prometheus_grammar_up_to_the_column_width(
    name: object, valid: bool
) -> None:
    assert is_metric_name(name) is valid
