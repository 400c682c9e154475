"""The servers of the local stack: how each is installed, started and probed.

Kafka runs from Apache Kafka's own jars (resolved by Maven from Maven Central) on the
machine's Java 17 in KRaft mode; MariaDB, Prometheus and the node exporter come from
Debian's packages; the demo exporter and the four services run from this repository.
"""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

from monitoring_core.db import DatabaseUnavailable, migrate
from monitoring_core.settings import DatabaseRoles, MySQLSettings
from stack.processes import Component, StackError, port_open
from stack.settings import REPO, StackSettings

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
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
SINGLE_THREADED_BLAS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
ROLE_ENV = {
    "migrator": "DB_MIGRATOR_PASSWORD",
    "writer": "DB_WRITER_PASSWORD",
    "reader": "DB_READER_PASSWORD",
    "sla": "DB_SLA_PASSWORD",
}
# The API's bearer tokens (monitoring_core.settings.AccessSettings), and which service gets
# which: a service holds only the tokens of the scopes it checks.
TOKEN_ENV = {"admin": "ADMIN_TOKEN", "read": "READ_TOKEN"}
SERVICE_TOKENS = {
    "etl_pipeline": ("admin", "read"),
    "sla_manager": ("admin", "read"),
    "data_retrieval": ("read",),
    "data_storage": ("read",),
}


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


class Stack:
    """The components of one local stack, built from its settings."""

    def __init__(self, settings: StackSettings) -> None:
        self.s = settings
        self.kafka_dir = settings.home / "kafka"
        self.kafka_libs = settings.cache / f"kafka-{settings.kafka_version}" / "libs"
        self.mariadb_dir = settings.home / "mariadb"
        self.mariadb_socket = settings.run / "mariadb.sock"
        self.prometheus_dir = settings.home / "prometheus"
        self.rules_file = self.prometheus_dir / "rules" / "sla.rules.yml"
        self.roles = DatabaseRoles()

    # ---- credentials and the environment clients need ------------------------------------

    def credentials(self) -> dict[str, str]:
        """Generated once per stack (a variable missing from an older file is added);
        never in the repository."""
        path = self.s.home / "credentials.env"
        found: dict[str, str] = {}
        if path.exists():
            lines = path.read_text().splitlines()
            found = dict(line.split("=", 1) for line in lines if "=" in line)
        missing = [var for var in [*ROLE_ENV.values(), *TOKEN_ENV.values()] if var not in found]
        if missing:
            self.s.home.mkdir(parents=True, exist_ok=True)
            found.update({var: secrets.token_hex(16) for var in missing})
            write_private(path, "".join(f"{var}={value}\n" for var, value in found.items()))
        return found

    def client_env(self) -> dict[str, str]:
        """Addresses of the stack's servers, as the services' settings read them."""
        return {
            "PROMETHEUS_URL": f"http://127.0.0.1:{self.s.prometheus_port}",
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{self.s.kafka_port}",
            "MYSQL_HOST": "127.0.0.1",
            "MYSQL_PORT": str(self.s.mariadb_port),
            "MYSQL_DATABASE": "metrics",
            "DB_MIGRATOR_USER": self.roles.migrator_user,
            "DB_WRITER_USER": self.roles.writer_user,
            "DB_READER_USER": self.roles.reader_user,
            "DB_SLA_USER": self.roles.sla_user,
            "ETL_URL": f"http://127.0.0.1:{self.s.etl_port}",
            "RETRIEVAL_URL": f"http://127.0.0.1:{self.s.retrieval_port}",
            "SLA_URL": f"http://127.0.0.1:{self.s.sla_port}",
            "STORAGE_URL": f"http://127.0.0.1:{self.s.storage_port}",
            "DEMO_EXPORTER_URL": f"http://127.0.0.1:{self.s.demo_exporter_port}",
            "NODE_EXPORTER_URL": f"http://127.0.0.1:{self.s.node_exporter_port}",
            **self.credentials(),
        }

    def write_env_file(self) -> None:
        env = self.client_env()
        write_private(self.s.env_file, "".join(f"{key}={value}\n" for key, value in env.items()))

    def mysql_settings(self, role: str, database: str = "metrics") -> MySQLSettings:
        user = getattr(self.roles, f"{role}_user")
        return MySQLSettings(
            host="127.0.0.1",
            port=self.s.mariadb_port,
            database=database,
            user=user,
            password=self.credentials()[ROLE_ENV[role]],
        )

    # ---- Kafka -----------------------------------------------------------------------------

    def install_kafka(self) -> None:
        if (self.kafka_libs / f"kafka_2.13-{self.s.kafka_version}.jar").exists():
            return
        print(f"resolving Apache Kafka {self.s.kafka_version} jars with Maven", flush=True)
        run_step(
            "maven: resolve Kafka jars",
            [
                "mvn", "-q", "-B",
                "-f", str(REPO / "stack" / "kafka" / "pom.xml"),
                f"-Dkafka.version={self.s.kafka_version}",
                f"-Dmaven.repo.local={self.s.cache / 'm2'}",
                f"{MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={self.kafka_libs}",
            ],
        )  # fmt: skip

    def _kafka_java(self, main: str, *args: str) -> list[str]:
        return [
            "java",
            "-Xms256m",
            "-Xmx768m",
            f"-Dlog4j.configuration=file:{REPO / 'stack' / 'kafka' / 'log4j.properties'}",
            "-cp",
            f"{self.kafka_libs}/*",
            main,
            *args,
        ]

    def _prepare_kafka(self) -> None:
        if not shutil.which("java"):
            raise StackError("kafka: java not found; install Java 17 (openjdk-17-jre-headless)")
        if not shutil.which("mvn"):
            raise StackError("kafka: mvn not found; install Maven to resolve the Kafka jars")
        self.install_kafka()
        data = self.kafka_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        properties = self.kafka_dir / "server.properties"
        properties.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.s.kafka_controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.s.kafka_port},"
                    f"CONTROLLER://127.0.0.1:{self.s.kafka_controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.s.kafka_port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={data}",
                    "num.partitions=6",
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
                    "log.retention.hours=48",
                ]
            )
            + "\n"
        )
        if not (data / "meta.properties").exists():
            run_step(
                "kafka: format storage",
                self._kafka_java(
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    str(uuid.uuid4().hex[:22]),
                    "-c",
                    str(properties),
                ),
            )

    def _kafka_ready(self) -> bool:
        if not port_open(self.s.kafka_port):
            return False
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{self.s.kafka_port}"})
        metadata = admin.list_topics(timeout=2)
        return bool(metadata.brokers)

    # ---- MariaDB ---------------------------------------------------------------------------

    def _prepare_mariadb(self) -> None:
        data = self.mariadb_dir / "data"
        if (data / "mysql").exists():
            return
        data.mkdir(parents=True, exist_ok=True)
        self.s.run.mkdir(parents=True, exist_ok=True)
        run_step(
            "mariadb: initialise data directory",
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={data}",
                "--user=root" if os.geteuid() == 0 else f"--user={getpass.getuser()}",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
        )

    def _mariadb_command(self) -> list[str]:
        return [
            "mariadbd",
            "--no-defaults",
            f"--datadir={self.mariadb_dir / 'data'}",
            f"--port={self.s.mariadb_port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.mariadb_socket}",
            f"--pid-file={self.s.run / 'mariadbd.pid'}",
            "--skip-name-resolve",
            "--character-set-server=utf8mb4",
            "--innodb-buffer-pool-size=256M",
            "--max-connections=300",
            *(["--user=root"] if os.geteuid() == 0 else []),
        ]

    def _mariadb_ready(self) -> bool:
        result = subprocess.run(
            ["mariadb-admin", "--no-defaults", f"--socket={self.mariadb_socket}", "-uroot", "ping"],
            capture_output=True,
        )
        return result.returncode == 0

    def _bootstrap_mariadb(self) -> None:
        """Create the database and the four accounts (root over the socket), then migrate."""
        creds = self.credentials()
        statements = ["CREATE DATABASE IF NOT EXISTS metrics CHARACTER SET utf8mb4"]
        for role, var in ROLE_ENV.items():
            user = getattr(self.roles, f"{role}_user")
            # Generated hex passwords and validated names: nothing here needs quoting.
            statements += [
                f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{creds[var]}'",
                f"ALTER USER '{user}'@'%' IDENTIFIED BY '{creds[var]}'",
            ]
        migrator = self.roles.migrator_user
        # The migrator owns the schema and grants the other roles their tables; it may also
        # create the throw-away test_* databases the integration tests use.
        statements += [
            f"GRANT ALL PRIVILEGES ON `metrics`.* TO '{migrator}'@'%' WITH GRANT OPTION",
            f"GRANT ALL PRIVILEGES ON `test\\_%`.* TO '{migrator}'@'%' WITH GRANT OPTION",
            "FLUSH PRIVILEGES",
        ]
        run_step(
            "mariadb: create database and accounts",
            ["mariadb", "--no-defaults", f"--socket={self.mariadb_socket}", "-uroot"],
            input=";\n".join(statements) + ";\n",
        )

    def migrate(self) -> list[str]:
        """The migration step: apply what sql/ has that the database lacks, grant the roles."""
        try:
            return migrate(self.mysql_settings("migrator"), self.roles)
        except DatabaseUnavailable as exc:
            raise StackError(f"mariadb: {exc}") from exc

    # ---- Prometheus and the exporters ------------------------------------------------------

    def _prepare_prometheus(self) -> None:
        data = self.prometheus_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
            # The SLA manager writes its generated rules here and reloads Prometheus.
            "rule_files": [str(self.rules_file.parent / "*.yml")],
            "scrape_configs": [
                {
                    "job_name": "summary",
                    "static_configs": [
                        {
                            "targets": [f"127.0.0.1:{self.s.demo_exporter_port}"],
                            "labels": {"instance": "106"},
                        }
                    ],
                },
                {
                    "job_name": "node",
                    "static_configs": [{"targets": [f"127.0.0.1:{self.s.node_exporter_port}"]}],
                },
                *(
                    {
                        "job_name": name,
                        "metrics_path": "/internal/metrics",
                        "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
                    }
                    for name, port in (
                        ("etl_pipeline", self.s.etl_port),
                        ("data_storage", self.s.storage_port),
                        ("data_retrieval", self.s.retrieval_port),
                        ("sla_manager", self.s.sla_port),
                    )
                ),
            ],
        }
        import yaml

        (self.prometheus_dir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        self._backfill(data)

    def _backfill(self, data: Path) -> None:
        """Write the demo history Prometheus lacks (up to STACK_BACKFILL_HOURS) as TSDB blocks."""
        from demo_exporter.backfill import write_openmetrics

        marker = self.prometheus_dir / "backfilled_until"
        now = time.time()
        start = now - self.s.backfill_hours * 3600
        if marker.exists():
            start = max(start, float(marker.read_text()))
        if now - start < 120:
            return
        print(f"backfilling {(now - start) / 3600:.1f} h of demo history", flush=True)
        source = self.prometheus_dir / "backfill.om"
        write_openmetrics(source, start, now)
        run_step(
            "prometheus: backfill demo history",
            ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        )
        source.unlink()
        marker.write_text(f"{now:.0f}")

    def _http_ok(self, url: str) -> bool:
        return requests.get(url, timeout=2).status_code == 200

    # ---- the list ----------------------------------------------------------------------------

    def infrastructure(self) -> list[Component]:
        s = self.s
        python = sys.executable
        return [
            Component(
                name="kafka",
                ports=[s.kafka_port, s.kafka_controller_port],
                port_setting="STACK_KAFKA_PORT / STACK_KAFKA_CONTROLLER_PORT",
                prepare=self._prepare_kafka,
                command=lambda: self._kafka_java(
                    "kafka.Kafka", str(self.kafka_dir / "server.properties")
                ),
                ready=self._kafka_ready,
            ),
            Component(
                name="mariadb",
                ports=[s.mariadb_port],
                port_setting="STACK_MARIADB_PORT",
                prepare=self._prepare_mariadb,
                command=self._mariadb_command,
                ready=self._mariadb_ready,
                after_start=self._bootstrap_mariadb,
            ),
            Component(
                name="demo_exporter",
                ports=[s.demo_exporter_port],
                port_setting="STACK_DEMO_EXPORTER_PORT",
                command=lambda: [
                    python,
                    "-m",
                    "demo_exporter",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(s.demo_exporter_port),
                ],  # fmt: skip
                ready=lambda: self._http_ok(f"http://127.0.0.1:{s.demo_exporter_port}/metrics"),
            ),
            Component(
                name="node_exporter",
                ports=[s.node_exporter_port],
                port_setting="STACK_NODE_EXPORTER_PORT",
                command=lambda: [
                    "prometheus-node-exporter",
                    f"--web.listen-address=127.0.0.1:{s.node_exporter_port}",
                ],
                ready=lambda: self._http_ok(f"http://127.0.0.1:{s.node_exporter_port}/metrics"),
            ),
            Component(
                name="prometheus",
                ports=[s.prometheus_port],
                port_setting="STACK_PROMETHEUS_PORT",
                prepare=self._prepare_prometheus,
                command=lambda: [
                    "prometheus",
                    f"--config.file={self.prometheus_dir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.prometheus_dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{s.prometheus_port}",
                    "--storage.tsdb.retention.time=15d",
                    "--web.enable-lifecycle",
                ],
                ready=lambda: self._http_ok(f"http://127.0.0.1:{s.prometheus_port}/-/ready"),
            ),
        ]

    def services(self) -> list[Component]:
        """The suite's four services, each as its own database role."""
        s = self.s
        creds = self.credentials()
        bin_dir = Path(sys.executable).parent

        def service_env(name: str, role: str | None, **extra: str) -> dict[str, str]:
            # One BLAS thread: the analytics' matrices are small, and OpenBLAS threads spinning
            # on them made an ETL cycle 3x slower on 2 cores (bench/bench_etl.py).
            env = {**self.client_env(), **SINGLE_THREADED_BLAS, **extra}
            for var in [*ROLE_ENV.values(), *TOKEN_ENV.values()]:
                env.pop(var, None)  # a service sees only its own password and tokens
            for scope in SERVICE_TOKENS[name]:
                env[TOKEN_ENV[scope]] = creds[TOKEN_ENV[scope]]
            # An operator's own Prometheus wins over the stack's (README: "your own Prometheus").
            if os.environ.get("PROMETHEUS_URL"):
                env["PROMETHEUS_URL"] = os.environ["PROMETHEUS_URL"]
            if role is not None:
                env["MYSQL_USER"] = getattr(self.roles, f"{role}_user")
                env["MYSQL_PASSWORD"] = creds[ROLE_ENV[role]]
            return env

        def gunicorn(app: str, port: int, workers: int, threads: int) -> list[str]:
            return [
                str(bin_dir / "gunicorn"),
                "--bind", f"127.0.0.1:{port}",
                "--workers", str(workers),
                "--threads", str(threads),
                "--graceful-timeout", "20",
                "--timeout", "300",
                "--access-logfile", "-",
                app,
            ]  # fmt: skip

        def health(port: int) -> bool:
            return self._http_ok(f"http://127.0.0.1:{port}/health")

        return [
            Component(
                name="data_storage",
                ports=[s.storage_port],
                port_setting="STACK_STORAGE_PORT",
                command=lambda: [sys.executable, "-m", "data_storage"],
                env=lambda: service_env("data_storage", "writer", STORAGE_PORT=str(s.storage_port)),
                ready=lambda: health(s.storage_port),
            ),
            Component(
                name="data_retrieval",
                ports=[s.retrieval_port],
                port_setting="STACK_RETRIEVAL_PORT",
                command=lambda: gunicorn("data_retrieval:create_app()", s.retrieval_port, 4, 2),
                env=lambda: service_env("data_retrieval", "reader"),
                ready=lambda: health(s.retrieval_port),
            ),
            Component(
                name="sla_manager",
                ports=[s.sla_port],
                port_setting="STACK_SLA_PORT",
                command=lambda: gunicorn("sla_manager.wsgi:application()", s.sla_port, 1, 4),
                env=lambda: service_env(
                    "sla_manager",
                    "sla",
                    SLA_RULES_FILE=str(self.rules_file),
                    SLA_PROMETHEUS_RELOAD_URL=f"http://127.0.0.1:{s.prometheus_port}/-/reload",
                ),
                ready=lambda: health(s.sla_port),
            ),
            Component(
                name="etl_pipeline",
                ports=[s.etl_port],
                port_setting="STACK_ETL_PORT",
                # One worker: the scheduler and the last run's results live in that process.
                command=lambda: gunicorn("etl_pipeline.wsgi:application()", s.etl_port, 1, 4),
                env=lambda: service_env("etl_pipeline", None),
                ready=lambda: health(s.etl_port),
            ),
        ]
