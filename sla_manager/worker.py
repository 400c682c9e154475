"""The SLA manager's background work, through the shared scheduler: every current SLA
assessed every SLA_ASSESSMENT_INTERVAL_SECONDS (0: never), then the rule file rewritten
(another process may have changed the SLAs); and the rule file published once at start
(it may be missing or stale after a restart)."""

from __future__ import annotations

from monitoring_core.scheduler import Scheduler
from sla_manager.bootstrap import SLAServices


def assess_current(services: SLAServices) -> None:
    """One round of the periodic assessment, then the rules."""
    services.assessor.assess(services.store.current())
    services.rules.publish()


def start_worker(services: SLAServices) -> Scheduler:
    """Start the periodic assessment and the rules; `stop()` the returned scheduler to end
    them."""
    scheduler = Scheduler()
    interval = services.settings.assessment_interval_seconds
    if interval > 0:
        scheduler.every("sla-assessment", interval, lambda: assess_current(services), first=False)
    if services.rules.publisher.path is not None:
        scheduler.once("sla-rules", services.rules.publish)
    scheduler.start()
    return scheduler
