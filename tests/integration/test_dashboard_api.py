"""The dashboard's JSON routes (Flask test client) against the real MariaDB and Prometheus.

Rows are written as the writer role with data_storage's own upsert from messages built by
`data_storage.samples`; SLAs are defined and assessed by the SLA manager's own app on the same
database. Expected values: the samples are Prometheus' own answer to the same range query
(asked over HTTP, without our client); forecasts and timings are the stored messages' values
(timings summed per window and stage by hand); SLA figures are the SLA manager's answer.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from data_retrieval import create_app
from data_retrieval.bootstrap import bootstrap
from data_storage.consumer import write_batch
from data_storage.rows import Batch, map_message
from data_storage.samples import run_messages
from monitoring_core.db import Database
from monitoring_core.messages import Message, SeriesRef
from monitoring_core.settings import MySQLSettings, PrometheusSettings
from sla_manager import create_app as create_sla_app
from sla_manager.bootstrap import bootstrap as bootstrap_sla
from sla_manager.rules import SLADefinition, SLAMetric
from sla_manager.settings import SLASettings
from sla_manager.store import SLAStore

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
CPU = SeriesRef.of("cpuLoad", {"job": "summary", "instance": "106"})  # in the demo Prometheus
ONLY_DB = SeriesRef.of("dash_stored_only", {"job": "summary", "instance": "106"})
RUN_OLD, RUN_NEW, RUN_RUNNING = (f"dash-{name}-{uuid.uuid4().hex[:6]}" for name in "abc")


@pytest.fixture(scope="module")
def stored(mysql_role: Callable[[str], MySQLSettings]) -> dict[str, list[Message]]:
    """Two complete runs (old, new) and a newer one still running, of both series."""
    runs = {
        RUN_OLD: list(run_messages(RUN_OLD, [CPU, ONLY_DB], NOW - timedelta(minutes=2))),
        RUN_NEW: list(run_messages(RUN_NEW, [CPU, ONLY_DB], NOW - timedelta(minutes=1))),
        RUN_RUNNING: list(run_messages(RUN_RUNNING, [CPU], NOW, status="running")),
    }
    batch = Batch()
    for messages in runs.values():
        for message in messages:
            batch.add(map_message(message))
    write_batch(Database(mysql_role("writer"), "test-writer"), batch, 1000)
    return runs


@pytest.fixture(scope="module")
def client(
    stored: dict[str, list[Message]],
    mysql_role: Callable[[str], MySQLSettings],
    prometheus_settings: PrometheusSettings,
) -> Any:
    return create_app(
        bootstrap(mysql=mysql_role("reader"), prometheus=prometheus_settings)
    ).test_client()


@pytest.fixture(scope="module")
def sla_client(
    prometheus_settings: PrometheusSettings,
    mysql_role: Callable[[str], MySQLSettings],
    admin: Callable[[Any], Any],
) -> Any:
    app = create_sla_app(
        bootstrap_sla(
            SLASettings(assessment_interval_seconds=0), prometheus_settings, mysql_role("sla")
        )
    )
    return admin(app.test_client())


def define_sla(sla_client: Any, metric: dict[str, Any]) -> dict[str, Any]:
    body = {"name": f"dash-{uuid.uuid4().hex[:8]}", "metrics": [metric]}
    response = sla_client.post("/SLA", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_series_list_flags_forecasts_and_picks_the_first_forecast_series(client) -> None:  # noqa: ANN001
    body = client.get("/dashboard/api/series").get_json()
    by_id = {s["series_id"]: s for s in body["series"]}
    assert by_id[CPU.id] == {
        "series_id": CPU.id,
        "metric": "cpuLoad",
        "labels": CPU.labels,
        "forecast": True,
    }
    assert by_id[ONLY_DB.id]["forecast"] is True
    assert body["count"] == len(body["series"])
    # The default: the first series, in the list's order (metric, id), that has forecasts.
    assert (
        body["default_series_id"] == next(s for s in body["series"] if s["forecast"])["series_id"]
    )
    metrics = [s["metric"] for s in body["series"]]
    assert metrics == sorted(metrics)


@pytest.mark.parametrize("range_name, seconds", [("1h", 3600), ("3h", 10800)])
def test_samples_are_prometheus_own_raw_samples_of_the_range(
    client,  # noqa: ANN001
    prometheus_settings: PrometheusSettings,
    range_name: str,
    seconds: int,
) -> None:
    body = client.get(f"/dashboard/api/samples?series_id={CPU.id}&range={range_name}").get_json()
    assert body["promql"] == '{__name__="cpuLoad", instance="106", job="summary"}'
    assert body["end"] - body["start"] == seconds
    assert body["end"] % 15 == 0 and body["step_seconds"] == 15
    # Prometheus' own range selector at the same end (Prometheus 2: closed, [end - w, end]).
    answer = requests.get(
        f"{prometheus_settings.url}/api/v1/query",
        params={"query": f"{body['promql']}[{range_name}]", "time": body["end"]},
        timeout=10,
    ).json()["data"]["result"]
    (series,) = answer
    expected = [[float(t), float(v)] for t, v in series["values"]]
    assert body["points"] == expected
    assert body["count"] == len(expected)
    assert body["interval_seconds"] == 15.0
    assert body["series"] == {"series_id": CPU.id, "metric": "cpuLoad", "labels": CPU.labels}


def test_a_series_by_metric_and_labels_is_the_same_as_by_id(client) -> None:  # noqa: ANN001
    by_labels = client.get(
        "/dashboard/api/samples?metric=cpuLoad&label.instance=106&label.job=summary"
    ).get_json()
    assert by_labels["series"]["series_id"] == CPU.id
    by_id = client.get(f"/dashboard/api/samples?series_id={CPU.id}").get_json()
    assert by_labels["range"] == "1h" and by_labels["count"] >= 230
    assert by_labels["points"] == by_id["points"] or by_labels["end"] != by_id["end"]


def test_a_stored_series_prometheus_does_not_have_answers_no_points(client) -> None:  # noqa: ANN001
    body = client.get(f"/dashboard/api/samples?series_id={ONLY_DB.id}").get_json()
    assert body["points"] == [] and body["count"] == 0
    assert body["reason"] == "Prometheus has no samples of this series in the range"


def test_forecast_is_the_latest_complete_runs_stored_forecast(client, stored) -> None:  # noqa: ANN001
    body = client.get(f"/dashboard/api/forecast?series_id={CPU.id}&window=3h").get_json()
    sent = next(
        m
        for m in stored[RUN_NEW]
        if m.kind == "forecast"
        and m.series == CPU
        and m.window == "3h"
        and m.payload.aggregate == "mean"
    )
    forecast = body["forecast"]
    assert forecast["run_id"] == RUN_NEW  # not the newer run that is still running
    assert (forecast["window"], forecast["aggregate"]) == ("3h", "mean")
    assert forecast["model"] == sent.payload.model
    assert forecast["holdout_mae"] == sent.payload.holdout_mae
    assert [(p["value"], p["lower_80"], p["upper_95"]) for p in forecast["points"]] == [
        (p.value, p.lower_80, p.upper_95) for p in sent.payload.points
    ]
    assert [p["timestamp"] for p in forecast["points"]] == [
        p.timestamp.isoformat() for p in sent.payload.points
    ]
    other = client.get(f"/dashboard/api/forecast?series_id={CPU.id}&aggregate=max").get_json()
    assert (other["window"], other["forecast"]["aggregate"]) == ("1h", "max")
    missing = client.get(f"/dashboard/api/forecast?series_id={CPU.id}&window=5d").get_json()
    assert missing["forecast"] is None and missing["reason"]


def test_timings_of_the_latest_complete_run_summed_per_window_and_stage(client, stored) -> None:  # noqa: ANN001
    body = client.get("/dashboard/api/timings").get_json()
    assert body["run"]["run_id"] == RUN_NEW and body["run"]["status"] == "complete"
    expected: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for message in stored[RUN_NEW]:
        if message.kind == "timing" and message.window is not None:
            for stage, seconds in message.payload.stages.items():
                expected[message.window][stage] += seconds
    assert list(body["windows"]) == ["1h", "3h", "12h"]
    for window, stages in expected.items():
        assert body["windows"][window] == pytest.approx(stages, rel=1e-12)
    assert body["stages"] == {"total": 10.0}  # the run's own timing message


def test_sla_bands_and_violations_are_the_sla_managers_last_assessment(
    client,  # noqa: ANN001
    sla_client,  # noqa: ANN001
    mysql_role: Callable[[str], MySQLSettings],
) -> None:
    wide = define_sla(
        sla_client, {"metric": "cpuLoad", "labels": {"instance": "106"}, "min": 0, "max": 60}
    )
    narrow = define_sla(sla_client, {"metric": "cpuLoad", "min": 20, "max": 50})
    other_metric = define_sla(sla_client, {"metric": "cpuTemp", "max": 1})
    # Another instance's: the API refuses a selector without data, so it goes in directly.
    metric = SLAMetric(
        name="cpuLoad",
        promql='cpuLoad{instance="999"}',
        min=None,
        max=1.0,
        metric="cpuLoad",
        labels={"instance": "999"},
    )
    definition = SLADefinition(f"dash-{uuid.uuid4().hex[:8]}", (metric,))
    store = SLAStore(Database(mysql_role("sla"), "test-sla"))
    other = store.define(definition, max_current=10_000).to_dict()
    retired = define_sla(sla_client, {"metric": "cpuLoad", "max": 5})
    assert sla_client.delete(f"/SLA/{retired['id']}").status_code == 200
    assessed = {
        result["sla"]["id"]: result
        for result in sla_client.get("/assess_Violations").get_json()["slas"]
    }
    body = client.get(f"/dashboard/api/sla?series_id={CPU.id}").get_json()
    shown = {entry["sla"]["id"]: entry for entry in body["slas"]}
    assert wide["id"] in shown and narrow["id"] in shown
    assert not {other["id"], other_metric["id"], retired["id"]} & set(shown)
    # Every current SLA on cpuLoad whose labels the series carries (other tests' included).
    current = sla_client.get("/SLA").get_json()["slas"]
    applies = [
        (sla, m)
        for sla in current
        for m in sla["metrics"]
        if m["metric"] == "cpuLoad" and m["labels"].items() <= CPU.labels.items()
    ]
    assert sorted(shown) == sorted({sla["id"] for sla, _ in applies})
    lows = [m["min"] for _, m in applies if m["min"] is not None]
    highs = [m["max"] for _, m in applies if m["max"] is not None]
    assert body["band"] == {"min": max(lows), "max": min(highs)}
    assert body["band"]["max"] <= 50 and body["band"]["min"] >= 20
    for sla in (wide, narrow):
        entry = shown[sla["id"]]
        (series,) = assessed[sla["id"]]["metrics"][0]["series"]
        assert (entry["min"], entry["max"]) == (sla["metrics"][0]["min"], sla["metrics"][0]["max"])
        assert entry["windows"] == series["windows"]
        assert entry["prediction"] == series["prediction"]
        assert entry["in_range_now"] == series["in_range_now"]
        assert entry["window_end"] == assessed[sla["id"]]["window_end"]
        assert entry["reason"] is None
    assert client.get(f"/dashboard/api/sla?series_id={ONLY_DB.id}").get_json()["slas"] == []


@pytest.mark.parametrize(
    "query",
    [
        "/dashboard/api/samples",  # no series
        "/dashboard/api/samples?series_id=XYZ",
        f"/dashboard/api/samples?series_id={CPU.id}&metric=cpuLoad",
        f"/dashboard/api/samples?series_id={CPU.id}&label.job=summary",
        f"/dashboard/api/samples?series_id={CPU.id}&range=2h",
        f"/dashboard/api/samples?series_id={CPU.id}&range=1h&range=3h",
        f"/dashboard/api/samples?series_id={CPU.id}&step=1",
        "/dashboard/api/samples?metric=cpu%20Load",
        "/dashboard/api/samples?metric=cpuLoad&label.bad-name=1",
        f"/dashboard/api/forecast?series_id={CPU.id}&window=1%20OR%201%3D1",
        f"/dashboard/api/forecast?series_id={CPU.id}&aggregate=median",
        f"/dashboard/api/sla?series_id={CPU.id}&range=1h",
        "/dashboard/api/timings?run=latest",
        "/dashboard/api/series?label.job=summary",
    ],
)
def test_bad_parameters_are_400_with_the_parameter_named(client, query: str) -> None:  # noqa: ANN001
    response = client.get(query)
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["error"] == "bad_request" and body["reason"] and body["parameter"]


@pytest.mark.parametrize("route", ["samples", "forecast", "sla"])
def test_unknown_series_is_404(client, route: str) -> None:  # noqa: ANN001
    for query in ("series_id=0123456789abcdef", "metric=cpuLoad&label.instance=106"):
        response = client.get(f"/dashboard/api/{route}?{query}")
        assert response.status_code == 404, response.get_json()
        assert response.get_json()["error"] == "not_found"


def test_prometheus_down_is_503_and_mysql_down_is_503(
    stored,  # noqa: ANN001
    mysql_role: Callable[[str], MySQLSettings],
) -> None:
    no_prometheus = create_app(
        bootstrap(
            mysql=mysql_role("reader"),
            prometheus=PrometheusSettings(url="http://127.0.0.1:1", timeout_seconds=2),
        )
    ).test_client()
    response = no_prometheus.get(f"/dashboard/api/samples?series_id={CPU.id}")
    assert response.status_code == 503
    assert response.get_json()["error"] == "dependency_unavailable"
    # Named, but not by address: that is in the service's log.
    assert response.get_json()["dependency"] == "Prometheus"
    assert "127.0.0.1" not in response.get_json()["reason"]
    # The MySQL routes of the same app still answer.
    assert no_prometheus.get(f"/dashboard/api/forecast?series_id={CPU.id}").status_code == 200

    no_mysql = create_app(
        bootstrap(
            mysql=mysql_role("reader").model_copy(update={"port": 1, "connect_timeout_seconds": 2})
        )
    ).test_client()
    for route in ("series", f"samples?series_id={CPU.id}", "timings", f"sla?series_id={CPU.id}"):
        response = no_mysql.get(f"/dashboard/api/{route}")
        assert response.status_code == 503, route
        assert response.get_json()["reason"].startswith("MySQL")


def test_page_and_assets_are_served_without_remote_assets(client) -> None:  # noqa: ANN001
    def fetch(path: str) -> tuple[int, str, str]:
        response = client.get(path)
        try:  # a file response holds the file open until closed
            return response.status_code, response.mimetype, response.get_data(as_text=True)
        finally:
            response.close()

    status, mimetype, page = fetch("/dashboard")
    assert (status, mimetype) == (200, "text/html")
    assert "http" not in page  # no CDN or other remote asset
    for asset in ("/dashboard/static/dashboard.js", "/dashboard/static/dashboard.css"):
        assert asset in page
        status, _, text = fetch(asset)
        assert status == 200
        assert "http" not in text.replace("http://www.w3.org/2000/svg", "")
    assert fetch("/dashboard/static/missing.js")[0] == 404
    assert fetch("/dashboard/static/..%2Fdashboard.py")[0] == 404
