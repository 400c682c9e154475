"""The ETL's HTTP API: the seed's routes over the last run, run now, choose forecasts.

Routes: GET /metrics/<window> (stage timings of the last good run), GET or POST /regen_data
(run a cycle now, admin; joins the cycle already running, if any), GET /all_data
(the last good run's results), POST /forecasting (admin: choose the forecast metrics and
horizon, run a cycle, answer their forecasts; 409 while a cycle runs), GET /forecasting (the
current choice), plus the shared /health and /internal/metrics.
"""

from __future__ import annotations

import atexit
import logging
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify
from prometheus_client import CollectorRegistry

from monitoring_core.kafka import check_broker
from monitoring_core.openapi import register_openapi
from monitoring_core.prometheus import PrometheusClient
from monitoring_core.promql_guard import check_named_expressions
from monitoring_core.settings import (
    AccessSettings,
    KafkaSettings,
    PrometheusSettings,
    PromQLSettings,
)
from monitoring_core.web import (
    BadRequest,
    NotFound,
    access_of,
    check_dependency,
    create_service_app,
    error_response,
    json_body,
)

from .pipeline import ForecastConfig, Pipeline
from .results import RunResult
from .service import ETLService, RunInProgress, Telemetry
from .settings import ETLSettings

log = logging.getLogger(__name__)
MAX_FORECAST_METRICS = 100
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class NoResults(Exception):
    """No cycle has completed yet; answered 503 with the last attempt's reason."""


def create_app(
    settings: ETLSettings | None = None,
    prometheus_settings: PrometheusSettings | None = None,
    kafka_settings: KafkaSettings | None = None,
    prometheus: PrometheusClient | None = None,
    access_settings: AccessSettings | None = None,
) -> Flask:
    """Build the app, its Prometheus client and Kafka producer, and start the scheduler.

    `prometheus` replaces the client built from `prometheus_settings` (unit tests pass a
    fake source there, the only boundary they fake).
    """
    settings = settings or ETLSettings()
    kafka_settings = kafka_settings or KafkaSettings()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)

    prometheus_settings = prometheus_settings or PrometheusSettings()
    # ETL_METRIC_EXPRESSIONS pass the SLA expressions' checks, or the service does not start.
    settings = settings.model_copy(
        update={
            "metric_expressions": check_named_expressions(
                settings.metric_expressions,
                prometheus_settings,
                PromQLSettings(),
                settings.longest_window,
            )
        }
    )
    prometheus = prometheus or PrometheusClient(prometheus_settings)
    pipeline = Pipeline(settings, prometheus, None, kafka_settings)
    registry = CollectorRegistry()
    service = ETLService(
        pipeline,
        ForecastConfig(settings.forecast_metric_names, settings.horizon_minutes),
        Telemetry.create(registry),
        settings.interval_seconds,
    )

    def health() -> dict[str, Any]:
        return {
            "prometheus": check_dependency(lambda: prometheus.query("vector(1)")),
            "kafka": check_dependency(lambda: check_broker(pipeline.kafka_settings)),
        }

    app = create_service_app(
        "etl_pipeline", registry, health, settings.max_body_bytes, access_settings=access_settings
    )
    register_openapi(app, Path(__file__).with_name("openapi.yaml"))
    app.extensions["etl_pipeline"] = service
    access = access_of(app)

    @app.errorhandler(NoResults)
    def _no_results(exc: NoResults) -> tuple[Response, int]:
        attempt = service.last_attempt()
        details = {"last_attempt": attempt.summary()} if attempt else {}
        return error_response(503, "no_results", str(exc), **details)

    @app.errorhandler(RunInProgress)
    def _in_progress(exc: RunInProgress) -> tuple[Response, int]:
        return error_response(409, "run_in_progress", str(exc), run_id=exc.run_id)

    def last_good() -> RunResult:
        run = service.last_good()
        if run is None:
            attempt = service.last_attempt()
            if attempt is not None and attempt.reason:
                raise NoResults(f"no cycle has completed yet; the last failed: {attempt.reason}")
            raise NoResults("no cycle has completed yet: GET /regen_data runs one now")
        return run

    def finished(run: RunResult) -> RunResult:
        """The run if it completed; else the 503 (dependency down) or 500 it deserves."""
        if run.status == "complete":
            return run
        good = service.last_good()
        details = {"run": run.summary(), "last_good_run_id": good.run_id if good else None}
        status, error = (503, "dependency_unavailable") if run.unavailable else (500, "run_failed")
        raise _Answer(error_response(status, error, run.reason or "the run failed", **details))

    @app.errorhandler(_Answer)
    def _answer(exc: _Answer) -> tuple[Response, int]:
        return exc.response

    @app.get("/metrics/<window>")
    def window_timings(window: str) -> Response:
        if window not in settings.window_durations:
            raise NotFound(f"unknown window {window!r}", known=list(settings.window_durations))
        return jsonify(last_good().window_timings(window))

    @app.get("/regen_data")  # the seed's GET
    @app.post("/regen_data", endpoint="regen_data_post")
    @access.work
    def regen_data() -> Response:
        return jsonify(finished(service.run_now(join=True)).summary())

    @app.get("/all_data")
    def all_data() -> Response:
        run = last_good()
        attempt = service.last_attempt()
        body: dict[str, Any] = {"run": run.summary()}
        if attempt is not None and attempt.run_id != run.run_id:
            body["last_attempt"] = attempt.summary()
        body["series"] = run.series_results()
        return jsonify(body)

    @app.get("/forecasting")
    def forecasting_settings() -> Response:
        config = service.forecast
        return jsonify(
            {
                "metrics": list(config.metrics),
                "horizon_minutes": config.horizon_minutes,
                "horizon_range": [settings.bucket_minutes, settings.max_horizon_minutes],
            }
        )

    @app.post("/forecasting")
    @access.work
    def forecasting() -> Response:
        config = parse_forecasting(json_body(), service, settings)
        run = finished(service.run_now(config))
        wanted = set(config.metrics)
        series = [
            {
                "series": entry["series"],
                "windows": {w: part["forecasts"] for w, part in entry["windows"].items()},
            }
            for entry in run.series_results(wanted)
        ]
        return jsonify(
            {
                "run_id": run.run_id,
                "metrics": list(config.metrics),
                "horizon_minutes": config.horizon_minutes,
                "series": series,
            }
        )

    if settings.scheduler_enabled:
        service.start_scheduler()

    atexit.register(service.stop)
    return app


class _Answer(Exception):
    """A finished response raised from a helper (a failed run's 503/500 with its summary)."""

    def __init__(self, response: tuple[Response, int]) -> None:
        super().__init__("answer")
        self.response = response


def parse_forecasting(body: Any, service: ETLService, settings: ETLSettings) -> ForecastConfig:
    """Validate `{"metrics": [...], "horizon_minutes": n}` against the known metric names."""
    if not isinstance(body, dict):
        raise BadRequest('body must be a JSON object {"metrics": [...], "horizon_minutes": n}')
    extra = sorted(set(body) - {"metrics", "horizon_minutes"})
    if extra:
        raise BadRequest(f"unknown fields: {extra}", allowed=["metrics", "horizon_minutes"])
    metrics = body.get("metrics")
    if (
        not isinstance(metrics, list)
        or not metrics
        or not all(isinstance(m, str) and m for m in metrics)
    ):
        raise BadRequest('"metrics" must be a non-empty list of metric names')
    if len(metrics) > MAX_FORECAST_METRICS:
        raise BadRequest(f'"metrics" has {len(metrics)} names; at most {MAX_FORECAST_METRICS}')
    known = sorted(service.pipeline.known_metrics())
    unknown = sorted(set(metrics) - set(known))
    if unknown:
        raise BadRequest(f"unknown metrics: {unknown}", known=known)
    horizon = body.get("horizon_minutes", service.forecast.horizon_minutes)
    low, high = settings.bucket_minutes, settings.max_horizon_minutes
    if isinstance(horizon, bool) or not isinstance(horizon, int) or not low <= horizon <= high:
        raise BadRequest(
            f'"horizon_minutes" must be a whole number of minutes from {low} to {high}',
            horizon_range=[low, high],
            known=known,
        )
    return ForecastConfig(tuple(dict.fromkeys(metrics)), horizon)
