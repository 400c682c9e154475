"""The PromQL guard: what it refuses and why, and what it sends (checked by hand against
Prometheus' grammar; tests/e2e/test_attacks.py sends the same cases through the SLA manager)."""

from __future__ import annotations

from datetime import timedelta

import promql_parser
import pytest

from monitoring_core.promql_guard import (
    PromQLLimits,
    UnsafePromQL,
    check_expression,
    check_named_expressions,
    limits_for,
    selector_matchers,
)
from monitoring_core.settings import PrometheusSettings, PromQLSettings

SELECTOR = '{job="summary", instance="106"}'
LIMITS = PromQLLimits(max_range=timedelta(hours=12), min_subquery_step=timedelta(seconds=15))
IN = 'job="summary", instance="106"'
X, A, B, C = (f'{{__name__="{name}", {IN}}}' for name in "xabc")


def check(text: str, limits: PromQLLimits = LIMITS) -> str:
    return check_expression(text, SELECTOR, limits)


@pytest.mark.parametrize(
    ("text", "sent"),
    [
        ("cpuLoad", f'{{__name__="cpuLoad", {IN}}}'),
        ("availableMem / 1e9", f'{{__name__="availableMem", {IN}}} / 1000000000.0'),
        ("rate(x[5m])", f'rate({{__name__="x", {IN}}}[300s])'),
        # The subquery keeps its colon (promql-parser's own printer writes x[5m]).
        ("max_over_time(x[1h:])", f'max_over_time({{__name__="x", {IN}}}[3600s:])'),
        ("max_over_time(x[1h:1m] offset 5m)", f"max_over_time({X}[3600s:60s] offset 300s)"),
        ('x{job="summary"}', f'{{__name__="x", {IN}}}'),
        # A regex on a confined label is kept and the exact matcher added: both must hold.
        ('x{job=~"s.*"}', f'{{__name__="x", job=~"s.*", {IN}}}'),
        ('{__name__="x", core="0"}', f'{{__name__="x", core="0", {IN}}}'),
        ("sum by (core) (x) > bool 3", f'sum by (core) ({{__name__="x", {IN}}}) > bool 3.0'),
        ("a * on() group_left(z) b", f"{A} * on () group_left (z) {B}"),
        ("a / ignoring(z) b", f'{{__name__="a", {IN}}} / ignoring (z) {{__name__="b", {IN}}}'),
        # Operands are parenthesised as the parser grouped them.
        ("-x ^ 2", f'-({{__name__="x", {IN}}} ^ 2.0)'),
        ("a - (b - c)", f"{A} - ({B} - {C})"),
        ("topk(3, x)", f'topk (3.0, {{__name__="x", {IN}}})'),
        ("vector(time())", "vector(time())"),
        ("x > Inf", f'{{__name__="x", {IN}}} > Inf'),
    ],
)
def test_accepted_expressions_are_sent_inside_the_selector(text: str, sent: str) -> None:
    assert check(text) == sent
    # What is sent parses again, to the same text (the rendering is stable).
    assert check(sent) == sent


def test_label_values_with_quotes_backslashes_newlines_and_emoji_are_escaped() -> None:
    # Hand check: PromQL unquotes as Go does; \\ and \" and \n are the escapes, the emoji stays.
    sent = check('x{core="a\\"b\\\\c\\nd\U0001f600"}')
    assert sent == f'{{__name__="x", core="a\\"b\\\\c\\nd\U0001f600", {IN}}}'
    (matcher,) = [m for m in promql_parser.parse(sent).matchers.matchers if m.name == "core"]
    assert matcher.value == 'a"b\\c\nd\U0001f600'


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{__name__=~".+"}', "may only be matched exactly"),
        ('{core="1", __name__!~"y"}', "may only be matched exactly"),
        ('{__name__!="x"}', "does not parse"),  # the parser itself refuses these two
        ('x{__name__=~"x.*"}', "does not parse"),
        ('{job="summary"}', "needs a metric name"),
        ('count by (__name__) ({job=~".+"})', "needs a metric name"),
        ("x[13h]", "instant vector or a scalar"),
        ("max_over_time(x[13h])", "range 13h is longer than 12h"),
        ("max_over_time(x[7d:1m])", "subquery range 1w is longer than 12h"),
        ("max_over_time(x[1h:1s])", "finer than 15s"),
        ("max_over_time(max_over_time(x[5m:])[1h:])", "subqueries inside subqueries"),
        ("x offset 2d", "offset 2d reaches further than 12h"),
        ("x offset -13h", "reaches further"),
        ("x @ 100", "@ modifier"),
        ("max_over_time(x[1h:] @ end())", "@ modifier"),
        ('label_replace(x, "a", "b", "c", "d")', "label_replace() is not allowed"),
        ('label_join(x, "a", ",", "b")', "label_join() is not allowed"),
        ('count_values("v", x)', "count_values is not allowed"),
        ('x{job="other"}', 'outside the watched series (job="summary")'),
        ('x{instance="1"}', 'outside the watched series (instance="106")'),
        ('x{job="summary\\" or up{job=\\"x"}', "outside the watched series"),
        ("+".join(["x"] * 11), "more than 10 selectors"),
        ("(" * 41 + "x" + ")" * 41, "nested 41 levels deep"),
        ('"text"', "instant vector or a scalar"),
        ("rate(x[5m", "does not parse"),
        ("x{a=", "does not parse"),
    ],
)
def test_unsafe_expressions_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(UnsafePromQL, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check(text)


def test_the_limits_come_from_the_settings_and_default_to_the_longest_window() -> None:
    prometheus = PrometheusSettings(step_seconds=30)
    default = limits_for(prometheus, PromQLSettings(), timedelta(hours=3))
    assert default == PromQLLimits(timedelta(hours=3), timedelta(seconds=30), 10)
    chosen = limits_for(prometheus, PromQLSettings(max_range="1d", max_selectors=2), timedelta(1))
    assert (chosen.max_range, chosen.max_selectors) == (timedelta(days=1), 2)
    with pytest.raises(UnsafePromQL, match="more than 2 selectors"):
        check("a + b + c", chosen)


def test_the_selector_must_be_a_label_selector() -> None:
    assert [m.name for m in selector_matchers(SELECTOR)] == ["job", "instance"]
    assert selector_matchers("") == selector_matchers("{}") == []
    for bad in ("up", "{job=", '{job="a"}[5m]'):
        with pytest.raises(ValueError, match="PROMETHEUS_SELECTOR"):
            selector_matchers(bad)


def test_etl_expressions_are_checked_at_start_and_name_the_bad_one() -> None:
    prometheus = PrometheusSettings(selector=SELECTOR)
    checked = check_named_expressions(
        {"reqRate": "rate(requests[5m])"}, prometheus, PromQLSettings(), timedelta(hours=12)
    )
    assert checked == {"reqRate": f'rate({{__name__="requests", {IN}}}[300s])'}
    with pytest.raises(ValueError, match=r"ETL_METRIC_EXPRESSIONS\['all'\] is refused"):
        check_named_expressions(
            {"all": '{__name__=~".+"}'}, prometheus, PromQLSettings(), timedelta(hours=12)
        )
