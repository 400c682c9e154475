"""The ETL API as a test runs it: its own topic, a storage consumer writing into the test run's
database, and each cycle's results as Kafka acknowledged them (for the number checks).

The API answers from MySQL only (etl_pipeline/store.py); the results of a cycle are also caught
in memory here, through the pipeline's `observe` hook, so that the tests compare every number
with Prometheus and statsmodels without a round trip through the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from etl_pipeline import create_app
from etl_pipeline.bootstrap import ETLServices, bootstrap
from etl_pipeline.cycle import Pipeline
from etl_pipeline.results import SeriesWindowResult
from etl_pipeline.settings import ETLSettings
from monitoring_core.settings import KafkaSettings, MySQLSettings, PrometheusSettings

from .test_storage_consumer import storage_thread


@dataclass
class Cycle:
    """One cycle as /regen_data answered it, with its results as published."""

    summary: dict[str, Any]
    results: list[SeriesWindowResult] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.summary["run_id"]

    @property
    def end(self) -> datetime:
        return datetime.fromisoformat(self.summary["data_end"])

    @property
    def windows(self) -> list[str]:
        return self.summary["windows"]


def own_topic(kafka: KafkaSettings, suffix: str) -> KafkaSettings:
    """A results topic and storage group of one test module alone."""
    return kafka.model_copy(
        update={
            "topic": f"{kafka.topic}.{suffix}",
            "dead_letter_topic": f"{kafka.dead_letter_topic}.{suffix}",
            "group_id": f"{kafka.group_id}-{suffix}",
        }
    )


@contextmanager
def etl_app(
    settings: ETLSettings,
    prometheus: PrometheusSettings,
    kafka: KafkaSettings,
    mysql_role,  # noqa: ANN001
    client_class: type[FlaskClient],
) -> Iterator[tuple[ETLServices, Flask]]:
    """The ETL app (the `etl` account on the test database) with data_storage consuming its
    topic into the same database, as the stack runs them."""
    etl_mysql: MySQLSettings = mysql_role("etl")
    services = bootstrap(settings, prometheus, kafka, mysql_settings=etl_mysql)
    app = create_app(services)
    app.test_client_class = client_class
    try:
        with storage_thread(kafka, mysql_role("writer")):
            yield services, app
    finally:
        services.close()


@contextmanager
def caught(pipeline: Pipeline) -> Iterator[list[SeriesWindowResult]]:
    """Every result the pipeline publishes while inside, as published."""
    kept: list[SeriesWindowResult] = []
    observe = pipeline.observe

    def keep(results: list[SeriesWindowResult]) -> None:
        kept.extend(results)
        if observe is not None:
            observe(results)

    pipeline.observe = keep
    try:
        yield kept
    finally:
        pipeline.observe = observe


def regen(app: Flask, services: ETLServices, method: str = "get") -> Cycle:
    """GET (or POST) /regen_data; the cycle, which must have completed."""
    with caught(services.pipeline) as kept:
        response = getattr(app.test_client(), method)("/regen_data")
    assert response.status_code == 200, response.json
    assert response.json["status"] == "complete", response.json
    return Cycle(response.json, kept)
