"""SLA definitions: parse and validate a POSTed SLA, and turn each metric into PromQL.

An expression goes through `monitoring_core.promql_guard` (parsed, checked, confined to
``PROMETHEUS_SELECTOR``); what is stored and queried is the guard's rendering. The check
against Prometheus at POST is one short range query per metric, bounded in time and series.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from monitoring_core.prometheus import PrometheusClient, PrometheusQueryError, QueryTooCostly
from monitoring_core.promql import LABEL_NAME, is_metric_name
from monitoring_core.promql import selector as exact_selector
from monitoring_core.promql_guard import PromQLLimits, UnsafePromQL, check_expression
from monitoring_core.web import BadRequest
from sla_manager.budget import Objective, parse_objective

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\- ]{0,99}$")
MAX_LABELS = 20
MAX_LABEL_VALUE = 200
MAX_EXPRESSION = 2000
METRIC_KEYS = {"metric", "labels", "expression", "name", "min", "max"}
# An SLA's forecast horizon: predicted violations look this many minutes ahead at most.
MAX_HORIZON_MINUTES = 60
# How far back the check at POST looks for data of an expression, and at which step.
VALIDATION_LOOKBACK = timedelta(minutes=15)
VALIDATION_STEP_SECONDS = 60


@dataclass(frozen=True)
class SLAMetric:
    """One objective: a metric (name + labels) or a PromQL expression, and its allowed range."""

    name: str
    promql: str
    min: float | None
    max: float | None
    metric: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    expression: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metric": self.metric,
            "labels": self.labels,
            "expression": self.expression,
            "promql": self.promql,
            "min": self.min,
            "max": self.max,
        }


@dataclass(frozen=True)
class SLADefinition:
    name: str
    metrics: tuple[SLAMetric, ...]
    objective: Objective | None = None  # error budget and burn rates (sla_manager/budget.py)
    horizon_minutes: int | None = None  # None: the SLA manager's default (SLA_HORIZON_MINUTES)


def parse_sla(
    body: Any,
    selector: str,
    max_metrics: int,
    limits: PromQLLimits,
    *,
    longest_window_seconds: float = 0,
) -> SLADefinition:
    """Check the shape, names and bounds of a POSTed SLA; raise `BadRequest` with the reason.

    ``longest_window_seconds``: the longest assessment window, the shortest allowed period.
    """
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object with 'name' and 'metrics'")
    unknown = set(body) - {"name", "metrics", "objective", "period", "horizon_minutes"}
    if unknown:
        raise BadRequest(f"unknown fields: {sorted(unknown)}")
    name = body.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise BadRequest(
            "'name' must be 1-100 characters: letters, digits, space and _ . : - "
            "(starting with a letter or digit)"
        )
    metrics = body.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        raise BadRequest("'metrics' must be a non-empty list")
    if len(metrics) > max_metrics:
        raise BadRequest(
            f"too many metrics: {len(metrics)}, at most {max_metrics}", max_metrics=max_metrics
        )
    parsed = tuple(
        parse_metric(item, position, selector, limits) for position, item in enumerate(metrics)
    )
    names = [metric.name for metric in parsed]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise BadRequest(f"metric names must be unique within an SLA: {duplicates} repeat")
    objective = parse_objective(body, longest_window_seconds)
    horizon = body.get("horizon_minutes")
    if horizon is not None and (
        isinstance(horizon, bool)
        or not isinstance(horizon, int)
        or not 1 <= horizon <= MAX_HORIZON_MINUTES
    ):
        raise BadRequest(
            f"'horizon_minutes' must be a whole number of minutes from 1 to "
            f"{MAX_HORIZON_MINUTES}, got {json.dumps(horizon)[:40]}"
        )
    return SLADefinition(name=name, metrics=parsed, objective=objective, horizon_minutes=horizon)


def parse_metric(item: Any, position: int, selector: str, limits: PromQLLimits) -> SLAMetric:
    where = f"metrics[{position}]"
    if not isinstance(item, dict):
        raise BadRequest(f"{where} must be an object")
    unknown = set(item) - METRIC_KEYS
    if unknown:
        raise BadRequest(f"{where}: unknown fields {sorted(unknown)}")
    low = parse_bound(item.get("min"), f"{where}.min")
    high = parse_bound(item.get("max"), f"{where}.max")
    if low is None and high is None:
        raise BadRequest(f"{where}: give 'min', 'max' or both (a range needs at least one bound)")
    if low is not None and high is not None and not low < high:
        raise BadRequest(f"{where}: 'min' ({low}) must be below 'max' ({high})")

    if ("metric" in item) == ("expression" in item):
        raise BadRequest(f"{where}: give exactly one of 'metric' or 'expression'")
    if "expression" in item:
        expression = item["expression"]
        if not isinstance(expression, str) or not expression.strip():
            raise BadRequest(f"{where}.expression must be a non-empty string")
        if len(expression) > MAX_EXPRESSION:
            raise BadRequest(f"{where}.expression is longer than {MAX_EXPRESSION} characters")
        if "labels" in item:
            raise BadRequest(f"{where}: 'labels' go inside the expression, not beside it")
        if "name" not in item and len(expression.strip()) > 200:
            raise BadRequest(f"{where}: an expression over 200 characters needs a 'name'")
        name = item.get("name", expression.strip())
        if not isinstance(name, str) or not 0 < len(name) <= 200:
            raise BadRequest(f"{where}.name must be a string of 1-200 characters")
        if not _is_utf8(expression):
            raise BadRequest(f"{where}.expression is not valid Unicode (a lone surrogate)")
        try:
            promql = check_expression(expression, selector, limits)
        except UnsafePromQL as exc:
            raise BadRequest(f"{where}.expression is refused: {exc}") from exc
        return SLAMetric(name=name, promql=promql, min=low, max=high, expression=expression.strip())

    metric = item["metric"]
    if not is_metric_name(metric):
        raise BadRequest(f"{where}.metric must be a Prometheus metric name, got {metric!r}")
    labels = parse_labels(item.get("labels", {}), f"{where}.labels")
    name = item.get("name", metric)
    if not isinstance(name, str) or not 0 < len(name) <= 200:
        raise BadRequest(f"{where}.name must be a string of 1-200 characters")
    return SLAMetric(
        name=name,
        promql=build_selector(selector, metric, labels),
        min=low,
        max=high,
        metric=metric,
        labels=labels,
    )


def parse_bound(value: Any, where: str) -> float | None:
    if value is None:
        return None
    # bool is an int in Python; JSON true is not a number.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"{where} must be a number, got {json.dumps(value)[:50]}")
    try:
        number = float(value)
    except OverflowError:  # an integer literal of hundreds of digits (was a 500)
        number = math.inf
    if not math.isfinite(number):
        raise BadRequest(f"{where} must be a finite number")
    return number


def parse_labels(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise BadRequest(f"{where} must be an object of label name -> value")
    if len(value) > MAX_LABELS:
        raise BadRequest(f"{where}: at most {MAX_LABELS} labels")
    for key, label_value in value.items():
        if not LABEL_NAME.match(key) or key.startswith("__"):
            raise BadRequest(f"{where}: {key!r} is not a label name")
        if not isinstance(label_value, str) or len(label_value) > MAX_LABEL_VALUE:
            raise BadRequest(f"{where}.{key} must be a string of at most {MAX_LABEL_VALUE} chars")
        if not _is_utf8(label_value):
            # JSON may carry a lone surrogate ("\ud83d"); Prometheus labels are UTF-8.
            raise BadRequest(f"{where}.{key} is not valid Unicode (a lone surrogate)")
    return dict(sorted(value.items()))


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def build_selector(selector: str, metric: str, labels: dict[str, str]) -> str:
    """`{job="summary"}` + cpuLoad + {core: "0"} ->
    `{__name__="cpuLoad", job="summary", core="0"}` (the configured matchers as they are)."""
    inner = selector.strip()
    if inner.startswith("{") and inner.endswith("}"):
        inner = inner[1:-1].strip().rstrip(",")
    return exact_selector(metric, labels, extra=inner)


def check_known(
    definition: SLADefinition,
    client: PrometheusClient,
    lookback: timedelta,
    timeout_seconds: float,
    max_series: int,
) -> None:
    """Each metric must match at least one series in ``lookback``; each expression must
    return data in the last `VALIDATION_LOOKBACK`, within ``timeout_seconds`` and
    ``max_series`` (a short query: a refused POST costs Prometheus little).

    Raises `BadRequest` (400) otherwise; `PrometheusUnavailable` (503) passes through.
    """
    end = datetime.now(UTC)
    start = end - lookback
    for position, metric in enumerate(definition.metrics):
        where = f"metrics[{position}] ({metric.name})"
        if metric.expression is None:
            try:
                found = client.series_labels(metric.promql, start, end)
            except PrometheusQueryError as exc:
                raise BadRequest(f"{where}: Prometheus rejected {metric.promql}: {exc}") from exc
            if not found:
                raise BadRequest(
                    f"{where}: no series matches {metric.promql} in the last {lookback}",
                    promql=metric.promql,
                )
            continue
        try:
            # Read as the assessments will read it (a subquery on the step grid, unless it is a
            # plain selector), but only over a short lookback: a refused POST costs little.
            series = client.read_samples(
                metric.promql,
                end - VALIDATION_LOOKBACK,
                end,
                step_seconds=VALIDATION_STEP_SECONDS,
                timeout_seconds=timeout_seconds,
                max_series=max_series,
            )
        except QueryTooCostly as exc:
            raise BadRequest(f"{where}: the expression is too costly: {exc}") from exc
        except PrometheusQueryError as exc:
            raise BadRequest(f"{where}: Prometheus rejected the expression: {exc}") from exc
        if not any(len(s.values) for s in series):
            raise BadRequest(
                f"{where}: the expression returned no data in the last {VALIDATION_LOOKBACK}",
                promql=metric.promql,
            )
