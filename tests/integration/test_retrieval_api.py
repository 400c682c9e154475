"""The read API (Flask test client) against the real MariaDB, as the read-only role.

Rows are written as the writer role with data_storage's own upsert (`write_batch`), from
messages built by `data_storage.samples`; every expected value below is the value of the message
that was stored (so "exactly what was stored" is checked field by field).
"""

from __future__ import annotations

import html
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from data_retrieval import create_app
from data_retrieval.bootstrap import bootstrap
from data_storage.consumer import write_batch
from data_storage.rows import Batch, map_message
from data_storage.samples import run_messages
from monitoring_core.db import Database
from monitoring_core.messages import Message, SeriesRef
from monitoring_core.results_schema import RESULT_TABLES
from monitoring_core.settings import MySQLSettings

pytestmark = pytest.mark.integration

T0 = datetime(2025, 4, 1, 8, 0, tzinfo=UTC)
METRIC = "retr_cpuLoad"
S106 = SeriesRef.of(METRIC, {"job": "summary", "instance": "106"})
S107 = SeriesRef.of(METRIC, {"job": "summary", "instance": "107"})
# Pages list series in the order (metric, series_id).
BY_ID = sorted((S106, S107), key=lambda s: s.id)


@pytest.fixture(scope="module")
def stored(mysql_role: Callable[[str], MySQLSettings]) -> dict[str, list[Message]]:
    """Three runs: a (complete, both series), b (complete, 106 only), c (running, 106 only)."""
    runs = {
        "retr-a": list(run_messages("retr-a", [S106, S107], T0)),
        "retr-b": list(run_messages("retr-b", [S106], T0 + timedelta(minutes=10))),
        "retr-c": list(
            run_messages("retr-c", [S106], T0 + timedelta(minutes=20), status="running")
        ),
    }
    batch = Batch()
    for messages in runs.values():
        for message in messages:
            batch.add(map_message(message))
    write_batch(Database(mysql_role("writer"), "test-writer"), batch, 1000)
    return runs


@pytest.fixture(scope="module")
def client(mysql_role: Callable[[str], MySQLSettings]) -> Any:
    return create_app(bootstrap(mysql=mysql_role("reader"))).test_client()


def find(messages: list[Message], kind: str, series: SeriesRef, window: str, **match) -> Message:
    return next(
        m
        for m in messages
        if m.kind == kind
        and m.series == series
        and m.window == window
        and all(getattr(m.payload, k) == v for k, v in match.items())
    )


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def expected_statistics(message: Message) -> dict[str, Any]:
    p = message.payload
    return {
        "metric": message.series.metric,
        "labels": message.series.labels,
        "series_id": message.series.id,
        "window": message.window,
        "max": p.max,
        "min": p.min,
        "mean": p.mean,
        "std": p.std,
        "count": p.count,
        "p50": p.p50,
        "p95": p.p95,
        "p99": p.p99,
        "start": iso(p.start),
        "end": iso(p.end),
        "run_id": message.run_id,
        "computed_at": iso(message.computed_at),
        "reason": p.reason,
        "samples": {
            "interval_seconds": p.interval_seconds,
            "gaps": p.gaps,
            "missing_samples": p.missing_samples,
            "longest_gap_seconds": p.longest_gap_seconds,
            "ended_at": None if p.ended_at is None else iso(p.ended_at),
        },
        "series_kind": {
            "metric_type": p.metric_type,
            "type_source": p.type_source,
            "transform": p.transform,
            "domain": p.domain,
            "domain_source": p.domain_source,
        },
    }


def test_latest_is_the_newest_complete_run_per_series(client, stored) -> None:
    response = client.get(f"/metrics/metric/{METRIC}")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["metric"] == METRIC and body["query"]["run"] == "latest"
    # 106: run b (c is newer but still running); 107: run a (b and c have no rows for it).
    latest = {S106.id: "retr-b", S107.id: "retr-a"}
    expected = [
        expected_statistics(find(stored[latest[s.id]], "statistics", s, w))
        for s in BY_ID
        for w in ("1h", "3h", "12h")
    ]
    assert body["statistics"] == expected
    assert body["count"] == 6
    assert body["pagination"] == {"limit": 100, "next": None}


def test_window_and_label_filters(client, stored) -> None:
    body = client.get(f"/metrics/metric/{METRIC}?window=3h&label.instance=107").json
    assert body["statistics"] == [
        expected_statistics(find(stored["retr-a"], "statistics", S107, "3h"))
    ]
    body = client.get(f"/metrics/metric/{METRIC}?label.instance=999").json
    assert body["statistics"] == [] and body["count"] == 0
    body = client.get(f"/metrics/metric/{METRIC}?window=7h").json
    assert body["statistics"] == []


def test_a_given_run_even_a_running_one(client, stored) -> None:
    body = client.get(f"/metrics/metric/{METRIC}?run=retr-c&window=1h").json
    assert body["statistics"] == [
        expected_statistics(find(stored["retr-c"], "statistics", S106, "1h"))
    ]
    assert body["runs"][0]["run_id"] == "retr-c" and body["runs"][0]["status"] == "running"
    response = client.get(f"/metrics/metric/{METRIC}?run=no-such-run")
    assert response.status_code == 404
    assert "no-such-run" in response.json["reason"]


def test_history_pages_through_complete_runs_newest_first(client, stored) -> None:
    page1 = client.get(f"/metrics/metric/{METRIC}?run=history&limit=1&window=1h").json
    assert [r["run_id"] for r in page1["runs"]] == ["retr-b"]
    assert page1["pagination"] == {
        "limit": 1,
        "offset": 0,
        "next_offset": 1,
        "series_limit": 100,
        "next": None,
    }
    assert [s["run_id"] for s in page1["statistics"]] == ["retr-b"]
    page2 = client.get(f"/metrics/metric/{METRIC}?run=history&limit=1&offset=1&window=1h").json
    assert [r["run_id"] for r in page2["runs"]] == ["retr-a"]
    assert page2["pagination"]["next_offset"] is None
    assert page2["statistics"] == [
        expected_statistics(find(stored["retr-a"], "statistics", s, "1h")) for s in BY_ID
    ]
    everything = client.get(f"/metrics/metric/{METRIC}?run=history").json
    assert [r["run_id"] for r in everything["runs"]] == ["retr-b", "retr-a"]
    assert everything["count"] == 9  # b: 3 windows of 106; a: 3 windows of 106 and of 107


def test_metadata_answers_the_stored_values(client, stored) -> None:
    body = client.get(f"/metrics/metadati/{METRIC}?label.instance=106&window=12h").json
    message = find(stored["retr-b"], "metadata", S106, "12h")
    acf, adf, season = (
        message.payload.autocorrelation,
        message.payload.stationarity,
        message.payload.seasonality,
    )
    assert body["metadata"] == [
        {
            "metric": METRIC,
            "labels": S106.labels,
            "series_id": S106.id,
            "window": "12h",
            "run_id": "retr-b",
            "computed_at": iso(message.computed_at),
            "autocorrelation": {"lags": acf.lags, "reason": None},
            "stationarity": {
                "statistic": adf.statistic,
                "p_value": adf.p_value,
                "used_lag": adf.used_lag,
                "nobs": adf.nobs,
                "critical_values": {
                    "1%": adf.critical_1,
                    "5%": adf.critical_5,
                    "10%": adf.critical_10,
                },
                "stationary": adf.stationary,
                "reason": None,
            },
            "seasonality": {
                "period_minutes": season.period_minutes,
                "method": season.method,
                "strength": season.strength,
                "seasonal": season.seasonal,
                "reason": None,
            },
        }
    ]
    assert client.get(f"/metrics/metadata/{METRIC}?label.instance=106&window=12h").json == body


def test_forecasts_answer_points_and_holdout_error(client, stored) -> None:
    body = client.get(f"/metrics/forecasting/{METRIC}?label.instance=106&window=1h").json
    assert [f["aggregate"] for f in body["forecasts"]] == ["max", "mean", "min"]
    for item in body["forecasts"]:
        message = find(stored["retr-b"], "forecast", S106, "1h", aggregate=item["aggregate"])
        p = message.payload
        assert (item["model"], item["period_buckets"], item["bucket_seconds"]) == (
            p.model,
            p.period_buckets,
            p.bucket_seconds,
        )
        assert (item["holdout_mae"], item["holdout_mase"], item["reason"]) == (
            p.holdout_mae,
            p.holdout_mase,
            p.reason,
        )
        assert item["points"] == [
            {
                "timestamp": iso(point.timestamp),
                "value": point.value,
                "lower_80": point.lower_80,
                "upper_80": point.upper_80,
                "lower_95": point.lower_95,
                "upper_95": point.upper_95,
            }
            for point in p.points
        ]
    only_mean = client.get(f"/metrics/forecasting/{METRIC}?aggregate=mean&window=1h").json
    assert [(f["aggregate"], f["series_id"]) for f in only_mean["forecasts"]] == [
        ("mean", s.id) for s in BY_ID
    ]


def test_list_of_series_with_their_last_complete_run(client, stored) -> None:
    body = client.get(f"/metrics?metric={METRIC}").json
    assert [s["series_id"] for s in body["series"]] == [s.id for s in BY_ID]
    mine = {s["labels"]["instance"]: s for s in body["series"]}
    assert mine["106"]["last_run_id"] == "retr-b" and mine["107"]["last_run_id"] == "retr-a"
    assert body["query"] == {"metric": METRIC, "labels": {}}
    assert body["pagination"] == {"limit": 100, "next": None}
    found = client.get(f"/metrics?metric={METRIC}&label.instance=107").json["series"]
    assert [s["series_id"] for s in found] == [S107.id]
    assert client.get("/metrics?window=1h").status_code == 400


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/metrics/metric/no_such_metric", 404),
        ("/metrics/metadati/no_such_metric", 404),
        ("/metrics/forecasting/no_such_metric", 404),
        ("/metrics/metric/retr_cpuLoad'%20OR%20'1'='1", 400),
        ("/metrics/metric/x;DROP%20TABLE%20statistics", 400),
        ("/metrics/metric/retr_cpuLoad?window=1h'%20OR%201=1--", 400),
        ("/metrics/metric/retr_cpuLoad?run=x'%3BDELETE%20FROM%20runs%3B--", 400),
        ("/metrics/metric/retr_cpuLoad?label.instance=106'%20OR%20'1'='1", 200),
        ("/metrics/metric/retr_cpuLoad?label.job%3D1%20OR%201=1=2", 400),
        ("/metrics/metric/retr_cpuLoad?limit=1%20OR%201=1&run=history", 400),
        ("/metrics/forecasting/retr_cpuLoad?aggregate=mean'--", 400),
        ("/metrics/metric/retr_cpuLoad?window=1h&window=3h", 400),
        ("/metrics/metric/retr_cpuLoad?offset=5", 400),
        ("/metrics/metric/retr_cpuLoad?limit=1001", 400),
        ("/metrics/metric/retr_cpuLoad?next=garbage", 400),
        ("/metrics/metric/retr_cpuLoad?next=WyJvdGhlciIsIjAxMjM0NTY3ODlhYmNkZWYiXQ", 400),
        ("/metrics/metric/retr_cpuLoad?run=history&limit=0", 400),
        ("/metrics/metric/retr_cpuLoad?run=history&limit=101", 400),
        ("/metrics/metric/retr_cpuLoad?run=history&offset=-1", 400),
    ],
)
def test_bad_or_hostile_input_answers_404_or_400_and_changes_nothing(
    client, stored, mysql_role, path: str, status: int
) -> None:
    before = table_counts(mysql_role("reader"))
    response = client.get(path)
    assert response.status_code == status, response.json
    assert set(response.json) >= (
        {"metric", "statistics"} if status == 200 else {"error", "reason"}
    )
    if status == 200:
        assert response.json["statistics"] == []  # the quote is part of the label value
    if status == 400:
        assert "parameter" in response.json
    assert table_counts(mysql_role("reader")) == before


def table_counts(settings: MySQLSettings) -> dict[str, int]:
    with Database(settings, "test-counts").transaction() as cursor:
        counts = {}
        for table in RESULT_TABLES:
            cursor.execute(f"SELECT COUNT(*) AS n FROM {table.name}")
            counts[table.name] = cursor.fetchone()["n"]
    return counts


def test_database_down_answers_503(mysql_role: Callable[[str], MySQLSettings]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # nothing listens there once the probe closes
    settings = mysql_role("reader").model_copy(
        update={"port": closed_port, "connect_timeout_seconds": 1}
    )
    client = create_app(bootstrap(mysql=settings)).test_client()
    response = client.get(f"/metrics/metric/{METRIC}")
    assert response.status_code == 503
    assert response.json["error"] == "dependency_unavailable"
    assert client.get("/metrics").status_code == 503
    health = client.get("/health")
    assert health.status_code == 503 and not health.json["checks"]["database"]["ok"]


def test_health_and_docs(client) -> None:
    assert client.get("/health").status_code == 200
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.")
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    for path in spec["paths"]:
        assert html.escape(path) in text
