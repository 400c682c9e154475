"""The assessor's alerting step under concurrency, and the worker's stop (no I/O here:
Prometheus answers from memory, the store is an in-memory stand-in for its two calls)."""

from __future__ import annotations

import json
import threading
import time
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
from sla_manager.store import StoredSLA
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


class SlowStore:
    """Assessments kept in memory; reading the previous one takes a while, as a round trip
    does, so that two assessments at once both read before either saves (without a lock)."""

    def __init__(self) -> None:
        self.saved: dict[int, dict[str, Any]] = {}

    def latest_assessments(self, sla_ids: list[int]) -> dict[int, dict[str, Any]]:
        found = {i: self.saved[i] for i in sla_ids if i in self.saved}
        time.sleep(0.3)
        return found

    def save_assessment(
        self, sla_id: int, end: datetime, result: dict[str, Any], retention: timedelta
    ) -> None:
        self.saved[sla_id] = json.loads(json.dumps(result, allow_nan=False))


class Sent:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    def send(self, alerts: list[dict[str, Any]]) -> None:
        self.batches.append(alerts)


def test_two_assessments_at_once_send_each_new_alert_once() -> None:
    # Constant 100 above max 50: out of range now, a violation (not a prediction: no
    # SLAViolationLikely). The first assessment finds no previous one and alerts; the
    # second must see the first's result (same window end) and find nothing new.
    sent = Sent()
    assessor = Assessor(
        SLASettings(windows=("1h",), assessment_interval_seconds=0),
        Constant(),  # type: ignore[arg-type]
        SlowStore(),  # type: ignore[arg-type]
        sent,  # type: ignore[arg-type]
    )
    threads = [threading.Thread(target=assessor.assess, args=([SLA], NOW)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
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
    (job,) = scheduler.jobs
    assert (job.name, job.interval, job.first) == ("sla-assessment", 3600, False)
    (thread,) = [t for t in threading.enumerate() if t.name == "sla-assessment"]
    assert thread.is_alive()
    scheduler.stop()
    services.close()
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
    store = SlowStore()
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
    store = SlowStore()
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
        SlowStore(),  # type: ignore[arg-type]
        limits=limits,
    )
    (result,) = assessor.assess([sla], NOW)
    refused, light = result["metrics"]
    assert refused["reason"].startswith("not assessed: the expression is refused: __name__")
    assert light["series"] and queried == ["light"]
