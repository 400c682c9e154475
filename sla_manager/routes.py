"""The SLA manager's HTTP API, a blueprint over what `bootstrap` built: define SLAs, assess
past and predicted violations, report them (the shared /health and /internal/metrics come
from `app.py`).

Which SLAs a report covers: every current SLA, or the one named by ``?sla=<id>``. The
report routes (all but ``/assess_Violations``) answer from each SLA's last stored
assessment; an SLA that has none yet is assessed on the spot.

Defining, retiring and assessing need the admin token (`monitoring_core.auth`); defining and
assessing are also rate limited per client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request

from monitoring_core.auth import Access
from monitoring_core.web import BadRequest, NotFound
from sla_manager import openslo
from sla_manager.bootstrap import SLAServices
from sla_manager.rules import check_known, parse_sla
from sla_manager.store import StoredSLA


def rules_response(text: str) -> Response:
    return Response(text, mimetype="application/yaml")


def create_blueprint(services: SLAServices, access: Access) -> Blueprint:
    """The routes over `services`; `access` marks who may call each."""
    settings, store, assessor = services.settings, services.store, services.assessor
    prometheus, limits, lookback = services.prometheus, services.limits, services.lookback
    bp = Blueprint("sla", __name__)

    def chosen() -> list[StoredSLA]:
        """The SLAs a report covers: ``?sla=<id>`` or every current one."""
        raw = request.args.get("sla")
        if raw is None:
            return store.current()
        sla = store.get(parse_id(raw))
        if sla is None:
            raise NotFound(f"no SLA with id {raw}")
        if not sla.current:
            raise NotFound(f"SLA {raw} ({sla.name} v{sla.version}) is retired")
        return [sla]

    def latest(slas: list[StoredSLA]) -> list[dict[str, Any]]:
        stored = store.latest_assessments([sla.sla_id for sla in slas])
        missing = [sla for sla in slas if sla.sla_id not in stored]
        fresh = {result["sla"]["id"]: result for result in assessor.assess(missing)}
        return [stored.get(sla.sla_id) or fresh[sla.sla_id] for sla in slas]

    @bp.get("/rules")
    def all_rules() -> Response:
        return rules_response(services.rules.text(store.current()))

    @bp.get("/SLA/<sla_id>/rules")
    def sla_rules(sla_id: str) -> Response:
        sla = store.get(parse_id(sla_id))
        if sla is None:
            raise NotFound(f"no SLA with id {sla_id}")
        return rules_response(services.rules.text([sla]))

    @bp.post("/SLA")
    @access.work
    def define_sla() -> tuple[Response, int]:
        definition = parse_sla(
            openslo.request_body(),  # our JSON, or an OpenSLO SLO (YAML or JSON)
            services.prometheus_settings.selector,
            settings.max_metrics,
            limits,
            longest_window_seconds=lookback.total_seconds(),
        )
        check_known(
            definition,
            prometheus,
            lookback,
            settings.validation_timeout_seconds,
            settings.max_series_per_metric,
        )
        problem = services.rules.refused(definition)
        if problem:
            raise BadRequest(problem)
        stored = store.define(definition, settings.max_current)
        services.rules.publish()
        return jsonify(stored.to_dict()), 201

    @bp.get("/SLA")
    def list_slas() -> Response:
        return jsonify({"slas": [sla.to_dict() for sla in store.current()]})

    @bp.get("/SLA/<sla_id>")
    def show_sla(sla_id: str) -> Response:
        output = request.args.get("format", "json")
        if output not in ("json", "openslo"):
            raise BadRequest(f"format must be json or openslo, got {output[:40]!r}")
        sla = store.get(parse_id(sla_id))
        if sla is None:
            raise NotFound(f"no SLA with id {sla_id}")
        if output == "openslo":
            return Response(openslo.dump(openslo.to_openslo(sla)), mimetype="application/yaml")
        return jsonify(sla.to_dict())

    @bp.delete("/SLA/<sla_id>")
    @access.admin
    def retire_sla(sla_id: str) -> Response:
        sla = store.retire(parse_id(sla_id))
        if sla is None:
            raise NotFound(f"no SLA with id {sla_id}")
        services.rules.publish()
        return jsonify(sla.to_dict())

    @bp.get("/assess_Violations")  # the seed's GET
    @bp.post("/assess_Violations", endpoint="assess_violations_post")
    @access.work
    def assess_violations() -> Response:
        return jsonify({"slas": assessor.assess(chosen())})

    @bp.get("/get_Violations")
    def get_violations() -> Response:
        return jsonify({"slas": latest(chosen())})

    @bp.get("/get_Violations_Num")
    def get_violations_num() -> Response:
        return jsonify({"slas": [count_violations(result) for result in latest(chosen())]})

    @bp.get("/get_SLA_status")
    def get_sla_status() -> Response:
        return jsonify({"slas": [sla_status(result) for result in latest(chosen())]})

    @bp.get("/get_SLA_pred")
    def get_sla_pred() -> Response:
        return jsonify({"slas": [predictions(result, full=True) for result in latest(chosen())]})

    @bp.get("/get_SLA_pred_status")
    def get_sla_pred_status() -> Response:
        return jsonify({"slas": [predictions(result, full=False) for result in latest(chosen())]})

    return bp


def parse_id(raw: str) -> int:
    # isascii: str.isdigit() is also true of digits int() refuses, such as "²" (was a 500)
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise NotFound(f"no SLA with id {raw[:40]!r}: ids are positive integers")
    return int(raw)


def count_violations(result: dict[str, Any]) -> dict[str, Any]:
    """Totals per window over every metric and series of one SLA (each window on its own)."""
    totals: dict[str, dict[str, float]] = {}
    for metric in result["metrics"]:
        for series in metric["series"]:
            for window, figures in series["windows"].items():
                total = totals.setdefault(
                    window, {"samples_outside": 0, "episodes": 0, "seconds_outside": 0.0}
                )
                for key in total:
                    total[key] += figures[key]
    return {"sla": result["sla"], "window_end": result["window_end"], "windows": totals}


def per_series(
    result: dict[str, Any], view: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """The assessment's SLA, metrics and their ranges, with `view` of each series."""
    return {
        "sla": result["sla"],
        "window_end": result["window_end"],
        "metrics": [
            {
                "name": metric["name"],
                "min": metric["min"],
                "max": metric["max"],
                "reason": metric["reason"],
                "series": [view(series) for series in metric["series"]],
            }
            for metric in result["metrics"]
        ],
    }


def sla_status(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("samples_outside", "episodes", "seconds_outside", "within_range_ratio")

    def status(series: dict[str, Any]) -> dict[str, Any]:
        return {
            "series": series["series"],
            "in_range_now": series["in_range_now"],
            "windows": {
                window: {
                    "compliant": figures["samples_outside"] == 0,
                    **{key: figures[key] for key in keys},
                }
                for window, figures in series["windows"].items()
            },
        }

    return per_series(result, status)


def predictions(result: dict[str, Any], full: bool) -> dict[str, Any]:
    keep = (
        "state",
        "likely",
        "exit_probability",
        "first_likely_violation",
        "first_exit_earliest",
        "first_exit_latest",
        "max_probability",
        "horizon_minutes",
        "reason",
    )

    def prediction(series: dict[str, Any]) -> dict[str, Any]:
        found = series["prediction"]
        return {"series": series["series"], **(found if full else {k: found[k] for k in keep})}

    return per_series(result, prediction)
