"""Metric types from Prometheus' metadata, else from the naming conventions.

The metadata entries are shaped as `/api/v1/metadata` answers them (Prometheus HTTP API
docs); the node exporter's real families are in tests/integration/test_etl_pipeline.py.
"""

from __future__ import annotations

import re

import pytest

from monitoring_core.metric_types import (
    COUNTER,
    GAUGE,
    HISTOGRAM_BUCKET,
    RATE,
    RAW,
    SKIP,
    MetricType,
    classify,
    transform_for,
)

METADATA = {
    "node_cpu_seconds_total": [{"type": "counter", "help": "...", "unit": ""}],
    "node_load1": [{"type": "gauge", "help": "1m load average.", "unit": ""}],
    "http_request_duration_seconds": [{"type": "histogram", "help": "", "unit": "seconds"}],
    "rpc_latency": [{"type": "summary", "help": "", "unit": ""}],
    "queue_items_total": [{"type": "gauge", "help": "named like a counter", "unit": ""}],
}
NOTHING = re.compile(r"(?!)")


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("node_cpu_seconds_total", MetricType(COUNTER, "metadata")),
        ("node_load1", MetricType(GAUGE, "metadata")),
        (
            "http_request_duration_seconds_bucket",
            MetricType(HISTOGRAM_BUCKET, "metadata", "seconds"),
        ),
        ("http_request_duration_seconds_sum", MetricType(COUNTER, "metadata", "seconds")),
        ("http_request_duration_seconds_count", MetricType(COUNTER, "metadata", "seconds")),
        ("rpc_latency_count", MetricType(COUNTER, "metadata")),
        ("rpc_latency", MetricType(GAUGE, "metadata")),
        # a gauge named like a counter: the metadata wins
        ("queue_items_total", MetricType(GAUGE, "metadata")),
        # no metadata (federation): the naming conventions decide
        ("federated_requests_total", MetricType(COUNTER, "name")),
        ("federated_latency_bucket", MetricType(HISTOGRAM_BUCKET, "name")),
        ("federated_latency_count", MetricType(COUNTER, "name")),
        ("cpuLoad", MetricType(GAUGE, "name")),
    ],
)
def test_types_come_from_metadata_then_names(metric, expected):
    assert classify(metric, METADATA) == expected


def test_missing_metadata_falls_back_to_names():
    assert classify("node_cpu_seconds_total", {}) == MetricType(COUNTER, "name")


def test_transforms():
    counter, gauge = MetricType(COUNTER, "metadata"), MetricType(GAUGE, "name")
    bucket = MetricType(HISTOGRAM_BUCKET, "name")
    assert transform_for("a_total", counter, rates=True, raw_metrics=NOTHING) == RATE
    assert transform_for("a_total", counter, rates=False, raw_metrics=NOTHING) == RAW
    assert transform_for("a_total", counter, rates=True, raw_metrics=re.compile("^a_")) == RAW
    assert transform_for("g", gauge, rates=True, raw_metrics=NOTHING) == RAW
    assert transform_for("h_bucket", bucket, rates=True, raw_metrics=NOTHING) == SKIP
