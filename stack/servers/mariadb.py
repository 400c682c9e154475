"""MariaDB from Debian's packages, as `mariadbd` on loopback: the database, the four
least-privileged accounts, and the migration step."""

from __future__ import annotations

import getpass
import os
import subprocess
from pathlib import Path

from monitoring_core.db import DatabaseUnavailable
from monitoring_core.db import migrate as migrate_schema
from monitoring_core.settings import MySQLSettings
from stack.processes import Component, StackError
from stack.servers.shared import ROLE_ENV, Stack, run_step
from stack.settings import StackSettings


def data_dir(settings: StackSettings) -> Path:
    return settings.home / "mariadb" / "data"


def socket(settings: StackSettings) -> Path:
    return settings.run / "mariadb.sock"


def prepare(settings: StackSettings) -> None:
    data = data_dir(settings)
    if (data / "mysql").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    settings.run.mkdir(parents=True, exist_ok=True)
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


def command(settings: StackSettings) -> list[str]:
    return [
        "mariadbd",
        "--no-defaults",
        f"--datadir={data_dir(settings)}",
        f"--port={settings.mariadb_port}",
        "--bind-address=127.0.0.1",
        f"--socket={socket(settings)}",
        f"--pid-file={settings.run / 'mariadbd.pid'}",
        "--skip-name-resolve",
        "--character-set-server=utf8mb4",
        f"--innodb-buffer-pool-size={settings.mariadb_buffer_pool_mib}M",
        "--max-connections=300",
        *(["--user=root"] if os.geteuid() == 0 else []),
    ]


def ready(settings: StackSettings) -> bool:
    result = subprocess.run(
        ["mariadb-admin", "--no-defaults", f"--socket={socket(settings)}", "-uroot", "ping"],
        capture_output=True,
    )
    return result.returncode == 0


def bootstrap(stack: Stack) -> None:
    """Create the database and the four accounts (root over the socket)."""
    creds = stack.credentials()
    statements = ["CREATE DATABASE IF NOT EXISTS metrics CHARACTER SET utf8mb4"]
    for role, var in ROLE_ENV.items():
        user = getattr(stack.roles, f"{role}_user")
        # Generated hex passwords and validated names: nothing here needs quoting.
        statements += [
            f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{creds[var]}'",
            f"ALTER USER '{user}'@'%' IDENTIFIED BY '{creds[var]}'",
        ]
    migrator = stack.roles.migrator_user
    # The migrator owns the schema and grants the other roles their tables; it may also
    # create the throw-away test_* databases the integration tests use.
    statements += [
        f"GRANT ALL PRIVILEGES ON `metrics`.* TO '{migrator}'@'%' WITH GRANT OPTION",
        f"GRANT ALL PRIVILEGES ON `test\\_%`.* TO '{migrator}'@'%' WITH GRANT OPTION",
        "FLUSH PRIVILEGES",
    ]
    run_step(
        "mariadb: create database and accounts",
        ["mariadb", "--no-defaults", f"--socket={socket(stack.settings)}", "-uroot"],
        input=";\n".join(statements) + ";\n",
    )


def mysql_settings(stack: Stack, role: str, database: str = "metrics") -> MySQLSettings:
    """How ``role`` connects to the stack's database."""
    return MySQLSettings(
        host="127.0.0.1",
        port=stack.settings.mariadb_port,
        database=database,
        user=getattr(stack.roles, f"{role}_user"),
        password=stack.credentials()[ROLE_ENV[role]],
    )


def migrate(stack: Stack) -> list[str]:
    """The migration step: apply what sql/ has that the database lacks, grant the roles."""
    try:
        return migrate_schema(mysql_settings(stack, "migrator"), stack.roles)
    except DatabaseUnavailable as exc:
        raise StackError(f"mariadb: {exc}") from exc


def component(stack: Stack) -> Component:
    settings = stack.settings
    return Component(
        name="mariadb",
        ports=[settings.mariadb_port],
        port_setting="STACK_MARIADB_PORT",
        prepare=lambda: prepare(settings),
        command=lambda: command(settings),
        ready=lambda: ready(settings),
        after_start=lambda: bootstrap(stack),
    )
