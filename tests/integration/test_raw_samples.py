"""The raw-sample reader (`PrometheusClient.read_samples`) against the stack's real Prometheus.

Expected samples come from Prometheus' own HTTP answer to the range selector `m[w]` at the
same time. The window convention `[end - w, end]` is checked on this Prometheus 2.x, whose
range selectors are closed: the backfilled history has a sample exactly at `end - w` when
`end` is on the 15 s grid, and it must be in the window (Prometheus 3 would leave it out of
`m[w]`; the reader asks one millisecond more so that it keeps it there too).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import requests

from demo_exporter.series import SERIES
from monitoring_core import prometheus as prometheus_module
from monitoring_core.prometheus import PrometheusClient
from monitoring_core.promql import align_end
from monitoring_core.settings import PrometheusSettings

pytestmark = pytest.mark.integration

LABELS = 'job="summary", instance="106"'


def api_query(settings: PrometheusSettings, promql: str, at: datetime) -> list[dict]:
    response = requests.get(
        f"{settings.url}/api/v1/query", params={"query": promql, "time": at.timestamp()}, timeout=10
    )
    response.raise_for_status()
    return response.json()["data"]["result"]


def as_pairs(values: pd.Series) -> list[tuple[float, float]]:
    return [(t.timestamp(), float(v)) for t, v in values.items()]


@pytest.fixture(scope="module")
def end() -> datetime:
    # As the ETL: the last 15 s boundary at least one step ago, so the last scrape is stored.
    return align_end(datetime.now(UTC) - timedelta(seconds=15), 15)


def test_prometheus_is_2x_with_closed_range_selectors(
    prometheus_settings: PrometheusSettings, end: datetime
) -> None:
    info = requests.get(f"{prometheus_settings.url}/api/v1/status/buildinfo", timeout=5).json()
    assert info["data"]["version"].startswith("2.")
    # The backfilled sample at exactly end - 12 h is in m[12h] and not in m[12h - 1 ms]: closed.
    cpu = f"cpuLoad{{{LABELS}}}"
    closed = float(
        api_query(prometheus_settings, f"count_over_time({cpu}[12h])", end)[0]["value"][1]
    )
    shorter = api_query(prometheus_settings, f"count_over_time({cpu}[43199999ms])", end)
    assert closed == float(shorter[0]["value"][1]) + 1


@pytest.mark.parametrize("window", ["1h", "3h", "12h"])
def test_every_demo_series_reads_as_prometheus_own_range_selector(
    prometheus_settings: PrometheusSettings, end: datetime, window: str
) -> None:
    client = PrometheusClient(prometheus_settings)
    seconds = pd.Timedelta(window).total_seconds()
    for spec in SERIES:
        promql = f"{spec.name}{{{LABELS}}}"
        (ours,) = client.read_samples(promql, end - timedelta(seconds=seconds), end)
        (theirs,) = api_query(prometheus_settings, f"{promql}[{window}]", end)
        assert ours.raw and ours.metric == spec.name
        assert as_pairs(ours.values) == [(float(t), float(v)) for t, v in theirs["values"]]
    # The window's first sample is the one at exactly end - w (the closed left end).
    (cpu,) = client.read_samples(f"cpuLoad{{{LABELS}}}", end - timedelta(hours=12), end)
    assert cpu.values.index[0] == pd.Timestamp(end - timedelta(hours=12))


def test_a_read_in_many_chunks_equals_one_read(
    prometheus_settings: PrometheusSettings, end: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = PrometheusClient(prometheus_settings)
    promql = f"networkThroughput{{{LABELS}}}"
    (whole,) = client.read_samples(promql, end - timedelta(hours=12), end)
    # 100 steps of 15 s: 29 chunks; boundaries fall on samples (the 15 s grid of the backfill).
    monkeypatch.setattr(prometheus_module, "CHUNK_STEPS", 100)
    (chunked,) = client.read_samples(promql, end - timedelta(hours=12), end)
    assert chunked.values.index.is_unique
    assert as_pairs(chunked.values) == as_pairs(whole.values)


def test_an_expression_is_evaluated_on_the_step_grid(
    prometheus_settings: PrometheusSettings, end: datetime
) -> None:
    client = PrometheusClient(prometheus_settings)
    expression = f"availableMem{{{LABELS}}} / 1e9"
    (ours,) = client.read_samples(expression, end - timedelta(hours=1), end)
    assert not ours.raw
    (theirs,) = api_query(prometheus_settings, f"({expression})[1h:15s]", end)
    assert as_pairs(ours.values) == [(float(t), float(v)) for t, v in theirs["values"]]
    assert all(t.timestamp() % 15 == 0 for t in ours.values.index)
