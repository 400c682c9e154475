"""Schemathesis against the running suite: requests generated from each service's OpenAPI document.

For every operation of the four documents (`<service>/openapi.yaml`, the same file each service
serves at /openapi.json, checked below), Hypothesis generates requests from the parameters and
bodies the document describes; every answer must be no server error (5xx other than the
documented 503), have a documented status and content type, and match the documented schema.
The expected schemas come from the documents themselves: that is what is under test.

Costs are bounded: EXAMPLES per operation, and only a handful for the three ETL operations
that run a whole cycle each (GET and POST /regen_data, POST /forecasting). Requests carry the
admin token, so that the routes behind it are exercised too. The SLA manager and the ETL's
cycle routes are tested on this module's own instances (gunicorn, on this run's database and
topic, with a rate limit their generated requests do not reach), so that the stack's
services keep their state and their per-client quota for the other tests; every SLA a
generated request creates is retired at once, and DELETE /SLA/{sla_id} only ever retires such
an SLA of this test (or an id that cannot exist), never someone else's.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis import checks

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = {
    "ETL_URL": ROOT / "etl_pipeline" / "openapi.yaml",
    "RETRIEVAL_URL": ROOT / "data_retrieval" / "openapi.yaml",
    "SLA_URL": ROOT / "sla_manager" / "openapi.yaml",
    "STORAGE_URL": ROOT / "data_storage" / "openapi.yaml",
}
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
EXAMPLES = 50
CYCLE_EXAMPLES = 3  # each request runs a whole ETL cycle
TIMEOUT = 60  # seconds; a cycle takes about one
NO_SUCH_SLA = "999999999999999999"  # 18 digits: accepted as an id, never allocated

etl = schemathesis.openapi.from_path(DOCUMENTS["ETL_URL"])
retrieval = schemathesis.openapi.from_path(DOCUMENTS["RETRIEVAL_URL"])
sla = schemathesis.openapi.from_path(DOCUMENTS["SLA_URL"])
storage = schemathesis.openapi.from_path(DOCUMENTS["STORAGE_URL"])
CYCLE_OPERATIONS = ["regenData", "regenDataPost", "setForecasting"]
etl_cycles = etl.include(operation_id=CYCLE_OPERATIONS)
etl_reads = etl.exclude(operation_id=CYCLE_OPERATIONS)

bounded = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no example database written into the work tree
    suppress_health_check=list(HealthCheck),
)


def call(case: schemathesis.Case, base_url: str, token: str | None = None) -> requests.Response:
    """Send the case (with ``token`` as a bearer token) and run the checks on the answer.

    A request line longer than gunicorn's limit (4094 bytes) is refused by gunicorn itself
    with 414 before any route sees it; that is the HTTP server's limit, not a route's answer.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else None
    response = case.call(base_url=base_url, headers=headers, timeout=TIMEOUT)
    if response.status_code == 414 and b"Request Line is too large" in response.content:
        return response
    case.validate_response(response, checks=CHECKS)
    return response


@pytest.fixture(scope="module")
def etl_url(stack_env, kafka_settings, serve, mysql_env, forget_forecast_setting):  # noqa: ANN001, ANN201
    """This module's ETL for the cycle routes: a topic of its own, stored by a data_storage
    into this run's database (where the ETL reads its answers), no scheduler, a high limit."""
    kafka = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "KAFKA_TOPIC": f"{kafka_settings.topic}.schemathesis",
        "KAFKA_DEAD_LETTER_TOPIC": f"{kafka_settings.dead_letter_topic}.schemathesis",
        "KAFKA_GROUP_ID": f"{kafka_settings.group_id}-schemathesis",
        "KAFKA_PARTITIONS": str(kafka_settings.partitions),
    }
    storage = {**kafka, **mysql_env("writer"), "STORAGE_PORT": "{port}"}
    serve("storage", storage, command=[sys.executable, "-m", "data_storage"])
    env = {
        **kafka,
        **mysql_env("etl"),
        "PROMETHEUS_URL": stack_env["PROMETHEUS_URL"],
        "ETL_SCHEDULER_ENABLED": "false",
        "WORK_RATE_LIMIT": "10000/minute",
    }
    yield serve("etl", env, app="etl_pipeline.wsgi:application()")
    forget_forecast_setting()


@dataclass
class OwnSLAs:
    """The SLA this test defines for the reports to cover, and those generated requests create."""

    base: int
    created: set[int] = field(default_factory=set)


@pytest.fixture(scope="module")
def sla_url(stack_env, mysql_role, serve) -> str:  # noqa: ANN001
    """This module's SLA manager: the stack's Prometheus, this run's database, a high limit."""
    db = mysql_role("sla")
    env = {
        "PROMETHEUS_URL": stack_env["PROMETHEUS_URL"],
        "MYSQL_HOST": db.host,
        "MYSQL_PORT": str(db.port),
        "MYSQL_DATABASE": db.database,
        "MYSQL_USER": db.user,
        "MYSQL_PASSWORD": db.password.get_secret_value(),
        "SLA_ASSESSMENT_INTERVAL_SECONDS": "0",
        "WORK_RATE_LIMIT": "10000/minute",
    }
    return serve("sla", env, app="sla_manager.wsgi:application()")


@pytest.fixture(scope="module")
def own_slas(sla_url: str) -> Iterator[OwnSLAs]:
    """Define an SLA on demo metrics (so the reports have data); retire all of ours at the end."""
    base = sla_url
    admin = {"Authorization": f"Bearer {os.environ['ADMIN_TOKEN']}"}
    body = {
        "name": f"schemathesis-{uuid.uuid4().hex[:8]}",
        "metrics": [
            {"metric": "cpuLoad", "min": 10, "max": 80},
            {"expression": "availableMem / 1e9", "name": "available GB", "min": 4},
        ],
    }
    response = requests.post(f"{base}/SLA", json=body, headers=admin, timeout=30)
    assert response.status_code == 201, response.text
    own = OwnSLAs(base=response.json()["id"])
    yield own
    for sla_id in {own.base, *own.created}:
        requests.delete(f"{base}/SLA/{sla_id}", headers=admin, timeout=10)


def test_each_service_serves_the_document_under_test(stack_env: dict[str, str]) -> None:
    for url_key, path in DOCUMENTS.items():
        response = requests.get(f"{stack_env[url_key]}/openapi.json", timeout=10)
        assert response.status_code == 200, url_key
        assert response.json() == yaml.safe_load(path.read_text()), f"{url_key}: served != {path}"


@etl_reads.parametrize()
@bounded
def test_etl(case: schemathesis.Case, stack_env: dict[str, str]) -> None:
    call(case, stack_env["ETL_URL"], stack_env["ADMIN_TOKEN"])


@etl_cycles.parametrize()
@settings(bounded, max_examples=CYCLE_EXAMPLES)
def test_etl_cycles(case: schemathesis.Case, etl_url: str) -> None:
    call(case, etl_url, os.environ["ADMIN_TOKEN"])  # the tests' own, which this ETL has


@retrieval.parametrize()
@bounded
def test_retrieval(case: schemathesis.Case, stack_env: dict[str, str]) -> None:
    call(case, stack_env["RETRIEVAL_URL"])


@sla.parametrize()
@bounded
def test_sla_manager(case: schemathesis.Case, sla_url: str, own_slas: OwnSLAs) -> None:
    base = sla_url
    token = os.environ["ADMIN_TOKEN"]  # the tests' own, which this SLA manager has
    # A generated id that could be someone else's SLA becomes one of ours: a GET reads our
    # reports' SLA (so the 200 schemas are exercised), a DELETE retires only what this test made.
    if case.method == "DELETE":
        ours = str(min(own_slas.created)) if own_slas.created else NO_SUCH_SLA
    else:
        ours = str(own_slas.base)
    for params, key in ((case.path_parameters, "sla_id"), (case.query, "sla")):
        raw = params.get(key) if params else None
        if isinstance(raw, str) and raw.isascii() and raw.isdigit():
            params[key] = ours
    response = call(case, base, token)
    if case.method == "POST" and response.status_code == 201:
        sla_id = response.json()["id"]
        own_slas.created.add(sla_id)
        retired = requests.delete(
            f"{base}/SLA/{sla_id}", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert retired.status_code == 200 and retired.json()["retired_at"], retired.text


@storage.parametrize()
@bounded
def test_storage(case: schemathesis.Case, stack_env: dict[str, str]) -> None:
    call(case, stack_env["STORAGE_URL"])
