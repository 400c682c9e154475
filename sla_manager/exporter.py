"""The status of every current SLA metric as Prometheus gauges, read from the stored assessments.

Read at scrape time from MySQL rather than kept in process memory, so that every gunicorn
worker exports the same figures and a restart loses nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitoring_core.db import DatabaseUnavailable
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
        for sla in slas:
            result = latest.get(sla.sla_id)
            if result is None:
                continue
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
