"""The ETL API's background loop (off with ETL_SCHEDULER_ENABLED=false): every
ETL_INTERVAL_SECONDS, and at start, a tick of the scheduler (`scheduler.CycleScheduler.tick`):
the process elected through MySQL GET_LOCK (among all gunicorn workers and replicas) runs the
slot's cycle, in this process or, with ETL_DISTRIBUTED=true, handing its shards to the ETL
workers; every other process is a hot standby that takes over at its next tick."""

from __future__ import annotations

from monitoring_core.scheduler import Scheduler

from .bootstrap import ETLServices


def start_worker(services: ETLServices) -> Scheduler:
    """Start the scheduled ticks; `stop()` the returned scheduler to end them."""
    scheduler = Scheduler()
    if services.settings.scheduler_enabled:
        scheduler.every(
            "etl-scheduler",
            services.settings.interval_seconds,
            services.service.tick,
            first=True,
        )
    scheduler.start()
    return scheduler
