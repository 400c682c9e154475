"""PromQL that cannot hurt: parse a user's expression, check its tree, confine its selectors.

The expression is parsed with ``promql-parser`` (Prometheus' grammar, in Rust) and its tree
walked once. What is refused, each with the reason (`UnsafePromQL`, a 400 for the caller):

- a selector without a metric name, or with a regex or negative matcher on ``__name__``
  (``{__name__=~".+"}`` reads every series Prometheus has);
- ranges, subquery ranges and offsets longer than ``max_range``; subqueries inside
  subqueries, subquery steps finer than ``min_subquery_step``; the ``@`` modifier;
- functions and aggregations outside an allow-list (``label_replace``, ``count_values`` ...);
- more than ``max_selectors`` selectors, or nesting deeper than `MAX_DEPTH`.

Every selector then gets the matchers of ``PROMETHEUS_SELECTOR``, so an expression reads only
the series the suite watches; a selector that asks for another value of one of those labels
is refused as a conflict. The expression sent to Prometheus is rendered here from the tree
(the parser's own printer drops a subquery's colon and does not escape label values), with
label values quoted by `monitoring_core.promql.quote`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import promql_parser as pp

from monitoring_core.promql import quote
from monitoring_core.settings import PrometheusSettings, PromQLSettings

MAX_DEPTH = 40
ALLOWED_FUNCTIONS = frozenset(
    {
        "abs", "absent", "absent_over_time", "avg_over_time", "ceil", "changes", "clamp",
        "clamp_max", "clamp_min", "count_over_time", "day_of_month", "day_of_week",
        "day_of_year", "days_in_month", "delta", "deriv", "exp", "floor",
        "histogram_quantile", "hour", "idelta", "increase", "irate", "last_over_time", "ln",
        "log10", "log2", "max_over_time", "min_over_time", "minute", "month",
        "predict_linear", "present_over_time", "quantile_over_time", "rate", "resets",
        "round", "scalar", "sgn", "sqrt", "stddev_over_time", "stdvar_over_time",
        "sum_over_time", "time", "timestamp", "vector", "year",
    }
)  # fmt: skip
ALLOWED_AGGREGATIONS = frozenset(
    {
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "stddev",
        "stdvar",
        "quantile",
        "topk",
        "bottomk",
        "group",
    }
)


class UnsafePromQL(ValueError):
    """The expression does not parse or breaks one of the rules; the message says which."""


@dataclass(frozen=True)
class PromQLLimits:
    """What one expression may ask of Prometheus."""

    max_range: timedelta
    min_subquery_step: timedelta
    max_selectors: int = 10


def limits_for(
    prometheus: PrometheusSettings, promql: PromQLSettings, longest_window: timedelta
) -> PromQLLimits:
    """The limits of a service: ranges up to ``PROMQL_MAX_RANGE`` (default: its longest
    window), subquery steps no finer than the scrape step, ``PROMQL_MAX_SELECTORS``."""
    return PromQLLimits(
        max_range=promql.max_range_or(longest_window),
        min_subquery_step=timedelta(seconds=prometheus.step_seconds),
        max_selectors=promql.max_selectors,
    )


def selector_matchers(selector: str) -> list[pp.Matcher]:
    """The matchers of a label selector such as ``{job="summary", instance="106"}``."""
    if selector.strip().replace(" ", "") in ("", "{}"):
        return []  # no selector: every series (the operator's choice)
    try:
        node = pp.parse(selector.strip())
    except ValueError as exc:
        raise ValueError(f"PROMETHEUS_SELECTOR {selector!r} does not parse: {exc}") from exc
    if not isinstance(node, pp.VectorSelector) or node.name or node.offset or node.at:
        raise ValueError(f"PROMETHEUS_SELECTOR {selector!r} must be a label selector {{...}}")
    return list(node.matchers.matchers)


def check_expression(text: str, selector: str, limits: PromQLLimits) -> str:
    """``text`` as it will be sent to Prometheus: parsed, checked and confined to ``selector``.

    Raises `UnsafePromQL` with the reason when it breaks a rule.
    """
    depth = _bracket_depth(text)
    if depth > MAX_DEPTH:
        raise UnsafePromQL(f"nested {depth} levels deep; at most {MAX_DEPTH}")
    try:
        tree = pp.parse(text)
    except (ValueError, OverflowError) as exc:
        raise UnsafePromQL(f"does not parse: {exc}") from exc
    if isinstance(tree, pp.StringLiteral | pp.MatrixSelector | pp.SubqueryExpr):
        raise UnsafePromQL("must give an instant vector or a scalar (not a string or a range)")
    renderer = _Renderer(selector_matchers(selector), limits)
    return renderer.render(tree, 0, in_subquery=False)


def check_named_expressions(
    expressions: Mapping[str, str],
    prometheus: PrometheusSettings,
    promql: PromQLSettings,
    longest_window: timedelta,
) -> dict[str, str]:
    """ETL_METRIC_EXPRESSIONS checked as SLA expressions are; a bad one stops the start."""
    limits = limits_for(prometheus, promql, longest_window)
    checked = {}
    for name, text in expressions.items():
        try:
            checked[name] = check_expression(text, prometheus.selector, limits)
        except UnsafePromQL as exc:
            raise ValueError(f"ETL_METRIC_EXPRESSIONS[{name!r}] is refused: {exc}") from exc
    return checked


def _bracket_depth(text: str) -> int:
    """Deepest nesting of (, [ and { outside string literals (a bound before parsing)."""
    depth = deepest = 0
    quote_char = ""
    escaped = False
    for char in text:
        if quote_char:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote_char:
                quote_char = ""
        elif char in "\"'`":
            quote_char = char
        elif char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def _human(delta: timedelta) -> str:
    return str(pp.display_duration(delta))


def _duration(delta: timedelta) -> str:
    ms = round(delta.total_seconds() * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return repr(value)


class _Renderer:
    def __init__(self, confine: list[pp.Matcher], limits: PromQLLimits) -> None:
        self.confine = confine
        self.limits = limits
        self.selectors = 0

    def render(self, node: object, depth: int, in_subquery: bool) -> str:
        if depth > MAX_DEPTH:
            raise UnsafePromQL(f"nested more than {MAX_DEPTH} levels deep")
        deeper = depth + 1
        if isinstance(node, pp.NumberLiteral):
            return _number(node.val)
        if isinstance(node, pp.StringLiteral):
            return quote(node.val)
        if isinstance(node, pp.VectorSelector):
            return self.vector(node)
        if isinstance(node, pp.MatrixSelector):
            self.check_range(node.range, "range")
            return self.vector(node.vector_selector, f"[{_duration(node.range)}]")
        if isinstance(node, pp.SubqueryExpr):
            if in_subquery:
                raise UnsafePromQL("subqueries inside subqueries are not allowed")
            if node.at is not None:
                raise UnsafePromQL("the @ modifier is not allowed")
            if node.range is None:
                raise UnsafePromQL("a subquery needs a range")
            self.check_range(node.range, "subquery range")
            step = ""
            if node.step is not None:
                if node.step < self.limits.min_subquery_step:
                    raise UnsafePromQL(
                        f"subquery step {_human(node.step)} is finer than "
                        f"{_human(self.limits.min_subquery_step)} (the scrape step)"
                    )
                step = _duration(node.step)
            query = self.operand(node.expr, deeper, in_subquery=True)
            return f"{query}[{_duration(node.range)}:{step}]{self.offset(node.offset)}"
        if isinstance(node, pp.Call):
            name = node.func.name
            if name not in ALLOWED_FUNCTIONS:
                raise UnsafePromQL(f"function {name}() is not allowed")
            args = ", ".join(self.render(arg, deeper, in_subquery) for arg in node.args)
            return f"{name}({args})"
        if isinstance(node, pp.AggregateExpr):
            op = str(node.op)
            if op not in ALLOWED_AGGREGATIONS:
                raise UnsafePromQL(f"aggregation {op} is not allowed")
            grouping = ""
            if node.modifier is not None:
                kind = "by" if node.modifier.type == pp.AggModifierType.By else "without"
                grouping = f" {kind} ({', '.join(node.modifier.labels)})"
            param = ""
            if node.param is not None:
                param = self.render(node.param, deeper, in_subquery) + ", "
            return f"{op}{grouping} ({param}{self.render(node.expr, deeper, in_subquery)})"
        if isinstance(node, pp.BinaryExpr):
            lhs = self.operand(node.lhs, deeper, in_subquery)
            rhs = self.operand(node.rhs, deeper, in_subquery)
            return f"{lhs} {str(node.op)}{self.binary_modifier(node.modifier)} {rhs}"
        if isinstance(node, pp.UnaryExpr):
            return f"-{self.operand(node.expr, deeper, in_subquery)}"
        if isinstance(node, pp.ParenExpr):
            return f"({self.render(node.expr, deeper, in_subquery)})"
        raise UnsafePromQL(f"{type(node).__name__} is not supported")

    def operand(self, node: object, depth: int, in_subquery: bool) -> str:
        # Parenthesised whatever the source did: the grouping the parser found stays.
        text = self.render(node, depth, in_subquery)
        if isinstance(node, pp.BinaryExpr | pp.UnaryExpr):
            return f"({text})"
        return text

    def binary_modifier(self, modifier: pp.BinModifier | None) -> str:
        if modifier is None:
            return ""
        fill = modifier.fill_values
        if fill is not None and (fill.lhs is not None or fill.rhs is not None):
            raise UnsafePromQL("fill modifiers are not supported")
        out = " bool" if modifier.return_bool else ""
        if modifier.matching is not None:
            kind = "on" if modifier.matching.type == pp.LabelModifierType.Include else "ignoring"
            out += f" {kind} ({', '.join(modifier.matching.labels)})"
        if modifier.card == pp.VectorMatchCardinality.ManyToOne:
            out += f" group_left ({', '.join(modifier.group_labels or [])})"
        elif modifier.card == pp.VectorMatchCardinality.OneToMany:
            out += f" group_right ({', '.join(modifier.group_labels or [])})"
        return out

    def check_range(self, length: timedelta, what: str) -> None:
        if length > self.limits.max_range:
            raise UnsafePromQL(
                f"{what} {_human(length)} is longer than {_human(self.limits.max_range)}"
            )

    def offset(self, offset: timedelta | None) -> str:
        if offset is None or not offset:
            return ""
        if abs(offset) > self.limits.max_range:
            raise UnsafePromQL(
                f"offset {_human(abs(offset))} reaches further than {_human(self.limits.max_range)}"
            )
        return f" offset {_duration(offset)}"

    def vector(self, node: pp.VectorSelector, range_text: str = "") -> str:
        self.selectors += 1
        if self.selectors > self.limits.max_selectors:
            raise UnsafePromQL(f"more than {self.limits.max_selectors} selectors")
        if node.at is not None:
            raise UnsafePromQL("the @ modifier is not allowed")
        if node.matchers.or_matchers:
            raise UnsafePromQL("'or' inside a selector is not supported")
        name = node.name
        matchers: list[pp.Matcher] = []
        for matcher in node.matchers.matchers:
            if matcher.name == "__name__":
                if matcher.op != pp.MatchOp.Equal:
                    raise UnsafePromQL("__name__ may only be matched exactly (=), not by regex")
                if name is not None and name != matcher.value:
                    raise UnsafePromQL(f"two metric names in one selector: {name}, {matcher.value}")
                name = matcher.value
            else:
                matchers.append(matcher)
        if not name:
            raise UnsafePromQL("every selector needs a metric name")
        for wanted in self.confine:
            same = [m for m in matchers if m.name == wanted.name]
            if any(m.op == wanted.op and m.value == wanted.value for m in same):
                continue
            clash = [m for m in same if m.op == pp.MatchOp.Equal]
            if clash and wanted.op == pp.MatchOp.Equal:
                raise UnsafePromQL(
                    f"{name}{{{wanted.name}={quote(clash[0].value)}}} is outside the watched "
                    f"series ({wanted.name}={quote(wanted.value)})"
                )
            matchers.append(wanted)
        inner = [f"__name__={quote(name)}"] + [
            f"{m.name}{_op(m)}{quote(m.value)}" for m in matchers
        ]
        return "{" + ", ".join(inner) + "}" + range_text + self.offset(node.offset)


def _op(matcher: pp.Matcher) -> str:
    # MatchOp values are not hashable: no dict.
    for op, text in (
        (pp.MatchOp.Equal, "="),
        (pp.MatchOp.NotEqual, "!="),
        (pp.MatchOp.Re, "=~"),
        (pp.MatchOp.NotRe, "!~"),
    ):
        if matcher.op == op:
            return text
    raise UnsafePromQL(f"unknown matcher {matcher}")
