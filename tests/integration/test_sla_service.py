"""The SLA manager against the real Prometheus (demo data) and MariaDB (the sla role).

Expected numbers come from Prometheus itself, at the assessment's aligned window end: its
own `count/max/min_over_time(m[w])` over the raw samples (Prometheus 2's closed range
selector is the window `[end - w, end]`), and its raw samples of `m[w]` from the HTTP API,
compared with the range by hand (above, below, episodes) and weighted in time by the rule
the SLA manager states (docs/sla_manager.md): a sample stands until the next one, across a
gap of more than 1.5 scrape intervals for one interval.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitoring_core.prometheus import PrometheusClient
from monitoring_core.promql import selector
from monitoring_core.settings import PrometheusSettings
from sla_manager import create_app
from sla_manager.bootstrap import bootstrap
from sla_manager.settings import SLASettings

pytestmark = pytest.mark.integration

DEMO = '{job="summary", instance="106"}'
WINDOW_SECONDS = {"1h": 3600, "3h": 10800, "12h": 43200}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def settings() -> SLASettings:
    return SLASettings(assessment_interval_seconds=0)


@pytest.fixture(scope="module")
def app_factory(settings, prometheus_settings, mysql_role, admin_client_class):  # noqa: ANN001, ANN201
    def build(**overrides: Any):  # noqa: ANN202
        services = bootstrap(
            overrides.get("settings", settings),
            overrides.get("prometheus", prometheus_settings),
            overrides.get("mysql", mysql_role("sla")),
        )
        app = create_app(services)
        app.test_client_class = admin_client_class  # its clients send the admin token
        return app

    return build


@pytest.fixture(scope="module")
def client(app_factory):  # noqa: ANN001, ANN201
    return app_factory().test_client()


def define(client, name: str, *metrics: dict) -> dict:  # noqa: ANN001
    response = client.post("/SLA", json={"name": name, "metrics": list(metrics)})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def instant(prometheus: PrometheusClient, promql: str, at: float) -> float:
    """The single value of an instant query at ``at``; 0 for an empty answer (count of none)."""
    result = prometheus._call("custom_query", query=promql, params={"time": at})
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else 0.0


def raw(prometheus: PrometheusClient, promql: str, at: float) -> tuple[np.ndarray, np.ndarray]:
    """Prometheus' own answer to a range selector at ``at``: timestamps and values."""
    (result,) = prometheus._call("custom_query", query=promql, params={"time": at})
    pairs = np.array([(float(t), float(v)) for t, v in result["values"]])
    return pairs[:, 0], pairs[:, 1]


def test_past_violations_equal_prometheus_own_counts(client, prometheus_settings) -> None:  # noqa: ANN001
    sla = define(client, unique("cpu"), {"metric": "cpuLoad", "min": 30, "max": 60})
    body = client.get(f"/assess_Violations?sla={sla['id']}").get_json()
    (result,) = body["slas"]
    (series,) = result["metrics"][0]["series"]
    assert series["raw_samples"] is True
    end = datetime.fromisoformat(result["window_end"]).timestamp()
    prometheus = PrometheusClient(prometheus_settings)
    cpu = f"cpuLoad{DEMO}"
    for window, figures in series["windows"].items():
        samples = instant(prometheus, f"count_over_time({cpu}[{window}])", end)
        t, v = raw(prometheus, f"{cpu}[{window}]", end)
        assert t.size == samples
        above, below = v > 60, v < 30
        outside = above | below
        assert figures["samples_above"] == above.sum()
        assert figures["samples_below"] == below.sum()
        assert figures["samples_outside"] == outside.sum()
        assert figures["samples"] == samples
        assert WINDOW_SECONDS[window] / 15 - 10 <= samples <= WINDOW_SECONDS[window] / 15 + 1
        assert figures["within_range_ratio"] == pytest.approx((samples - outside.sum()) / samples)
        interval = figures["interval_seconds"]
        assert interval == pytest.approx(15.0, abs=0.1)  # the stack's scrape interval
        spacing = np.diff(np.append(t, end))
        hold = np.where(spacing <= 1.5 * interval, spacing, interval)
        assert figures["seconds_outside"] == pytest.approx(hold[outside].sum(), abs=1e-6)
        assert figures["seconds_unknown"] == pytest.approx(
            WINDOW_SECONDS[window] - hold.sum(), abs=1e-6
        )
        # Episodes: samples outside that are the window's first, follow one in range, or
        # follow a gap.
        gap_before = np.append(True, np.diff(t) > 1.5 * interval)
        after_in_range = np.append(True, ~outside[:-1])
        assert figures["episodes"] == (outside & (gap_before | after_in_range)).sum()
        # The worst value is the window's max or min, whichever lies further beyond its bound.
        high = instant(prometheus, f"max_over_time({cpu}[{window}])", end)
        low = instant(prometheus, f"min_over_time({cpu}[{window}])", end)
        worst = high if high - 60 >= 30 - low else low
        assert figures["worst_value"] == pytest.approx(worst, rel=1e-12)
        assert figures["worst_excess"] == pytest.approx(max(high - 60, 30 - low), rel=1e-12)
    # The 1h count is the 1h count alone (the seed added the 12h violations into it).
    counts = client.get(f"/get_Violations_Num?sla={sla['id']}").get_json()["slas"][0]
    assert counts["windows"]["1h"]["samples_outside"] == series["windows"]["1h"]["samples_outside"]
    assert (
        counts["windows"]["12h"]["samples_outside"] == series["windows"]["12h"]["samples_outside"]
    )


def test_a_ramp_towards_its_bound_is_predicted_to_cross_it_and_a_flat_series_is_not(
    client,  # noqa: ANN001
) -> None:
    now = datetime.now().timestamp()
    # push_time_seconds is the sample's own time: a ramp of 60 per minute. A bound 5 minutes
    # ahead is crossed within the 10-minute horizon; `vector(time())` is the same ramp as an
    # expression. inodeUsage is constant at 23.4, far inside [0, 100].
    sla = define(
        client,
        unique("ramp"),
        {"metric": "push_time_seconds", "max": now + 300},
        {"expression": "vector(time())", "name": "clock", "max": now + 300},
        {"metric": "inodeUsage", "min": 0, "max": 100},
    )
    body = client.get(f"/get_SLA_pred_status?sla={sla['id']}").get_json()
    push, clock, inode = (m["series"][0] for m in body["slas"][0]["metrics"])
    for ramp in (push, clock):
        assert ramp["likely"] is True and ramp["max_probability"] == pytest.approx(1.0)
        crossing = datetime.fromisoformat(ramp["first_likely_violation"]).timestamp()
        assert now + 120 <= crossing <= now + 360
    assert inode["likely"] is False and inode["max_probability"] == pytest.approx(0.0, abs=1e-9)
    assert inode["first_likely_violation"] is None

    full = client.get(f"/get_SLA_pred?sla={sla['id']}").get_json()["slas"][0]
    minutes = full["metrics"][0]["series"][0]["minutes"]
    assert len(minutes) == 10
    assert all(
        m["lower_95"] <= m["lower_80"] <= m["value"] <= m["upper_80"] <= m["upper_95"]
        for m in minutes
    )


def test_an_sla_sets_its_own_horizon_and_one_longer_than_the_history_says_so(
    client,  # noqa: ANN001
) -> None:
    # cpuTemp has the stack's 13 h of backfilled history: 60 minutes ahead is forecast.
    # `vector(time())` evaluated by Prometheus has the same long history; a horizon over
    # 60 is refused at the door.
    body = {
        "name": unique("horizon"),
        "metrics": [{"metric": "cpuTemp", "labels": {"job": "summary"}, "max": 1e9}],
        "horizon_minutes": 60,
    }
    response = client.post("/SLA", json=body)
    assert response.status_code == 201, response.get_json()
    sla = response.get_json()
    assert sla["horizon_minutes"] == 60
    assert client.get(f"/SLA/{sla['id']}").get_json()["horizon_minutes"] == 60
    full = client.get(f"/get_SLA_pred?sla={sla['id']}").get_json()["slas"][0]
    (series,) = full["metrics"][0]["series"]
    assert series["horizon_minutes"] == 60 and len(series["minutes"]) == 60
    assert series["state"] == "unlikely"
    refused = client.post("/SLA", json={**body, "horizon_minutes": 61})
    assert refused.status_code == 400
    assert "from 1 to 60, got 61" in refused.get_json()["reason"]


def test_an_sla_survives_a_restart_and_is_assessed(app_factory, client) -> None:  # noqa: ANN001
    name = unique("restart")
    sla = define(client, name, {"metric": "cpuTemp", "labels": {"job": "summary"}, "max": 200})
    restarted = app_factory().test_client()
    listed = restarted.get("/SLA").get_json()["slas"]
    assert [s["id"] for s in listed if s["name"] == name] == [sla["id"]]
    status = restarted.get(f"/get_SLA_status?sla={sla['id']}").get_json()["slas"][0]
    (series,) = status["metrics"][0]["series"]
    assert series["windows"]["1h"] == {
        "compliant": True,
        "samples_outside": 0,
        "episodes": 0,
        "seconds_outside": 0.0,
        "within_range_ratio": 1.0,
    }
    # The assessment was stored: a third process reads the same result back.
    again = app_factory().test_client().get(f"/get_Violations?sla={sla['id']}").get_json()
    assert again["slas"][0]["window_end"] == status["window_end"]


def test_redefining_a_name_makes_a_new_version_and_delete_retires_it(client) -> None:  # noqa: ANN001
    name = unique("versions")
    first = define(client, name, {"metric": "diskUsage", "max": 99})
    second = define(client, name, {"metric": "diskUsage", "max": 95})
    assert (first["version"], second["version"]) == (1, 2)
    assert client.get(f"/SLA/{first['id']}").get_json()["current"] is False
    current = [s for s in client.get("/SLA").get_json()["slas"] if s["name"] == name]
    assert [s["id"] for s in current] == [second["id"]]
    retired = client.delete(f"/SLA/{second['id']}")
    assert retired.status_code == 200 and retired.get_json()["retired_at"]
    assert not [s for s in client.get("/SLA").get_json()["slas"] if s["name"] == name]
    gone = client.get(f"/get_SLA_status?sla={second['id']}")
    assert gone.status_code == 404 and "retired" in gone.get_json()["reason"]


@pytest.mark.parametrize(
    ("metrics", "reason"),
    [
        ([{"metric": "cpuLoad", "min": 60, "max": 30}], "must be below"),
        ([{"metric": "cpuLoad"}], "at least one bound"),
        ([{"metric": "cpuLoad", "max": 1e999}], "finite"),
        ([{"metric": f"cpuLoad{i}", "max": 1} for i in range(6)], "too many metrics"),
        ([{"metric": "noSuchMetric", "max": 1}], "no series matches"),
        ([{"metric": "cpuLoad", "labels": {"instance": "999"}, "max": 1}], "no series matches"),
        ([{"expression": "rate(cpuLoad[", "max": 1}], "does not parse"),
        ([{"expression": 'cpuLoad{core="nobody"}', "max": 1}], "returned no data"),
        ([{"expression": 'cpuLoad{job="nobody"}', "max": 1}], "outside the watched series"),
        # A scalar has no samples to read (a subquery needs an instant vector): refused now,
        # not at every assessment.
        ([{"expression": "time()", "name": "clock", "max": 1}], "instant vector"),
    ],
)
def test_every_validation_case_answers_400_with_a_reason(client, metrics, reason) -> None:  # noqa: ANN001
    # The body is written by the stdlib, as a Python client's would be (1e999 goes out as
    # Infinity); the test client's json= would use the app's own writer, which sends null.
    body = json.dumps({"name": unique("bad"), "metrics": metrics})
    response = client.post("/SLA", data=body, content_type="application/json")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "bad_request" and reason in body["reason"]


@pytest.mark.parametrize(
    ("data", "headers", "status", "reason"),
    [
        ("{not json", {"Content-Type": "application/json"}, 400, "not valid JSON"),
        ('{"name": "x"}', {"Content-Type": "text/plain"}, 400, "must be JSON"),
        (
            '{"name": "x", "metrics": [{"metric": "m", "min": NaN}]}',
            {"Content-Type": "application/json"},
            400,
            "finite",
        ),
        ("[" + "1," * 20000 + "1]", {"Content-Type": "application/json"}, 413, ""),
    ],
)
def test_bad_bodies_answer_a_json_error(client, data, headers, status, reason) -> None:  # noqa: ANN001
    response = client.post("/SLA", data=data, headers=headers)
    assert response.status_code == status
    assert reason in response.get_json()["reason"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/SLA/987654321"),
        ("delete", "/SLA/987654321"),
        ("get", "/SLA/abc"),
        ("get", "/get_SLA_status?sla=987654321"),
        ("get", "/assess_Violations?sla=-1"),
    ],
)
def test_unknown_sla_ids_answer_404(client, method, path) -> None:  # noqa: ANN001
    response = getattr(client, method)(path)
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_health_and_exported_status(client) -> None:  # noqa: ANN001
    sla = define(client, unique("export"), {"metric": "cpuLoad", "min": 30, "max": 60})
    client.get(f"/assess_Violations?sla={sla['id']}")
    health = client.get("/health")
    assert health.status_code == 200
    assert (
        health.get_json()["checks"]["mysql"]["ok"]
        and health.get_json()["checks"]["prometheus"]["ok"]
    )
    text = client.get("/internal/metrics").get_data(as_text=True)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    stored = client.get(f"/get_Violations?sla={sla['id']}").get_json()["slas"][0]
    (series,) = stored["metrics"][0]["series"]
    key = (
        ("metric", "cpuLoad"),
        ("series", "instance=106,job=summary"),
        ("series_id", series["series_id"]),
        ("sla", sla["name"]),
    )
    assessed = client.get(f"/get_SLA_status?sla={sla['id']}").get_json()["slas"][0]
    windows = assessed["metrics"][0]["series"][0]["windows"]
    for window, figures in windows.items():
        labels = tuple(sorted((*key, ("window", window))))
        assert samples[("sla_in_range", labels)] == float(figures["compliant"])
        assert samples[("sla_samples_outside", labels)] == figures["samples_outside"]
        assert samples[("sla_error_budget_ratio", labels)] == figures["within_range_ratio"]
    assert 0.0 <= samples[("sla_violation_probability", key)] <= 1.0
    assert samples[("sla_status_up", ())] == 1.0


# A quote, a backslash, a newline and a character outside the BMP (json.dumps wrote the
# emoji as "\ud83d\ude00", which PromQL refuses).
TRICKY = 'say "hi" \\ to \U0001f600\nbye'


def test_a_label_value_with_a_quote_a_backslash_and_an_emoji_round_trips(
    client,  # noqa: ANN001
    prometheus_settings: PrometheusSettings,
) -> None:
    prometheus = PrometheusClient(prometheus_settings)
    # absent() answers the equality matchers of its selector as labels: what Prometheus
    # parsed is the very string we quoted.
    (answer,) = prometheus.query(f"absent({selector('sla_no_such_metric', {'path': TRICKY})})")
    assert answer["metric"] == {"path": TRICKY}
    # A real series is matched by its exact selector, and only it.
    end = datetime.now(UTC)
    start = end - timedelta(minutes=10)
    labels = prometheus.series_labels(f"cpuLoad{DEMO}", start, end)[0]
    name = labels.pop("__name__")
    found = prometheus.series_labels(selector(name, labels), start, end)
    assert found == [{"__name__": name, **labels}]
    # An SLA on such a value: Prometheus accepts the selector (it was "rejected", a 400 for a
    # valid definition); no series carries the value, so the answer is that none matches.
    response = client.post(
        "/SLA",
        json={
            "name": unique("emoji"),
            "metrics": [{"metric": "cpuLoad", "labels": {"path": TRICKY}, "max": 1}],
        },
    )
    assert response.status_code == 400
    assert "no series matches" in response.get_json()["reason"]


def test_a_dependency_that_is_down_answers_503(app_factory, client, mysql_role) -> None:  # noqa: ANN001
    sla = define(client, unique("down"), {"metric": "cpuLoad", "max": 60})
    dead_prometheus = app_factory(
        prometheus=PrometheusSettings(url="http://127.0.0.1:9", timeout_seconds=2)
    )
    response = dead_prometheus.test_client().post(
        "/SLA", json={"name": unique("down"), "metrics": [{"metric": "cpuLoad", "max": 1}]}
    )
    assert response.status_code == 503
    assert "Prometheus" in response.get_json()["reason"]
    assessed = dead_prometheus.test_client().get(f"/assess_Violations?sla={sla['id']}")
    assert assessed.status_code == 503 and assessed.get_json()["error"] == "dependency_unavailable"

    dead_mysql = app_factory(mysql=mysql_role("sla").model_copy(update={"port": 9}))
    with dead_mysql.test_client() as down:
        assert down.get("/SLA").status_code == 503
        assert down.get("/get_SLA_status").status_code == 503
        health = down.get("/health")
        assert health.status_code == 503 and not health.get_json()["checks"]["mysql"]["ok"]
        assert "sla_status_up 0.0" in down.get("/internal/metrics").get_data(as_text=True)


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver that fails the first POST (to prove the retry) and keeps the rest."""

    bodies: list[dict] = []
    attempts = 0

    def do_POST(self) -> None:  # noqa: N802
        type(self).attempts += 1
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status = 500 if type(self).attempts == 1 else 200
        if status == 200:
            type(self).bodies.append(body)
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_new_likely_violation_is_posted_to_the_webhook_and_retried(
    settings,
    prometheus_settings,
    mysql_role,
    admin_client_class,  # noqa: ANN001
) -> None:
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/alerts"
        hooked = settings.model_copy(update={"webhook_url": url, "webhook_backoff_seconds": 0.05})
        services = bootstrap(hooked, prometheus_settings, mysql_role("sla"))
        app = create_app(services)
        app.test_client_class = admin_client_class  # its clients send the admin token
        client = app.test_client()
        now = datetime.now().timestamp()
        sla = define(client, unique("hook"), {"metric": "push_time_seconds", "max": now + 300})
        assert client.get(f"/assess_Violations?sla={sla['id']}").status_code == 200
        assert services.notifier is not None and services.notifier.join(timeout=10)
        assert Receiver.attempts == 2
        (body,) = Receiver.bodies
        assert body["version"] == "4" and body["status"] == "firing"
        (alert,) = body["alerts"]
        assert alert["labels"]["alertname"] == "SLAViolationLikely"
        assert alert["labels"]["sla_id"] == str(sla["id"])
        # Assessed again: still likely, so nothing new is sent.
        client.get(f"/assess_Violations?sla={sla['id']}")
        assert services.notifier.join(timeout=10)
        assert len(Receiver.bodies) == 1
    finally:
        server.shutdown()
        server.server_close()
