"""`create_app`: the read API over what `bootstrap` built: the seed's /metrics routes, the
dashboard, the OpenAPI document and docs; it starts nothing and does no I/O."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from data_retrieval.bootstrap import RetrievalServices, bootstrap
from data_retrieval.dashboard import create_dashboard
from data_retrieval.routes import create_blueprint
from monitoring_core.openapi import register_openapi
from monitoring_core.web import check_dependency, create_service_app

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")


def create_app(services: RetrievalServices | None = None) -> Flask:
    services = services or bootstrap()
    db, reader, prometheus = services.db, services.reader, services.prometheus
    app = create_service_app(
        "data_retrieval",
        services.registry,
        health=lambda: {"database": check_dependency(db.ping)},
        access_settings=services.access_settings,
    )
    app.register_blueprint(create_blueprint(services))
    app.register_blueprint(create_dashboard(reader, prometheus))
    register_openapi(app, OPENAPI_PATH)
    return app
