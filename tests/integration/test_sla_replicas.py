"""The SLA manager's alerts shared by replicas through the real MariaDB: two processes'
assessors (each its own pool, as two replicas) assessing at once claim each transition once,
and an alert whose winner died before sending is sent by the leader's retry, once."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitoring_core.promql import align_end
from sla_manager.bootstrap import SLAServices, bootstrap
from sla_manager.rules import SLADefinition, SLAMetric
from sla_manager.settings import SLASettings
from sla_manager.webhook import find_transitions

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def url(alert_receiver) -> str:  # noqa: ANN001
    return f"{alert_receiver.base}/alerts"


def replica(url: str, prometheus_settings, mysql_role) -> SLAServices:  # noqa: ANN001
    settings = SLASettings(
        assessment_interval_seconds=0, webhook_url=url, webhook_backoff_seconds=0.05
    )
    return bootstrap(settings, prometheus_settings, mysql_role("sla"))


def alerts_of(alerts: list[dict], sla_id: int) -> list[str]:
    labels = [alert["labels"] for alert in alerts]
    return [label["alertname"] for label in labels if label["sla_id"] == str(sla_id)]


def violated(services: SLAServices) -> Any:
    """A new SLA of this test: cpuLoad is never below -1, so it is violated now (one episode)."""
    name = f"replicas-{uuid.uuid4().hex[:8]}"
    metric = SLAMetric("cpuLoad", 'cpuLoad{job="summary",instance="106"}', None, -1.0, "cpuLoad")
    return services.store.define(SLADefinition(name, (metric,)), 10_000)


def test_two_replicas_assessing_at_once_send_each_transition_once(
    url: str,
    alert_receiver,  # noqa: ANN001
    prometheus_settings,
    mysql_role,  # noqa: ANN001
) -> None:
    replicas = [replica(url, prometheus_settings, mysql_role) for _ in range(2)]
    sla = violated(replicas[0])
    # Four rounds of both replicas at once: every pair reads, saves and claims concurrently.
    for _ in range(4):
        threads = [threading.Thread(target=r.assessor.assess, args=([sla],)) for r in replicas]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    for r in replicas:
        assert r.notifier is not None and r.notifier.join(timeout=10)
    # The receiver's own record: one violation, one POST of it, from either replica.
    assert alerts_of(alert_receiver.alerts, sla.sla_id) == ["SLAViolation"]
    with replicas[0].store.db.transaction() as cursor:
        cursor.execute(
            "SELECT COUNT(*) AS n, SUM(sent_at IS NOT NULL) AS sent FROM sla_alerts"
            " WHERE sla_id = %s",
            (sla.sla_id,),
        )
        row = cursor.fetchone()
        cursor.execute("SELECT COUNT(*) AS n FROM sla_assessments WHERE sla_id = %s", (sla.sla_id,))
        assessments = cursor.fetchone()["n"]
    assert (row["n"], int(row["sent"])) == (1, 1)
    assert assessments == 8  # every assessment stored, whoever sent the alert
    for r in replicas:
        r.close()


def test_an_alert_won_but_never_sent_is_sent_by_the_leaders_retry_once(
    url: str,
    alert_receiver,  # noqa: ANN001
    prometheus_settings,
    mysql_role,  # noqa: ANN001
) -> None:
    crashed, leader = (replica(url, prometheus_settings, mysql_role) for _ in range(2))
    sla = violated(crashed)
    end = _aligned(crashed)
    result = crashed.assessor.assess_one(sla, end)
    # The crashed replica's last act: it won the transition (stored, claimed for 1 s), and
    # died before its POST.
    won = crashed.store.save_assessments(
        end, [result], timedelta(hours=1), find_transitions, timedelta(seconds=1)
    )
    assert len(won.ids) == 1
    # Within the lease the leader leaves it alone: the winner may still be sending.
    assert leader.assessor.resend_unsent() == 0
    threading.Event().wait(1.5)
    assert leader.assessor.resend_unsent() >= 1
    assert leader.notifier is not None and leader.notifier.join(timeout=10)
    assert alerts_of(alert_receiver.alerts, sla.sla_id) == ["SLAViolation"]
    # Marked sent: the next retries claim nothing of it.
    threading.Event().wait(1.5)
    leader.assessor.resend_unsent()
    assert leader.notifier.join(timeout=10)
    assert alerts_of(alert_receiver.alerts, sla.sla_id) == ["SLAViolation"]
    crashed.close()
    leader.close()


def _aligned(services: SLAServices) -> datetime:
    return align_end(datetime.now(UTC), services.assessor.step_seconds)


def test_of_two_inserts_of_one_transition_only_one_wins(
    url: str,
    prometheus_settings,
    mysql_role,  # noqa: ANN001
) -> None:
    # Both replicas decide against no previous assessment (as if neither saw the other's):
    # the unique key alone must make one of them the sender.
    replicas = [replica(url, prometheus_settings, mysql_role) for _ in range(2)]
    sla = violated(replicas[0])
    end = _aligned(replicas[0])
    result = replicas[0].assessor.assess_one(sla, end)
    won: list[int] = []

    def save(services: SLAServices) -> None:
        claimed = services.store.save_assessments(
            end, [result], timedelta(hours=1), lambda _before, now: find_transitions({}, now)
        )
        won.extend(claimed.ids)

    threads = [threading.Thread(target=save, args=(r,)) for r in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(won) == 1
    for r in replicas:
        r.close()
