"""ETL routes that answer without running a cycle: bad input, unknown windows, no results yet.

The Prometheus source is a fake (the boundary); Kafka is never reached by these routes.
"""

from __future__ import annotations

import threading
import time

import pytest
from flask.testing import FlaskClient

from etl_pipeline import create_app
from etl_pipeline.bootstrap import ETLServices, bootstrap
from etl_pipeline.settings import ETLSettings
from monitoring_core.settings import KafkaSettings

from .test_etl_pipeline import FakePrometheus, samples

LABELS = (("instance", "106"), ("job", "summary"))
KNOWN = ["cpuLoad", "diskUsage"]


@pytest.fixture()
def services() -> ETLServices:
    fake = FakePrometheus({(name, LABELS): samples(1) for name in [*KNOWN, "up"]})
    return bootstrap(
        ETLSettings(scheduler_enabled=False, max_body_bytes=4096),
        kafka_settings=KafkaSettings(bootstrap_servers="127.0.0.1:1"),
        prometheus=fake,  # type: ignore[arg-type]
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


def test_while_a_cycle_runs_regen_data_joins_it_and_a_forecast_change_is_409(
    client: FlaskClient,
    services: ETLServices,
    admin,  # noqa: ANN001
) -> None:
    service = services.service
    started, release = threading.Event(), threading.Event()
    real_run = service.pipeline.run

    def slow_run(run_id, config):  # noqa: ANN001, ANN202 - a cycle that takes a while
        started.set()
        release.wait(10)
        return real_run(run_id, config)

    service.pipeline.run = slow_run
    answers: list = []

    def regen() -> None:
        answers.append(admin(client.application.test_client()).get("/regen_data"))

    threads = [threading.Thread(target=regen) for _ in range(3)]
    threads[0].start()
    assert started.wait(5)
    for thread in threads[1:]:
        thread.start()
    changed = client.post("/forecasting", json={"metrics": ["cpuLoad"]})
    assert changed.status_code == 409 and changed.json["error"] == "run_in_progress"
    assert changed.json["run_id"] == service.running()
    time.sleep(0.3)  # the two late requests are waiting on the running cycle
    release.set()
    for thread in threads:
        thread.join(10)
    # One cycle ran (it fails: no Kafka here) and all three requests answered it.
    assert len({answer.json["run"]["run_id"] for answer in answers}) == 1
    assert [answer.status_code for answer in answers] == [503, 503, 503]
