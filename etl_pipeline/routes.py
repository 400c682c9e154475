"""The ETL's HTTP API: the seed's routes over the last run, run now, choose forecasts.

Routes: GET /metrics/<window> (stage timings of the last good run), GET or POST /regen_data
(run a cycle now, admin; joins the cycle already running, if any), GET /all_data
(the last good run's results), POST /forecasting (admin: choose the forecast metrics and
horizon, run a cycle, answer their forecasts; 409 while a cycle runs), GET /forecasting (the
current choice). The shared /health and /internal/metrics come from `app.py`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from monitoring_core.auth import Access
from monitoring_core.web import BadRequest, NotFound, error_response, json_body

from .analysis import ForecastConfig
from .bootstrap import ETLServices
from .results import RunResult
from .service import ETLService, RunInProgress
from .settings import ETLSettings

MAX_FORECAST_METRICS = 100


class NoResults(Exception):
    """No cycle has completed yet; answered 503 with the last attempt's reason."""


def create_blueprint(services: ETLServices, access: Access) -> Blueprint:
    """The routes over `services`; `access` marks who may call each."""
    settings, service = services.settings, services.service
    bp = Blueprint("etl", __name__)

    @bp.errorhandler(NoResults)
    def _no_results(exc: NoResults) -> tuple[Response, int]:
        attempt = service.last_attempt()
        details = {"last_attempt": attempt.summary()} if attempt else {}
        return error_response(503, "no_results", str(exc), **details)

    @bp.errorhandler(RunInProgress)
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

    @bp.errorhandler(_Answer)
    def _answer(exc: _Answer) -> tuple[Response, int]:
        return exc.response

    @bp.get("/metrics/<window>")
    def window_timings(window: str) -> Response:
        if window not in settings.window_durations:
            raise NotFound(f"unknown window {window!r}", known=list(settings.window_durations))
        return jsonify(last_good().window_timings(window))

    @bp.get("/regen_data")  # the seed's GET
    @bp.post("/regen_data", endpoint="regen_data_post")
    @access.work
    def regen_data() -> Response:
        return jsonify(finished(service.run_now(join=True)).summary())

    @bp.get("/all_data")
    def all_data() -> Response:
        run = last_good()
        attempt = service.last_attempt()
        body: dict[str, Any] = {"run": run.summary()}
        if attempt is not None and attempt.run_id != run.run_id:
            body["last_attempt"] = attempt.summary()
        body["series"] = run.series_results()
        return jsonify(body)

    @bp.get("/forecasting")
    def forecasting_settings() -> Response:
        config = service.forecast
        return jsonify(
            {
                "metrics": list(config.metrics),
                "horizon_minutes": config.horizon_minutes,
                "horizon_range": [settings.bucket_minutes, settings.max_horizon_minutes],
            }
        )

    @bp.post("/forecasting")
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

    return bp


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
