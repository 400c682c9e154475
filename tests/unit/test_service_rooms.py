"""Every service is built the same way: `bootstrap()` then `create_app(services)`, and neither
starts a thread (the background work is the worker's, started by the entry point)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from flask import Flask

from data_retrieval.app import create_app as create_retrieval
from data_retrieval.bootstrap import bootstrap as bootstrap_retrieval
from data_storage.app import create_app as create_storage
from data_storage.bootstrap import bootstrap as bootstrap_storage
from etl_pipeline.app import create_app as create_etl
from etl_pipeline.bootstrap import bootstrap as bootstrap_etl
from etl_pipeline.settings import ETLSettings
from etl_pipeline.worker import start_worker
from monitoring_core.settings import KafkaSettings, MySQLSettings, PrometheusSettings
from sla_manager.app import create_app as create_sla
from sla_manager.bootstrap import bootstrap as bootstrap_sla
from sla_manager.settings import SLASettings

NOWHERE_KAFKA = KafkaSettings(bootstrap_servers="127.0.0.1:1")
NOWHERE_MYSQL = MySQLSettings(port=1)
NOWHERE_PROMETHEUS = PrometheusSettings(url="http://127.0.0.1:1")

BUILDERS: dict[str, Callable[[], Flask]] = {
    # The schedules are on (their defaults): building the app still starts none of them.
    "etl_pipeline": lambda: create_etl(
        bootstrap_etl(ETLSettings(), NOWHERE_PROMETHEUS, NOWHERE_KAFKA)
    ),
    "sla_manager": lambda: create_sla(
        bootstrap_sla(
            SLASettings(assessment_interval_seconds=1, webhook_url="http://127.0.0.1:1/"),
            NOWHERE_PROMETHEUS,
            NOWHERE_MYSQL,
        )
    ),
    "data_storage": lambda: create_storage(
        bootstrap_storage(kafka=NOWHERE_KAFKA, mysql=NOWHERE_MYSQL)
    ),
    "data_retrieval": lambda: create_retrieval(
        bootstrap_retrieval(mysql=NOWHERE_MYSQL, prometheus=NOWHERE_PROMETHEUS)
    ),
}


OURS = ("monitoring_core", "etl_pipeline", "sla_manager", "data_storage", "data_retrieval")


def runs_our_code(thread: threading.Thread) -> bool:
    """A thread whose target is ours (a scheduler job, the webhook sender), not a library's
    own (flask-limiter's in-memory storage runs an expiry timer per app)."""
    target = getattr(thread, "_target", None)
    return (getattr(target, "__module__", None) or "").startswith(OURS)


@pytest.mark.parametrize("service", sorted(BUILDERS))
def test_bootstrap_and_create_app_start_no_thread(service: str) -> None:
    before = set(threading.enumerate())
    app = BUILDERS[service]()
    started = [t for t in threading.enumerate() if t not in before]
    assert [t.name for t in started if runs_our_code(t)] == []
    assert app.name == service


def test_the_check_sees_a_started_worker() -> None:
    """The check above can fail: the ETL's worker thread is seen as ours."""
    # Its first cycle fails fast (no Kafka), the next is an hour away: the thread waits.
    settings = ETLSettings(interval_seconds=3600, kafka_check_timeout_seconds=1)
    services = bootstrap_etl(settings, NOWHERE_PROMETHEUS, NOWHERE_KAFKA)
    before = set(threading.enumerate())
    scheduler = start_worker(services)
    try:
        started = [t for t in threading.enumerate() if t not in before]
        assert [t.name for t in started if runs_our_code(t)] == ["etl-scheduler"]
    finally:
        scheduler.stop(timeout=10)
        services.service.close()
