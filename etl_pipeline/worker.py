"""The ETL API's background loop (off with ETL_SCHEDULER_ENABLED=false): every
ETL_INTERVAL_SECONDS, and at start, a cycle in this process; with ETL_DISTRIBUTED=true, a tick
of the distributed cycle's scheduler instead (`scheduler.CycleScheduler.tick`): the replica
elected through MySQL GET_LOCK plans the cycle and hands its shards to the ETL workers; every
other replica is a hot standby that takes over at its next tick."""

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
            (
                services.service.distributed_tick
                if services.settings.distributed
                else services.service.scheduled_cycle
            ),
            first=True,
        )
    scheduler.start()
    return scheduler
