"""`create_app`: the storage service's HTTP side, the shared /health and /internal/metrics
over what `bootstrap` built (it has no routes of its own); it starts nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flask import Flask

from data_storage.bootstrap import StorageServices, bootstrap
from monitoring_core.kafka import check_broker
from monitoring_core.openapi import register_openapi
from monitoring_core.web import check_dependency, create_service_app

# The loop polls at least every half second; this long without a poll means it is stuck.
STALE_SECONDS = 30.0


def create_app(services: StorageServices | None = None) -> Flask:
    services = services or bootstrap()

    def check_consumer() -> None:
        consumer = services.consumer
        if not consumer.running:
            raise RuntimeError("the consumer is not running")
        idle = time.monotonic() - consumer.heartbeat
        if idle > STALE_SECONDS:
            raise RuntimeError(f"the consumer has not polled for {idle:.0f}s")

    def health() -> dict[str, Any]:
        return {
            "consumer": check_dependency(check_consumer),
            "database": check_dependency(services.db.ping),
            "kafka": check_dependency(
                lambda: check_broker(services.kafka, topic=services.kafka.topic)
            ),
        }

    app = create_service_app(
        "data_storage", services.registry, health, access_settings=services.access_settings
    )
    register_openapi(app, Path(__file__).with_name("openapi.yaml"))
    return app
