"""Every service's shared HTTP behaviour: JSON errors with the right status, health, own metrics."""

from __future__ import annotations

import json
import math
from datetime import UTC

import pytest
from flask.json.provider import DefaultJSONProvider
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from monitoring_core.db import DatabaseUnavailable, split_statements
from monitoring_core.kafka import KafkaUnavailable
from monitoring_core.prometheus import PrometheusQueryError, PrometheusUnavailable
from monitoring_core.web import BadRequest, NotFound, create_service_app, json_body

RAISES = {
    "bad": BadRequest("min must be below max", field="min"),
    "missing": NotFound("unknown metric 'x'"),
    "db": DatabaseUnavailable("MySQL at db:3306: refused"),
    "kafka": KafkaUnavailable("Kafka down"),
    "prom": PrometheusUnavailable("Prometheus down"),
    "query": PrometheusQueryError("parse error"),
    "bug": RuntimeError("secret internals"),
}


@pytest.fixture
def client():
    healthy = {"value": True}
    app = create_service_app(
        "test_service",
        CollectorRegistry(),
        health=lambda: {"db": {"ok": healthy["value"]}},
        max_body_bytes=1024,
    )

    @app.get("/raise/<kind>")
    def _raise(kind):
        raise RAISES[kind]

    @app.post("/echo")
    def _echo():
        return {"got": json_body()}

    app.testing = False  # the real error handlers, as under gunicorn
    test_client = app.test_client()
    test_client.healthy = healthy
    return test_client


@pytest.mark.parametrize(
    ("kind", "status", "error"),
    [
        ("bad", 400, "bad_request"),
        ("missing", 404, "not_found"),
        ("db", 503, "dependency_unavailable"),
        ("kafka", 503, "dependency_unavailable"),
        ("prom", 503, "dependency_unavailable"),
        ("query", 400, "bad_query"),
        ("bug", 500, "internal_error"),
    ],
)
def test_errors_are_json_with_the_right_status(client, kind, status, error):
    response = client.get(f"/raise/{kind}")
    assert response.status_code == status
    assert response.json["error"] == error
    assert "Traceback" not in response.get_data(as_text=True)
    assert "secret internals" not in response.get_data(as_text=True)


def test_bad_request_details_are_returned(client):
    assert client.get("/raise/bad").json == {
        "error": "bad_request",
        "reason": "min must be below max",
        "field": "min",
    }


def test_unknown_route_and_method_are_json(client):
    assert client.get("/nope").status_code == 404
    assert client.get("/nope").json["error"] == "not_found"
    assert client.delete("/health").status_code == 405


@pytest.mark.parametrize(
    ("data", "content_type", "status", "reason"),
    [
        ("{}", "text/plain", 400, "body must be JSON"),
        ("{not json", "application/json", 400, "body is not valid JSON"),
        ("[" + "1," * 2000 + "1]", "application/json", 413, "request_entity_too_large"),
    ],
)
def test_bodies_that_are_not_json_or_too_large(client, data, content_type, status, reason):
    response = client.post("/echo", data=data, content_type=content_type)
    assert response.status_code == status
    assert reason in response.json["reason"] + " " + response.json["error"]


def test_health_reports_failing_checks_with_503(client):
    assert client.get("/health").status_code == 200
    client.healthy["value"] = False
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json["status"] == "degraded"


def test_own_metrics_do_not_collide_with_the_seed_data_routes(client):
    client.get("/health")
    text = client.get("/internal/metrics").get_data(as_text=True)
    assert 'http_requests_total{route="/health",status="200"}' in text


def test_split_statements_skips_comments_and_blank_parts():
    text = "-- a comment; with a semicolon\nCREATE TABLE a (x INT);\n\nCREATE TABLE b (y INT);\n"
    assert split_statements(text) == ["CREATE TABLE a (x INT)", "CREATE TABLE b (y INT)"]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.datetimes(timezones=st.just(UTC)) | st.decimals(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


@given(JSON_VALUES, st.dictionaries(st.integers(), st.text(), max_size=2))
def test_answers_written_by_orjson_read_back_as_flasks_own(value, int_keys):
    # Flask's own provider (the stdlib's json with its datetime, Decimal and key handling) is
    # the reference; integers past 64 bits and non-string keys fall back to it.
    app = create_service_app("json_service", CollectorRegistry())
    flask_json = DefaultJSONProvider(app)
    flask_json.sort_keys = False
    for obj in (value, {"v": value, "k": int_keys}):
        with app.test_request_context():
            ours = app.json.response(obj).get_data(as_text=True)
            theirs = flask_json.response(obj).get_data(as_text=True)
        assert json.loads(ours) == json.loads(theirs)


def test_answers_never_carry_nan_or_infinity() -> None:
    # The stdlib would write NaN and Infinity, which are not JSON; orjson writes null.
    app = create_service_app("json_service", CollectorRegistry())
    with app.test_request_context():
        body = app.json.response({"x": [math.nan, math.inf, -math.inf, 1.5]}).get_data(as_text=True)
    assert body.strip() == '{"x":[null,null,null,1.5]}'
