"""The seed's /metrics routes over MySQL: the series list, and each metric's statistics,
metadata and forecasts (the dashboard's routes are `dashboard.py`'s blueprint)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from data_retrieval.bootstrap import RetrievalServices
from monitoring_core.params import check_metric, parse_query
from monitoring_core.results_read import FORECASTS_KIND, METADATA_KIND, STATISTICS_KIND, ReadKind

DATA_PARAMS = frozenset({"window", "run", "limit", "offset", "next"})
LIST_PARAMS = frozenset({"metric", "limit", "next"})


def create_blueprint(services: RetrievalServices) -> Blueprint:
    limits, reader = services.settings.limits, services.reader
    bp = Blueprint("retrieval", __name__)

    def query_of(allowed: frozenset[str]) -> Any:
        return parse_query(request.args.items(multi=True), allowed=allowed, limits=limits)

    def read(kind: ReadKind, name: str, allowed: frozenset[str] = DATA_PARAMS) -> Response:
        check_metric(name)
        return jsonify(reader.read(kind, name, query_of(allowed)))

    @bp.get("/metrics")
    def list_metrics() -> Response:
        return jsonify(reader.list_series(query_of(LIST_PARAMS)))

    @bp.get("/metrics/metric/<name>")
    def statistics(name: str) -> Response:
        return read(STATISTICS_KIND, name)

    @bp.get("/metrics/metadati/<name>")
    @bp.get("/metrics/metadata/<name>", endpoint="metadata_en")
    def metadata(name: str) -> Response:
        return read(METADATA_KIND, name)

    @bp.get("/metrics/forecasting/<name>")
    def forecasting(name: str) -> Response:
        return read(FORECASTS_KIND, name, DATA_PARAMS | {"aggregate"})

    return bp
