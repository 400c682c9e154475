"""The SLA manager's HTTP API: define SLAs, assess past and predicted violations, report them.

Which SLAs a report covers: every current SLA, or the one named by ``?sla=<id>``. The
report routes (all but ``/assess_Violations``) answer from each SLA's last stored
assessment; an SLA that has none yet is assessed on the spot.

Defining, retiring and assessing need the admin token (`monitoring_core.auth`); defining and
assessing are also rate limited per client.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from prometheus_client import CollectorRegistry

from monitoring_core.db import Database, DatabaseUnavailable
from monitoring_core.openapi import register_openapi
from monitoring_core.prometheus import PrometheusClient, PrometheusUnavailable
from monitoring_core.promql_guard import limits_for
from monitoring_core.settings import (
    AccessSettings,
    MySQLSettings,
    PrometheusSettings,
    PromQLSettings,
)
from monitoring_core.web import (
    BadRequest,
    NotFound,
    access_of,
    check_dependency,
    create_service_app,
)
from sla_manager import openslo
from sla_manager.assessment import Assessor
from sla_manager.exporter import SLAStatusCollector
from sla_manager.rulegen import RulesPublisher, rule_file, rule_problem
from sla_manager.rules import SLADefinition, check_known, parse_sla
from sla_manager.settings import SLASettings
from sla_manager.store import SLAStore, StoredSLA
from sla_manager.webhook import Notifier

log = logging.getLogger(__name__)


def create_app(
    settings: SLASettings | None = None,
    prometheus_settings: PrometheusSettings | None = None,
    mysql_settings: MySQLSettings | None = None,
    access_settings: AccessSettings | None = None,
    promql_settings: PromQLSettings | None = None,
) -> Flask:
    """Build the app, its pool, clients and (when configured) the periodic assessment."""
    settings = settings or SLASettings()
    prometheus_settings = prometheus_settings or PrometheusSettings()
    mysql_settings = mysql_settings or MySQLSettings()
    prometheus = PrometheusClient(prometheus_settings)
    store = SLAStore(Database(mysql_settings, "sla"))
    notifier = None
    if settings.webhook_url:
        notifier = Notifier(
            settings.webhook_url,
            settings.webhook_retries,
            settings.webhook_backoff_seconds,
            settings.webhook_timeout_seconds,
        )
    lookback = max(settings.window_durations.values())
    limits = limits_for(prometheus_settings, promql_settings or PromQLSettings(), lookback)
    assessor = Assessor(settings, prometheus, store, notifier, limits)

    registry = CollectorRegistry()
    registry.register(SLAStatusCollector(store))

    def health() -> dict[str, Any]:
        return {
            "mysql": check_dependency(store.check),
            "prometheus": check_dependency(lambda: prometheus.query("vector(1)")),
        }

    app = create_service_app(
        "sla_manager", registry, health, settings.max_body_bytes, access_settings=access_settings
    )
    access = access_of(app)
    register_openapi(app, Path(__file__).with_name("openapi.yaml"))
    app.extensions["sla_manager"] = assessor

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

    # ---- Prometheus rules generated from the SLAs (sla_manager/rulegen.py) -------------------
    publisher = RulesPublisher(settings.rules_file, settings.prometheus_reload_url)

    def rules_response(slas: list[StoredSLA]) -> Response:
        text = rule_file(
            [sla.definition for sla in slas],
            list(settings.window_durations),
            assessor.step_seconds,
            settings.likely_probability,
        )
        return Response(text, mimetype="application/yaml")

    probes: dict[str, str | None] = {}  # what Prometheus said of each rule expression

    def rules_refused(definition: SLADefinition) -> str | None:
        return rule_problem(definition, prometheus.query, probes)

    def publish_rules() -> None:
        """Rewrite the rule file Prometheus loads (when configured) and reload Prometheus.

        An SLA whose rules Prometheus would refuse is left out (one bad group would stop the
        whole file from loading); since POST /SLA refuses those, only older SLAs can be."""
        if publisher.path is None:
            return
        try:
            slas = []
            for sla in store.current():
                problem = rules_refused(sla.definition)
                if problem:
                    log.warning("SLA %s left out of the rule file: %s", sla.name, problem)
                else:
                    slas.append(sla)
            publisher.publish(rules_response(slas).get_data(as_text=True))
        except (DatabaseUnavailable, PrometheusUnavailable) as exc:
            log.warning("rules not published: %s", exc)

    @app.get("/rules")
    def all_rules() -> Response:
        return rules_response(store.current())

    @app.get("/SLA/<sla_id>/rules")
    def sla_rules(sla_id: str) -> Response:
        sla = store.get(parse_id(sla_id))
        if sla is None:
            raise NotFound(f"no SLA with id {sla_id}")
        return rules_response([sla])

    # ---- end of the rules ----------------------------------------------------------------------

    @app.post("/SLA")
    @access.work
    def define_sla() -> tuple[Response, int]:
        definition = parse_sla(
            openslo.request_body(),  # our JSON, or an OpenSLO SLO (YAML or JSON)
            prometheus_settings.selector,
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
        problem = rules_refused(definition)
        if problem:
            raise BadRequest(problem)
        stored = store.define(definition, settings.max_current)
        publish_rules()
        return jsonify(stored.to_dict()), 201

    @app.get("/SLA")
    def list_slas() -> Response:
        return jsonify({"slas": [sla.to_dict() for sla in store.current()]})

    @app.get("/SLA/<sla_id>")
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

    @app.delete("/SLA/<sla_id>")
    @access.admin
    def retire_sla(sla_id: str) -> Response:
        sla = store.retire(parse_id(sla_id))
        if sla is None:
            raise NotFound(f"no SLA with id {sla_id}")
        publish_rules()
        return jsonify(sla.to_dict())

    @app.get("/assess_Violations")  # the seed's GET
    @app.post("/assess_Violations", endpoint="assess_violations_post")
    @access.work
    def assess_violations() -> Response:
        return jsonify({"slas": assessor.assess(chosen())})

    @app.get("/get_Violations")
    def get_violations() -> Response:
        return jsonify({"slas": latest(chosen())})

    @app.get("/get_Violations_Num")
    def get_violations_num() -> Response:
        return jsonify({"slas": [count_violations(result) for result in latest(chosen())]})

    @app.get("/get_SLA_status")
    def get_sla_status() -> Response:
        return jsonify({"slas": [sla_status(result) for result in latest(chosen())]})

    @app.get("/get_SLA_pred")
    def get_sla_pred() -> Response:
        return jsonify({"slas": [predictions(result, full=True) for result in latest(chosen())]})

    @app.get("/get_SLA_pred_status")
    def get_sla_pred_status() -> Response:
        return jsonify({"slas": [predictions(result, full=False) for result in latest(chosen())]})

    stop = threading.Event()
    if settings.assessment_interval_seconds > 0:
        start_periodic_assessment(
            assessor, store, settings.assessment_interval_seconds, stop, publish_rules
        )
    if publisher.path is not None:  # the file may be missing or stale after a restart
        threading.Thread(target=publish_rules, name="sla-rules", daemon=True).start()

    def shutdown() -> None:
        """Stop the periodic assessment and the webhook thread (at interpreter exit)."""
        stop.set()
        if notifier is not None:
            notifier.close()

    atexit.register(shutdown)
    return app


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


def start_periodic_assessment(
    assessor: Assessor,
    store: SLAStore,
    interval: float,
    stop: threading.Event,
    after_round: Callable[[], None] | None = None,
) -> threading.Thread:
    """Assess every current SLA every ``interval`` seconds in a daemon thread, until ``stop``
    is set; then ``after_round`` (the rules: another worker may have changed the SLAs)."""

    def run() -> None:
        while not stop.wait(interval):
            try:
                assessor.assess(store.current())
                if after_round is not None:
                    after_round()
            except Exception:  # noqa: BLE001 - a failed round must not end the schedule
                log.exception("periodic SLA assessment failed; retrying in %s s", interval)

    thread = threading.Thread(target=run, name="sla-assessment", daemon=True)
    thread.start()
    return thread
