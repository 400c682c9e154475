"""The ETL pipeline service: series from Prometheus, analytics per window, results to Kafka."""

from .app import create_app

__all__ = ["create_app"]
