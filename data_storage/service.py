"""The storage service's composition root: consumer, database, health and metrics over HTTP."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask
from prometheus_client import CollectorRegistry
from werkzeug.serving import BaseWSGIServer, make_server

from data_storage.consumer import StorageConsumer, StorageMetrics
from data_storage.settings import StorageSettings
from monitoring_core.db import Database
from monitoring_core.kafka import check_broker
from monitoring_core.openapi import register_openapi
from monitoring_core.settings import AccessSettings, KafkaSettings, MySQLSettings
from monitoring_core.web import check_dependency, create_service_app

# The loop polls at least every half second; this long without a poll means it is stuck.
STALE_SECONDS = 30.0


class StorageService:
    """Builds the real adapters once; `serve()` runs the HTTP thread and the consume loop."""

    def __init__(
        self,
        settings: StorageSettings | None = None,
        kafka: KafkaSettings | None = None,
        mysql: MySQLSettings | None = None,
        access: AccessSettings | None = None,
    ) -> None:
        self.settings = settings or StorageSettings()
        self.kafka = kafka or KafkaSettings()
        self.db = Database(mysql or MySQLSettings(), "storage")
        self.registry = CollectorRegistry()
        self.metrics = StorageMetrics(self.registry)
        self.consumer = StorageConsumer(self.kafka, self.db, self.settings, self.metrics)
        self.access = access or AccessSettings()
        self.app = create_app(self)
        self._server: BaseWSGIServer | None = None

    def check_consumer(self) -> None:
        if not self.consumer.running:
            raise RuntimeError("the consumer is not running")
        idle = time.monotonic() - self.consumer.heartbeat
        if idle > STALE_SECONDS:
            raise RuntimeError(f"the consumer has not polled for {idle:.0f}s")

    def check_kafka(self) -> None:
        check_broker(self.kafka, topic=self.kafka.topic)

    def health(self) -> dict[str, Any]:
        return {
            "consumer": check_dependency(self.check_consumer),
            "database": check_dependency(self.db.ping),
            "kafka": check_dependency(self.check_kafka),
        }

    def start_http(self) -> int:
        """Serve /health and /internal/metrics in a daemon thread; return the bound port."""
        self._server = make_server(self.settings.host, self.settings.port, self.app, threaded=True)
        threading.Thread(target=self._server.serve_forever, name="http", daemon=True).start()
        return self._server.server_port

    def serve(self) -> None:
        """Block in the consume loop until `stop()`; the HTTP thread ends with it."""
        self.start_http()
        try:
            self.consumer.run()
        finally:
            if self._server is not None:
                self._server.shutdown()

    def stop(self) -> None:
        self.consumer.stop()


def create_app(service: StorageService) -> Flask:
    app = create_service_app(
        "data_storage", service.registry, health=service.health, access_settings=service.access
    )
    register_openapi(app, Path(__file__).with_name("openapi.yaml"))
    return app
