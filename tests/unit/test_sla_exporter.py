"""The exported SLA gauges: one sample per series, even when two series share their labels."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sla_manager.exporter import SLAStatusCollector
from sla_manager.rules import SLAMetric
from sla_manager.store import StoredSLA

AT = "2026-01-01T12:00:00+00:00"


def assessed_series(series_id: str) -> dict[str, Any]:
    figures = {"samples_outside": 0, "episodes": 0, "seconds_outside": 0.0}
    return {
        "series": "instance=106",  # the label text, without the metric name
        "series_id": series_id,
        "labels": {"instance": "106"},
        "in_range_now": True,
        "windows": {"1h": {**figures, "within_range_ratio": 1.0}},
        "prediction": {"likely": False, "max_probability": 0.0},
    }


class StoredAssessments:
    """The store's two reads the collector makes, answered from memory (no MySQL here)."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.sla = StoredSLA(
            1, "web", 1, datetime(2026, 1, 1, tzinfo=UTC), None, (SLAMetric("cpu", "x", None, 1),)
        )
        self.result = result

    def current(self) -> list[StoredSLA]:
        return [self.sla]

    def latest_assessments(self, sla_ids: list[int]) -> dict[int, dict[str, Any]]:
        return {1: self.result}


def test_series_with_the_same_labels_export_separate_samples() -> None:
    # An expression that returns cpuLoad and cpuTemp of one instance: the same label text,
    # two series ids. A scrape with one label set twice is rejected by Prometheus.
    ids = ["00000000000000a1", "00000000000000b2"]
    result = {
        "assessed_at": AT,
        "metrics": [{"name": "cpu", "series": [assessed_series(i) for i in ids]}],
    }
    families = list(SLAStatusCollector(StoredAssessments(result)).collect())  # type: ignore[arg-type]
    for family in families:
        keys = [tuple(sorted(sample.labels.items())) for sample in family.samples]
        assert len(keys) == len(set(keys)), family.name
    in_range = next(f for f in families if f.name == "sla_in_range")
    assert sorted(s.labels["series_id"] for s in in_range.samples) == ids


def test_budget_gauges_per_window_and_period() -> None:
    from sla_manager.budget import Objective, budget_report

    objective = Objective(99.0, 28 * 86_400)
    series = assessed_series("00000000000000a1")
    series["budget"] = budget_report(
        objective,
        15,
        [("1h", 241, 12, 180.0)],
        [("5m", 21, 21, 315.0), ("1h", 241, 12, 180.0)],
        (5000, 40),
    )
    store = StoredAssessments({"assessed_at": AT, "metrics": [{"name": "cpu", "series": [series]}]})
    store.sla = StoredSLA(
        1,
        "web",
        1,
        datetime(2026, 1, 1, tzinfo=UTC),
        None,
        (SLAMetric("cpu", "x", None, 1),),
        objective,
    )
    families = {f.name: f for f in SLAStatusCollector(store).collect()}  # type: ignore[arg-type]
    assert families["sla_objective_ratio"].samples[0].value == 0.99
    assert families["sla_time_period_days"].samples[0].value == 28
    burn = {s.labels["window"]: s.value for s in families["sla_burn_rate_ratio"].samples}
    assert burn == pytest.approx({"5m": 100.0, "1h": 12 / 241 / 0.01, "28d": 40 / 5000 / 0.01})
    left = {
        s.labels["window"]: s.value for s in families["sla_error_budget_remaining_ratio"].samples
    }
    # the period's samples are at 60 s (28d at 15 s would be too many subquery steps)
    assert left["28d"] == pytest.approx(1 - 40 * 60 / (0.01 * 28 * 86_400))
    assert {
        s.labels["window"] for s in families["sla_error_budget_exhaustion_seconds"].samples
    } == {
        "5m",
        "1h",
        "28d",
    }
