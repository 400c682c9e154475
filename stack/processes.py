"""Start, watch and stop the stack's background processes, each with a pid file and a log."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


class StackError(Exception):
    """A failure the operator can act on; its text is one line."""


@dataclass
class Component:
    """One server of the stack and how to prepare, start and probe it."""

    name: str
    ports: Sequence[int]
    command: Callable[[], list[str]]
    ready: Callable[[], bool]
    prepare: Callable[[], None] = lambda: None
    after_start: Callable[[], None] = lambda: None
    env: Callable[[], dict[str, str]] = field(default=lambda: {})
    port_setting: str = ""


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def read_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is not running.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


class Supervisor:
    """Keeps a pid file and a log per component under the stack's folders."""

    def __init__(self, run_dir: Path, log_dir: Path, ready_timeout: float) -> None:
        self.run_dir = run_dir
        self.log_dir = log_dir
        self.ready_timeout = ready_timeout
        # Children started by this process, reaped on stop (else Popen warns when collected).
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def pid_file(self, component: Component) -> Path:
        return self.run_dir / f"{component.name}.pid"

    def log_file(self, component: Component) -> Path:
        return self.log_dir / f"{component.name}.log"

    def pid(self, component: Component) -> int | None:
        return read_pid(self.pid_file(component))

    def start(self, component: Component) -> str:
        """Start the component unless it already runs; return what was done, in a few words."""
        pid = self.pid(component)
        if pid is not None:
            self._wait_ready(component, pid)
            return f"already running (pid {pid})"
        for port in component.ports:
            if port_open(port):
                hint = f" (set {component.port_setting})" if component.port_setting else ""
                raise StackError(f"{component.name}: port {port} is taken by another process{hint}")
        component.prepare()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_file(component).open("ab")
        command = component.command()
        try:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, **component.env()},
            )
        except OSError as exc:
            raise StackError(f"{component.name}: cannot run {command[0]}: {exc}") from exc
        finally:
            log.close()
        self._children[component.name] = process
        self.pid_file(component).write_text(str(process.pid))
        started = time.monotonic()
        self._wait_ready(component, process.pid, process)
        component.after_start()
        return f"started (pid {process.pid}, ready in {time.monotonic() - started:.1f}s)"

    def _wait_ready(
        self, component: Component, pid: int, process: subprocess.Popen[bytes] | None = None
    ) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise StackError(
                    f"{component.name}: exited with code {process.returncode} while starting;"
                    f" see {self.log_file(component)}"
                )
            if process is None and not pid_alive(pid):
                raise StackError(
                    f"{component.name}: pid {pid} died; see {self.log_file(component)}"
                )
            try:
                if component.ready():
                    return
            except Exception:  # noqa: BLE001 - a probe that fails means "not yet"
                pass
            time.sleep(0.5)
        where = f"answer on port {component.ports[0]}" if component.ports else "become ready"
        raise StackError(
            f"{component.name}: did not {where} within "
            f"{self.ready_timeout:.0f}s; see {self.log_file(component)}"
        )

    def stop(self, component: Component, timeout: float = 30.0) -> str:
        pid = self.pid(component)
        self.pid_file(component).unlink(missing_ok=True)
        if pid is None:
            return "not running"
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return "not running"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.2)
        outcome = f"stopped (pid {pid})"
        if pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)
            outcome = f"killed (pid {pid}) after {timeout:.0f}s"
        child = self._children.pop(component.name, None)
        if child is not None:
            child.wait(5)
        return outcome
