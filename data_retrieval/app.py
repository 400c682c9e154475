"""The read API: the seed's /metrics routes over MySQL, its OpenAPI document and docs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from prometheus_client import CollectorRegistry

from data_retrieval.dashboard import create_dashboard
from data_retrieval.params import check_metric, parse_query
from data_retrieval.queries import FORECASTS_KIND, METADATA_KIND, STATISTICS_KIND, Reader, ReadKind
from data_retrieval.settings import RetrievalSettings
from monitoring_core.db import Database
from monitoring_core.openapi import register_openapi
from monitoring_core.prometheus import PrometheusClient
from monitoring_core.settings import AccessSettings, MySQLSettings, PrometheusSettings
from monitoring_core.web import check_dependency, create_service_app

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")
DATA_PARAMS = frozenset({"window", "run", "limit", "offset"})


def create_app(
    settings: RetrievalSettings | None = None,
    mysql: MySQLSettings | None = None,
    prometheus: PrometheusSettings | None = None,
    access_settings: AccessSettings | None = None,
) -> Flask:
    """Build the app and its (lazy) pool as the read-only database role; no I/O happens here.

    Prometheus is read by the dashboard's samples route only (PROMETHEUS_URL).
    """
    settings = settings or RetrievalSettings()
    db = Database(mysql or MySQLSettings(), "retrieval", read_only=True)
    reader = Reader(db)
    registry = CollectorRegistry()
    app = create_service_app(
        "data_retrieval",
        registry,
        health=lambda: {"database": check_dependency(db.ping)},
        access_settings=access_settings,
    )

    def query_of(allowed: frozenset[str]) -> Any:
        return parse_query(
            request.args.items(multi=True),
            allowed=allowed,
            default_limit=settings.history_default_limit,
            max_limit=settings.history_max_limit,
        )

    def read(kind: ReadKind, name: str, allowed: frozenset[str] = DATA_PARAMS) -> Response:
        check_metric(name)
        return jsonify(reader.read(kind, name, query_of(allowed)))

    @app.get("/metrics")
    def list_metrics() -> Response:
        return jsonify(reader.list_series(query_of(frozenset())))

    @app.get("/metrics/metric/<name>")
    def statistics(name: str) -> Response:
        return read(STATISTICS_KIND, name)

    @app.get("/metrics/metadati/<name>")
    @app.get("/metrics/metadata/<name>", endpoint="metadata_en")
    def metadata(name: str) -> Response:
        return read(METADATA_KIND, name)

    @app.get("/metrics/forecasting/<name>")
    def forecasting(name: str) -> Response:
        return read(FORECASTS_KIND, name, DATA_PARAMS | {"aggregate"})

    app.register_blueprint(
        create_dashboard(reader, PrometheusClient(prometheus or PrometheusSettings()))
    )
    register_openapi(app, OPENAPI_PATH)
    return app
