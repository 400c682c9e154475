"""The storage service's background work: the consume loop (Kafka to MySQL) through the shared
scheduler, and the small HTTP server of /health and /internal/metrics beside it."""

from __future__ import annotations

import threading

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from data_storage.bootstrap import StorageServices
from monitoring_core.scheduler import Scheduler


def start_worker(services: StorageServices) -> Scheduler:
    """Start the consume loop; `stop()` the returned scheduler to end it (the batch in hand is
    finished and committed first)."""
    scheduler = Scheduler()
    scheduler.loop("storage-consumer", services.consumer.run, stop=services.consumer.stop)
    scheduler.start()
    return scheduler


def start_http(services: StorageServices, app: Flask) -> BaseWSGIServer:
    """Serve `app` in a daemon thread on STORAGE_HOST:STORAGE_PORT (0: a free port, see
    `server_port`); `shutdown()` the returned server to stop it."""
    server = make_server(services.settings.host, services.settings.port, app, threaded=True)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
