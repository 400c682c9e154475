"""The status of every current SLA metric as Prometheus gauges, read from the stored assessments.

Read at scrape time from MySQL rather than kept in process memory, so that every gunicorn
worker exports the same figures and a restart loses nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitoring_core.db import DatabaseUnavailable
from sla_manager.budget import Objective
from sla_manager.store import SLAStore

log = logging.getLogger(__name__)

# series_id (metric name and labels): `series` is the label text alone, which two series of
# one expression can share, and a scrape must not hold the same label set twice.
SERIES_LABELS = ["sla", "metric", "series", "series_id"]
WINDOW_LABELS = [*SERIES_LABELS, "window"]


class SLAStatusCollector(Collector):
    def __init__(self, store: SLAStore) -> None:
        self.store = store

    def describe(self) -> list[Metric]:
        return []  # nothing is read at registration time

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("sla_status_up", "1 when the SLA status could be read from MySQL")
        try:
            slas = self.store.current()
            latest = self.store.latest_assessments([sla.sla_id for sla in slas])
        except DatabaseUnavailable as exc:
            log.warning("SLA status not exported: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        def gauge(name: str, text: str, labels: list[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, text, labels=labels)

        in_range = gauge("sla_in_range", "1 when no sample was outside the range", WINDOW_LABELS)
        outside = gauge("sla_samples_outside", "Samples outside the range", WINDOW_LABELS)
        episodes = gauge("sla_violation_episodes", "Separate violation episodes", WINDOW_LABELS)
        seconds = gauge("sla_violation_seconds", "Seconds spent outside the range", WINDOW_LABELS)
        budget = gauge(
            "sla_error_budget_ratio", "Share of the window's samples within range", WINDOW_LABELS
        )
        now_in = gauge("sla_value_in_range", "1 when the latest sample is in range", SERIES_LABELS)
        probability = gauge(
            "sla_violation_probability",
            "Highest forecast probability of being outside the range within the horizon",
            SERIES_LABELS,
        )
        likely = gauge("sla_violation_likely", "1 when a violation is likely", SERIES_LABELS)
        leaving = gauge(
            "sla_predicted_violation_probability",
            "Probability of leaving the range at least once within the horizon (0 while the"
            " series is already outside: that is a violation, not a prediction)",
            SERIES_LABELS,
        )
        assessed = gauge(
            "sla_last_assessment_timestamp_seconds", "When the SLA was last assessed", ["sla"]
        )
        budgets = BudgetGauges()
        for sla in slas:
            result = latest.get(sla.sla_id)
            if result is None:
                continue
            budgets.add(sla.name, sla.objective, result)
            assessed.add_metric(
                [sla.name], datetime.fromisoformat(result["assessed_at"]).timestamp()
            )
            for metric in result["metrics"]:
                for series in metric["series"]:
                    key = [sla.name, metric["name"], series["series"], series.get("series_id", "")]
                    for window, figures in series["windows"].items():
                        labels = [*key, window]
                        in_range.add_metric(labels, float(figures["samples_outside"] == 0))
                        outside.add_metric(labels, figures["samples_outside"])
                        episodes.add_metric(labels, figures["episodes"])
                        seconds.add_metric(labels, figures["seconds_outside"])
                        if figures["within_range_ratio"] is not None:
                            budget.add_metric(labels, figures["within_range_ratio"])
                    if series["in_range_now"] is not None:
                        now_in.add_metric(key, float(series["in_range_now"]))
                    prediction = series["prediction"]
                    if prediction["max_probability"] is not None:
                        probability.add_metric(key, prediction["max_probability"])
                    likely.add_metric(key, float(prediction["likely"]))
                    chance = prediction.get("exit_probability")
                    if chance is not None:
                        violating = prediction.get("state") == "violating"
                        leaving.add_metric(key, 0.0 if violating else chance)
        yield from (in_range, outside, episodes, seconds, budget, now_in, probability, likely)
        yield leaving
        yield assessed
        yield from budgets.families()


class BudgetGauges:
    """Error budget and burn rate gauges of the SLAs with an objective (sla_manager/budget.py),
    named after Sloth's recording rules: ``slo:objective:ratio`` -> ``sla_objective_ratio``,
    ``slo:sli_error:ratio_rate<w>`` -> ``sla_sli_error_ratio{window=<w>}``,
    ``slo:current_burn_rate:ratio`` -> ``sla_burn_rate_ratio{window="5m"}``,
    ``slo:period_error_budget_remaining:ratio`` -> ``sla_error_budget_remaining_ratio``
    with the period as the window (e.g. ``window="28d"``)."""

    def __init__(self) -> None:
        def gauge(name: str, text: str, labels: list[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, text, labels=labels)

        self.objective = gauge(
            "sla_objective_ratio", "Share of samples that must be in range", ["sla"]
        )
        self.period = gauge("sla_time_period_days", "The objective's rolling period", ["sla"])
        self.error = gauge(
            "sla_sli_error_ratio", "Share of the window's samples outside the range", WINDOW_LABELS
        )
        self.burn = gauge(
            "sla_burn_rate_ratio",
            "Error ratio over the error budget (1 spends the budget in exactly one period)",
            WINDOW_LABELS,
        )
        self.consumed = gauge(
            "sla_error_budget_consumed_ratio",
            "Share of the period's error budget the window's violations used",
            WINDOW_LABELS,
        )
        self.remaining = gauge(
            "sla_error_budget_remaining_ratio",
            "1 - the consumed share (negative once overspent)",
            WINDOW_LABELS,
        )
        self.exhaustion = gauge(
            "sla_error_budget_exhaustion_seconds",
            "Seconds until the budget left is spent at the window's burn rate (absent: never)",
            WINDOW_LABELS,
        )

    def add(self, sla: str, objective: Objective | None, result: dict[str, Any]) -> None:
        if objective is None:
            return
        self.objective.add_metric([sla], objective.ratio)
        self.period.add_metric([sla], objective.period_seconds / 86_400)
        for metric in result["metrics"]:
            for series in metric["series"]:
                budget = series.get("budget")
                if not budget:  # assessed before the SLA had an objective
                    continue
                key = [sla, metric["name"], series["series"], series.get("series_id", "")]
                figures = {**budget["burn_rates"], **budget["windows"]}
                if budget["period_budget"] is not None:
                    figures.setdefault(budget["period"], budget["period_budget"])
                for window, values in figures.items():
                    labels = [*key, window]
                    for family, field in (
                        (self.error, "error_ratio"),
                        (self.burn, "burn_rate"),
                        (self.consumed, "budget_consumed"),
                        (self.remaining, "budget_left"),
                        (self.exhaustion, "seconds_to_exhaustion"),
                    ):
                        if values[field] is not None:
                            family.add_metric(labels, values[field])

    def families(self) -> Iterator[Metric]:
        yield from (self.objective, self.period, self.error, self.burn)
        yield from (self.consumed, self.remaining, self.exhaustion)
