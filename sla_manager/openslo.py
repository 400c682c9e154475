"""OpenSLO v1 ``SLO`` documents in and out, for the SLOs a range SLA can express.

An SLA is a set of metrics, each sample of which must lie within [min, max], and optionally
an objective (the percent of samples in range) over a rolling period. In OpenSLO v1 terms
(https://github.com/OpenSLO/OpenSLO, "SLO" and "SLI"):

- each SLA metric is an SLI with a ``thresholdMetric`` whose ``metricSource`` is Prometheus
  (``type: Prometheus``); its ``spec`` holds the ``query`` (a PromQL expression) or, for a
  metric of the configured selector, ``metric`` and ``labels`` (``spec`` is free-form per
  source type in the specification);
- each bound is an objective on that indicator: ``op: gte, value: <min>`` and
  ``op: lte, value: <max>`` (a range includes its bounds: ``gt`` and ``lt`` are refused);
- ``target`` (or ``targetPercent``) is the SLA's objective, one for every objective;
- ``timeWindow: [{duration: 28d, isRolling: true}]`` is the period; calendar windows are
  refused (the budget is rolling);
- ``budgetingMethod: Occurrences``: every sample is one occurrence, good when in range;
- an SLI with a ``ratioMetric`` (``good``/``total`` or ``bad``/``total``, Prometheus queries)
  becomes one SLA metric whose expression is the ratio of good events, ``good / total`` or
  ``1 - bad / total``: with ``counter: true`` each query must be a plain selector and is read
  as ``sum(rate(<selector>[5m]))`` (`RATE_WINDOW`); with ``counter: false`` the queries are
  used as they are. Its objectives give bounds of that ratio with ``op``/``value``, or, the
  usual form, only a ``target``: then the target is also the ratio's minimum (a sample of the
  ratio below the target is outside the range). The ratio is judged sample by sample, as
  every SLA metric: the objective counts the share of time the ratio stays in range, not the
  share of good events over the period. ``raw`` ratios are refused. Such an SLA exports as
  what it is stored as: a ``thresholdMetric`` whose query is the ratio expression.

One metric with one bound is exported as the plain form (``spec.indicator`` and one
objective); anything else in the composite form (each objective with its ``indicator``), and
both forms are accepted. The SLA's own forecast horizon travels as the annotation
``metadata.annotations["sla-manager/horizon-minutes"]`` (OpenSLO has no such field; other
annotations are accepted, not kept). Accepted but not kept: ``metadata.displayName``,
``spec.description``, ``spec.service``, ``objectives[].displayName`` and
``metricSource.metricSourceRef`` (the SLA manager has one Prometheus). Any other field, and
any other kind, answers 400 with the field's path. An SLA without an objective exports
objectives without ``target`` (OpenSLO requires one: set an objective for a conforming
document); importing it gives the SLA back.
"""

from __future__ import annotations

import json
import math
from typing import Any

import promql_parser as pp
import yaml
from flask import request

from monitoring_core.web import BadRequest, json_body
from sla_manager.rules import SLAMetric
from sla_manager.store import StoredSLA

API_VERSION = "openslo/v1"
KINDS = {"SLO", "SLI", "DataSource", "AlertPolicy", "AlertCondition"}
KINDS |= {"AlertNotificationTarget", "Service"}
YAML_TYPES = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}
OPS = {"gte": "min", "lte": "max"}
INFORMATIONAL = "accepted, not kept"
# An SLA's own forecast horizon (OpenSLO has none): an annotation, a string as annotations are.
HORIZON_ANNOTATION = "sla-manager/horizon-minutes"
# The window over which counters of a ratioMetric (counter: true) are read as rates: Sloth's
# shortest SLI window, and long enough for several scrapes at any usual interval.
RATE_WINDOW = "5m"


class _Loader(yaml.SafeLoader):
    """Safe YAML without aliases: a small body with nested aliases can expand to gigabytes
    once walked ("billion laughs"), and no OpenSLO document needs them."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not accepted", self.peek_event().start_mark
            )
        return super().compose_node(parent, index)


def request_body() -> Any:
    """The POSTed SLA as the SLA manager's own JSON: that JSON as it is, or an OpenSLO SLO
    document (YAML by Content-Type, or JSON with ``apiVersion``/``kind``) converted to it."""
    if request.mimetype in YAML_TYPES:
        try:
            document = yaml.load(request.get_data(as_text=True), Loader=_Loader)  # noqa: S506
        except yaml.YAMLError as exc:
            raise BadRequest(f"body is not valid YAML: {str(exc)[:300]}") from exc
        if not is_openslo(document):
            raise BadRequest(
                "a YAML body must be an OpenSLO document (apiVersion: openslo/v1, kind: SLO)"
            )
        return from_openslo(document)
    body = json_body()
    return from_openslo(body) if is_openslo(body) else body


def is_openslo(document: Any) -> bool:
    return isinstance(document, dict) and ("apiVersion" in document or "kind" in document)


def from_openslo(document: dict[str, Any]) -> dict[str, Any]:
    """An OpenSLO v1 SLO as the body `rules.parse_sla` reads; `BadRequest` names the path."""
    _only(document, "", {"apiVersion", "kind", "metadata", "spec"})
    if document.get("apiVersion") != API_VERSION:
        raise BadRequest(
            f"apiVersion: {json.dumps(document.get('apiVersion'))[:60]} is not supported; "
            f"use {API_VERSION}",
            path="apiVersion",
        )
    kind = document.get("kind")
    if kind != "SLO":
        openslo_kind = isinstance(kind, str) and kind in KINDS
        raise BadRequest(
            f"kind: {json.dumps(kind)[:60]} is "
            + (
                "an OpenSLO kind the SLA manager does not take: POST an SLO (its indicator inline)"
                if openslo_kind
                else f"not an OpenSLO kind (one of {sorted(KINDS)}); the SLA manager takes SLO"
            ),
            path="kind",
        )
    metadata = _mapping(document.get("metadata"), "metadata")
    _only(metadata, "metadata", {"name", "displayName", "annotations"})
    name = metadata.get("name")
    if not isinstance(name, str):
        raise BadRequest("metadata.name is required (a string)", path="metadata.name")
    horizon = _horizon(metadata.get("annotations"))
    spec = _mapping(document.get("spec"), "spec")
    _only(
        spec,
        "spec",
        {"description", "service", "indicator", "timeWindow", "budgetingMethod", "objectives"},
        why={
            "indicatorRef": "references to SLI objects are not supported: inline the indicator",
            "alertPolicies": "alert policies are not supported: the SLA manager generates its "
            "alerts as Prometheus rules (GET /SLA/<id>/rules)",
        },
    )
    method = spec.get("budgetingMethod")
    if method != "Occurrences":
        raise BadRequest(
            f"spec.budgetingMethod: {json.dumps(method)[:60]} is not supported; a range SLA "
            "counts samples, each one occurrence: use Occurrences",
            path="spec.budgetingMethod",
        )
    period = _period(spec.get("timeWindow"))
    objectives = spec.get("objectives")
    if not isinstance(objectives, list) or not objectives:
        raise BadRequest("spec.objectives must be a non-empty list", path="spec.objectives")
    shared = spec.get("indicator")
    metrics: dict[str, dict[str, Any]] = {}
    targets: list[tuple[str, float | None]] = []
    for position, objective in enumerate(objectives):
        where = f"spec.objectives[{position}]"
        objective = _mapping(objective, where)
        _only(
            objective,
            where,
            {"displayName", "op", "value", "target", "targetPercent", "indicator"},
            why={
                "indicatorRef": "references to SLI objects are not supported: inline it",
                "timeSliceTarget": "time slices are not supported (budgetingMethod Occurrences)",
                "timeSliceWindow": "time slices are not supported (budgetingMethod Occurrences)",
                "compositeWeight": "weights are not supported: every metric counts alike",
            },
        )
        if "indicator" in objective and shared is not None:
            raise BadRequest(
                f"{where}.indicator: give the indicator in spec.indicator or in every "
                "objective, not both",
                path=f"{where}.indicator",
            )
        indicator, indicator_where = (
            (objective["indicator"], f"{where}.indicator")
            if "indicator" in objective
            else (shared, "spec.indicator")
        )
        if indicator is None:
            raise BadRequest(
                f"{where}: no indicator (spec.indicator, or {where}.indicator)", path=where
            )
        metric_name, entry, is_ratio = _indicator(indicator, indicator_where)
        known = metrics.setdefault(metric_name, entry)
        if {k: v for k, v in known.items() if k not in OPS.values()} != entry:
            raise BadRequest(
                f"{indicator_where}: indicator {metric_name!r} is defined twice, differently",
                path=indicator_where,
            )
        target = _target(objective, where)
        targets.append((where, target))
        if is_ratio and "op" not in objective and "value" not in objective:
            # The usual ratio objective, a target alone: samples of the ratio below it are out.
            if target is None:
                raise BadRequest(
                    f"{where}: a ratio objective needs op/value or a target", path=where
                )
            if "min" in known:
                raise BadRequest(
                    f"{where}: indicator {metric_name!r} already has a minimum", path=where
                )
            known["min"] = _tidy(target / 100)
            continue
        op = objective.get("op")
        if not isinstance(op, str) or op not in OPS:
            reason = (
                "a range includes its bounds: use gte for the minimum, lte for the maximum"
                if op in ("gt", "lt")
                else "must be gte (a minimum) or lte (a maximum)"
            )
            raise BadRequest(f"{where}.op: {json.dumps(op)[:40]}: {reason}", path=f"{where}.op")
        value = objective.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadRequest(f"{where}.value must be a number", path=f"{where}.value")
        bound = OPS[op]
        if bound in known:
            raise BadRequest(
                f"{where}: indicator {metric_name!r} already has a {op} objective "
                "(one minimum and one maximum per metric)",
                path=f"{where}.op",
            )
        known[bound] = value
    percent = targets[0][1]
    for where, other in targets[1:]:
        if other != percent:
            raise BadRequest(
                f"{where}.target: every objective of an SLA shares one target; "
                f"{targets[0][0]} has {percent}, this one {other}",
                path=f"{where}.target",
            )
    body: dict[str, Any] = {"name": name, "metrics": list(metrics.values())}
    if horizon is not None:
        body["horizon_minutes"] = horizon
    if percent is not None:
        body["objective"] = percent
        if period is not None:
            body["period"] = period
    elif period is not None:
        raise BadRequest(
            "spec.timeWindow needs a target on the objectives (the SLA's objective)",
            path="spec.timeWindow",
        )
    return body


def to_openslo(sla: StoredSLA) -> dict[str, Any]:
    """The SLA as an OpenSLO v1 SLO document (a dict; `dump` writes it as YAML)."""
    target = {"target": _tidy(sla.objective.ratio)} if sla.objective is not None else {}
    objectives: list[dict[str, Any]] = []
    for metric in sla.metrics:
        for op, value in (("gte", metric.min), ("lte", metric.max)):
            if value is not None:
                objectives.append(
                    {"indicator": _export_indicator(metric), "op": op, "value": value, **target}
                )
    spec: dict[str, Any] = {"budgetingMethod": "Occurrences"}
    if sla.objective is not None:
        spec["timeWindow"] = [{"duration": sla.objective.period, "isRolling": True}]
    if len(objectives) == 1:
        spec["indicator"] = objectives[0].pop("indicator")
    spec["objectives"] = objectives
    metadata: dict[str, Any] = {"name": sla.name}
    if sla.horizon_minutes is not None:
        metadata["annotations"] = {HORIZON_ANNOTATION: str(sla.horizon_minutes)}
    return {"apiVersion": API_VERSION, "kind": "SLO", "metadata": metadata, "spec": spec}


def dump(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000)


def _export_indicator(metric: SLAMetric) -> dict[str, Any]:
    # An expression as its author wrote it (an import passes it through the PromQL guard
    # again, which gives the same promql); a metric entry's resolved selector otherwise.
    source: dict[str, Any] = {"query": metric.expression or metric.promql}
    if metric.metric is not None:
        source["metric"] = metric.metric
        if metric.labels:
            source["labels"] = dict(metric.labels)
    return {
        "metadata": {"name": metric.name},
        "spec": {"thresholdMetric": {"metricSource": {"type": "Prometheus", "spec": source}}},
    }


def _indicator(indicator: Any, where: str) -> tuple[str, dict[str, Any], bool]:
    """An inline SLI -> (its name, the SLA metric entry without bounds, whether it is a ratio)."""
    indicator = _mapping(indicator, where)
    _only(indicator, where, {"metadata", "spec"})
    metadata = _mapping(indicator.get("metadata"), f"{where}.metadata")
    _only(metadata, f"{where}.metadata", {"name", "displayName"})
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"{where}.metadata.name is required (a string)", path=f"{where}.metadata")
    spec = _mapping(indicator.get("spec"), f"{where}.spec")
    _only(spec, f"{where}.spec", {"description", "thresholdMetric", "ratioMetric"})
    if ("thresholdMetric" in spec) == ("ratioMetric" in spec):
        raise BadRequest(
            f"{where}.spec: give exactly one of thresholdMetric or ratioMetric",
            path=f"{where}.spec",
        )
    if "ratioMetric" in spec:
        expression = _ratio(spec["ratioMetric"], f"{where}.spec.ratioMetric")
        return name, {"name": name, "expression": expression}, True
    threshold = _mapping(spec.get("thresholdMetric"), f"{where}.spec.thresholdMetric")
    _only(threshold, f"{where}.spec.thresholdMetric", {"metricSource"})
    at = f"{where}.spec.thresholdMetric.metricSource"
    query = _prometheus_source(threshold.get("metricSource"), at)
    _only(query, f"{at}.spec", {"query", "metric", "labels"})
    entry: dict[str, Any] = {"name": name}
    if "metric" in query:
        entry["metric"] = query["metric"]
        if "labels" in query:
            entry["labels"] = query["labels"]
    elif "query" in query:
        if "labels" in query:
            raise BadRequest(f"{at}.spec.labels go with metric, not query", path=f"{at}.spec")
        entry["expression"] = query["query"]
    else:
        raise BadRequest(f"{at}.spec needs a query (PromQL) or a metric", path=f"{at}.spec")
    return name, entry, False


def _prometheus_source(source: Any, at: str) -> dict[str, Any]:
    """A ``metricSource`` of type Prometheus -> its ``spec`` (the query's fields)."""
    source = _mapping(source, at)
    _only(source, at, {"type", "metricSourceRef", "spec"})
    kind = source.get("type", "Prometheus")
    if not isinstance(kind, str) or kind.lower() != "prometheus":
        raise BadRequest(
            f"{at}.type: {json.dumps(kind)[:40]} is not supported; the SLA manager reads "
            "Prometheus",
            path=f"{at}.type",
        )
    return _mapping(source.get("spec"), f"{at}.spec")


def _ratio(ratio: Any, where: str) -> str:
    """A ``ratioMetric`` as one PromQL expression of the ratio of good events: ``good / total``
    or ``1 - bad / total`` (OpenSLO's "Ratio Metric" formulas). Counters (``counter: true``)
    are read as their summed rate over `RATE_WINDOW`, which needs each query to be a plain
    selector; other queries are used as they are."""
    ratio = _mapping(ratio, where)
    raw = "a precomputed ratio is not supported: give it as a thresholdMetric query with op/value"
    if "raw" in ratio:  # named before its rawType, whatever the order
        raise BadRequest(f"{where}.raw: {raw}", path=f"{where}.raw")
    _only(ratio, where, {"counter", "good", "bad", "total"}, why={"rawType": raw})
    counter = ratio.get("counter")
    if not isinstance(counter, bool):
        raise BadRequest(f"{where}.counter must be true or false", path=f"{where}.counter")
    if "total" not in ratio:
        raise BadRequest(f"{where}.total is required (the denominator)", path=f"{where}.total")
    if ("good" in ratio) == ("bad" in ratio):
        raise BadRequest(f"{where}: give good or bad (not both) with total", path=where)
    part = "good" if "good" in ratio else "bad"
    fraction = (
        f"{_ratio_query(ratio[part], f'{where}.{part}', counter)} / "
        f"{_ratio_query(ratio['total'], f'{where}.total', counter)}"
    )
    return fraction if part == "good" else f"1 - {fraction}"


def _ratio_query(node: Any, where: str, counter: bool) -> str:
    node = _mapping(node, where)
    _only(node, where, {"metricSource"})
    at = f"{where}.metricSource"
    spec = _prometheus_source(node.get("metricSource"), at)
    _only(spec, f"{at}.spec", {"query"})
    query = spec.get("query")
    if not isinstance(query, str) or not query.strip():
        raise BadRequest(
            f"{at}.spec.query is required (a PromQL expression)", path=f"{at}.spec.query"
        )
    if not counter:
        return f"({query.strip()})"
    try:
        tree = pp.parse(query)
    except (ValueError, OverflowError) as exc:
        raise BadRequest(
            f"{at}.spec.query does not parse: {str(exc)[:200]}", path=f"{at}.spec.query"
        ) from exc
    if not isinstance(tree, pp.VectorSelector) or tree.offset or tree.at is not None:
        raise BadRequest(
            f"{at}.spec.query: with counter: true each query must be a plain selector "
            f"(metric{{labels}}), whose rate over {RATE_WINDOW} the SLA manager takes; for "
            "another expression give its ratio yourself (counter: false)",
            path=f"{at}.spec.query",
        )
    return f"sum(rate({query.strip()}[{RATE_WINDOW}]))"


def _tidy(value: float) -> float:
    """``value`` to 12 significant digits: a percent scaled to a ratio and back loses its
    float noise (0.999 * 100 is 99.89999999999999) but no precision, however small it is
    (rounding to decimal places kept 9 digits of an objective of 0.0108 %)."""
    return float(f"{value:.12g}")


def _target(objective: dict[str, Any], where: str) -> float | None:
    """The objective's target as a percent (None when it has none)."""
    if "target" in objective and "targetPercent" in objective:
        raise BadRequest(f"{where}: give target or targetPercent, not both", path=where)
    for key, scale in (("target", 100.0), ("targetPercent", 1.0)):
        if key in objective:
            value = objective[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise BadRequest(f"{where}.{key} must be a number", path=f"{where}.{key}")
            try:
                percent = _tidy(float(value) * scale)
            except OverflowError:  # an integer of hundreds of digits
                percent = math.inf
            if not (math.isfinite(percent) and 0 < percent < 100):
                limit = "(0, 1)" if key == "target" else "(0, 100)"
                raise BadRequest(
                    f"{where}.{key} must be strictly inside {limit}, got {value}: the objective "
                    "must leave an error budget and keep something",
                    path=f"{where}.{key}",
                )
            return percent
    return None


def _period(windows: Any) -> str | None:
    if windows is None:
        return None
    if not isinstance(windows, list) or len(windows) != 1:
        raise BadRequest(
            "spec.timeWindow must be a list of exactly one window", path="spec.timeWindow"
        )
    where = "spec.timeWindow[0]"
    window = _mapping(windows[0], where)
    _only(
        window,
        where,
        {"duration", "isRolling"},
        why={"calendar": "calendar-aligned windows are not supported: the budget is rolling"},
    )
    if window.get("isRolling") is not True:
        raise BadRequest(
            f"{where}.isRolling must be true (a rolling period)", path=f"{where}.isRolling"
        )
    duration = window.get("duration")
    if (
        not isinstance(duration, str)
        or not (duration[:-1].isascii() and duration[:-1].isdigit())
        or duration[-1:] not in "mhdw"
    ):
        raise BadRequest(
            f"{where}.duration: {json.dumps(duration)[:40]} is not supported; give minutes, "
            "hours, days or weeks (e.g. 28d): months, quarters and years vary in length",
            path=f"{where}.duration",
        )
    return duration


def _horizon(annotations: Any) -> int | None:
    """The SLA's horizon from ``metadata.annotations`` (other annotations: accepted, not kept);
    `parse_sla` checks its range."""
    if annotations is None:
        return None
    where = f"metadata.annotations.{HORIZON_ANNOTATION}"
    value = _mapping(annotations, "metadata.annotations").get(HORIZON_ANNOTATION)
    if value is None:
        return None
    # ASCII digits only ("²".isdigit() is true) and few of them (int() refuses 4,300 digits).
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit() and len(text) <= 4):
        raise BadRequest(f"{where} must be a whole number of minutes", path=where)
    return int(text)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"{where or 'the document'} must be a mapping", path=where)
    return value


def _only(
    node: dict[str, Any], where: str, allowed: set[str], why: dict[str, str] | None = None
) -> None:
    """400 with the path of the first field that is not in ``allowed``."""
    for key in node:
        if key not in allowed:
            path = f"{where}.{key}" if where else str(key)
            reason = (why or {}).get(key, "this field is not supported by the SLA manager")
            raise BadRequest(f"{path}: {reason}", path=path)
