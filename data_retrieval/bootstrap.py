"""The read API's composition root: settings in, the (lazy) read-only pool, the reader, the
Prometheus client of the dashboard's samples route, and the metrics out. No I/O happens here."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from data_retrieval.queries import Reader
from data_retrieval.settings import RetrievalSettings
from monitoring_core.db import Database
from monitoring_core.prometheus import PrometheusClient
from monitoring_core.settings import AccessSettings, MySQLSettings, PrometheusSettings


@dataclass(frozen=True)
class RetrievalServices:
    """What the routes share."""

    settings: RetrievalSettings
    db: Database
    reader: Reader
    prometheus: PrometheusClient
    registry: CollectorRegistry
    access_settings: AccessSettings | None


def bootstrap(
    settings: RetrievalSettings | None = None,
    mysql: MySQLSettings | None = None,
    prometheus: PrometheusSettings | None = None,
    access_settings: AccessSettings | None = None,
) -> RetrievalServices:
    """Build the read side as the read-only database role (settings read from the environment
    when not given); Prometheus is read by the dashboard's samples route only."""
    db = Database(mysql or MySQLSettings(), "retrieval", read_only=True)
    return RetrievalServices(
        settings or RetrievalSettings(),
        db,
        Reader(db),
        PrometheusClient(prometheus or PrometheusSettings()),
        CollectorRegistry(),
        access_settings,
    )
