"""An ETL cycle over the node exporter's real series: counters as rates, forecasts in bounds.

Where the expected numbers come from:
- a counter's statistics: Prometheus' own `rate(m[60s])` evaluated by instant queries at each
  of the series' raw sample times in the window (the samples from the range selector at the
  row's end), then max/min/mean/count of those values: the ETL must have analysed exactly
  that series, to 1e-9 relative;
- types: Prometheus' `/api/v1/metadata`, asked by the test itself;
- bounds: a load average and every rate cannot be negative, so no forecast point and no
  interval bound of theirs may be.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import requests

from etl_pipeline.settings import ETLSettings
from monitoring_core.analytics.samples import learn_interval
from monitoring_core.promql import selector
from monitoring_core.settings import KafkaSettings, PrometheusSettings

from .etl_cycle import Cycle, etl_app, own_topic, regen

pytestmark = pytest.mark.integration

KEEP = ("node_cpu_seconds_total", "node_load1", "go_gc_duration_seconds_count", "node_time_seconds")
COUNTER = "node_cpu_seconds_total"


@pytest.fixture(scope="module")
def node_run(
    prometheus_settings,
    kafka_settings: KafkaSettings,
    admin_client_class,
    node_history,
    mysql_role,  # noqa: ANN001
) -> Cycle:  # noqa: ANN001
    # 1-minute buckets: a stack started minutes ago already has enough for a forecast.
    settings = ETLSettings(
        scheduler_enabled=False,
        windows="1h",
        bucket_minutes=1,
        max_gap_minutes=3,
        forecast_metrics=",".join(KEEP),
        exclude_metrics=rf"^(?!({'|'.join(KEEP)})$)",
        kafka_check_timeout_seconds=2,
    )
    node = PrometheusSettings(url=prometheus_settings.url, selector='{job="node"}')
    kafka = own_topic(kafka_settings, "node")
    with etl_app(settings, node, kafka, mysql_role, admin_client_class) as (services, app):
        return regen(app, services, "post")


def prometheus_metadata(url: str) -> dict:
    return requests.get(f"{url}/api/v1/metadata", timeout=10).json()["data"]


def test_types_come_from_prometheus_metadata(node_run: Cycle, prometheus_settings) -> None:  # noqa: ANN001
    metadata = prometheus_metadata(prometheus_settings.url)
    kinds = {r.series.metric: r.statistics for r in node_run.results}
    assert metadata[COUNTER][0]["type"] == "counter"
    assert (kinds[COUNTER].metric_type, kinds[COUNTER].type_source) == ("counter", "metadata")
    assert kinds[COUNTER].transform == "rate"
    # a summary's _count is a counter, by its family's metadata
    assert metadata["go_gc_duration_seconds"][0]["type"] == "summary"
    assert kinds["go_gc_duration_seconds_count"].transform == "rate"
    assert (kinds["node_load1"].metric_type, kinds["node_load1"].transform) == ("gauge", "raw")


def test_a_counters_statistics_are_those_of_prometheus_rate(
    node_run: Cycle,
    prometheus_settings,  # noqa: ANN001
) -> None:
    url = prometheus_settings.url
    (result,) = [
        r
        for r in node_run.results
        if r.series.metric == COUNTER
        and r.series.labels.get("mode") == "idle"
        and r.series.labels.get("cpu") == "0"
    ]
    stats = result.statistics
    end = stats.end.timestamp()
    series = selector(COUNTER, result.series.labels)
    raw = requests.get(
        f"{url}/api/v1/query", params={"query": f"{series}[3600s]", "time": end}, timeout=10
    ).json()["data"]["result"][0]["values"]
    times = [float(t) for t, _ in raw]
    # The rate's window is four scrape intervals as the ETL learns them from these samples
    # (the lower quartile of their spacings: 15 s, a few ms less when a loaded machine
    # jitters the scrapes); the rates themselves are Prometheus' own.
    interval = learn_interval(np.round(np.array(times) * 1000).astype(np.int64) * 1_000_000)
    assert interval is not None
    window_ms = round(4 * interval * 1000)
    expected = []
    for at in times:
        if at - window_ms / 1000 < times[0]:
            continue  # the ETL leaves out rates whose window begins before the series
        answer = requests.get(
            f"{url}/api/v1/query",
            params={"query": f"rate({series}[{window_ms}ms])", "time": at},
            timeout=10,
        ).json()["data"]["result"]
        expected.append(float(answer[0]["value"][1]))
    values = np.array(expected)
    assert stats.count == len(values)
    for ours, theirs in (
        (stats.max, values.max()),
        (stats.min, values.min()),
        (stats.mean, values.mean()),
        (stats.std, values.std(ddof=1)),
    ):
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)


def test_no_forecast_of_a_non_negative_series_goes_below_zero(node_run: Cycle) -> None:
    checked = 0
    for result in node_run.results:
        if result.statistics.domain != "non_negative":
            continue
        for forecast in result.forecasts.values():
            assert forecast.domain == "non_negative"
            for point in forecast.points:
                bounds = (point.value, point.lower_80, point.lower_95)
                assert all(b is None or b >= 0 for b in bounds), (result.series.metric, point)
                checked += 1
    load = [r for r in node_run.results if r.series.metric == "node_load1"]
    assert load and load[0].statistics.domain == "non_negative" and checked > 0
    assert not math.isnan(load[0].statistics.mean or math.nan)


def test_the_demo_ratio_never_forecasts_outside_zero_to_one(
    prometheus_settings,
    kafka_settings: KafkaSettings,
    admin_client_class,
    mysql_role,  # noqa: ANN001
) -> None:
    settings = ETLSettings(
        scheduler_enabled=False,
        windows="3h",
        forecast_metrics="cacheHitRatio",
        exclude_metrics=r"^(?!cacheHitRatio$)",
        kafka_check_timeout_seconds=2,
    )
    kafka = own_topic(kafka_settings, "ratio")
    with etl_app(settings, prometheus_settings, kafka, mysql_role, admin_client_class) as (
        services,
        app,
    ):
        (result,) = regen(app, services, "post").results
    assert (result.statistics.domain, result.statistics.domain_source) == ("unit_interval", "name")
    points = [p for forecast in result.forecasts.values() for p in forecast.points]
    assert points
    for point in points:
        for value in (point.value, point.lower_80, point.upper_80, point.lower_95, point.upper_95):
            assert value is None or 0.0 <= value <= 1.0
