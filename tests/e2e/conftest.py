"""Run a service as the stack runs it (gunicorn or its module) on a free port, per test module."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gunicorn(app: str, workers: int = 1, threads: int = 4) -> list[str]:
    """The stack's gunicorn command line for one app, bound to the port placeholder."""
    return [
        str(BIN / "gunicorn"),
        "--config", "python:monitoring_core.gunicorn_conf",
        "--workers", str(workers),
        "--threads", str(threads),
        "--timeout", "120",
        "--bind", "127.0.0.1:{port}",
        app,
    ]  # fmt: skip


Serve = Callable[..., str]


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """`serve(name, env, app=... | command=[...])` starts a service, returns its URL once healthy.

    `app` runs gunicorn as the stack does; `command` runs anything else. `{port}` in the
    command or in an env value is replaced by a free port. Everything started
    is terminated (then killed) when the module's tests are done; its log stays in tmp.
    """
    started: list[subprocess.Popen[bytes]] = []

    def start(
        name: str,
        env: dict[str, str],
        *,
        app: str | None = None,
        command: list[str] | None = None,
        workers: int = 1,
        threads: int = 4,
        timeout: float = 30,
    ) -> str:
        command = gunicorn(app, workers, threads) if app else command
        assert command, "serve() needs app= or command="
        port = str(free_port())
        log = tmp_path_factory.mktemp(name) / "service.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [part.replace("{port}", port) for part in command],
                cwd=ROOT,
                env={**os.environ, **{k: v.replace("{port}", port) for k, v in env.items()}},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}; see {log}")
            try:
                if requests.get(f"{url}/health", timeout=5).status_code == 200:
                    return url
            except requests.RequestException:
                pass  # not listening yet, or the worker is still importing
            time.sleep(0.3)
        pytest.fail(f"{name} did not become healthy at {url} in {timeout} s; see {log}")

    yield start
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
