"""ETL pipeline pieces without I/O: slicing, matchers, discovery and messages from analytics.

Prometheus is replaced by a fake source (the boundary); expected numbers are by hand or
the analytics' own results, since here we test the wiring, not the maths.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from etl_pipeline.analysis import AnalysisOptions, analyze_series
from etl_pipeline.cycle import Pipeline
from etl_pipeline.discovery import SeriesQuery
from etl_pipeline.results import build_result
from etl_pipeline.settings import ETLSettings
from monitoring_core.analytics import analyze_window
from monitoring_core.analytics.synthetic import seasonal_series
from monitoring_core.messages import SeriesRef, decode, encode
from monitoring_core.prometheus import PrometheusQueryError, SampleSeries
from monitoring_core.promql import align_end, selector
from monitoring_core.settings import KafkaSettings, PrometheusSettings
from monitoring_core.windows import slice_windows

END = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
WINDOWS = {"1h": timedelta(hours=1), "3h": timedelta(hours=3), "12h": timedelta(hours=12)}


def samples(hours: float = 12, step: int = 15, end: datetime = END) -> pd.Series:
    index = pd.date_range(end=end, periods=int(hours * 3600 / step) + 1, freq=f"{step}s")
    return pd.Series(np.arange(index.size, dtype=float), index=index)


class FakePrometheus:
    """The Prometheus source at the boundary: label sets and their samples, from memory."""

    def __init__(
        self,
        series: dict[tuple[str, tuple[tuple[str, str], ...]], pd.Series],
        metadata: dict[str, list[dict[str, str]]] | None = None,
    ) -> None:
        self.settings = PrometheusSettings(url="http://prometheus.invalid", step_seconds=15)
        self.series = series
        self.queries: list[str] = []
        self.known_types = metadata or {}

    def metadata(self) -> dict[str, list[dict[str, str]]]:
        return self.known_types

    def series_labels(self, selector: str, start: datetime, end: datetime) -> list[dict[str, str]]:
        return [{"__name__": name, **dict(labels)} for name, labels in self.series]

    def query(self, promql: str) -> list[dict]:
        return []

    def read_samples(
        self, promql, start, end, step_seconds=None, max_series=None
    ) -> list[SampleSeries]:
        self.queries.append(promql)
        if promql == "bad(":
            raise PrometheusQueryError("parse error")
        # the cycle's cap goes with every expression, never with a known label set
        assert (max_series is None) == promql.startswith("{__name__=")
        found = []
        for (name, labels), values in self.series.items():
            wanted = dict(labels)
            # as Prometheus: matchers on a subset of labels also match a series with more
            if all(f'{k}="{v}"' in promql for k, v in wanted.items()) and f'"{name}"' in promql:
                found.append(SampleSeries(name, wanted, values))
            elif promql.startswith("rate(") and name == "requests":
                found.append(SampleSeries(promql, wanted, values))
        return found


def make_pipeline(fake: FakePrometheus, **fields) -> Pipeline:
    settings = ETLSettings(scheduler_enabled=False, **fields)
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    return Pipeline(settings, fake, kafka)  # type: ignore[arg-type]


def test_one_range_is_sliced_into_every_window_with_both_ends_included() -> None:
    values = samples()
    windows = slice_windows(values, END, WINDOWS)
    # [end - w, end] at a 15 s step: w / 15 s + 1 samples, as a Prometheus 2 range selector.
    assert {name: len(w) for name, w in windows.items()} == {"1h": 241, "3h": 721, "12h": 2881}
    assert windows["1h"].index[0] == pd.Timestamp(END - timedelta(hours=1))
    assert windows["1h"].index[-1] == pd.Timestamp(END)
    assert windows["1h"].equals(values.iloc[-241:])


def test_slicing_ignores_samples_after_the_end() -> None:
    values = samples(end=END + timedelta(minutes=1))
    assert slice_windows(values, END, {"1h": timedelta(hours=1)})["1h"].index[-1] == pd.Timestamp(
        END
    )


def test_align_end_floors_to_the_step() -> None:
    now = datetime(2026, 11, 29, 12, 0, 7, 500_000, tzinfo=UTC)
    assert align_end(now, 15) == datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
    assert align_end(now, 60).second == 0


def test_selectors_are_exact_and_escaped() -> None:
    assert selector("cpuLoad", {"job": "summary", "instance": "106"}) == (
        '{__name__="cpuLoad", instance="106", job="summary"}'
    )
    assert selector("m", {"path": 'a"b\\c'}) == '{__name__="m", path="a\\"b\\\\c"}'


def test_discovery_excludes_scrape_series_and_caps_with_expressions() -> None:
    labels = (("instance", "106"), ("job", "summary"))
    fake = FakePrometheus(
        {(name, labels): samples(1) for name in ["cpuLoad", "up", "scrape_duration_seconds", "b"]}
    )
    pipeline = make_pipeline(fake, max_series=2, metric_expressions={"reqRate": "rate(x[5m])"})
    queries, cut = pipeline.discovery.discover(END - timedelta(hours=12), END)
    # up and scrape_* excluded; two label sets left, one place taken by the expression.
    assert [q.name for q in queries] == ["b", "reqRate"]
    assert cut == 1
    assert pipeline.known_metrics() == {"b", "reqRate"}  # the cut series is not analysed


def test_query_keeps_only_the_exact_label_set_and_skips_rejected_expressions() -> None:
    exact = (("instance", "106"), ("job", "summary"))
    more = (*exact, ("mode", "idle"))
    fake = FakePrometheus({("cpu", exact): samples(1), ("cpu", more): samples(1) + 1})
    pipeline = make_pipeline(fake, metric_expressions={"broken": "bad("})
    queries, _ = pipeline.discovery.discover(END - timedelta(hours=12), END)
    skipped: list[dict[str, str]] = []
    series = list(pipeline.discovery.read_stream(queries, END - timedelta(hours=12), END, skipped))
    assert sorted(ref.labels.get("mode", "-") for ref, _, _, _ in series) == ["-", "idle"]
    assert len(fake.queries) == 3  # one query per series, one per expression
    assert skipped == [{"metric": "broken", "reason": "parse error"}]
    by_mode = {ref.labels.get("mode"): values for ref, values, _, _ in series}
    assert by_mode["idle"].iloc[0] == 1.0 and by_mode[None].iloc[0] == 0.0


def test_expression_results_are_named_after_the_expression() -> None:
    fake = FakePrometheus({("requests", (("job", "web"),)): samples(1)})
    pipeline = make_pipeline(
        fake, metric_expressions={"reqRate": "rate(requests[5m])"}, exclude_metrics="^requests$"
    )
    queries, _ = pipeline.discovery.discover(END - timedelta(hours=12), END)
    series = list(pipeline.discovery.read_stream(queries, END - timedelta(hours=12), END, []))
    assert [(ref.metric, ref.labels) for ref, _, _, _ in series] == [("reqRate", {"job": "web"})]


def test_the_longest_window_must_fit_in_one_range_query() -> None:
    with pytest.raises(ValueError, match="11000"):
        make_pipeline(FakePrometheus({}), windows="1h,2d")


SERIES = SeriesRef.of("cpuLoad", {"job": "summary", "instance": "106"})


def test_messages_carry_the_analytics_results() -> None:
    values = seasonal_series(20, hours=3, start=pd.Timestamp(END - timedelta(hours=3)))
    analysis = analyze_window(values, forecast=True, horizon_minutes=10)
    result = build_result(SERIES, "3h", analysis, END - timedelta(hours=3), END, 0.25)

    stats = analysis.statistics
    assert result.statistics.count == stats.count == len(values)
    assert (result.statistics.max, result.statistics.std, result.statistics.p99) == (
        stats.max,
        stats.std,
        stats.p99,
    )
    meta = result.metadata
    assert meta.autocorrelation.lags == list(analysis.acf.values)
    assert meta.stationarity.statistic == analysis.adf.statistic
    assert meta.stationarity.critical_5 == analysis.adf.critical_value_5
    assert meta.seasonality.period_minutes == pytest.approx(20, abs=2)
    assert len(meta.seasonality.seasonal) == analysis.seasonality.period_buckets

    assert list(result.forecasts) == ["mean", "min", "max"]
    mean = result.forecasts["mean"]
    assert mean.model == "holt_winters_additive" and mean.reason is None
    assert len(mean.points) == 5  # 10 minutes in 2-minute buckets
    assert mean.points[0].timestamp > END - timedelta(minutes=2)
    for p in mean.points:
        assert p.lower_95 <= p.lower_80 <= p.value <= p.upper_80 <= p.upper_95
    assert mean.holdout_mase == analysis.forecasts["mean"].holdout.mase
    assert result.stages["query"] == 0.25
    assert set(result.stages) == {"query", "statistics", "metadata", "forecast", "publish"}

    batch = result.messages("run-1", END)
    assert [m.kind for m in batch] == ["statistics", "metadata", "forecast", "forecast", "forecast"]
    assert all(decode(encode(m)) == m for m in batch)
    assert result.timing_message("run-1", END).payload.stages == result.stages


def test_a_series_that_stopped_mid_window_travels_with_its_end_and_gaps() -> None:
    # 15 s samples whose times carry sub-millisecond noise (as float seconds do), with a
    # 4-minute hole (one gap, 15 samples missing), stopping 10 minutes before END: the
    # statistics message says when it ended (to the microsecond) and what was missing.
    stamps = pd.date_range(end=END - timedelta(minutes=10), periods=240, freq="15s")
    stamps = stamps + pd.to_timedelta(np.arange(240) % 7, unit="ns")
    values = pd.Series(np.arange(240.0), index=stamps).drop(stamps[100:115])
    analysis = analyze_window(values, forecast=False, end=pd.Timestamp(END))
    result = build_result(SERIES, "1h", analysis, END - timedelta(hours=1), END, 0.0)
    s = result.statistics
    assert s.count == 225 and s.gaps == 1 and s.missing_samples == 15
    assert s.interval_seconds == pytest.approx(15.0) and s.longest_gap_seconds == pytest.approx(240)
    assert s.ended_at == (stamps[-1].floor("us")).to_pydatetime()
    assert result.samples["reason"] == "ended" and result.samples["ended_at"]
    assert decode(encode(result.messages("run-1", END)[0])) == result.messages("run-1", END)[0]


def test_a_constant_series_states_its_reasons() -> None:
    index = pd.date_range(end=END, periods=241, freq="15s")
    analysis = analyze_window(pd.Series(23.4, index=index), forecast=True)
    result = build_result(SERIES, "1h", analysis, END - timedelta(hours=1), END, 0.0)
    meta = result.metadata
    assert meta.autocorrelation.lags is None and "constant_series" in meta.autocorrelation.reason
    assert meta.stationarity.statistic is None and "constant_series" in meta.stationarity.reason
    assert meta.seasonality.period_minutes is None and meta.seasonality.reason
    # no season: the model falls back and says so; a constant has no MASE and says so.
    assert "fell back" in result.forecasts["mean"].reason
    assert "constant_series" in result.forecasts["mean"].reason
    assert result.forecasts["mean"].holdout_mase is None


def test_a_short_window_falls_back_to_a_non_seasonal_model_and_says_so() -> None:
    # 1 h of a 30-minute season: 30 buckets, fewer than 2 periods + 4 after the holdout.
    values = seasonal_series(30, hours=1, start=pd.Timestamp(END - timedelta(hours=1)))
    analysis = analyze_window(values, forecast=True)
    forecast = build_result(SERIES, "1h", analysis, END, END, 0.0).forecasts["mean"]
    assert forecast.model != "holt_winters_additive"
    assert "fell back" in forecast.reason


def test_an_empty_window_gives_reasons_not_errors() -> None:
    values = samples(12).iloc[:100]  # nothing in the last hour
    analyses = analyze_series(values, END, WINDOWS, True, _options())
    result = build_result(SERIES, "1h", analyses["1h"], END - timedelta(hours=1), END, 0.0)
    assert result.statistics.count == 0 and result.statistics.reason.startswith("empty")
    assert result.forecasts["mean"].points == [] and result.forecasts["mean"].reason


def test_only_forecast_metrics_get_forecasts() -> None:
    values = samples(3)
    assert analyze_series(values, END, WINDOWS, False, _options())["1h"].forecasts is None


def _options() -> AnalysisOptions:
    return AnalysisOptions(None, "2min", "6min", 10, 4.0, 240.0)


NODE = (("job", "node"),)


def test_metadata_decides_each_series_type_and_names_decide_without_it() -> None:
    found = {
        ("requests_total", NODE): samples(1),
        ("queue_total", NODE): samples(1),  # a gauge named like a counter
        ("latency_seconds_bucket", (("job", "node"), ("le", "0.5"))): samples(1),
        ("temperature", NODE): samples(1),
    }
    metadata = {
        "requests_total": [{"type": "counter", "unit": ""}],
        "queue_total": [{"type": "gauge", "unit": ""}],
        "latency_seconds": [{"type": "histogram", "unit": "seconds"}],
    }
    queries, _ = make_pipeline(FakePrometheus(found, metadata)).discovery.discover(END, END)
    by_name = {q.name: (q.kind.type, q.kind.source, q.transform) for q in queries}
    assert by_name == {
        "requests_total": ("counter", "metadata", "rate"),
        "queue_total": ("gauge", "metadata", "raw"),
        "latency_seconds_bucket": ("histogram_bucket", "metadata", "skip"),
        "temperature": ("gauge", "name", "raw"),
    }
    # No metadata (a federating Prometheus): the naming conventions decide, and say so.
    queries, _ = make_pipeline(FakePrometheus(found)).discovery.discover(END, END)
    assert {q.name: q.kind.source for q in queries} == dict.fromkeys(by_name, "name")
    assert {q.name: q.transform for q in queries}["queue_total"] == "rate"
    # Rates turned off, globally or per metric.
    off = make_pipeline(FakePrometheus(found, metadata), counter_rates=False)
    assert "rate" not in {q.transform for q in off.discovery.discover(END, END)[0]}
    raw = make_pipeline(FakePrometheus(found, metadata), raw_metrics="^requests_")
    transforms = {q.name: q.transform for q in raw.discovery.discover(END, END)[0]}
    assert transforms["requests_total"] == "raw"


def test_histogram_buckets_are_skipped_or_give_their_quantiles_on_request() -> None:
    found = {
        ("latency_seconds_bucket", (("job", "node"), ("le", le))): samples(1)
        for le in ("0.1", "0.5", "+Inf")
    }
    metadata = {"latency_seconds": [{"type": "histogram", "unit": "seconds"}]}
    pipeline = make_pipeline(FakePrometheus(found, metadata), histogram_quantiles=True)
    queries, _ = pipeline.discovery.discover(END, END)
    quantiles = sorted(q.name for q in queries if q.transform != "skip")
    assert quantiles == ["latency_seconds:p50", "latency_seconds:p95", "latency_seconds:p99"]
    p95 = next(q for q in queries if q.name == "latency_seconds:p95")
    assert p95.promql.startswith('histogram_quantile(0.95, rate({__name__="latency_seconds_bucket"')
    assert p95.labels == {"job": "node"}


def test_a_counter_is_analysed_as_its_rate_with_a_counter_reset() -> None:
    # 2 per second, restarted at 0 half way. By hand, as Prometheus' rate() over 60 s: 2
    # everywhere, but in the windows holding the restart the interval in which the counter
    # went back to 0 counts nothing: (60 - 3540 + 3570) / 60 = 1.5 at least, never below.
    index = pd.date_range(end=END, periods=241, freq="15s")
    values = pd.Series(np.arange(241) * 30.0, index=index)
    values.iloc[120:] -= values.iloc[120]
    query = SeriesQuery("requests_total", "x", {"job": "node"}, transform="rate")
    windows = {"1h": timedelta(hours=1)}
    (analysis,) = analyze_series(values, END, windows, True, _options(), query).values()
    assert analysis.statistics.max == pytest.approx(2.0)
    assert analysis.statistics.min == pytest.approx(1.5)
    assert analysis.domain is not None and analysis.domain.name == "non_negative"
