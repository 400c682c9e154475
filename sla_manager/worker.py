"""The SLA manager's background work, through the shared scheduler.

Every replica and gunicorn worker runs the same jobs; the ones that must happen once run only
in the process that leads (`services.leadership`, a MySQL named lock; the others stand by and
take over at their next round when it dies):
- every SLA_ASSESSMENT_INTERVAL_SECONDS (0: never), the leader assesses every current SLA;
- every SLA_WEBHOOK_RESEND_INTERVAL_SECONDS (with a webhook), the leader sends again the
  alerts whose sender gave up or died;
- every process keeps its own rule file current: once at start (it may be missing or stale
  after a restart) and after each round (another process may have changed the SLAs).
"""

from __future__ import annotations

from monitoring_core.scheduler import Scheduler
from sla_manager.bootstrap import SLAServices


def assess_current(services: SLAServices) -> None:
    """One round of the periodic assessment (when this process leads), then the rules."""
    if services.leadership.lead():
        services.assessor.assess(services.store.current())
    services.rules.publish()


def resend_alerts(services: SLAServices) -> None:
    """Alerts not delivered by their sender, sent again (when this process leads)."""
    if services.leadership.lead():
        services.assessor.resend_unsent()


def start_worker(services: SLAServices) -> Scheduler:
    """Start the periodic assessment, the webhook's retries and the rules; `stop()` the
    returned scheduler to end them."""
    scheduler = Scheduler()
    settings = services.settings
    interval = settings.assessment_interval_seconds
    if interval > 0:
        scheduler.every("sla-assessment", interval, lambda: assess_current(services), first=False)
    if services.notifier is not None:
        scheduler.every(
            "sla-webhook-resend",
            settings.webhook_resend_interval_seconds,
            lambda: resend_alerts(services),
            first=False,
        )
    if services.rules.publisher.path is not None:
        scheduler.once("sla-rules", services.rules.publish)
    scheduler.start()
    return scheduler
