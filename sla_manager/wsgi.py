"""The SLA manager process: `gunicorn 'sla_manager.wsgi:application()'` (any number of
workers and replicas).

Builds the service from the environment, starts its background jobs in this (the worker)
process, and hands gunicorn the app; every worker runs them, and the one that leads (a MySQL
named lock, `worker.py`) does the periodic assessment. At exit the scheduler and the webhook
stop and the lead is given up.
"""

from __future__ import annotations

from flask import Flask

from monitoring_core.web import serve_with_worker
from sla_manager.app import create_app
from sla_manager.bootstrap import bootstrap
from sla_manager.worker import start_worker


def application() -> Flask:
    return serve_with_worker(bootstrap, start_worker, create_app)
