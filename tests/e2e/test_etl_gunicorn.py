"""The ETL served by gunicorn (as the stack runs it) against the real Prometheus and Kafka.

Expected values come from the settings given to the process (windows, horizon, bucket)
and from the demo data (its metric names); the numbers themselves are checked against
Prometheus and statsmodels in tests/integration/test_etl_pipeline.py.
"""

from __future__ import annotations

import sys
from datetime import datetime

import pytest
import requests

from demo_exporter.series import SERIES
from monitoring_core.settings import KafkaSettings

pytestmark = pytest.mark.e2e

DEMO = sorted(spec.name for spec in SERIES)


@pytest.fixture(scope="module")
def etl(stack_env, kafka_settings: KafkaSettings, serve, mysql_env, forget_forecast_setting):  # noqa: ANN001, ANN201
    """gunicorn with the stack's command line (two workers), publishing to a topic of this
    module, which `python -m data_storage` stores into this test run's database: the API
    answers from there."""
    kafka = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "KAFKA_TOPIC": f"{kafka_settings.topic}.gunicorn",
        "KAFKA_DEAD_LETTER_TOPIC": f"{kafka_settings.dead_letter_topic}.gunicorn",
        "KAFKA_GROUP_ID": f"{kafka_settings.group_id}-gunicorn",
        "KAFKA_PARTITIONS": str(kafka_settings.partitions),
    }
    storage = [sys.executable, "-m", "data_storage"]
    serve(
        "storage",
        {**kafka, **mysql_env("writer"), "STORAGE_PORT": "{port}"},
        command=storage,
    )
    env = {
        **kafka,
        **mysql_env("etl"),
        "PROMETHEUS_URL": stack_env["PROMETHEUS_URL"],
        "ETL_SCHEDULER_ENABLED": "false",
    }
    yield serve("etl", env, app="etl_pipeline.wsgi:application()", workers=2)
    forget_forecast_setting()


@pytest.fixture(scope="module")
def run(etl: str, admin_headers: dict[str, str]) -> dict:
    response = requests.get(f"{etl}/regen_data", headers=admin_headers, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def test_regen_data_answers_the_run_summary(run: dict) -> None:
    assert run["status"] == "complete"
    assert run["windows"] == ["1h", "3h", "12h"]
    assert run["series_count"] == len(DEMO)
    # per series and window: statistics, metadata, timing; 3 forecasts for the 5 seed metrics
    assert run["message_count"] == len(DEMO) * 3 * 3 + 5 * 3 * 3 + 1
    assert set(run["stages"]) >= {"discover", "query", "analyze", "publish", "total"}


def test_metrics_1h_returns_the_stage_timings(etl: str, run: dict) -> None:
    body = requests.get(f"{etl}/metrics/1h?run={run['run_id']}", timeout=10).json()
    assert body["run_id"] == run["run_id"] and body["window"] == "1h"
    assert sorted(row["metric"] for row in body["series"]) == DEMO
    stages = {"query", "statistics", "metadata", "forecast", "publish"}
    assert all(set(row["stages"]) == stages for row in body["series"])
    assert set(body["totals"]) == stages
    assert requests.get(f"{etl}/metrics/2h", timeout=10).status_code == 404


def test_all_data_returns_every_series_and_window(etl: str, run: dict, stack_env) -> None:  # noqa: ANN001
    body = requests.get(f"{etl}/all_data?run={run['run_id']}", timeout=30).json()
    assert body["run"]["run_id"] == run["run_id"]
    assert sorted(entry["series"]["metric"] for entry in body["series"]) == DEMO
    cpu = next(e for e in body["series"] if e["series"]["metric"] == "cpuLoad")
    assert set(cpu["windows"]) == {"1h", "3h", "12h"}
    twelve = cpu["windows"]["12h"]
    # The raw samples of [end - 12h, end]: Prometheus' own count at the run's data end.
    end = datetime.fromisoformat(run["data_end"]).timestamp()
    counted = requests.get(
        f"{stack_env['PROMETHEUS_URL']}/api/v1/query",
        params={
            "query": 'count_over_time(cpuLoad{job="summary",instance="106"}[12h])',
            "time": end,
        },
        timeout=10,
    ).json()["data"]["result"][0]["value"][1]
    assert twelve["statistics"]["count"] == int(counted)
    assert twelve["metadata"]["seasonality"]["period_minutes"] == pytest.approx(20, abs=2)
    assert set(twelve["forecasts"]) == {"mean", "min", "max"}


def test_post_forecasting_sets_the_metrics_and_answers_their_forecasts(
    etl: str, admin_headers: dict[str, str]
) -> None:
    response = requests.post(
        f"{etl}/forecasting",
        json={"metrics": ["cpuTemp"], "horizon_minutes": 20},
        headers=admin_headers,
        timeout=120,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["metrics"] == ["cpuTemp"] and body["horizon_minutes"] == 20
    assert [entry["series"]["metric"] for entry in body["series"]] == ["cpuTemp"]
    forecast = body["series"][0]["windows"]["12h"]["mean"]
    assert len(forecast["points"]) == 10  # 20 minutes in 2-minute buckets
    assert forecast["model"] == "holt_winters_additive"
    assert requests.get(f"{etl}/forecasting", timeout=10).json()["metrics"] == ["cpuTemp"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"metrics": ["notAMetric"]}, 400),
        ({"metrics": ["cpuLoad"], "horizon_minutes": 10_000}, 400),
        ({"metrics": "cpuLoad"}, 400),
        ("not json", 400),
    ],
)
def test_post_forecasting_refuses_bad_input(
    etl: str, body: object, status: int, admin_headers: dict[str, str]
) -> None:
    if isinstance(body, str):
        response = requests.post(
            f"{etl}/forecasting",
            data=body,
            headers={"Content-Type": "application/json", **admin_headers},
            timeout=10,
        )
    else:
        response = requests.post(f"{etl}/forecasting", json=body, headers=admin_headers, timeout=10)
    assert response.status_code == status
    assert response.json()["error"] == "bad_request" and response.json()["reason"]
    if isinstance(body, dict) and body.get("metrics") == ["notAMetric"]:
        assert response.json()["known"] == DEMO


def test_repeated_requests_answer_alike(etl: str, run: dict) -> None:
    """Two gunicorn workers: requests go to whichever accepts first, and every answer is read
    from MySQL, so repeated requests answer the same bytes. (That two separately built ETL
    processes answer alike is tests/integration/test_etl_pipeline.py's
    test_two_api_processes_answer_alike.)"""
    page = f"{etl}/all_data?run={run['run_id']}&limit=3"
    assert len({requests.get(page, timeout=30).content for _ in range(20)}) == 1


def test_own_metrics_are_every_workers(etl: str, run: dict) -> None:
    """One scrape answers for both gunicorn workers (prometheus_client's multiprocess mode,
    monitoring_core/gunicorn_conf.py), whichever worker takes it: the last cycle's gauges,
    and the requests this test makes, counted by whichever worker served each."""

    def served() -> tuple[str, float]:
        text = requests.get(f"{etl}/internal/metrics", timeout=10).text
        line = 'http_requests_total{route="/health",status="200"} '
        count = next((float(x.split()[-1]) for x in text.splitlines() if x.startswith(line)), 0)
        return text, count

    _, before = served()
    for _ in range(40):  # a new connection each: the workers share them as they accept
        assert requests.get(f"{etl}/health", timeout=10).status_code == 200
    counts = []
    for _ in range(6):  # any of them may answer: each scrape must hold all 40
        text, count = served()
        counts.append(count)
        assert 'etl_stage_duration_seconds_count{stage="forecast",window="1h"}' in text
        assert "etl_last_success_timestamp_seconds" in text
        assert f"etl_series {float(len(DEMO))}" in text
    assert counts[0] >= before + 40 and counts == sorted(counts), (before, counts)
