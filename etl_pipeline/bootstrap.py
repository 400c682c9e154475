"""The ETL's composition root: settings in, the Prometheus client, the pipeline, the service
state and the metrics out. Nothing here starts a thread or opens a connection."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from monitoring_core.db import Database
from monitoring_core.kafka import Publisher
from monitoring_core.prometheus import PrometheusClient
from monitoring_core.promql_guard import check_named_expressions
from monitoring_core.settings import (
    AccessSettings,
    KafkaSettings,
    MySQLSettings,
    PrometheusSettings,
    PromQLSettings,
)

from .analysis import ForecastConfig
from .cycle import Pipeline
from .scheduler import CycleScheduler
from .service import ETLService, Telemetry
from .settings import ETLSettings
from .store import RunStore


@dataclass(frozen=True)
class ETLServices:
    """What the routes and the worker share."""

    settings: ETLSettings
    prometheus: PrometheusClient
    service: ETLService
    registry: CollectorRegistry
    access_settings: AccessSettings | None
    scheduler: CycleScheduler  # the elected periodic cycle (worker.py ticks it)

    @property
    def pipeline(self) -> Pipeline:
        return self.service.pipeline

    def close(self) -> None:
        """Give the locks up (a standby leads at its next tick), flush the producer (at exit)."""
        self.scheduler.close()
        self.service.close()


def bootstrap(
    settings: ETLSettings | None = None,
    prometheus_settings: PrometheusSettings | None = None,
    kafka_settings: KafkaSettings | None = None,
    access_settings: AccessSettings | None = None,
    prometheus: PrometheusClient | None = None,
    publisher: Publisher | None = None,
    mysql_settings: MySQLSettings | None = None,
    store: RunStore | None = None,
) -> ETLServices:
    """Build the ETL from settings (each read from the environment when not given).

    `prometheus`, `publisher` and `store` replace the client, producer and MySQL store built
    from the settings (unit tests pass a fake Prometheus source or database there, the
    boundaries they fake).
    ETL_METRIC_EXPRESSIONS must pass the SLA expressions' checks, or the service does not start.
    """
    settings = settings or ETLSettings()
    prometheus_settings = prometheus_settings or PrometheusSettings()
    expressions = check_named_expressions(
        settings.metric_expressions,
        prometheus_settings,
        PromQLSettings(),
        settings.longest_window,
    )
    settings = settings.model_copy(update={"metric_expressions": expressions})
    prometheus = prometheus or PrometheusClient(prometheus_settings)
    kafka_settings = kafka_settings or KafkaSettings()
    pipeline = Pipeline(settings, prometheus, kafka_settings, publisher)
    registry = CollectorRegistry()
    forecast = ForecastConfig(settings.forecast_metric_names, settings.horizon_minutes)
    # The ETL's own account (MYSQL_* of the role "etl"); the pool and the locks' connections
    # open at first use.
    mysql_settings = mysql_settings or MySQLSettings()
    store = store or RunStore(Database(mysql_settings, "etl", read_only=False))
    scheduler = CycleScheduler(pipeline, kafka_settings, mysql_settings, store, forecast)
    service = ETLService(scheduler, Telemetry.create(registry))
    return ETLServices(settings, prometheus, service, registry, access_settings, scheduler)
