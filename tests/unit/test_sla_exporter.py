"""The exported SLA gauges: one sample per series, even when two series share their labels."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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
