"""The ETL process: `gunicorn 'etl_pipeline.wsgi:application()'` (any number of workers and
replicas: every answer is read from MySQL).

Builds the service from the environment, starts its scheduler's ticks in this (the worker)
process, and hands gunicorn the app; the process elected through MySQL runs the cycles. At
exit the ticks stop, the locks are given up (a standby leads at its next tick) and the
producer flushes.
"""

from __future__ import annotations

from flask import Flask

from monitoring_core.web import serve_with_worker

from .app import create_app
from .bootstrap import bootstrap
from .worker import start_worker


def application() -> Flask:
    return serve_with_worker(bootstrap, start_worker, create_app)
