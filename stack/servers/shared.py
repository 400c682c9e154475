"""What the stack's servers share: its credentials, the addresses clients read, install steps."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

import requests

from monitoring_core.settings import DatabaseRoles
from stack.processes import StackError
from stack.settings import StackSettings

# Binary -> the Debian package that ships it.
DEBIAN_PACKAGES = {
    "mariadbd": "mariadb-server",
    "mariadb-install-db": "mariadb-server",
    "mariadb": "mariadb-client",
    "mariadb-admin": "mariadb-client",
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "prometheus-node-exporter": "prometheus-node-exporter",
}
# What only the test suite needs: a real compose parser for the users' compose files, a
# browser for the dashboard test, and Node.js' npm for newman (Postman's runner).
TEST_PACKAGES = {"docker-compose": "docker-compose", "chromium": "chromium", "npm": "npm"}
ROLE_ENV = {
    "migrator": "DB_MIGRATOR_PASSWORD",
    "writer": "DB_WRITER_PASSWORD",
    "reader": "DB_READER_PASSWORD",
    "sla": "DB_SLA_PASSWORD",
    "etl": "DB_ETL_PASSWORD",
}
# The API's bearer tokens (monitoring_core.settings.AccessSettings).
TOKEN_ENV = {"admin": "ADMIN_TOKEN", "read": "READ_TOKEN"}


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, from the first byte on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "w") as out:
        out.write(text)


def run_step(what: str, command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run an install or setup step; a failure becomes one line naming the step."""
    try:
        result = subprocess.run(command, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    except OSError as exc:
        raise StackError(f"{what}: cannot run {command[0]}: {exc}") from exc
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        last = lines[-1] if lines else "no output"
        raise StackError(f"{what} failed (exit {result.returncode}): {last}")
    return result


def ensure_debian_packages(packages: dict[str, str] = DEBIAN_PACKAGES) -> None:
    """Install the Debian packages whose programs are missing (as root, non-interactively)."""
    missing = sorted({pkg for binary, pkg in packages.items() if not shutil.which(binary)})
    if not missing:
        return
    if os.geteuid() != 0:
        raise StackError(
            f"install: missing {' '.join(missing)}; run as root or apt-get install them"
        )
    print(f"installing Debian packages: {' '.join(missing)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run_step("apt-get update", ["apt-get", "update", "-qq"], env=env)
    run_step(
        f"apt-get install {' '.join(missing)}",
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        env=env,
    )


def http_ok(url: str) -> bool:
    return requests.get(url, timeout=2).status_code == 200


class Stack:
    """One local stack: its settings, its generated credentials, the addresses clients need."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.roles = DatabaseRoles()

    def credentials(self) -> dict[str, str]:
        """Generated once per stack (a variable missing from an older file is added);
        never in the repository."""
        path = self.settings.home / "credentials.env"
        found: dict[str, str] = {}
        if path.exists():
            lines = path.read_text().splitlines()
            found = dict(line.split("=", 1) for line in lines if "=" in line)
        missing = [var for var in [*ROLE_ENV.values(), *TOKEN_ENV.values()] if var not in found]
        if missing:
            self.settings.home.mkdir(parents=True, exist_ok=True)
            found.update({var: secrets.token_hex(16) for var in missing})
            write_private(path, "".join(f"{var}={value}\n" for var, value in found.items()))
        return found

    def client_env(self) -> dict[str, str]:
        """Addresses of the stack's servers, as the services' settings read them."""
        s = self.settings
        return {
            "PROMETHEUS_URL": f"http://127.0.0.1:{s.prometheus_port}",
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{s.kafka_port}",
            "MYSQL_HOST": "127.0.0.1",
            "MYSQL_PORT": str(s.mariadb_port),
            "MYSQL_DATABASE": "metrics",
            "DB_MIGRATOR_USER": self.roles.migrator_user,
            "DB_WRITER_USER": self.roles.writer_user,
            "DB_READER_USER": self.roles.reader_user,
            "DB_SLA_USER": self.roles.sla_user,
            "DB_ETL_USER": self.roles.etl_user,
            "ETL_URL": f"http://127.0.0.1:{s.etl_port}",
            "RETRIEVAL_URL": f"http://127.0.0.1:{s.retrieval_port}",
            "SLA_URL": f"http://127.0.0.1:{s.sla_port}",
            "STORAGE_URL": f"http://127.0.0.1:{s.storage_port}",
            "DEMO_EXPORTER_URL": f"http://127.0.0.1:{s.demo_exporter_port}",
            "NODE_EXPORTER_URL": f"http://127.0.0.1:{s.node_exporter_port}",
            **self.credentials(),
        }

    def write_env_file(self) -> None:
        env = self.client_env()
        write_private(
            self.settings.env_file, "".join(f"{key}={value}\n" for key, value in env.items())
        )
