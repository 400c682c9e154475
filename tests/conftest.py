"""Fixtures that reach the real stack started by `python -m stack up`.

Integration and e2e tests never fake Kafka, MariaDB or Prometheus. Each run gets its own
topic, consumer group and database so that runs do not interfere. When a server is not
there the tests fail at once saying which one, instead of timing out.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from flask.testing import FlaskClient

from etl_pipeline.store import FORECAST_SETTING
from monitoring_core.db import connect, migrate
from monitoring_core.settings import DatabaseRoles, KafkaSettings, MySQLSettings, PrometheusSettings
from stack.settings import StackSettings

RUN_ID = uuid.uuid4().hex[:10]
# The API tokens of the apps and services the tests build themselves (read from the
# environment like any setting); the stack's own services have the stack's (`stack_env`).
TOKEN_VARIABLES = ("ADMIN_TOKEN", "READ_TOKEN")


def pytest_configure(config: pytest.Config) -> None:
    for variable in TOKEN_VARIABLES:
        os.environ[variable] = f"test-{variable.lower()}-{secrets.token_hex(12)}"


@pytest.fixture(scope="session")
def admin_headers() -> dict[str, str]:
    """The admin token of the apps and services the tests start, as a request header."""
    return {"Authorization": f"Bearer {os.environ['ADMIN_TOKEN']}"}


@pytest.fixture(scope="session")
def read_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {os.environ['READ_TOKEN']}"}


def as_admin(client):  # noqa: ANN001, ANN201 - a Flask test client
    """``client`` sending the tests' admin token with every request."""
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {os.environ['ADMIN_TOKEN']}"
    return client


@pytest.fixture(scope="session")
def admin():  # noqa: ANN201
    """`admin(app.test_client())`: the client, sending the admin token."""
    return as_admin


class AdminClient(FlaskClient):
    """A Flask test client that sends the tests' admin token (``app.test_client_class``)."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        as_admin(self)


@pytest.fixture(scope="session")
def admin_client_class() -> type[FlaskClient]:
    return AdminClient


def _read_env_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    """The stack's client settings (addresses and generated credentials); env overrides them."""
    env = _read_env_file(StackSettings().env_file)
    # Addresses may be overridden from the environment; tokens not: the tests' own are there.
    env.update({k: v for k, v in os.environ.items() if k in env and k not in TOKEN_VARIABLES})
    if not env:
        pytest.fail(f"no stack found ({StackSettings().env_file} is missing): run `make up` first")
    return env


def _require(name: str, host: str, port: int) -> None:
    with socket.socket() as sock:
        sock.settimeout(2)
        if sock.connect_ex((host, port)) != 0:
            pytest.fail(f"{name} is not answering on {host}:{port}: start it with `make up`")


@pytest.fixture(scope="session")
def prometheus_settings(stack_env: dict[str, str]) -> PrometheusSettings:
    url = urlparse(stack_env["PROMETHEUS_URL"])
    _require("Prometheus", url.hostname or "127.0.0.1", url.port or 9090)
    return PrometheusSettings(url=stack_env["PROMETHEUS_URL"])


@pytest.fixture(scope="session")
def kafka_settings(stack_env: dict[str, str]) -> KafkaSettings:
    """A topic, dead-letter topic and consumer group of this test run alone."""
    host, port = stack_env["KAFKA_BOOTSTRAP_SERVERS"].split(",")[0].rsplit(":", 1)
    _require("Kafka", host, int(port))
    return KafkaSettings(
        bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        topic=f"test.{RUN_ID}.results",
        dead_letter_topic=f"test.{RUN_ID}.dlq",
        group_id=f"test-{RUN_ID}",
        partitions=3,
    )


@pytest.fixture(scope="session")
def db_roles(stack_env: dict[str, str]) -> DatabaseRoles:
    return DatabaseRoles(
        migrator_user=stack_env["DB_MIGRATOR_USER"],
        writer_user=stack_env["DB_WRITER_USER"],
        reader_user=stack_env["DB_READER_USER"],
        sla_user=stack_env["DB_SLA_USER"],
        etl_user=stack_env["DB_ETL_USER"],
    )


@pytest.fixture(scope="session")
def test_database(stack_env: dict[str, str], db_roles: DatabaseRoles) -> Iterator[str]:
    """A database of this run alone, migrated and granted exactly like `metrics`."""
    _require("MariaDB", stack_env["MYSQL_HOST"], int(stack_env["MYSQL_PORT"]))
    name = f"test_{RUN_ID}"
    admin = mysql_settings_for(stack_env, "migrator", database="")
    connection = connect(admin, database="")
    cursor = connection.cursor()
    cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    connection.commit()
    migrate(admin.model_copy(update={"database": name}), db_roles)
    yield name
    cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    connection.close()


def mysql_settings_for(env: dict[str, str], role: str, database: str) -> MySQLSettings:
    """The settings of one database role (migrator, writer, reader, sla)."""
    return MySQLSettings(
        host=env["MYSQL_HOST"],
        port=int(env["MYSQL_PORT"]),
        database=database or "metrics",
        user=env[f"DB_{role.upper()}_USER"],
        password=env[f"DB_{role.upper()}_PASSWORD"],
    )


@pytest.fixture(scope="session")
def mysql_role(stack_env: dict[str, str], test_database: str):  # noqa: ANN201
    """`mysql_role("writer")` -> MySQLSettings of that role on this run's database."""

    def settings(role: str) -> MySQLSettings:
        return mysql_settings_for(stack_env, role, test_database)

    return settings


@pytest.fixture(scope="session")
def mysql_env(mysql_role):  # noqa: ANN001, ANN201
    """`mysql_env("etl")` -> the MYSQL_* environment of a service started as that role on
    this run's database."""

    def env(role: str) -> dict[str, str]:
        settings = mysql_role(role)
        return {
            "MYSQL_HOST": settings.host,
            "MYSQL_PORT": str(settings.port),
            "MYSQL_DATABASE": settings.database,
            "MYSQL_USER": settings.user,
            "MYSQL_PASSWORD": settings.password.get_secret_value(),
        }

    return env


@pytest.fixture(scope="session")
def forget_forecast_setting(mysql_role):  # noqa: ANN001, ANN201
    """`forget_forecast_setting()`: the test database's ETL forecast setting (POST
    /forecasting's, in etl_settings) back to "never set", so that the next ETL a test starts
    uses its own ETL_FORECAST_METRICS."""

    def forget() -> None:
        connection = connect(mysql_role("migrator"))
        try:
            cursor = connection.cursor()
            cursor.execute("DELETE FROM etl_settings WHERE name = %s", (FORECAST_SETTING,))
            connection.commit()
        finally:
            connection.close()

    return forget


@pytest.fixture(scope="session")
def node_history(prometheus_settings: PrometheusSettings) -> float:
    """Seconds of node exporter samples Prometheus holds, at least five minutes.

    The demo's history is backfilled, the node exporter's is real: on a stack `make up`
    just started it is a minute old, so the tests on its series wait for it here (once)."""
    deadline = time.monotonic() + 360
    while True:
        answer = requests.get(
            f"{prometheus_settings.url}/api/v1/query",
            params={"query": 'count_over_time(node_load1{job="node"}[1h]) * 15'},
            timeout=10,
        )
        try:
            held = float(answer.json()["data"]["result"][0]["value"][1])
        except (IndexError, KeyError, ValueError):
            held = 0.0
        if held >= 300:
            return held
        if time.monotonic() > deadline:
            pytest.fail(f"Prometheus holds only {held:.0f} s of node exporter samples")
        time.sleep(10)


@dataclass
class AlertReceiver:
    """A webhook receiver on a free loopback port: where to send, and every alert it got."""

    base: str  # http://127.0.0.1:<port>; a test adds its own path (and token)
    alerts: list[dict] = field(default_factory=list)


@pytest.fixture(scope="module")
def alert_receiver() -> Iterator[AlertReceiver]:
    """One per test module, so that a module counts only the alerts its SLAs raised."""
    receiver = AlertReceiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            receiver.alerts.extend(body["alerts"])
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.base = f"http://127.0.0.1:{server.server_port}"
    yield receiver
    server.shutdown()
    server.server_close()
