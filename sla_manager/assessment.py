"""Assess SLAs: one range query per metric, past and predicted violations, stored and alerted."""

from __future__ import annotations

import logging
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from monitoring_core.analytics import jsonable
from monitoring_core.messages import series_id
from monitoring_core.prometheus import PrometheusClient, PrometheusQueryError, SampleSeries
from monitoring_core.promql import MAX_POINTS, align_end
from sla_manager.budget import BURN_WINDOWS, Objective, period_queries, series_budget
from sla_manager.settings import SLASettings
from sla_manager.store import SLAStore, StoredSLA
from sla_manager.violations import assess_windows, predict_violations
from sla_manager.webhook import Notifier, new_alerts

log = logging.getLogger(__name__)

QUERY_THREADS = 4


def series_key(labels: dict[str, str]) -> str:
    """A readable, stable name of a label set: ``instance=106,job=summary``."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


@dataclass(frozen=True)
class Assessor:
    settings: SLASettings
    prometheus: PrometheusClient
    store: SLAStore
    notifier: Notifier | None = None
    # Previous assessment, save and alerts as one step: the periodic thread, GET
    # /assess_Violations and on-the-spot assessments may run at once, and two that both read
    # the same previous assessment would both send its new alerts (one worker per stack).
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    @property
    def windows(self) -> list[tuple[str, float]]:
        return [(name, w.total_seconds()) for name, w in self.settings.window_durations.items()]

    @property
    def step_seconds(self) -> int:
        longest = max(seconds for _, seconds in self.windows)
        return max(self.prometheus.settings.step_seconds, math.ceil(longest / MAX_POINTS))

    def assess(self, slas: list[StoredSLA], now: datetime | None = None) -> list[dict[str, Any]]:
        """Assess each SLA, store one assessment row per SLA, and notify what is new."""
        if not slas:
            return []
        end = align_end(now or datetime.now(UTC), self.step_seconds)
        results = [self.assess_one(sla, end) for sla in slas]
        retention = timedelta(hours=self.settings.assessment_retention_hours)
        with self._lock:
            previous = self.store.latest_assessments([sla.sla_id for sla in slas])
            for sla, result in zip(slas, results, strict=True):
                self.store.save_assessment(sla.sla_id, end, result, retention)
            if self.notifier is not None:
                alerts = new_alerts(previous, results)
                if alerts:
                    self.notifier.send(alerts)
        return results

    def assess_one(self, sla: StoredSLA, end: datetime) -> dict[str, Any]:
        """Past and predicted violations of every metric of one SLA, as JSON-ready data."""
        step = self.step_seconds
        longest = max(seconds for _, seconds in self.windows)
        if sla.objective is not None:  # the burn-rate windows are slices of the same query
            longest = max(longest, *(seconds for _, seconds in BURN_WINDOWS))
        # One query for the longest window, both ends included (monitoring_core.windows).
        start = end - timedelta(seconds=longest)

        def fetch(promql: str) -> list[SampleSeries] | str:
            try:
                return self.prometheus.query_range(promql, start, end, step_seconds=step)
            except PrometheusQueryError as exc:
                return f"Prometheus rejected the query: {exc}"

        with ThreadPoolExecutor(min(QUERY_THREADS, len(sla.metrics))) as pool:
            answers = list(pool.map(fetch, [metric.promql for metric in sla.metrics]))
            periods = list(
                pool.map(lambda m: self.fetch_period(sla.objective, m, end, step), sla.metrics)
            )
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
                if len(answer) > self.settings.max_series_per_metric:
                    entry["reason"] = (
                        f"{len(answer)} series; assessed the first "
                        f"{self.settings.max_series_per_metric} by labels"
                    )
                entry["series"] = [
                    self.assess_series(s, metric.min, metric.max, end, step, sla.objective, period)
                    for s in answer[: self.settings.max_series_per_metric]
                ]
            metrics.append(entry)
        return {
            "sla": {"id": sla.sla_id, "name": sla.name, "version": sla.version},
            "objective": sla.objective.to_dict() if sla.objective else None,
            "assessed_at": datetime.now(UTC).isoformat(),
            "window_end": end.isoformat(),
            "step_seconds": step,
            "metrics": metrics,
        }

    def assess_series(
        self,
        series: SampleSeries,
        low: float | None,
        high: float | None,
        end: datetime,
        step: int,
        objective: Objective | None = None,
        period: dict[str, tuple[int, int]] | str | None = None,
    ) -> dict[str, Any]:
        end_ts = pd.Timestamp(end)
        windows = assess_windows(series.values, end_ts, self.windows, step, low, high)
        prediction = predict_violations(
            series.values,
            end_ts,
            step,
            low,
            high,
            self.settings.horizon_minutes,
            self.settings.likely_probability,
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
            burn = assess_windows(series.values, end_ts, BURN_WINDOWS, step, low, high)
            budget = series_budget(windows, burn, objective, step, found, reason)
        return {
            "series": series_key(series.labels),
            "series_id": series_id(series.metric, series.labels),
            "labels": series.labels,
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
        count_q, outside_q = period_queries(
            metric.promql, metric.min, metric.max, objective, step, end.timestamp()
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
