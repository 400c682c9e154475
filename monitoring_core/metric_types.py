"""What kind of metric a series is, and so how it is analysed: raw, as a rate, or not at all.

Prometheus' metadata (`/api/v1/metadata`) says each metric family's type. Where it is missing
(federation, some exporters), the naming conventions decide, and the result says which did.
A histogram's or a summary's `_sum` and `_count` are counters; its `_bucket` series are not
analysed one by one (their quantiles are, on request).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

COUNTER, GAUGE, HISTOGRAM_BUCKET, UNKNOWN = "counter", "gauge", "histogram_bucket", "unknown"
RAW, RATE, SKIP = "raw", "rate", "skip"
_PART = re.compile(r"^(?P<family>.+)_(?P<part>bucket|sum|count|total|created)$")
# Families whose parts are counters, by the family's type.
_COUNTER_PARTS = {
    "histogram": {"sum", "count"},
    "gaugehistogram": set(),
    "summary": {"sum", "count"},
    "counter": {"total"},
}


@dataclass(frozen=True)
class MetricType:
    """A metric's type, its unit where the metadata gives one, and what decided it
    (``metadata`` or ``name``)."""

    type: str
    source: str
    unit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"metric_type": self.type, "type_source": self.source, "unit": self.unit}


# A named expression (ETL_METRIC_EXPRESSIONS): analysed as it is, its type is the operator's.
EXPRESSION = MetricType("expression", "setting")


def classify(metric: str, metadata: Mapping[str, Sequence[Mapping[str, Any]]]) -> MetricType:
    """The type of one metric name, from Prometheus' metadata or else its name.

    The metadata wins over the name: a gauge named like a counter (``..._total``) stays a
    gauge. A family listed with several types (targets that disagree) takes the first.
    """
    entries = metadata.get(metric)
    if entries:
        kind = str(entries[0].get("type", UNKNOWN))
        unit = entries[0].get("unit") or None
        return MetricType(COUNTER if kind == COUNTER else _plain(kind), "metadata", unit)
    match = _PART.match(metric)
    if match:
        family = metadata.get(match["family"])
        if family:
            kind = str(family[0].get("type", UNKNOWN))
            unit = family[0].get("unit") or None
            part = match["part"]
            if part in _COUNTER_PARTS.get(kind, set()):
                return MetricType(COUNTER, "metadata", unit)
            if part == "bucket" and kind in ("histogram", "gaugehistogram"):
                return MetricType(HISTOGRAM_BUCKET, "metadata", unit)
        part = match["part"]
        if part in ("total", "sum", "count"):
            return MetricType(COUNTER, "name")
        if part == "bucket":
            return MetricType(HISTOGRAM_BUCKET, "name")
    return MetricType(GAUGE, "name")


def _plain(kind: str) -> str:
    # Everything that is not a counter or a bucket is analysed as it is, like a gauge.
    return GAUGE if kind in ("gauge", "summary", "histogram", "stateset", "info") else UNKNOWN


def transform_for(
    metric: str, kind: MetricType, *, rates: bool, raw_metrics: re.Pattern[str]
) -> str:
    """``rate`` for counters (unless turned off globally or for this metric), ``skip`` for
    histogram buckets, ``raw`` for everything else."""
    if kind.type == HISTOGRAM_BUCKET:
        return SKIP
    if kind.type == COUNTER and rates and not raw_metrics.search(metric):
        return RATE
    return RAW
