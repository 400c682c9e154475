"""The ETL process: `gunicorn 'etl_pipeline.wsgi:application()'` (one worker).

Builds the service from the environment, starts its scheduler's ticks in this (the worker)
process, and hands gunicorn the app; at exit the ticks stop, the locks are released and the
producer flushes.
"""

from __future__ import annotations

import atexit

from flask import Flask

from monitoring_core.logs import configure_logging

from .app import create_app
from .bootstrap import bootstrap
from .worker import start_worker


def application() -> Flask:
    configure_logging()
    services = bootstrap()
    scheduler = start_worker(services)

    def shutdown() -> None:
        scheduler.stop()
        services.scheduler.close()  # gives the locks up: a standby leads at its next tick
        services.service.close()

    atexit.register(shutdown)
    return create_app(services)
