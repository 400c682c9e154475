"""Assess SLAs: one raw-sample read per metric, past and predicted violations, stored, alerted.

Each metric stands alone: a query that Prometheus rejects, that times out
(``SLA_QUERY_TIMEOUT_SECONDS``) or that matches more than ``SLA_MAX_SERIES_PER_METRIC`` series
is that metric's reason, and the others are still assessed, stored, exported and alerted.
Only when Prometheus cannot be reached for any metric is the assessment abandoned (503) and the
last stored one kept. An assessment that one already under way in this process covers joins
it. Storing and alerting are shared by every replica through MySQL
(`SLAStore.save_assessments`): each transition's alert is sent by the one process whose
insert of it won, and one that was not delivered is sent again by the leader (`resend_unsent`).

An expression is checked again by the PromQL guard before each assessment (when ``limits`` is
given): a row stored before the guard existed, or before the selector or limits changed, is
queried only as the guard renders it now, or not at all (its reason says why).
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from monitoring_core.flights import SingleFlight
from monitoring_core.json_values import jsonable
from monitoring_core.messages import series_id
from monitoring_core.prometheus import (
    PrometheusClient,
    PrometheusQueryError,
    PrometheusUnavailable,
    QueryTooCostly,
    SampleSeries,
)
from monitoring_core.promql import MAX_POINTS, align_end
from monitoring_core.promql_guard import PromQLLimits, UnsafePromQL, check_expression
from sla_manager.budget import BURN_WINDOWS, Objective, period_queries, series_budget
from sla_manager.rules import SLAMetric
from sla_manager.settings import SLASettings
from sla_manager.store import ClaimedAlerts, SLAStore, StoredSLA
from sla_manager.violations import assess_windows, predict_violations
from sla_manager.webhook import Notifier, find_transitions

log = logging.getLogger(__name__)

QUERY_THREADS = 4
RESEND_BATCH = 100  # alerts per retried webhook POST


def series_key(labels: dict[str, str]) -> str:
    """A readable, stable name of a label set: ``instance=106,job=summary``."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


@dataclass(frozen=True)
class Assessor:
    settings: SLASettings
    prometheus: PrometheusClient
    store: SLAStore
    notifier: Notifier | None = None
    limits: PromQLLimits | None = None
    # Keyed by the SLA ids; a run whose ids include all of a request's answers it too.
    _flights: SingleFlight[frozenset[int], list[dict[str, Any]]] = field(
        default_factory=lambda: SingleFlight(covers=lambda running, wanted: wanted <= running),
        init=False,
        repr=False,
        compare=False,
    )

    @property
    def windows(self) -> list[tuple[str, float]]:
        return [(name, w.total_seconds()) for name, w in self.settings.window_durations.items()]

    @property
    def step_seconds(self) -> int:
        longest = max(seconds for _, seconds in self.windows)
        return max(self.prometheus.settings.step_seconds, math.ceil(longest / MAX_POINTS))

    def assess(self, slas: list[StoredSLA], now: datetime | None = None) -> list[dict[str, Any]]:
        """Assess each SLA, store one assessment row per SLA, and notify what is new; or join
        the assessment under way that covers these SLAs and answer its results for them."""
        if not slas:
            return []
        _, results = self._flights.run(
            frozenset(sla.sla_id for sla in slas), lambda: self._assess(slas, now)
        )
        by_id = {result["sla"]["id"]: result for result in results}
        return [by_id[sla.sla_id] for sla in slas]

    def _assess(self, slas: list[StoredSLA], now: datetime | None) -> list[dict[str, Any]]:
        end = align_end(now or datetime.now(UTC), self.step_seconds)
        unreachable: list[PrometheusUnavailable] = []
        results = [self.assess_one(sla, end, unreachable) for sla in slas]
        queried = sum(len(result["metrics"]) for result in results)
        if unreachable and len(unreachable) == queried:
            raise unreachable[0]  # Prometheus is down: keep the last stored assessment
        retention = timedelta(hours=self.settings.assessment_retention_hours)
        # Previous assessment, save and alerts as one step across every replica: the periodic
        # leader, GET /assess_Violations and on-the-spot assessments may run at once anywhere.
        won = self.store.save_assessments(
            end, results, retention, find_transitions if self.notifier else None, self.lease
        )
        self._send(won)
        return results

    @property
    def lease(self) -> timedelta:
        """How long the winner of an alert has to deliver it before the leader sends it."""
        return timedelta(seconds=self.notifier.lease_seconds if self.notifier else 0)

    def resend_unsent(self) -> int:
        """Claim and send the alerts that were not delivered (their sender gave up or died);
        the elected leader calls this periodically. Answers how many were claimed."""
        if self.notifier is None:
            return 0
        claimed = self.store.claim_unsent(RESEND_BATCH, self.lease)
        self._send(claimed)
        return len(claimed.ids)

    def _send(self, claimed: ClaimedAlerts) -> None:
        if self.notifier is None or not claimed.ids:
            return
        ids = claimed.ids
        self.notifier.send(claimed.alerts, lambda: self.store.mark_sent(ids))

    def assess_one(
        self,
        sla: StoredSLA,
        end: datetime,
        unreachable: list[PrometheusUnavailable] | None = None,
    ) -> dict[str, Any]:
        """Past and predicted violations of every metric of one SLA, as JSON-ready data;
        each metric's query failure is its reason (and, if Prometheus was not reached,
        appended to ``unreachable``)."""
        step = self.step_seconds
        longest = max(seconds for _, seconds in self.windows)
        if sla.objective is not None:  # the burn-rate windows are slices of the same query
            longest = max(longest, *(seconds for _, seconds in BURN_WINDOWS))
        # One read of the raw samples for the longest window, both ends included
        # (monitoring_core.windows); an expression is evaluated on the step grid.
        start = end - timedelta(seconds=longest)

        def fetch(metric: SLAMetric) -> list[SampleSeries] | str:
            try:
                return self.prometheus.read_samples(
                    self.promql_of(metric),
                    start,
                    end,
                    step_seconds=step,
                    timeout_seconds=self.settings.query_timeout_seconds,
                    max_series=self.settings.max_series_per_metric,
                )
            except UnsafePromQL as exc:
                return f"not assessed: the expression is refused: {exc}"
            except QueryTooCostly as exc:
                return f"not assessed: {exc}"
            except PrometheusQueryError as exc:
                return f"Prometheus rejected the query: {exc}"
            except PrometheusUnavailable as exc:
                if unreachable is not None:
                    unreachable.append(exc)
                return f"not assessed: {exc}"

        with ThreadPoolExecutor(min(QUERY_THREADS, len(sla.metrics))) as pool:
            answers = list(pool.map(fetch, sla.metrics))
            periods = list(
                pool.map(lambda m: self.fetch_period(sla.objective, m, end, step), sla.metrics)
            )
        horizon = sla.horizon_minutes or self.settings.horizon_minutes
        metrics = []
        for metric, answer, period in zip(sla.metrics, answers, periods, strict=True):
            entry: dict[str, Any] = {
                "name": metric.name,
                "promql": metric.promql,
                "min": metric.min,
                "max": metric.max,
                "reason": None,
                "series": [],
            }
            if isinstance(answer, str):
                entry["reason"] = answer
            elif not answer:
                entry["reason"] = "no data: the query returned no series"
            else:
                answer = sorted(answer, key=lambda s: (series_key(s.labels), s.metric))
                try:
                    entry["series"] = [
                        self.assess_series(
                            s, metric.min, metric.max, end, step, sla.objective, period, horizon
                        )
                        for s in answer
                    ]
                except Exception:  # noqa: BLE001 - one metric must not stop the others
                    log.exception("assessment of %s in SLA %s failed", metric.name, sla.sla_id)
                    entry["reason"] = "not assessed: internal error (see the service log)"
            metrics.append(entry)
        return {
            "sla": {"id": sla.sla_id, "name": sla.name, "version": sla.version},
            "objective": sla.objective.to_dict() if sla.objective else None,
            "horizon_minutes": horizon,
            "assessed_at": datetime.now(UTC).isoformat(),
            "window_end": end.isoformat(),
            "step_seconds": step,
            "metrics": metrics,
        }

    def promql_of(self, metric: SLAMetric) -> str:
        """What to query for ``metric``: its expression as the guard renders it now."""
        if metric.expression is None or self.limits is None:
            return metric.promql
        return check_expression(metric.expression, self.prometheus.settings.selector, self.limits)

    def assess_series(
        self,
        series: SampleSeries,
        low: float | None,
        high: float | None,
        end: datetime,
        step: int,
        objective: Objective | None = None,
        period: dict[str, tuple[int, int]] | str | None = None,
        horizon_minutes: int | None = None,
    ) -> dict[str, Any]:
        end_ts = pd.Timestamp(end)
        windows = assess_windows(series.values, end_ts, self.windows, low, high)
        prediction = predict_violations(
            series.values,
            end_ts,
            step,
            low,
            high,
            horizon_minutes or self.settings.horizon_minutes,
            self.settings.likely_probability,
            metric=series.metric,
        )
        longest = windows[-1]
        budget = None
        if objective is not None:
            key = series_key(series.labels)
            found = period.get(key) if isinstance(period, dict) else None
            reason = period if isinstance(period, str) else None
            if isinstance(period, dict) and found is None:
                reason = "the period query returned no figure for this series"
            # the burn-rate windows, counted as the assessment windows above
            burn = assess_windows(series.values, end_ts, BURN_WINDOWS, low, high)
            budget = series_budget(windows, burn, objective, step, found, reason)
        return {
            "series": series_key(series.labels),
            "series_id": series_id(series.metric, series.labels),
            "labels": series.labels,
            # raw: the stored samples; false: an expression evaluated on the step grid
            "raw_samples": series.raw,
            "in_range_now": longest.in_range_now,
            "last_episode_start": jsonable(longest.last_episode_start),
            "windows": {w.window: _window_dict(w) for w in windows},
            "prediction": prediction.to_dict(),
            "budget": budget,
        }

    def fetch_period(
        self, objective: Objective | None, metric: Any, end: datetime, step: int
    ) -> dict[str, tuple[int, int]] | str | None:
        """(samples, samples outside) over the objective's period per series key, from two
        instant subqueries; a string says why there is none."""
        if objective is None:
            return None
        try:
            promql = self.promql_of(metric)  # as the guard renders it now, as the assessment
        except UnsafePromQL as exc:
            return f"not assessed: the expression is refused: {exc}"
        count_q, outside_q = period_queries(
            promql, metric.min, metric.max, objective, step, end.timestamp()
        )
        try:
            counts = self.prometheus.query(count_q)
            outside = self.prometheus.query(outside_q)
        except PrometheusQueryError as exc:
            return f"Prometheus rejected the period query: {exc}"
        bad = {series_key(_labels(item)): int(float(item["value"][1])) for item in outside}
        return {
            series_key(_labels(item)): (
                int(float(item["value"][1])),
                bad.get(series_key(_labels(item)), 0),
            )
            for item in counts
        }


def _labels(item: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in item.get("metric", {}).items() if k != "__name__"}


def _window_dict(window: Any) -> dict[str, Any]:
    out = window.to_dict()
    del out["window"], out["last_episode_start"]
    return out
