"""The assessor's alerting step, and the worker's jobs and stop (no I/O here: Prometheus
answers from memory, the store is an in-memory stand-in; that two replicas at once send each
alert once is tested on the real MySQL, tests/integration/test_sla_replicas.py)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from monitoring_core.prometheus import PrometheusUnavailable, QueryTooCostly, SampleSeries
from monitoring_core.promql_guard import PromQLLimits
from monitoring_core.settings import MySQLSettings, PrometheusSettings
from sla_manager.assessment import Assessor
from sla_manager.bootstrap import bootstrap
from sla_manager.rules import SLAMetric
from sla_manager.settings import SLASettings
from sla_manager.store import ClaimedAlerts, StoredSLA
from sla_manager.worker import start_worker

NOW = datetime(2026, 1, 1, 12, 0, 7, tzinfo=UTC)
SLA = StoredSLA(7, "web", 1, NOW, None, (SLAMetric("cpuLoad", '{__name__="cpuLoad"}', None, 50.0),))


class Constant:
    """Prometheus at the boundary: every read answers one series at 100, every 15 s."""

    settings = PrometheusSettings(step_seconds=15)

    def read_samples(
        self, promql: str, start: datetime, end: datetime, step_seconds: int, **bounds: Any
    ) -> list[SampleSeries]:
        stamps = pd.date_range(start, end, freq=f"{step_seconds}s")
        return [
            SampleSeries(
                "cpuLoad", {"instance": "1"}, pd.Series(np.full(stamps.size, 100.0), stamps)
            )
        ]


class MemoryStore:
    """Assessments and claimed alerts kept in memory (one process: nothing to race)."""

    def __init__(self) -> None:
        self.saved: dict[int, dict[str, Any]] = {}
        self.keys: set[tuple[int, str]] = set()

    def save_assessments(
        self,
        end: datetime,
        results: list[dict[str, Any]],
        retention: timedelta,
        find_transitions: Any = None,
        lease: timedelta = timedelta(0),
    ) -> ClaimedAlerts:
        previous = dict(self.saved)
        for result in results:
            self.saved[result["sla"]["id"]] = json.loads(json.dumps(result, allow_nan=False))
        won = [
            t
            for t in (find_transitions(previous, results) if find_transitions else [])
            if (t.sla_id, t.key) not in self.keys
        ]
        self.keys |= {(t.sla_id, t.key) for t in won}
        return ClaimedAlerts(list(range(len(won))), [t.alert for t in won])

    def mark_sent(self, ids: list[int]) -> None:
        pass


class Sent:
    lease_seconds = 60.0

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    def send(self, alerts: list[dict[str, Any]], delivered: Any = None) -> None:
        self.batches.append(alerts)


def test_an_assessment_alerts_a_violation_once() -> None:
    # Constant 100 above max 50: out of range now, a violation (not a prediction: no
    # SLAViolationLikely). The first assessment finds no previous one and alerts; the
    # second sees the first's result and finds nothing new.
    sent = Sent()
    assessor = Assessor(
        SLASettings(windows=("1h",), assessment_interval_seconds=0),
        Constant(),  # type: ignore[arg-type]
        MemoryStore(),  # type: ignore[arg-type]
        sent,  # type: ignore[arg-type]
    )
    assessor.assess([SLA], NOW)
    assessor.assess([SLA], NOW + timedelta(minutes=1))
    assert len(sent.batches) == 1
    names = sorted(alert["labels"]["alertname"] for alert in sent.batches[0])
    assert names == ["SLAViolation"]


def test_stopping_the_worker_and_closing_ends_the_periodic_assessment_and_the_webhook() -> None:
    # Nothing connects before the first round: an hour's interval, unreachable servers.
    services = bootstrap(
        SLASettings(assessment_interval_seconds=3600, webhook_url="http://127.0.0.1:9/"),
        PrometheusSettings(url="http://127.0.0.1:9"),
        MySQLSettings(port=9),
    )
    scheduler = start_worker(services)
    assess, resend = scheduler.jobs
    assert (assess.name, assess.interval, assess.first) == ("sla-assessment", 3600, False)
    assert (resend.name, resend.interval, resend.first) == ("sla-webhook-resend", 30, False)
    names = ("sla-assessment", "sla-webhook-resend")
    threads = [t for t in threading.enumerate() if t.name in names]
    assert len(threads) == 2 and all(thread.is_alive() for thread in threads)
    scheduler.stop()
    services.close()
    for thread in threads:
        thread.join(timeout=5)
        assert not thread.is_alive()
    assert services.notifier is not None and services.notifier._stop.is_set()


class Picky(Constant):
    """Prometheus at the boundary: one query times out, one is unreachable, the rest answer."""

    def __init__(self, failures: dict[str, Exception]) -> None:
        self.failures = failures

    def read_samples(
        self, promql: str, start: datetime, end: datetime, step_seconds: int, **bounds: Any
    ) -> list[SampleSeries]:
        assert bounds == {"timeout_seconds": 10.0, "max_series": 20}  # every query is bounded
        if promql in self.failures:
            raise self.failures[promql]
        return super().read_samples(promql, start, end, step_seconds)


def metric(name: str) -> SLAMetric:
    return SLAMetric(name, name, None, 50.0)


def test_a_metric_that_times_out_is_its_own_reason_and_the_others_are_assessed() -> None:
    slow = SLA.__class__(8, "slow", 1, NOW, None, (metric("heavy"), metric("light")))
    store = MemoryStore()
    sent = Sent()
    prometheus = Picky({"heavy": QueryTooCostly("query timed out after 10s")})
    assessor = Assessor(
        SLASettings(windows=("1h",), assessment_interval_seconds=0),
        prometheus,  # type: ignore[arg-type]
        store,  # type: ignore[arg-type]
        sent,  # type: ignore[arg-type]
    )
    results = assessor.assess([slow, SLA], NOW)
    heavy, light = results[0]["metrics"]
    assert heavy["reason"] == "not assessed: query timed out after 10s" and heavy["series"] == []
    assert light["reason"] is None and light["series"][0]["in_range_now"] is False
    assert results[1]["metrics"][0]["series"]  # the other SLA too
    assert set(store.saved) == {7, 8}  # both stored
    alerted = {alert["labels"]["metric"] for alert in sent.batches[0]}
    assert alerted == {"light", "cpuLoad"}  # and alerted


def test_prometheus_unreachable_for_every_metric_keeps_the_last_assessment() -> None:
    down = PrometheusUnavailable("Prometheus: not reachable (ConnectionError)")
    store = MemoryStore()
    assessor = Assessor(
        SLASettings(windows=("1h",), assessment_interval_seconds=0),
        Picky({'{__name__="cpuLoad"}': down}),  # type: ignore[arg-type]
        store,  # type: ignore[arg-type]
    )
    with pytest.raises(PrometheusUnavailable):
        assessor.assess([SLA], NOW)
    assert store.saved == {}


def test_a_stored_expression_the_guard_now_refuses_is_not_queried() -> None:
    # A row from before the guard (or before the selector narrowed): its reason, no query.
    legacy = SLAMetric("everything", '{__name__=~".+"}', None, 1.0, expression='{__name__=~".+"}')
    sla = SLA.__class__(9, "legacy", 1, NOW, None, (legacy, metric("light")))
    queried: list[str] = []

    class Recording(Picky):
        def read_samples(self, promql: str, *args: Any, **bounds: Any) -> list[SampleSeries]:
            queried.append(promql)
            return super().read_samples(promql, *args, **bounds)

    limits = PromQLLimits(timedelta(hours=1), timedelta(seconds=15))
    assessor = Assessor(
        SLASettings(windows=("1h",), assessment_interval_seconds=0),
        Recording({}),  # type: ignore[arg-type]
        MemoryStore(),  # type: ignore[arg-type]
        limits=limits,
    )
    (result,) = assessor.assess([sla], NOW)
    refused, light = result["metrics"]
    assert refused["reason"].startswith("not assessed: the expression is refused: __name__")
    assert light["series"] and queried == ["light"]
