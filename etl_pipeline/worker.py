"""The ETL's background loop: a cycle at start, then one every ETL_INTERVAL_SECONDS, through
the shared scheduler (off with ETL_SCHEDULER_ENABLED=false)."""

from __future__ import annotations

from monitoring_core.scheduler import Scheduler

from .bootstrap import ETLServices


def start_worker(services: ETLServices) -> Scheduler:
    """Start the scheduled cycles; `stop()` the returned scheduler to end them."""
    scheduler = Scheduler()
    if services.settings.scheduler_enabled:
        scheduler.every(
            "etl-scheduler",
            services.settings.interval_seconds,
            services.service.scheduled_cycle,
            first=True,
        )
    scheduler.start()
    return scheduler
