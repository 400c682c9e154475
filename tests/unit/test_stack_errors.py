"""The stack script's failures are one clear line each; a second start starts nothing."""

from __future__ import annotations

import socket
import sys

import pytest

from stack.processes import Component, StackError, Supervisor
from stack.servers.shared import run_step


@pytest.fixture
def supervisor(tmp_path):
    return Supervisor(tmp_path / "run", tmp_path / "logs", ready_timeout=1.5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sleeper(name: str, port: int, ready=lambda: True) -> Component:
    return Component(
        name=name,
        ports=[port],
        port_setting="STACK_TEST_PORT",
        command=lambda: [sys.executable, "-c", "import time; time.sleep(60)"],
        ready=ready,
    )


def one_line(exc: pytest.ExceptionInfo[StackError]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_port_taken_by_another_process(supervisor):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(StackError) as exc:
            supervisor.start(sleeper("kafka", port))
    assert one_line(exc) == (
        f"kafka: port {port} is taken by another process (set STACK_TEST_PORT)"
    )


def test_server_that_never_answers(supervisor):
    component = sleeper("prometheus", free_port(), ready=lambda: False)
    try:
        with pytest.raises(StackError) as exc:
            supervisor.start(component)
    finally:
        supervisor.stop(component, timeout=5)
    assert "prometheus: did not answer on port" in one_line(exc)
    assert "see " in str(exc.value) and "prometheus.log" in str(exc.value)


def test_server_that_exits_while_starting(supervisor):
    component = Component(
        name="mariadb",
        ports=[free_port()],
        command=lambda: [sys.executable, "-c", "raise SystemExit(3)"],
        ready=lambda: False,
    )
    with pytest.raises(StackError) as exc:
        supervisor.start(component)
    assert one_line(exc).startswith("mariadb: exited with code 3 while starting; see ")


def test_missing_program(supervisor):
    component = Component(
        name="kafka", ports=[free_port()], command=lambda: ["/nonexistent/java"], ready=lambda: True
    )
    with pytest.raises(StackError) as exc:
        supervisor.start(component)
    assert one_line(exc).startswith("kafka: cannot run /nonexistent/java:")


def test_install_step_failure_names_the_step():
    with pytest.raises(StackError) as exc:
        run_step(
            "apt-get install nothing",
            [
                sys.executable,
                "-c",
                "import sys; print('E: Unable to locate package nothing', file=sys.stderr); "
                "sys.exit(100)",
            ],
        )
    assert one_line(exc) == (
        "apt-get install nothing failed (exit 100): E: Unable to locate package nothing"
    )


def test_second_start_starts_nothing(supervisor):
    component = sleeper("demo_exporter", free_port())
    try:
        first = supervisor.start(component)
        pid = supervisor.pid(component)
        second = supervisor.start(component)
    finally:
        stopped = supervisor.stop(component, timeout=5)
    assert first.startswith("started")
    assert second == f"already running (pid {pid})"
    assert stopped == f"stopped (pid {pid})"
    assert supervisor.pid(component) is None
