"""The ETL's HTTP API: the seed's routes over the stored runs, run now, choose forecasts.

Routes: GET /metrics/<window> (stage timings of a run, the last complete one by default), GET or
POST /regen_data (run a cycle now, admin; joins the cycle already running in any process, if
any), GET /all_data (a run's results, a page of series at a time), POST /forecasting (admin:
choose the forecast metrics and horizon, run a cycle, answer the first page of their
forecasts; 409 while a cycle runs), GET /forecasting (the current choice). Every answer is read
from MySQL (`store.RunStore`): no process keeps a run. The shared /health and /internal/metrics
come from `app.py`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from monitoring_core.auth import Access
from monitoring_core.params import HISTORY, LATEST, Cursor, Limits, Query, parse_query
from monitoring_core.web import BadRequest, NotFound, error_response, json_body

from .analysis import ForecastConfig
from .bootstrap import ETLServices
from .results import RunResult
from .service import ETLService, RunInProgress, StorageLagging
from .settings import ETLSettings
from .store import StoredRun

MAX_FORECAST_METRICS = 100
PAGE = frozenset({"run", "limit", "next"})
LIMITS = Limits()


class NoResults(Exception):
    """No cycle has completed yet; answered 503 with the last attempt."""


def create_blueprint(services: ETLServices, access: Access) -> Blueprint:
    """The routes over `services`; `access` marks who may call each."""
    settings, service, store = services.settings, services.service, services.service.store
    bp = Blueprint("etl", __name__)

    @bp.errorhandler(NoResults)
    def _no_results(exc: NoResults) -> tuple[Response, int]:
        attempt = service.last_attempt()
        details = {"last_attempt": attempt.summary()} if attempt else {}
        return error_response(503, "no_results", str(exc), **details)

    @bp.errorhandler(RunInProgress)
    def _in_progress(exc: RunInProgress) -> tuple[Response, int]:
        return error_response(409, "run_in_progress", str(exc), run_id=exc.run_id)

    @bp.errorhandler(StorageLagging)
    def _lagging(exc: StorageLagging) -> tuple[Response, int]:
        return error_response(503, "storage_lagging", str(exc), run_id=exc.run_id)

    @bp.errorhandler(_Answer)
    def _answer(exc: _Answer) -> tuple[Response, int]:
        return exc.response

    def page_query(allowed: frozenset[str] = PAGE) -> Query:
        query = parse_query(request.args.items(multi=True), allowed=allowed, limits=LIMITS)
        if query.labels:
            raise BadRequest("label matchers are not taken here", parameter="label.*")
        if query.run == HISTORY:
            raise BadRequest("run must be 'latest' or a run id", parameter="run")
        return query

    def shown_run(query: Query) -> StoredRun:
        """The run a read asks for: `run=<id>` (404 unless it completed), else the last
        complete one (503 when there is none yet)."""
        if query.run != LATEST:
            run = store.run(query.run)
            if run is None or run.status != "complete":
                state = "no such run" if run is None else f"the run is {run.status}"
                raise NotFound(f"run {query.run!r}: {state}; only a complete run has results")
            return run
        run = service.last_good()
        if run is None:
            attempt = service.last_attempt()
            if attempt is not None and attempt.reason:
                raise NoResults(f"no cycle has completed yet; the last failed: {attempt.reason}")
            raise NoResults("no cycle has completed yet: GET /regen_data runs one now")
        return run

    def pagination(query: Query, page: list[dict[str, Any]], more: bool) -> dict[str, Any]:
        last = page[-1] if page and more else None
        return {
            "limit": query.limit,
            "next": Cursor(last["metric"], last["id"]).encode() if last else None,
        }

    def finished(run: RunResult | StoredRun) -> RunResult | StoredRun:
        """The run if it completed; else the 503 (dependency down) or 500 it deserves."""
        if run.status == "complete":
            return run
        good = service.last_good()
        details = {"run": run.summary(), "last_good_run_id": good.run_id if good else None}
        status, error = (503, "dependency_unavailable") if run.unavailable else (500, "run_failed")
        raise _Answer(error_response(status, error, run.reason or "the run failed", **details))

    @bp.get("/metrics/<window>")
    def window_timings(window: str) -> Response:
        if window not in settings.window_durations:
            raise NotFound(f"unknown window {window!r}", known=list(settings.window_durations))
        query = page_query()
        run = shown_run(query)
        timings, more = store.window_timings(run.run_id, window, query.after, query.limit)
        return jsonify(
            {
                "run_id": run.run_id,
                "window": window,
                "finished_at": run.details.get("finished_at"),
                **timings,
                "pagination": pagination(query, timings["series"], more),
            }
        )

    @bp.get("/regen_data")  # the seed's GET
    @bp.post("/regen_data", endpoint="regen_data_post")
    @access.work
    def regen_data() -> Response:
        return jsonify(finished(service.run_now(join=True)).summary())

    @bp.get("/all_data")
    def all_data() -> Response:
        query = page_query(PAGE | {"metric"})
        run = shown_run(query)
        metrics = [query.metric] if query.metric else None
        page, more = store.series_page(run.run_id, query.after, query.limit, metrics)
        body: dict[str, Any] = {"run": run.summary()}
        attempt = service.last_attempt() if query.run == LATEST else None
        if attempt is not None and attempt.run_id != run.run_id:
            body["last_attempt"] = attempt.summary()
        body["count"] = len(page)
        body["series"] = store.results(run.run_id, page)
        body["pagination"] = pagination(query, page, more)
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
        limit = LIMITS.page_default
        page, more = store.series_page(run.run_id, None, limit, list(config.metrics))
        series = []
        for entry in store.results(run.run_id, page, forecasts_only=True):
            windows = {w: part.get("forecasts", {}) for w, part in entry["windows"].items()}
            series.append({"series": entry["series"], "windows": windows})
        body: dict[str, Any] = {
            "run_id": run.run_id,
            "metrics": list(config.metrics),
            "horizon_minutes": config.horizon_minutes,
            "count": len(series),
            "series": series,
            "more": more,
        }
        if more:
            body["rest"] = (
                f"the first {limit} series only: every page of the others at the read API's"
                f" GET /metrics/forecasting/<metric>?run={run.run_id}"
            )
        return jsonify(body)

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
    horizon = body.get("horizon_minutes")
    if horizon is None:
        horizon = service.forecast.horizon_minutes
    low, high = settings.bucket_minutes, settings.max_horizon_minutes
    if isinstance(horizon, bool) or not isinstance(horizon, int) or not low <= horizon <= high:
        raise BadRequest(
            f'"horizon_minutes" must be a whole number of minutes from {low} to {high}',
            horizon_range=[low, high],
            known=known,
        )
    return ForecastConfig(tuple(dict.fromkeys(metrics)), horizon)
