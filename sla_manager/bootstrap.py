"""The SLA manager's composition root: settings in, the Prometheus client, the store, the
assessor, the webhook, the rules, the assessment's leader election and the metrics out.
Nothing here connects or starts a thread (the pool, the election's connection and the
webhook's thread start at first use)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from prometheus_client import CollectorRegistry

from monitoring_core.db import Database
from monitoring_core.leader import Leadership
from monitoring_core.prometheus import PrometheusClient
from monitoring_core.promql_guard import PromQLLimits, limits_for
from monitoring_core.settings import (
    AccessSettings,
    MySQLSettings,
    PrometheusSettings,
    PromQLSettings,
)
from sla_manager.assessment import Assessor
from sla_manager.exporter import SLAStatusCollector
from sla_manager.rulegen import RulesPublisher, SLARules
from sla_manager.settings import SLASettings
from sla_manager.store import SLAStore
from sla_manager.webhook import Notifier

LEADER_ROLE = "sla-assessment"


@dataclass(frozen=True)
class SLAServices:
    """What the routes and the worker share."""

    settings: SLASettings
    prometheus_settings: PrometheusSettings
    prometheus: PrometheusClient
    store: SLAStore
    notifier: Notifier | None
    assessor: Assessor
    rules: SLARules
    limits: PromQLLimits
    lookback: timedelta  # the longest window
    registry: CollectorRegistry  # the API's own counters and histograms
    live: CollectorRegistry  # the SLA status, read from MySQL when scraped
    access_settings: AccessSettings | None
    # Who runs the periodic assessment and the webhook's retries among every replica and
    # gunicorn worker (one MySQL named lock; the others stand by).
    leadership: Leadership

    def close(self) -> None:
        """Stop the webhook's thread and give the lead up (at exit)."""
        if self.notifier is not None:
            self.notifier.close()
        self.leadership.release()


def bootstrap(
    settings: SLASettings | None = None,
    prometheus_settings: PrometheusSettings | None = None,
    mysql_settings: MySQLSettings | None = None,
    access_settings: AccessSettings | None = None,
    promql_settings: PromQLSettings | None = None,
    prometheus: PrometheusClient | None = None,
) -> SLAServices:
    """Build the SLA manager from settings (each read from the environment when not given);
    `prometheus` replaces the client built from `prometheus_settings`."""
    settings = settings or SLASettings()
    prometheus_settings = prometheus_settings or PrometheusSettings()
    prometheus = prometheus or PrometheusClient(prometheus_settings)
    mysql_settings = mysql_settings or MySQLSettings()
    store = SLAStore(Database(mysql_settings, "sla"))
    notifier = None
    if settings.webhook_url:
        notifier = Notifier(
            settings.webhook_url,
            settings.webhook_retries,
            settings.webhook_backoff_seconds,
            settings.webhook_timeout_seconds,
        )
    lookback = max(settings.window_durations.values())
    limits = limits_for(prometheus_settings, promql_settings or PromQLSettings(), lookback)
    assessor = Assessor(settings, prometheus, store, notifier, limits)
    rules = SLARules(
        store,
        prometheus.query,
        list(settings.window_durations),
        assessor.step_seconds,
        settings.likely_probability,
        RulesPublisher(settings.rules_file, settings.prometheus_reload_url),
    )
    live = CollectorRegistry()  # read from MySQL when scraped: the same from any worker
    live.register(SLAStatusCollector(store))
    return SLAServices(
        settings,
        prometheus_settings,
        prometheus,
        store,
        notifier,
        assessor,
        rules,
        limits,
        lookback,
        CollectorRegistry(),
        live,
        access_settings,
        Leadership(mysql_settings, LEADER_ROLE),
    )
