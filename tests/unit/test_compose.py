"""The compose files for users parse with a real compose parser and wire what the README says."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = shutil.which("docker-compose")


def compose_config(name: str) -> dict:
    if COMPOSE is None:
        pytest.fail("docker-compose is missing: `make test` installs Debian's docker-compose")
    result = subprocess.run(
        [COMPOSE, "-f", str(REPO / name), "--env-file", str(REPO / ".env.example"), "config"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_infrastructure_file():
    config = compose_config("docker-compose.infra.yml")
    services = config["services"]
    assert {"kafka", "mysql", "prometheus", "node-exporter", "demo-exporter"} <= set(services)
    assert services["kafka"]["image"] == "apache/kafka:3.9.1"  # the native stack's Kafka
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["mysql"]["image"].startswith("mysql:8")
    assert services["prometheus"]["image"].startswith("prom/prometheus:v2.")
    assert config["networks"]["default"]["name"] == "monitoring"


def test_services_file():
    config = compose_config("docker-compose.services.yml")
    services = config["services"]
    assert {"etl_pipeline", "data_storage", "data_retrieval", "sla_manager"} <= set(services)
    assert config["networks"]["default"] == {"name": "monitoring", "external": True}
    for name in ("etl_pipeline", "data_retrieval", "sla_manager"):
        assert services[name]["command"][0] == "gunicorn"
    users = {
        name: services[name]["environment"].get("MYSQL_USER")
        for name in ("data_storage", "data_retrieval", "sla_manager")
    }
    # Each service is its own least-privileged account.
    assert users == {
        "data_storage": "storage_writer",
        "data_retrieval": "retrieval_reader",
        "sla_manager": "sla_manager",
    }
