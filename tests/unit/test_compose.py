"""The compose files for users parse with a real compose parser and keep their promises.

The compose stack itself runs in tests/compose (under `python -m stack compose-test`); these
check, without an engine, what a running stack cannot show by itself: what is published
where, which images, and that the README runs exactly the harness's commands.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from stack.compose import HOST_PORTS, PASSWORDS, STAGES, TOKENS, compose_env_file, compose_test
from stack.processes import StackError
from stack.settings import StackSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = shutil.which("docker-compose")


def compose_config(name: str, env_file: Path = REPO / ".env.example") -> dict:
    if COMPOSE is None:
        pytest.fail("docker-compose is missing: `make test` installs Debian's docker-compose")
    result = subprocess.run(
        [COMPOSE, "-f", str(REPO / name), "--env-file", str(env_file), "config"],
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
    # Today's upstream defaults, pinned, same majors as the native stack.
    assert services["kafka"]["image"] == "apache/kafka:3.9.1"
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert re.fullmatch(r"mysql:8\.0\.\d+", services["mysql"]["image"])
    assert re.fullmatch(r"prom/prometheus:v2\.\d+\.\d+", services["prometheus"]["image"])
    assert re.fullmatch(r"prom/node-exporter:v1\.\d+\.\d+", services["node-exporter"]["image"])
    assert config["networks"]["default"]["name"] == "monitoring"
    # Kafka keeps its log and offsets in a volume, and says when it is ready.
    assert services["kafka"]["environment"]["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"
    assert "kafka-data:/var/lib/kafka/data:rw" in services["kafka"]["volumes"]
    assert "healthcheck" in services["kafka"]
    # root only from inside the MySQL container
    assert services["mysql"]["environment"]["MYSQL_ROOT_HOST"] == "localhost"


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
    # The migration step waits for MySQL's first start instead of racing it.
    assert "--wait-seconds" in services["migrate"]["command"]


@pytest.mark.parametrize("name", ["docker-compose.infra.yml", "docker-compose.services.yml"])
def test_published_ports_bind_to_loopback_by_default(name: str):
    for service, spec in compose_config(name)["services"].items():
        for port in spec.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{service} publishes {port}"


def test_images_can_come_from_a_mirror(tmp_path: Path):
    env = tmp_path / "mirror.env"
    env.write_text(
        (REPO / ".env.example").read_text()
        + "KAFKA_IMAGE=mirror/kafka:1\nPYTHON_IMAGE=mirror/python:3.11\nSUITE_IMAGE=me/suite:1\n"
    )
    infra = compose_config("docker-compose.infra.yml", env)["services"]
    assert infra["kafka"]["image"] == "mirror/kafka:1"
    assert infra["demo-exporter"]["build"]["args"]["PYTHON_IMAGE"] == "mirror/python:3.11"
    assert infra["demo-exporter"]["image"] == "me/suite:1"


def test_readme_runs_exactly_the_harness_commands():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## With Docker", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in section.splitlines() if line.startswith("docker compose")]
    assert commands[:2] == [stage.readme_command() for stage in STAGES]
    # Each file is its own compose project: `--remove-orphans` on one never removes the other.
    assert len({stage.project for stage in STAGES}) == len(STAGES)


def test_the_harness_refuses_placeholder_and_missing_passwords(tmp_path: Path):
    settings = StackSettings(home=tmp_path)
    with pytest.raises(StackError, match="MYSQL_ROOT_PASSWORD is still the placeholder"):
        compose_env_file(settings, {}, REPO / ".env.example")
    partial = tmp_path / "partial.env"
    partial.write_text("MYSQL_ROOT_PASSWORD=x1\n")
    with pytest.raises(StackError, match="DB_MIGRATOR_PASSWORD is missing"):
        compose_env_file(settings, {}, partial)


def test_generated_passwords_need_quoting_and_the_file_is_private(tmp_path: Path):
    path = compose_env_file(StackSettings(home=tmp_path), {"KAFKA_IMAGE": "k"}, None)
    values = dict(line.split("=", 1) for line in path.read_text().splitlines())
    assert all("'" in values[name] and "\\" in values[name] for name in PASSWORDS)
    assert all(len(values[name]) >= 32 for name in TOKENS)
    assert values["KAFKA_IMAGE"] == "k" and values["BIND_ADDRESS"] == "127.0.0.1"
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_taken_port_stops_the_harness_before_anything_starts(tmp_path: Path, capsys):
    with socket.socket() as busy:
        for base in range(30_100, 40_000, 100):  # a base whose ETL port we can take
            try:
                busy.bind(("127.0.0.1", base + HOST_PORTS["ETL_HOST_PORT"] % 10000))
                break
            except OSError:
                continue
        busy.listen()
        port = busy.getsockname()[1]
        settings = StackSettings(home=tmp_path, compose_port_base=base)
        with pytest.raises(StackError, match=f"port taken: ETL_HOST_PORT={port}"):
            compose_test(settings, None, [])
    assert "docker engine" not in capsys.readouterr().out


def test_a_failed_up_says_what_failed_and_is_tried_once_more(monkeypatch, capsys):
    """compose at the boundary: its output as docker-compose 1.29 prints a refused start."""
    from stack import compose as module

    refused = subprocess.CompletedProcess(
        [], 1, "", "Creating sla-services_data_storage_2 ... error\n\nERROR: for "
        "data_storage  Cannot start service data_storage: port is already allocated\n"
        "ERROR: Encountered errors while bringing up the project.\n",
    )  # fmt: skip
    answers = [refused, subprocess.CompletedProcess([], 0, "", "")]
    compose = module.Compose.__new__(module.Compose)
    monkeypatch.setattr(compose, "run", lambda stage, *args, check=True: answers.pop(0))
    monkeypatch.setattr(compose, "exited", lambda stage: ["sla-services_migrate_1 Exited (1)"])
    compose.up(module.SERVICES)
    out = capsys.readouterr().out
    assert "port is already allocated | ERROR: Encountered errors" in out
    assert "sla-services_migrate_1 Exited (1)" in out and not answers

    assert module.why(refused).startswith(
        "Creating sla-services_data_storage_2 ... error | ERROR: for data_storage  Cannot start"
    )
    quiet = subprocess.CompletedProcess([], 1, "", "no such file\n\n")
    assert module.why(quiet) == "no such file"
