"""`python -m data_storage`: consume the results topic into MySQL until SIGTERM, with /health
and /internal/metrics on STORAGE_PORT."""

from __future__ import annotations

import signal
import sys

from data_storage.app import create_app
from data_storage.bootstrap import bootstrap
from data_storage.worker import start_http, start_worker
from monitoring_core.logs import configure_logging


def main() -> int:
    configure_logging()
    services = bootstrap()
    server = start_http(services, create_app(services))
    scheduler = start_worker(services)
    # SIGTERM: finish the batch in hand, commit it, and leave.
    signal.signal(signal.SIGTERM, lambda *_: scheduler.stop(timeout=0))
    signal.signal(signal.SIGINT, lambda *_: scheduler.stop(timeout=0))
    try:
        scheduler.wait()
    finally:
        server.shutdown()
    return 1 if scheduler.failed else 0


if __name__ == "__main__":
    sys.exit(main())
