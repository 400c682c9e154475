"""ETL routes that answer without running a cycle: bad input, unknown windows, no results yet.

The Prometheus source and the database are fakes (the boundaries): the database holds no run
and no forecast setting. Kafka is never reached by these routes.
What the routes answer from a real database: tests/integration/test_etl_pipeline.py.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from etl_pipeline import create_app
from etl_pipeline.analysis import ForecastConfig
from etl_pipeline.bootstrap import ETLServices, bootstrap
from etl_pipeline.settings import ETLSettings
from etl_pipeline.store import RunStore, StoredRun
from monitoring_core.settings import KafkaSettings

from .test_etl_pipeline import FakePrometheus, samples

LABELS = (("instance", "106"), ("job", "summary"))
KNOWN = ["cpuLoad", "diskUsage"]


class EmptyStore(RunStore):
    """A database without runs: the routes' only reads of it here."""

    def __init__(self) -> None:
        pass

    def latest(self, status: str | None = None) -> StoredRun | None:
        return None

    def run(self, run_id: str) -> StoredRun | None:
        return None

    def forecast(self) -> ForecastConfig | None:
        return None


@pytest.fixture()
def services() -> ETLServices:
    fake = FakePrometheus({(name, LABELS): samples(1) for name in [*KNOWN, "up"]})
    return bootstrap(
        ETLSettings(scheduler_enabled=False, max_body_bytes=4096),
        kafka_settings=KafkaSettings(bootstrap_servers="127.0.0.1:1"),
        prometheus=fake,  # type: ignore[arg-type]
        store=EmptyStore(),
    )


@pytest.fixture()
def client(services: ETLServices, admin) -> FlaskClient:  # noqa: ANN001
    return admin(create_app(services).test_client())


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"metrics": ["nope", "cpuLoad"]}, "unknown metrics: ['nope']"),
        ({"metrics": ["up"]}, "unknown metrics: ['up']"),  # excluded by exclude_metrics
        ({"metrics": ["cpuLoad"], "horizon_minutes": 0}, "horizon_minutes"),
        ({"metrics": ["cpuLoad"], "horizon_minutes": 121}, "from 2 to 120"),
        ({"metrics": ["cpuLoad"], "horizon_minutes": 1}, "from 2 to 120"),
        ({"metrics": ["cpuLoad"], "horizon_minutes": 10.5}, "whole number"),
        ({"metrics": ["cpuLoad"], "horizon_minutes": "10"}, "whole number"),
        ({"metrics": ["cpuLoad"], "horizon_minutes": True}, "whole number"),
    ],
)
def test_forecasting_refuses_unknown_metrics_and_bad_horizons(
    client: FlaskClient, body: dict, reason: str
) -> None:
    response = client.post("/forecasting", json=body)
    assert response.status_code == 400
    assert reason in response.json["reason"]
    assert response.json["known"] == KNOWN


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"metrics": []},
        {"metrics": "cpuLoad"},
        {"metrics": [1]},
        {"metrics": [""]},
        {"metrics": ["cpuLoad"], "extra": 1},
        [{"metrics": ["cpuLoad"]}],
        "cpuLoad",
        {"metrics": ["cpuLoad"] * 101},
    ],
)
def test_forecasting_refuses_malformed_bodies(client: FlaskClient, body: object) -> None:
    response = client.post("/forecasting", json=body)
    assert response.status_code == 400
    assert response.json["error"] == "bad_request" and response.json["reason"]


def test_forecasting_refuses_non_json_and_big_bodies(client: FlaskClient) -> None:
    not_json = client.post("/forecasting", data="{metrics", content_type="application/json")
    assert (not_json.status_code, not_json.json["reason"]) == (400, "body is not valid JSON")
    text = client.post("/forecasting", data="metrics=cpuLoad")
    assert text.status_code == 400 and "JSON" in text.json["reason"]
    big = client.post(
        "/forecasting", data="[" + "1," * 5000 + "1]", content_type="application/json"
    )
    assert big.status_code == 413 and big.json["error"] == "request_entity_too_large"


def test_a_refused_request_changes_nothing(client: FlaskClient) -> None:
    before = client.get("/forecasting").json
    client.post("/forecasting", json={"metrics": ["nope"], "horizon_minutes": 20})
    assert client.get("/forecasting").json == before
    assert before["horizon_minutes"] == 10 and before["horizon_range"] == [2, 120]


def test_unknown_window_is_404_with_the_known_ones(client: FlaskClient) -> None:
    response = client.get("/metrics/2h")
    assert response.status_code == 404
    assert response.json["known"] == ["1h", "3h", "12h"]


@pytest.mark.parametrize("path", ["/metrics/1h", "/metrics/12h", "/all_data"])
def test_before_any_run_the_results_routes_answer_503(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 503
    assert response.json["error"] == "no_results" and "regen_data" in response.json["reason"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("run=history", "run"),
        ("run=x;DROP", "run"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("next=garbage", "next"),
        ("window=1h", "window"),
        ("label.instance=106", "label.*"),
        ("limit=5&limit=6", "limit"),
    ],
)
def test_pages_of_results_refuse_bad_parameters(
    client: FlaskClient, query: str, parameter: str
) -> None:
    for path in ("/all_data", "/metrics/1h"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400, (path, query, response.json)
        assert response.json["parameter"] == parameter


def test_an_unknown_run_is_404(client: FlaskClient) -> None:
    response = client.get("/all_data?run=no-such-run")
    assert response.status_code == 404 and "no such run" in response.json["reason"]
