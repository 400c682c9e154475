"""`python -m stack compose-test`: the README's Docker path, run for real.

On a private Docker engine (stack/docker.py) with local stand-ins for the upstream images
(stack/standins/), it runs the two stages exactly as the README's "With Docker" section says,
waits until every part answers, runs tests/compose against the ports published on
127.0.0.1, and removes every container, network and volume it made, and the engine, even
when a step fails or the run is interrupted.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import requests

from stack.docker import DockerEngine
from stack.processes import StackError, port_open
from stack.settings import REPO, StackSettings


@dataclass(frozen=True)
class Stage:
    """One compose file with its own project name, brought up as the README says."""

    project: str
    file: str
    up: tuple[str, ...]

    def readme_command(self) -> str:
        return " ".join(
            ["docker compose", "-p", self.project, "--env-file .env", "-f", self.file, *self.up]
        )


# The README's count of ETL workers and storage consumers (the compose test checks that they
# all joined their groups).
ETL_WORKERS = 3
STORAGE_CONSUMERS = 2
# --build on both: the demo exporter's image is the suite's, rebuilt when the code changes.
INFRA = Stage("sla-infra", "docker-compose.infra.yml", ("up", "-d", "--build"))
SERVICES = Stage(
    "sla-services",
    "docker-compose.services.yml",
    (
        "up",
        "-d",
        "--build",
        "--scale",
        f"etl_worker={ETL_WORKERS}",
        "--scale",
        f"data_storage={STORAGE_CONSUMERS}",
    ),  # fmt: skip
)
STAGES = (INFRA, SERVICES)
# Infrastructure containers with a healthcheck, waited for before stage 2.
HEALTHY = ("kafka", "mysql", "prometheus")
# Host port variable -> the port the services publish by default (README, compose files).
HOST_PORTS = {
    "ETL_HOST_PORT": 5000,
    "SLA_HOST_PORT": 5002,
    "RETRIEVAL_HOST_PORT": 5005,
    "STORAGE_HOST_PORT": 5006,
    "STORAGE_HOST_PORT_LAST": 5009,
    "PROMETHEUS_HOST_PORT": 9090,
    "KAFKA_HOST_PORT": 29092,
    "MYSQL_HOST_PORT": 3306,
}
# The compose stack publishes each of them at STACK_COMPOSE_PORT_BASE + port % PORT_SPAN.
PORT_SPAN = 10000


def host_port(settings: StackSettings, port: int) -> int:
    """The host port the compose stack publishes a service's default `port` at."""
    return settings.compose_port_base + port % PORT_SPAN


# What the stack's .env must give (the files refuse to start without them).
PASSWORDS = (
    "MYSQL_ROOT_PASSWORD",
    "DB_MIGRATOR_PASSWORD",
    "DB_WRITER_PASSWORD",
    "DB_READER_PASSWORD",
    "DB_SLA_PASSWORD",
    "DB_ETL_PASSWORD",
)
TOKENS = ("ADMIN_TOKEN", "READ_TOKEN")
REQUIRED = PASSWORDS + TOKENS
PLACEHOLDER = "change-me"


def compose_command() -> list[str]:
    """Compose v2 (`docker compose`) where the client has it, else Debian's docker-compose."""
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
    return ["docker", "compose"] if probe.returncode == 0 else ["docker-compose"]


def read_env_file(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    )
    return {key.strip(): value for key, value in pairs}


def compose_env_file(
    settings: StackSettings, images: dict[str, str], user_env: Path | None
) -> Path:
    """The env file the test runs with: the user's (or generated passwords) plus our images.

    Generated passwords carry a quote and a backslash: the accounts' SQL must quote them.
    """
    values = read_env_file(user_env) if user_env else {}
    if user_env is None:
        values.update({name: f"{secrets.token_hex(12)}'q\\b" for name in PASSWORDS})
        values.update({name: secrets.token_hex(24) for name in TOKENS})
    for name in REQUIRED:
        if not values.get(name):
            raise StackError(f"compose: {name} is missing in {user_env}")
        if values[name].startswith(PLACEHOLDER):
            raise StackError(f"compose: {name} is still the placeholder of .env.example")
    values.update(images)
    values.update({name: str(host_port(settings, port)) for name, port in HOST_PORTS.items()})
    values.update(
        {
            "BIND_ADDRESS": "127.0.0.1",
            "BUILD_NETWORK": "host",  # the engine has no NAT: builds use the host's network
            "SUITE_IMAGE": "prometheus-sla-suite:compose-test",
        }
    )
    path = settings.home / "docker" / "compose.env"
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.writelines(f"{key}={value}\n" for key, value in values.items())
    return path


class Compose:
    """The compose client bound to our engine and env file."""

    def __init__(self, engine_env: dict[str, str], env_file: Path) -> None:
        self.env = engine_env
        self.env_file = env_file
        self.command = compose_command()

    def run(self, stage: Stage, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [
            *self.command, "-p", stage.project, "--env-file", str(self.env_file),
            "-f", str(REPO / stage.file), *args,
        ]  # fmt: skip
        result = subprocess.run(command, cwd=REPO, env=self.env, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise StackError(f"compose {stage.project} {' '.join(args)} failed: {why(result)}")
        return result

    def up(self, stage: Stage) -> None:
        """`up`, and once more if it fails: compose starts a stage's containers in parallel,
        and one refused start fails the whole command though a second `up` converges on what
        the first left. What failed is printed either way; a second failure is the error."""
        first = self.run(stage, *stage.up, check=False)
        if first.returncode == 0:
            return
        print(f"\ncompose {stage.project} up failed, trying once more: {why(first)}", flush=True)
        for line in self.exited(stage):
            print(f"  {line}", flush=True)
        self.run(stage, *stage.up)

    def exited(self, stage: Stage) -> list[str]:
        """Each container of the stage that exited with an error, with its last log line."""
        listed = self._docker(
            "ps", "-a", "--format", "{{.Names}}\t{{.Status}}",
            "--filter", f"label=com.docker.compose.project={stage.project}",
            "--filter", "status=exited",
        ).stdout.splitlines()  # fmt: skip
        out = []
        for name, status in (line.split("\t", 1) for line in listed if "\t" in line):
            if status.startswith("Exited (0)"):
                continue
            logs = self._docker("logs", "--tail", "3", name)
            tail = (logs.stdout + logs.stderr).strip().splitlines()
            out.append(f"{name} {status}: {tail[-1] if tail else 'no output'}")
        return out

    def down(self, stage: Stage, volumes: bool = False) -> None:
        self.run(
            stage, "down", "--remove-orphans", *(["--volumes"] if volumes else []), check=False
        )

    def container(self, stage: Stage, service: str) -> str:
        return self.run(stage, "ps", "-q", service).stdout.strip()

    def wait_healthy(self, stage: Stage, services: tuple[str, ...], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for service in services:
            while True:
                state = self._state(stage, service)
                if state.get("Health", {}).get("Status") == "healthy":
                    break
                if state.get("Status") in ("exited", "dead") or time.monotonic() > deadline:
                    logs = self.run(stage, "logs", "--tail", "5", service, check=False).stdout
                    last = logs.strip().splitlines()[-1] if logs.strip() else "no output"
                    status = state.get("Status", "missing")
                    raise StackError(f"compose: {service} is {status}, not healthy: {last}")
                time.sleep(2)

    def _state(self, stage: Stage, service: str) -> dict:
        container = self.container(stage, service)
        if not container:
            return {}
        result = self._docker("inspect", "--format", "{{json .State}}", container)
        return json.loads(result.stdout) if result.returncode == 0 else {}

    def _docker(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", *args], env=self.env, capture_output=True, text=True)


def why(result: subprocess.CompletedProcess[str]) -> str:
    """A failed compose command's error lines (compose prints progress on stderr too)."""
    lines = [line.strip() for line in (result.stderr or result.stdout).splitlines()]
    errors = [line for line in lines if "error" in line.lower()]
    return " | ".join(errors[-5:] or [line for line in lines if line][-1:])


def service_urls(env: dict[str, str]) -> dict[str, str]:
    urls = {
        name: f"http://127.0.0.1:{env[f'{name.upper()}_HOST_PORT']}"
        for name in ("etl", "sla", "retrieval", "storage", "prometheus")
    }
    return urls | {"storage": storage_url(env)}


def storage_ports(env: dict[str, str]) -> range:
    """Storage's published range: each of `--scale data_storage=N` takes a free port of it
    (Docker does not promise which)."""
    return range(int(env["STORAGE_HOST_PORT"]), int(env["STORAGE_HOST_PORT_LAST"]) + 1)


def storage_url(env: dict[str, str]) -> str:
    """The storage replica that answers on the lowest port of the range (the range's first
    port while none answers)."""
    for port in storage_ports(env):
        if answers(f"http://127.0.0.1:{port}/health"):
            return f"http://127.0.0.1:{port}"
    return f"http://127.0.0.1:{storage_ports(env)[0]}"


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def wait_answering(env: dict[str, str], timeout: float) -> None:
    """Every service's /health (and Prometheus' readiness) answers over the published ports."""
    deadline = time.monotonic() + timeout
    for name in service_urls(env):
        path = "/-/ready" if name == "prometheus" else "/health"
        while True:
            url = service_urls(env)[name]  # storage's replica may answer on any of its range
            if answers(url + path):
                break
            if time.monotonic() > deadline:
                raise StackError(f"compose: {name} did not answer on {url}{path} in {timeout:.0f}s")
            time.sleep(1)


def bring_up(compose: Compose, env: dict[str, str]) -> None:
    """Both stages, as the README runs them, then wait until every part answers."""
    step("stage 1", lambda: compose.up(INFRA))
    step("healthy", lambda: compose.wait_healthy(INFRA, HEALTHY, timeout=300))
    step("stage 2", lambda: compose.up(SERVICES))
    step("answering", lambda: wait_answering(env, timeout=180))


def step(what: str, action) -> None:  # noqa: ANN001 - any callable
    print(f"{what:15} ...", end=" ", flush=True)
    started = time.monotonic()
    action()
    print(f"done in {time.monotonic() - started:.1f}s", flush=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def compose_test(settings: StackSettings, user_env: Path | None, pytest_args: list[str]) -> int:
    """Build, bring up, test and remove the compose stack; return pytest's exit code."""
    started = time.monotonic()
    engine = DockerEngine(settings)
    compose: Compose | None = None
    taken = [
        f"{name}={host_port(settings, port)}"
        for name, port in HOST_PORTS.items()
        if port_open(host_port(settings, port))
    ]
    if taken:
        raise StackError(f"compose: port taken: {', '.join(taken)} (set STACK_COMPOSE_PORT_BASE)")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        step("docker engine", engine.start)
        step("base image", engine.build_base)
        images = engine.build_standins()
        env_file = compose_env_file(settings, images, user_env)
        compose = Compose(engine.env, env_file)
        for stage in reversed(STAGES):
            compose.down(stage, volumes=True)  # what an interrupted run left
        bring_up(compose, read_env_file(env_file))
        print(f"compose stack up in {time.monotonic() - started:.0f}s", flush=True)
        env = {**engine.env, "COMPOSE_TEST_ENV_FILE": str(env_file)}
        tests = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "tests/compose",
            *pytest_args,
        ]
        result = subprocess.run(tests, cwd=REPO, env=env)
        print(f"compose test took {time.monotonic() - started:.0f}s", flush=True)
        return result.returncode
    finally:
        if compose is not None:
            for stage in reversed(STAGES):
                compose.down(stage, volumes=True)
        print(f"{'docker engine':15} {engine.stop()}", flush=True)
        shutil.rmtree(settings.home / "docker" / "build", ignore_errors=True)
