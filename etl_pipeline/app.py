"""`create_app`: the ETL's Flask app over what `bootstrap` built; it starts nothing (the
cycles run in `worker.py`, started by the entry point `wsgi.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from monitoring_core.kafka import check_broker
from monitoring_core.openapi import register_openapi
from monitoring_core.web import access_of, check_dependency, create_service_app

from .bootstrap import ETLServices, bootstrap
from .routes import create_blueprint


def create_app(services: ETLServices | None = None) -> Flask:
    """The app with the shared routes (/health, /internal/metrics) and the ETL's own."""
    services = services or bootstrap()

    def health() -> dict[str, Any]:
        kafka = services.pipeline.publishing.kafka_settings
        return {
            "prometheus": check_dependency(lambda: services.prometheus.query("vector(1)")),
            "kafka": check_dependency(lambda: check_broker(kafka)),
        }

    app = create_service_app(
        "etl_pipeline",
        services.registry,
        health,
        services.settings.max_body_bytes,
        access_settings=services.access_settings,
    )
    register_openapi(app, Path(__file__).with_name("openapi.yaml"))
    app.register_blueprint(create_blueprint(services, access_of(app)))
    return app
