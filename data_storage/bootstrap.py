"""The storage service's composition root: settings in, the database, the consumer and its
metrics out. Nothing here connects or starts a thread."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from data_storage.consumer import StorageConsumer, StorageMetrics
from data_storage.settings import StorageSettings
from monitoring_core.db import Database
from monitoring_core.settings import AccessSettings, KafkaSettings, MySQLSettings


@dataclass(frozen=True)
class StorageServices:
    """What the health server and the worker share."""

    settings: StorageSettings
    kafka: KafkaSettings
    db: Database
    registry: CollectorRegistry
    consumer: StorageConsumer
    access_settings: AccessSettings | None


def bootstrap(
    settings: StorageSettings | None = None,
    kafka: KafkaSettings | None = None,
    mysql: MySQLSettings | None = None,
    access_settings: AccessSettings | None = None,
) -> StorageServices:
    """Build the storage service from settings (each read from the environment when not given)."""
    settings = settings or StorageSettings()
    kafka = kafka or KafkaSettings()
    db = Database(mysql or MySQLSettings(), "storage")
    registry = CollectorRegistry()
    consumer = StorageConsumer(kafka, db, settings, StorageMetrics(registry))
    return StorageServices(settings, kafka, db, registry, consumer, access_settings)
