"""An ETL cycle over the demo data, against the real Prometheus and Kafka of the local stack.

Where the expected numbers come from:
- statistics: Prometheus' own `count/max/min/avg/stddev/quantile_over_time(m[<window>])`
  evaluated at the stored row's `end` (the run's data end): the raw samples, not a subquery
  grid. This stack's Prometheus is 2.x, whose range selectors are closed, `[end - w, end]`,
  the suite's window (docs/analytics.md, "Windows"). Counts are exact, the rest to 1e-9
  relative. `stddev_over_time` is the population std while the suite reports the sample std
  (pandas, ddof=1): the test converts with sqrt(n / (n - 1)). `quantile_over_time` ranks as
  numpy's `method="linear"` (type 7), also checked on the raw samples;
- ACF and ADF: statsmodels `acf` and `adfuller(autolag="AIC")` called directly on the same
  raw samples, fetched from Prometheus' HTTP API with the same range selector;
- seasonal periods: the periods the demo generated (`demo_exporter.series.SERIES`);
- gaps: the spacings of Prometheus' own raw timestamps over 1.5 scrape intervals, counted in
  the test; the scrape interval is the stack's 15 s.
"""

from __future__ import annotations

import math
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import requests
from flask import Flask
from statsmodels.tools.sm_exceptions import SingularMatrixWarning
from statsmodels.tsa.holtwinters import ExponentialSmoothing
from statsmodels.tsa.stattools import acf, adfuller

from demo_exporter.series import SERIES
from etl_pipeline.bootstrap import ETLServices
from etl_pipeline.publishing import ResultPublisher
from etl_pipeline.results import SeriesWindowResult
from etl_pipeline.settings import ETLSettings
from monitoring_core.analytics import analyze_window
from monitoring_core.kafka import make_consumer
from monitoring_core.messages import decode
from monitoring_core.prometheus import PrometheusClient, SampleSeries
from monitoring_core.promql import selector
from monitoring_core.settings import KafkaSettings, PrometheusSettings

from .etl_cycle import Cycle, caught, etl_app, own_topic, regen

pytestmark = pytest.mark.integration

FORECAST = "availableMem,cpuLoad,cpuTemp,diskUsage,networkThroughput,inodeUsage"
DEMO = {spec.name for spec in SERIES}


SETTINGS = ETLSettings(
    scheduler_enabled=False, forecast_metrics=FORECAST, kafka_check_timeout_seconds=2
)


@pytest.fixture(scope="module")
def kafka(kafka_settings: KafkaSettings) -> KafkaSettings:
    return own_topic(kafka_settings, "etl")


@pytest.fixture(scope="module")
def app_and_services(
    prometheus_settings: PrometheusSettings,
    kafka: KafkaSettings,
    mysql_role,  # noqa: ANN001
    admin_client_class,  # noqa: ANN001
) -> Iterator[tuple[ETLServices, Flask]]:
    with etl_app(SETTINGS, prometheus_settings, kafka, mysql_role, admin_client_class) as built:
        yield built


@pytest.fixture(scope="module")
def services(app_and_services: tuple[ETLServices, Flask]) -> ETLServices:
    return app_and_services[0]


@pytest.fixture(scope="module")
def etl(app_and_services: tuple[ETLServices, Flask]) -> Flask:
    return app_and_services[1]  # its clients send the admin token


@pytest.fixture(scope="module")
def run(etl: Flask, services: ETLServices) -> Cycle:
    return regen(etl, services)


def results(run: Cycle, metric: str | None = None) -> list[SeriesWindowResult]:
    return [r for r in run.results if metric is None or r.series.metric == metric]


def instant(settings: PrometheusSettings, promql: str, at: datetime) -> float:
    """One value of an instant query evaluated at `at`."""
    response = requests.get(
        f"{settings.url}/api/v1/query", params={"query": promql, "time": at.timestamp()}, timeout=10
    )
    response.raise_for_status()
    result = response.json()["data"]["result"]
    assert len(result) == 1, (promql, result)
    return float(result[0]["value"][1])


def raw_samples(settings: PrometheusSettings, promql: str, window: str, at: datetime) -> pd.Series:
    """Prometheus' own answer to the range selector `promql[window]` at `at`, straight from
    its HTTP API (not through the suite's reader)."""
    response = requests.get(
        f"{settings.url}/api/v1/query",
        params={"query": f"{promql}[{window}]", "time": at.timestamp()},
        timeout=10,
    )
    response.raise_for_status()
    (result,) = response.json()["data"]["result"]
    stamps = [float(t) for t, _ in result["values"]]
    return pd.Series(
        [float(v) for _, v in result["values"]], index=pd.to_datetime(stamps, unit="s", utc=True)
    )


def same_samples(settings: PrometheusSettings, run: Cycle, r: SeriesWindowResult) -> np.ndarray:
    """The window's raw samples as Prometheus stores them (the gap policy's tail)."""
    window = raw_samples(settings, selector(r.series.metric, r.series.labels), r.window, run.end)
    if r.gaps["dropped_buckets"]:  # a long gap: the analyses used only the tail after it
        window = window[window.index >= pd.Timestamp(r.gaps["usable_from"])]
    return window.to_numpy()


def window_durations(run: Cycle) -> dict[str, timedelta]:
    return ETLSettings(windows=",".join(run.windows)).window_durations


def test_the_cycle_covers_every_demo_series_and_window(run: Cycle) -> None:
    assert {r.series.metric for r in run.results} == DEMO  # up and scrape_* excluded
    assert len(run.results) == len(DEMO) * 3
    assert run.summary["series_count"] == len(DEMO) and run.summary["skipped"] == []


def test_messages_arrive_on_the_broker(run: Cycle, kafka: KafkaSettings) -> None:
    consumer = make_consumer(kafka, **{"group.id": f"etl-check-{uuid.uuid4().hex[:8]}"})
    consumer.subscribe([kafka.topic])
    mine = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and len(mine) < run.summary["message_count"] + 2:
            raw = consumer.poll(1.0)
            if raw is None or raw.error():
                continue
            message = decode(raw.value())
            if message.run_id == run.run_id:
                mine.append((raw.key(), message))
    finally:
        consumer.close()
    kinds = [m.kind for _, m in mine]
    pairs = len(DEMO) * 3
    forecast_pairs = len(FORECAST.split(",")) * 3
    assert kinds.count("statistics") == kinds.count("metadata") == pairs
    assert kinds.count("forecast") == 3 * forecast_pairs
    assert kinds.count("timing") == pairs + 1  # one per series window, one for the run
    assert [m.payload.status for _, m in mine if m.kind == "run"] == ["running", "complete"]
    assert all(key == (m.series.id if m.series else m.run_id).encode() for key, m in mine)
    complete = next(m for _, m in mine if m.kind == "run" and m.payload.status == "complete")
    assert complete.payload.message_count == run.summary["message_count"] == len(mine) - 2


def close(ours: float | None, theirs: float, scale: float) -> bool:
    return ours is not None and math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-12 * scale)


def test_statistics_equal_prometheus_over_time(
    run: Cycle, prometheus_settings: PrometheusSettings
) -> None:
    checked = set()
    for r in run.results:
        series = f"{selector(r.series.metric, r.series.labels)}[{r.window}]"
        s = r.statistics
        assert s.end == run.end  # the stored row's end, where the oracle is evaluated

        def over_time(fn: str, q: str = "", series: str = series, at: datetime = s.end) -> float:
            return instant(prometheus_settings, f"{fn}_over_time({q}{series})", at)

        n = over_time("count")
        assert s.count == n == r.samples["count"], (r.series.metric, r.window)
        scale = abs(over_time("max")) + abs(over_time("min")) + 1.0
        population = over_time("stddev")
        expected = {
            "max": over_time("max"),
            "min": over_time("min"),
            "mean": over_time("avg"),
            "std": population * math.sqrt(n / (n - 1)),  # population -> sample (ddof=1)
            "p50": over_time("quantile", "0.5, "),
            "p95": over_time("quantile", "0.95, "),
            "p99": over_time("quantile", "0.99, "),
        }
        for name, theirs in expected.items():
            assert close(getattr(s, name), theirs, scale), (r.series.metric, r.window, name)
        # Which numpy method ranks as quantile_over_time: "linear" (type 7), on the raw samples.
        x = raw_samples(
            prometheus_settings, selector(r.series.metric, r.series.labels), r.window, s.end
        ).to_numpy()
        assert x.size == n
        for q in (0.5, 0.95, 0.99):
            theirs = expected[f"p{round(q * 100)}"]
            assert close(float(np.quantile(x, q, method="linear")), theirs, scale)
        checked.add(r.series.metric)
    assert checked == DEMO  # every demo series, the gappy and the constant one included


def test_acf_and_adf_equal_statsmodels(run: Cycle, prometheus_settings: PrometheusSettings) -> None:
    degenerate: set[str] = set()
    for r in run.results:
        x = same_samples(prometheus_settings, run, r)
        meta = r.metadata
        where = (r.series.metric, r.window)
        if np.ptp(x) == 0:  # inodeUsage: statsmodels itself refuses a constant series
            # (a ValueError, or a SingularMatrixWarning that filterwarnings=error raises)
            with pytest.raises((ValueError, Warning)):
                adfuller(x, autolag="AIC", result_object=False)
            assert "constant_series" in meta.stationarity.reason, where
            assert "constant_series" in meta.autocorrelation.reason, where
            continue
        lags = meta.autocorrelation.lags
        assert lags is not None, where
        np.testing.assert_allclose(lags, acf(x, nlags=len(lags))[1:], rtol=1e-9, atol=1e-12)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SingularMatrixWarning)
            stat, p_value, used_lag, nobs, critical, _ = adfuller(
                x, autolag="AIC", result_object=False
            )
        if any(issubclass(w.category, SingularMatrixWarning) for w in caught):
            # push_time_seconds is a ramp: its differences are constant, so the ADF
            # regression fits exactly and both t-statistics are rounding noise.
            degenerate.add(r.series.metric)
            continue
        st = meta.stationarity
        assert (st.used_lag, st.nobs) == (used_lag, nobs), where
        assert math.isclose(st.statistic, stat, rel_tol=1e-9), where
        assert math.isclose(st.p_value, p_value, rel_tol=1e-9, abs_tol=1e-15), where
        assert (st.critical_1, st.critical_5, st.critical_10) == pytest.approx(
            (critical["1%"], critical["5%"], critical["10%"]), rel=1e-12
        )
        assert st.stationary == (p_value < 0.05), where
    assert degenerate <= {"push_time_seconds"}


def test_estimated_periods_are_within_one_bucket_of_the_demos(run: Cycle) -> None:
    checked = 0
    for spec in SERIES:
        if spec.period_minutes is None:
            continue
        for r in results(run, spec.name):
            if periods_in(run, r) < 4:
                continue  # see periods_in
            found = r.metadata.seasonality.period_minutes
            assert found is not None, (spec.name, r.window, r.metadata.seasonality.reason)
            assert abs(found - spec.period_minutes) <= 2, (spec.name, r.window, found)
            checked += 1
    assert checked >= 10


def periods_in(run: Cycle, r: SeriesWindowResult) -> float:
    """How many of its demo series' periods the window holds. Under four, the estimate is
    not judged: there networkThroughput's 16-minute season (3.75 periods in 1 h), with up to
    three spikes an hour, was found at all but 6 of 576 simulated window ends (four days);
    in the 3 h and 12 h windows at every one."""
    period = next(spec.period_minutes for spec in SERIES if spec.name == r.series.metric)
    return window_durations(run)[r.window].total_seconds() / 60 / period


def test_the_constant_series_states_its_reasons(run: Cycle) -> None:
    for r in results(run, "inodeUsage"):
        assert r.statistics.count > 0 and r.statistics.max == r.statistics.min == 23.4
        assert r.metadata.seasonality.period_minutes is None
        # The bucket means of a constant can differ in the last bit (sum / count): the
        # seasonality then finds no season rather than a constant; either is a stated reason.
        assert r.metadata.seasonality.reason.split(":")[0] in {"constant_series", "no_season"}
        # No season: the forecast falls back to simple exponential smoothing and says so.
        mean = r.forecasts["mean"]
        assert mean.points and "fell back" in mean.reason


def test_gaps_are_found_from_prometheus_own_timestamps(
    run: Cycle, prometheus_settings: PrometheusSettings
) -> None:
    for r in run.results:
        series = selector(r.series.metric, r.series.labels)
        samples = raw_samples(prometheus_settings, series, r.window, run.end)
        stamps = samples.index.as_unit("ns").asi8 / 1e9
        interval = r.samples["interval_seconds"]
        assert interval == pytest.approx(15.0, abs=0.1)  # the stack's scrape interval
        spacing = np.diff(stamps)
        wide = spacing[spacing > 1.5 * interval]
        where = (r.series.metric, r.window)
        assert r.samples["count"] == stamps.size, where
        assert r.samples["gaps"] == wide.size, where
        assert r.samples["missing_samples"] == int(np.sum(np.rint(wide / interval) - 1)), where
        stale = (run.end.timestamp() - stamps[-1]) > 1.5 * interval
        assert (r.samples["ended_at"] is not None) == stale, where
        # The same figures travel in the statistics message (stored by data_storage).
        s = r.statistics
        assert (s.interval_seconds, s.gaps, s.missing_samples) == (
            interval,
            r.samples["gaps"],
            r.samples["missing_samples"],
        ), where


def test_the_gap_series_reports_its_gaps_and_true_sample_count(
    run: Cycle, prometheus_settings: PrometheusSettings
) -> None:
    # networkThroughput misses 4 minutes of every 30 (demo_exporter.series): 16 scrapes per
    # gap, live and backfilled alike; a query_range grid would fill them from the lookback.
    for r in results(run, "networkThroughput"):
        hours = window_durations(run)[r.window].total_seconds() / 3600
        assert r.samples["gaps"] >= 2 * hours - 2, r.window
        assert r.samples["longest_gap_seconds"] >= 4 * 60
        assert r.samples["reason"] in {"gaps", "ended"}  # ended: the run's end is in a gap
        grid_points = hours * 240 + 1
        assert r.statistics.count <= grid_points - 14 * (2 * hours - 2)
        # 2-minute buckets: a 4-minute hole leaves one or two empty buckets, interpolated.
        assert r.gaps["interpolated"] >= 1 and r.gaps["longest_gap_buckets"] <= 3
        assert r.gaps["reason"] is None
        if periods_in(run, r) >= 4:  # see periods_in
            assert r.metadata.seasonality.period_minutes is not None
        assert all(f.points for f in r.forecasts.values())


def test_all_data_answers_the_stored_run_page_by_page(etl: Flask, run: Cycle) -> None:
    """The API reads MySQL: what data_storage stored of the run, against the results as the
    pipeline published them (caught in memory by the test)."""
    client = etl.test_client()
    published = {(r.series.id, r.window): r for r in run.results}
    seen: list[str] = []
    query = f"/all_data?run={run.run_id}&limit=4"
    while query:
        page = client.get(query)
        assert page.status_code == 200, page.json
        assert page.json["run"]["run_id"] == run.run_id and page.json["count"] <= 4
        for entry in page.json["series"]:
            seen.append(entry["series"]["id"])
            for window, part in entry["windows"].items():
                r = published[(entry["series"]["id"], window)]
                assert part["statistics"]["count"] == r.statistics.count
                assert part["statistics"]["mean"] == pytest.approx(r.statistics.mean, rel=1e-12)
                assert part["metadata"]["seasonality"]["period_minutes"] == (
                    r.metadata.seasonality.period_minutes
                )
                assert {a: len(f["points"]) for a, f in part.get("forecasts", {}).items()} == {
                    a: len(f.points) for a, f in r.forecasts.items()
                }
                assert part["stages"]["forecast"] == pytest.approx(r.stages["forecast"])
        after = page.json["pagination"]["next"]
        query = f"/all_data?run={run.run_id}&limit=4&next={after}" if after else ""
    assert sorted(seen) == sorted({r.series.id for r in run.results})  # each once
    assert len(seen) == len(set(seen))

    timings = client.get(f"/metrics/1h?run={run.run_id}&limit=1000").json
    hour = [r for r in run.results if r.window == "1h"]
    assert timings["series_count"] == len(hour) == len(timings["series"])
    assert timings["totals"]["statistics"] == pytest.approx(
        sum(r.stages["statistics"] for r in hour), abs=1e-5
    )


def test_two_api_processes_answer_alike(
    etl: Flask,
    run: Cycle,
    prometheus_settings: PrometheusSettings,
    kafka: KafkaSettings,
    mysql_role,  # noqa: ANN001
    admin_client_class,  # noqa: ANN001
    forget_forecast_setting,  # noqa: ANN001
) -> None:
    """Another replica (its own services, pool and locks; no cycle of its own) answers the
    same bytes: nothing of a run lives in a process."""
    other_kafka = own_topic(kafka, "replica")
    with etl_app(SETTINGS, prometheus_settings, other_kafka, mysql_role, admin_client_class) as (
        _,
        replica,
    ):
        for path in (f"/all_data?run={run.run_id}&limit=5", f"/metrics/3h?run={run.run_id}"):
            mine, theirs = etl.test_client().get(path), replica.test_client().get(path)
            assert mine.status_code == theirs.status_code == 200
            assert mine.data == theirs.data
        try:
            changed = etl.test_client().post(
                "/forecasting", json={"metrics": ["cpuTemp"], "horizon_minutes": 12}
            )
            assert changed.status_code == 200, changed.json
            assert [e["series"]["metric"] for e in changed.json["series"]] == ["cpuTemp"]
            assert len(changed.json["series"][0]["windows"]["12h"]["mean"]["points"]) == 6
            assert replica.test_client().get("/forecasting").json["metrics"] == ["cpuTemp"]
            assert (
                replica.test_client().get("/all_data").json["run"]["run_id"]
                == (changed.json["run_id"])
            )
        finally:
            forget_forecast_setting()


def test_while_a_cycle_runs_regen_data_joins_it_from_any_process_and_a_change_is_409(
    etl: Flask,
    services: ETLServices,
    prometheus_settings: PrometheusSettings,
    kafka: KafkaSettings,
    mysql_role,  # noqa: ANN001
    admin_client_class,  # noqa: ANN001
) -> None:
    """A /regen_data while a cycle runs joins it, in the same process (its lock) or in
    another replica (the MySQL lock, the cycle's id stored as it starts): one cycle runs and
    every request answers it."""
    pipeline = services.pipeline
    started, release = threading.Event(), threading.Event()
    real_run = pipeline.run

    def slow_run(run_id, config):  # noqa: ANN001, ANN202 - a cycle that takes a while
        started.set()
        release.wait(20)
        return real_run(run_id, config)

    pipeline.run = slow_run  # type: ignore[method-assign]
    answers: list = []
    other = own_topic(kafka, "joiner")
    with etl_app(SETTINGS, prometheus_settings, other, mysql_role, admin_client_class) as (
        _,
        replica,
    ):
        apps = [etl, etl, replica]
        threads = [
            threading.Thread(
                target=lambda app=app: answers.append(app.test_client().get("/regen_data"))
            )
            for app in apps
        ]
        try:
            threads[0].start()
            assert started.wait(5)
            for thread in threads[1:]:
                thread.start()
            changed = etl.test_client().post("/forecasting", json={"metrics": ["cpuLoad"]})
            time.sleep(0.3)  # the two late requests are waiting on the running cycle
            release.set()
            for thread in threads:
                thread.join(120)
        finally:
            release.set()
            pipeline.run = real_run  # type: ignore[method-assign]
    assert [answer.status_code for answer in answers] == [200, 200, 200], [a.json for a in answers]
    ran = {answer.json["run_id"] for answer in answers}
    assert len(ran) == 1  # one cycle, and all three answered it
    assert changed.status_code == 409 and changed.json["error"] == "run_in_progress"
    assert changed.json["run_id"] in ran
    assert services.service.forecast.metrics != ("cpuLoad",)  # the refused change changed nothing


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_kafka_down_fails_the_run_keeps_the_last_results_and_recovers(
    etl,
    services: ETLServices,
    run: Cycle,
    kafka: KafkaSettings,  # noqa: ANN001
) -> None:
    client = etl.test_client()
    pipeline = services.pipeline
    good = client.get("/all_data?limit=1").json["run"]["run_id"]
    down = kafka.model_copy(update={"bootstrap_servers": f"127.0.0.1:{closed_port()}"})
    real = pipeline.publishing
    pipeline.publishing = ResultPublisher(services.settings, down, pipeline.clock)
    try:
        failed = client.get("/regen_data")
        health = client.get("/health")
    finally:
        pipeline.publishing.close(timeout=0)
        pipeline.publishing = real
    assert failed.status_code == 503, failed.json
    assert failed.json["error"] == "dependency_unavailable" and "Kafka" in failed.json["reason"]
    assert failed.json["run"]["status"] == "failed"
    assert failed.json["last_good_run_id"] == good
    assert down.bootstrap_servers not in failed.text  # the address is in the log only
    assert health.status_code == 503 and not health.json["checks"]["kafka"]["ok"]

    # Nothing of that run reached Kafka, so nothing of it is in MySQL: the last complete run
    # is still the one answered (the failure is in /regen_data's answer, the log, the metrics).
    assert client.get(f"/all_data?run={failed.json['run']['run_id']}").status_code == 404
    kept = client.get("/all_data")
    assert kept.status_code == 200 and kept.json["run"]["run_id"] == good
    assert client.get("/metrics/1h").json["run_id"] == good
    assert "etl_publish_failures_total 1.0" in client.get("/internal/metrics").text

    recovered = client.get("/regen_data")
    assert recovered.status_code == 200 and recovered.json["status"] == "complete"
    assert client.get("/all_data").json["run"]["run_id"] == recovered.json["run_id"]


def test_prometheus_down_fails_the_run_with_the_reason_and_recovers(
    etl,
    services: ETLServices,  # noqa: ANN001
) -> None:
    client = etl.test_client()
    discovery = services.pipeline.discovery
    before = client.get("/all_data").json["run"]["run_id"]
    real = discovery.prometheus
    discovery.prometheus = PrometheusClient(
        PrometheusSettings(url=f"http://127.0.0.1:{closed_port()}", timeout_seconds=2)
    )
    try:
        failed = client.get("/regen_data")
    finally:
        discovery.prometheus = real
    assert failed.status_code == 503 and "Prometheus" in failed.json["reason"]
    kept = client.get("/all_data").json
    assert kept["run"]["run_id"] == before
    # Kafka was up: the failed run's record was stored, and is shown as the last attempt.
    assert kept["last_attempt"]["run_id"] == failed.json["run"]["run_id"]
    assert "Prometheus" in kept["last_attempt"]["reason"]
    assert client.get("/regen_data").status_code == 200


def test_holdout_mase_beats_the_seeds_holt_winters(
    run: Cycle, prometheus_settings: PrometheusSettings
) -> None:
    """The seed: Holt-Winters, trend and season additive, seasonal_periods=5, on the same
    2-minute bucket means (pandas resample), fitted without the last 10 minutes, which it
    then forecasts; MASE scaled as the ETL's (naive one-step MAE of the fitted buckets).

    One 10-minute holdout of a noisy series is a coin with a bias: either method can lose it
    by chance (ours lost 1 of 600 in a simulation of the demo series). So both are scored at
    ORIGINS holdouts 10 minutes apart: the run's own (the ETL's published MASE), and earlier
    ones with the window cut there (the ETL's analysis, `analyze_window`, on those samples)."""
    origins = 6
    compared = 0
    for spec in SERIES:
        if spec.period_minutes is None or spec.name not in FORECAST.split(","):
            continue
        r = next(r for r in results(run, spec.name) if r.window == "12h")
        samples = raw_samples(
            prometheus_settings, selector(r.series.metric, r.series.labels), "12h", run.end
        )
        ours, seeds = [r.forecasts["mean"].holdout_mase], []
        for k in range(origins):
            stop = run.end - timedelta(minutes=10 * k)
            cut = samples[samples.index <= pd.Timestamp(stop)]
            if k:
                earlier = analyze_window(cut, end=pd.Timestamp(stop)).forecasts["mean"]
                ours.append(earlier.holdout.mase if earlier.holdout else None)
            buckets = cut.resample("2min").mean().interpolate().to_numpy()
            fitted, held = buckets[:-5], buckets[-5:]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the seed's fits warn about convergence
                seed = ExponentialSmoothing(
                    fitted, trend="add", seasonal="add", seasonal_periods=5
                ).fit()
            seeds.append(
                np.mean(np.abs(held - seed.forecast(5))) / np.mean(np.abs(np.diff(fitted)))
            )
        assert None not in ours and np.mean(ours) < np.mean(seeds), (spec.name, ours, seeds)
        compared += 1
    assert compared == 5


class TwoOddSeries:
    """The real Prometheus, except at the boundary for two series: `huge` scaled to about
    1e308 (its mean overflows float64), `broken` answered with samples that are not numbers
    (its analysis raises, as an unexpected bug would)."""

    def __init__(self, real: PrometheusClient, huge: str, broken: str) -> None:
        self.real, self.huge, self.broken = real, huge, broken
        self.settings = real.settings

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.real, name)

    def read_samples(  # noqa: ANN001
        self, promql, start, end, step_seconds=None, max_series=None
    ) -> list[SampleSeries]:
        answer = self.real.read_samples(promql, start, end, step_seconds)
        return [self._odd(s) for s in answer]

    def _odd(self, s: SampleSeries) -> SampleSeries:
        if s.metric == self.huge:
            return replace(s, values=s.values / s.values.abs().max() * 1.6e308)
        if s.metric == self.broken:
            return replace(s, values=pd.Series("not a number", index=s.values.index))
        return s


def test_one_failing_series_is_stated_and_the_run_completes(
    etl,
    services: ETLServices,  # noqa: ANN001
) -> None:
    client = etl.test_client()
    discovery = services.pipeline.discovery
    real = discovery.prometheus
    discovery.prometheus = TwoOddSeries(real, huge="cpuLoad", broken="diskUsage")
    try:
        with caught(services.pipeline) as kept:
            response = client.get("/regen_data")
    finally:
        discovery.prometheus = real
    assert response.status_code == 200, response.json
    assert response.json["status"] == "complete"
    [skipped] = response.json["skipped"]
    assert skipped["metric"] == "diskUsage"
    assert skipped["reason"].startswith("analysis failed: ValueError")
    run = Cycle(response.json, kept)
    assert {r.series.metric for r in run.results} == DEMO - {"diskUsage"}
    for r in results(run, "cpuLoad"):  # the ADF of ~1e308 samples: a number, not an error
        assert r.metadata.stationarity.statistic is not None, r.metadata.stationarity.reason
