"""A private Docker engine for the compose test, and the local images it needs.

The engine is Debian's `dockerd` with its own socket, data root, exec root and pid file under
the stack's folder, so that it never touches a Docker the machine may already run. No image
registry is reachable here: the base is a Debian 12 root filesystem made by `mmdebstrap`,
and every image is built from it with `--network host` (the engine runs without iptables, so
only the host's network reaches the package indexes).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from stack.processes import StackError, pid_alive, read_pid
from stack.servers import kafka
from stack.servers.shared import ensure_debian_packages, run_step
from stack.settings import REPO, StackSettings

DOCKER_PACKAGES = {
    "dockerd": "docker.io",
    "mmdebstrap": "mmdebstrap",
    "docker-compose": "docker-compose",
}
BASE_IMAGE = "sla-standin/debian:bookworm"
STANDINS = REPO / "stack" / "standins"
# Stand-in image per compose variable (see stack/standins/README.md).
STANDIN_IMAGES = {
    "PYTHON_IMAGE": ("python", "sla-standin/python:3.11"),
    "KAFKA_IMAGE": ("kafka", "sla-standin/kafka:3.9.1"),
    "MYSQL_IMAGE": ("mysql", "sla-standin/mysql:8.0"),
    "PROMETHEUS_IMAGE": ("prometheus", "sla-standin/prometheus:v2"),
    "NODE_EXPORTER_IMAGE": ("node-exporter", "sla-standin/node-exporter:v1"),
}
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class DockerEngine:
    """One `dockerd` of our own: started, used through its socket, stopped by its pid."""

    def __init__(self, settings: StackSettings) -> None:
        self.s = settings
        self.root = settings.home / "docker"
        self.socket = settings.run / "docker.sock"
        self.pid_file = settings.run / "dockerd.pid"
        self.log_file = settings.logs / "dockerd.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """What the docker and docker-compose clients need to talk to this engine only."""
        return {
            **os.environ,
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_BUILDKIT": "0",
            "COMPOSE_DOCKER_CLI_BUILD": "0",
        }

    def start(self) -> None:
        ensure_debian_packages(DOCKER_PACKAGES)
        if os.geteuid() != 0:
            raise StackError("docker: the private engine needs root (dockerd)")
        self.stop()  # one left by an interrupted run
        for folder in (self.root / "data", self.root / "exec", self.s.run, self.s.logs):
            folder.mkdir(parents=True, exist_ok=True)
        if len(str(self.socket)) > 100:
            raise StackError(f"docker: socket path {self.socket} is too long; set STACK_HOME")
        command = [
            "dockerd",
            f"--host=unix://{self.socket}",
            f"--data-root={self.root / 'data'}",
            f"--exec-root={self.root / 'exec'}",
            f"--pidfile={self.pid_file}",
            "--containerd-namespace=sla-compose-test",
            "--containerd-plugins-namespace=sla-compose-test-plugins",
            "--storage-driver=overlay2",
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
        ]
        with self.log_file.open("ab") as log:
            self._process = process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StackError(
                    f"docker: dockerd exited with {process.returncode}; see {self.log_file}"
                )
            probe = subprocess.run(["docker", "version"], env=self.env, capture_output=True)
            if probe.returncode == 0:
                return
            time.sleep(0.5)
        raise StackError(f"docker: dockerd did not answer within 60 s; see {self.log_file}")

    def stop(self) -> str:
        """Stop the engine by its pid, then any container process it left behind."""
        pid = read_pid(self.pid_file)
        outcome = "not running"
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and pid_alive(pid):
                time.sleep(0.2)
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
            outcome = f"stopped (pid {pid})"
        if self._process is not None:
            self._process.wait(10)  # reap it: no zombie left in the harness
            self._process = None
        # Shims outlive dockerd by design; ours name our exec root in their command line.
        for shim in self._leftover_processes():
            os.kill(shim, signal.SIGKILL)
        # dockerd leaves its network namespace's bind mount in the exec root behind.
        for mount in self._leftover_mounts():
            subprocess.run(["umount", "--lazy", mount], capture_output=True)
        self.pid_file.unlink(missing_ok=True)
        return outcome

    def _leftover_mounts(self) -> list[str]:
        prefix = f"{self.root}/"
        with open("/proc/mounts") as mounts:
            points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
        return sorted(points, key=len, reverse=True)

    def _leftover_processes(self) -> list[int]:
        marker = str(self.root / "exec").encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline:
                pids.append(int(entry.name))
        return pids

    def docker(self, what: str, *args: str) -> subprocess.CompletedProcess[str]:
        return run_step(what, ["docker", *args], env=self.env)

    def has_image(self, name: str) -> bool:
        probe = subprocess.run(
            ["docker", "image", "inspect", name], env=self.env, capture_output=True
        )
        return probe.returncode == 0

    # ---- images ------------------------------------------------------------------------------

    def build_base(self) -> None:
        """Debian 12 (minbase) with the host's apt sources, imported as the stand-ins' base."""
        if self.has_image(BASE_IMAGE):
            return
        rootfs = self.s.cache / "docker" / "debian-bookworm.tar"
        if not rootfs.exists():
            rootfs.parent.mkdir(parents=True, exist_ok=True)
            sources = Path("/etc/apt/sources.list.d/debian.sources")
            mirror = [str(sources)] if sources.exists() else []
            print("building a Debian 12 root filesystem with mmdebstrap", flush=True)
            run_step(
                "mmdebstrap",
                [
                    "mmdebstrap", "--variant=minbase", "--include=ca-certificates",
                    # the host's mirror may be a snapshot whose Release files have expired
                    '--aptopt=Acquire::Check-Valid-Until "false"',
                    "bookworm", str(rootfs), *mirror,
                ],
            )  # fmt: skip
        self.docker("docker import", "import", str(rootfs), BASE_IMAGE)

    def build_standins(self) -> dict[str, str]:
        """Build every stand-in image; return the compose variables that point at them."""
        kafka_libs = kafka.install(self.s)
        images = {}
        for variable, (name, tag) in STANDIN_IMAGES.items():
            context = self.root / "build" / name
            shutil.rmtree(context, ignore_errors=True)
            shutil.copytree(STANDINS / name, context)
            if name == "kafka":
                shutil.copytree(kafka_libs, context / "libs")
            if name == "python":
                # TLS to the package index is re-signed on our machines: the stand-in base
                # (never the project's own Dockerfile) trusts the host's bundle.
                bundle = HOST_CA_BUNDLE.read_bytes() if HOST_CA_BUNDLE.exists() else b""
                (context / "host-ca.crt").write_bytes(bundle)
            print(f"{'image':15} ... {tag}", end=" ", flush=True)
            started = time.monotonic()
            self.docker(
                f"docker build {tag}",
                "build", "--network", "host", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
                "-t", tag, str(context),
            )  # fmt: skip
            print(f"built in {time.monotonic() - started:.1f}s", flush=True)
            images[variable] = tag
        return images
