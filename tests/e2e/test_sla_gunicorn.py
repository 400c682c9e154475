"""The SLA manager served by gunicorn (as the stack runs it) against the real stack, over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.e2e

GUNICORN = Path(sys.executable).with_name("gunicorn")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}")
        try:
            if requests.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass  # not listening yet, or the worker is still importing
        time.sleep(0.3)
    pytest.fail(f"the SLA manager did not become healthy at {url} in {timeout} s")


@pytest.fixture(scope="module")
def service(stack_env, mysql_role, tmp_path_factory) -> Iterator[str]:  # noqa: ANN001
    """gunicorn with the stack's command line, the sla role on this run's database."""
    port = free_port()
    db = mysql_role("sla")
    env = {
        **os.environ,
        "PROMETHEUS_URL": stack_env["PROMETHEUS_URL"],
        "MYSQL_HOST": db.host,
        "MYSQL_PORT": str(db.port),
        "MYSQL_DATABASE": db.database,
        "MYSQL_USER": db.user,
        "MYSQL_PASSWORD": db.password.get_secret_value(),
        "SLA_ASSESSMENT_INTERVAL_SECONDS": "2",
    }
    log = tmp_path_factory.mktemp("sla") / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(GUNICORN),
                "--workers",
                "1",
                "--threads",
                "4",
                "--bind",
                f"127.0.0.1:{port}",
                "sla_manager:create_app()",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def define_sla(url: str, name: str, metrics: list[dict]) -> dict:
    response = requests.post(f"{url}/SLA", json={"name": name, "metrics": metrics}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def last_assessed(url: str, sla_name: str) -> float | None:
    text = requests.get(f"{url}/internal/metrics", timeout=10).text
    prefix = f'sla_last_assessment_timestamp_seconds{{sla="{sla_name}"}} '
    values = [float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)]
    return values[0] if values else None


def test_define_assess_report_and_retire_over_http(service: str) -> None:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    sla = define_sla(
        service,
        name,
        [
            {"metric": "cpuLoad", "min": 30, "max": 60},
            {"metric": "inodeUsage", "min": 0, "max": 100},
        ],
    )
    assessed = requests.get(f"{service}/assess_Violations", params={"sla": sla["id"]}, timeout=60)
    assert assessed.status_code == 200
    (result,) = assessed.json()["slas"]
    cpu, inode = result["metrics"]
    assert cpu["series"][0]["windows"]["1h"]["samples"] == 240
    assert inode["series"][0]["windows"]["12h"]["samples_outside"] == 0

    counts = requests.get(f"{service}/get_Violations_Num", params={"sla": sla["id"]}, timeout=30)
    windows = counts.json()["slas"][0]["windows"]
    # Each window on its own: the 1h total is cpuLoad's 1h count (inodeUsage adds none).
    assert windows["1h"]["samples_outside"] == cpu["series"][0]["windows"]["1h"]["samples_outside"]
    assert windows["1h"]["samples_outside"] <= windows["3h"]["samples_outside"]
    assert windows["3h"]["samples_outside"] <= windows["12h"]["samples_outside"]

    prediction = requests.get(
        f"{service}/get_SLA_pred_status", params={"sla": sla["id"]}, timeout=30
    )
    assert prediction.json()["slas"][0]["metrics"][1]["series"][0]["likely"] is False

    # The periodic assessment (every 2 s here) moves the exported assessment time on.
    first = last_assessed(service, name)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and last_assessed(service, name) == first:
        time.sleep(0.5)
    assert last_assessed(service, name) != first

    assert requests.delete(f"{service}/SLA/{sla['id']}", timeout=10).status_code == 200
    listed = requests.get(f"{service}/SLA", timeout=10).json()["slas"]
    assert sla["id"] not in [s["id"] for s in listed]


def test_errors_are_json_with_the_right_status(service: str) -> None:
    bad = requests.post(f"{service}/SLA", json={"name": "x", "metrics": []}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"] == "bad_request"
    huge = requests.post(
        f"{service}/SLA",
        data=b"{" + b" " * 100_000 + b"}",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert huge.status_code == 413 and "error" in huge.json()
    missing = requests.get(f"{service}/SLA/999999999", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert requests.get(f"{service}/health", timeout=10).json()["status"] == "ok"
