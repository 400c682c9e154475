"""`create_app`: the SLA manager's Flask app over what `bootstrap` built; it starts nothing
(the periodic assessment and the rules run in `worker.py`, started by `wsgi.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from monitoring_core.openapi import register_openapi
from monitoring_core.web import access_of, check_dependency, create_service_app
from sla_manager.bootstrap import SLAServices, bootstrap
from sla_manager.routes import create_blueprint


def create_app(services: SLAServices | None = None) -> Flask:
    """The app with the shared routes (/health, /internal/metrics) and the SLA routes."""
    services = services or bootstrap()

    def health() -> dict[str, Any]:
        return {
            "mysql": check_dependency(services.store.check),
            "prometheus": check_dependency(lambda: services.prometheus.query("vector(1)")),
        }

    app = create_service_app(
        "sla_manager",
        services.registry,
        health,
        services.settings.max_body_bytes,
        access_settings=services.access_settings,
        live=services.live,
    )
    register_openapi(app, Path(__file__).with_name("openapi.yaml"))
    app.register_blueprint(create_blueprint(services, access_of(app)))
    return app
