"""MySQL access: the connection pool, transactions, and the migrations in `sql/`.

Runs on MySQL 8 and MariaDB 10.11 alike. Schema changes are numbered files in
`sql/`; `migrate()` applies the missing ones in order, records each in
`schema_migrations`, and then grants every role exactly the tables it needs.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import mysql.connector
from mysql.connector import pooling
from mysql.connector.abstracts import MySQLConnectionAbstract
from mysql.connector.connection_cext import CMySQLConnection
from mysql.connector.cursor_cext import CMySQLCursor, CMySQLCursorDict
from mysql.connector.pooling import PooledMySQLConnection
from pydantic import ValidationError

from monitoring_core.logs import configure_logging
from monitoring_core.results_schema import RESULT_TABLE_NAMES
from monitoring_core.settings import DatabaseRoles, MySQLSettings

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
MIGRATION_FILE = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
MIGRATION_LOCK = "monitoring_core.migrate"
NO_SUCH_TABLE, TABLE_ACCESS_DENIED = 1146, 1142  # ER_NO_SUCH_TABLE, ER_TABLEACCESS_DENIED_ERROR
LOCK_WAIT_TIMEOUT, DEADLOCK = 1205, 1213  # ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK
# What a statement of a migration that stopped half-way left behind: DDL commits at once in
# MySQL, so a rerun meets the tables, columns and indexes it already made.
ALREADY_APPLIED = {
    1050: "table exists",  # ER_TABLE_EXISTS_ERROR
    1060: "column exists",  # ER_DUP_FIELDNAME
    1061: "index exists",  # ER_DUP_KEYNAME
    1826: "foreign key exists",  # ER_FK_DUP_NAME
}
# GRANT to an account that does not exist: MariaDB's "no matching row in the user table",
# MySQL 8's "not allowed to create a user with GRANT".
NO_SUCH_ACCOUNT = {1133, 1410}
# The server is not (yet) there: refused, unknown host, lost during the handshake.
NOT_REACHABLE = {2002, 2003, 2005, 2006, 2013}

# Which tables each role may touch, and how. Tables not named here are the migrator's alone.
# The reader may read everything the writer writes; nobody but the migrator may run DDL or DELETE
# except the SLA manager on its own tables.
SLA_TABLES = ("slas", "sla_metrics", "sla_assessments")  # what the reader may read
ROLE_GRANTS: dict[str, dict[str, str]] = {
    "writer": {table: "SELECT, INSERT, UPDATE" for table in RESULT_TABLE_NAMES},
    "reader": {table: "SELECT" for table in RESULT_TABLE_NAMES + SLA_TABLES},
    # SLAs are retired (UPDATE), never deleted; only old assessments and alerts are pruned.
    # UPDATE on slas also lets an assessment lock its SLAs' rows (SELECT ... FOR UPDATE).
    # An alert row is claimed and marked sent by UPDATE (sql/011_sla_alerts.sql).
    "sla": {
        "slas": "SELECT, INSERT, UPDATE",
        "sla_metrics": "SELECT, INSERT",
        "sla_assessments": "SELECT, INSERT, DELETE",
        "sla_alerts": "SELECT, INSERT, UPDATE, DELETE",
    },
    # The ETL's scheduler reads its runs back (slot run ids, adoption) and is elected by
    # GET_LOCK, which needs no grant. `etl_settings` (sql/010) is for the forecast settings of
    # the stateless API still to come (issue 12); no route writes it yet.
    "etl": {
        **{table: "SELECT" for table in RESULT_TABLE_NAMES},
        "etl_settings": "SELECT, INSERT, UPDATE",
    },
}
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_]+$")

Connection = MySQLConnectionAbstract | PooledMySQLConnection


class DatabaseUnavailable(Exception):
    """MySQL cannot be reached or refused the connection; callers answer 503."""


def connect(settings: MySQLSettings, database: str | None = None) -> Connection:
    """One connection outside any pool (migrations, scripts)."""
    try:
        return mysql.connector.connect(**_connect_args(settings, database))
    except mysql.connector.Error as exc:
        raise DatabaseUnavailable(f"MySQL at {settings.host}:{settings.port}: {exc.msg}") from exc


def _connect_args(settings: MySQLSettings, database: str | None = None) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "user": settings.user,
        "password": settings.password.get_secret_value(),
        "database": database if database is not None else settings.database,
        "connection_timeout": settings.connect_timeout_seconds,
        "autocommit": False,
        "charset": "utf8mb4",
        "collation": "utf8mb4_general_ci",
        "time_zone": "+00:00",
    }


class Database:
    """A small pool with a transaction helper; built once per process by its entry point."""

    def __init__(self, settings: MySQLSettings, name: str = "app", read_only: bool = False) -> None:
        self.settings = settings
        self._name = name
        # A reader runs each SELECT in autocommit: its own fresh snapshot, and no COMMIT
        # round trip per request (a tenth of a read's time on loopback).
        self._read_only = read_only
        self._pool: pooling.MySQLConnectionPool | None = None
        self._pool_lock = threading.Lock()

    def _get_pool(self) -> pooling.MySQLConnectionPool:
        # Built lazily so that a service starts (and answers 503) while MySQL is still down;
        # under a lock, or concurrent first requests would each open (and leak) a pool.
        with self._pool_lock:
            return self._pool or self._build_pool()

    def _build_pool(self) -> pooling.MySQLConnectionPool:
        if self._pool is None:
            try:
                self._pool = pooling.MySQLConnectionPool(
                    pool_name=f"{self._name}-{os.getpid()}",
                    pool_size=self.settings.pool_size,
                    pool_reset_session=False,
                    **{**_connect_args(self.settings), "autocommit": self._read_only},
                )
            except mysql.connector.Error as exc:
                raise DatabaseUnavailable(
                    f"MySQL at {self.settings.host}:{self.settings.port}: {exc.msg}"
                ) from exc
        return self._pool

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """Yield a cursor; commit when the block ends, roll back if it raises.

        A read-only Database yields an autocommit cursor: each statement stands alone.
        """
        try:
            connection = self._get_pool().get_connection()
        except mysql.connector.Error as exc:
            raise DatabaseUnavailable(f"MySQL: {exc.msg}") from exc
        try:
            cursor = _dict_cursor(connection)
            try:
                yield cursor
                if not self._read_only:
                    connection.commit()
            except BaseException:
                _rollback_quietly(connection)
                raise
            finally:
                cursor.close()
        except (mysql.connector.OperationalError, mysql.connector.InterfaceError) as exc:
            raise DatabaseUnavailable(f"MySQL: {exc.msg}") from exc
        except mysql.connector.DatabaseError as exc:
            # Contention is the server's state, and a missing table or grant the deployment's
            # fault, not the caller's: 503 for both.
            if exc.errno in (LOCK_WAIT_TIMEOUT, DEADLOCK):
                raise DatabaseUnavailable(f"MySQL: {exc.msg}; try again") from exc
            if exc.errno in (NO_SUCH_TABLE, TABLE_ACCESS_DENIED):
                raise DatabaseUnavailable(
                    f"MySQL: {exc.msg} (are the migrations in sql/ applied?)"
                ) from exc
            raise
        finally:
            connection.close()

    def ping(self) -> None:
        with self.transaction() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchall()


class _DictCursor(CMySQLCursorDict):
    """The C extension's dictionary cursor, whose fetchall builds the column names' tuple once:
    the library's rebuilds it from the description for every row of every read."""

    def fetchall(self) -> list[dict[str, Any]]:  # type: ignore[override]  # as its base
        rows = CMySQLCursor.fetchall(self)
        names = self.column_names
        return [dict(zip(names, row, strict=True)) for row in rows]


def _dict_cursor(connection: PooledMySQLConnection) -> Any:
    """A dictionary cursor on a connection the pool has just pinged (reconnecting it if it had
    gone). `cursor()` of the C extension pings again first: a second round trip to MariaDB per
    request for nothing, a tenth of a label lookup."""
    raw = connection._cnx  # the pool's wrapper has no public accessor; mysql-connector is pinned
    if isinstance(raw, CMySQLConnection):
        return _DictCursor(raw)
    return connection.cursor(dictionary=True)


def _rollback_quietly(connection: Connection) -> None:
    try:
        connection.rollback()
    except mysql.connector.Error:
        log.warning("rollback failed; the connection is dropped")


def migration_files(sql_dir: Path = SQL_DIR) -> list[tuple[int, Path]]:
    files = []
    for path in sorted(sql_dir.iterdir()):
        match = MIGRATION_FILE.match(path.name)
        if match:
            files.append((int(match.group(1)), path))
    return files


def split_statements(text: str) -> list[str]:
    """Split a schema file on `;` at line ends; the files hold no procedures or strings with ;."""
    lines = [line for line in text.splitlines() if not line.strip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


def migrate(
    settings: MySQLSettings, roles: DatabaseRoles | None = None, sql_dir: Path = SQL_DIR
) -> list[str]:
    """Apply the missing migrations as the migrator, then grant the roles; return what was applied.

    Idempotent, and safe when several services start at once (a named lock serialises them).
    """
    connection = connect(settings)
    applied: list[str] = []
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT GET_LOCK(%s, 60)", (MIGRATION_LOCK,))
        if cursor.fetchone() != (1,):
            raise DatabaseUnavailable("another migration holds the lock for over 60 s")
        try:
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INT PRIMARY KEY, name VARCHAR(255) NOT NULL,"
                " applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))"
            )
            cursor.execute("SELECT version, name FROM schema_migrations")
            done = dict(cast(list[tuple[int, str]], cursor.fetchall()))
            for version, path in migration_files(sql_dir):
                if version in done:
                    if done[version] != path.name:
                        # A database migrated from another branch: its version N is another
                        # file; applying the rest on top would skip or repeat a change.
                        raise DatabaseUnavailable(
                            f"migration {version} was applied as {done[version]}, but sql/ now "
                            f"has {path.name} under that number: this database was migrated "
                            "from another version of the project"
                        )
                    continue
                log.info("applying migration %s", path.name)
                for statement in split_statements(path.read_text()):
                    apply_statement(cursor, path.name, statement)
                cursor.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (version, path.name),
                )
                connection.commit()
                applied.append(path.name)
            if roles is not None:
                grant_roles(cursor, settings.database, roles)
        finally:
            cursor.execute("SELECT RELEASE_LOCK(%s)", (MIGRATION_LOCK,))
            cursor.fetchall()
    except mysql.connector.Error as exc:
        raise DatabaseUnavailable(f"migration failed: {exc.msg}") from exc
    finally:
        connection.close()
    return applied


def apply_statement(cursor: Any, migration: str, statement: str) -> None:
    """Run one statement of a migration; what an interrupted earlier run already made is kept."""
    try:
        cursor.execute(statement)
    except mysql.connector.DatabaseError as exc:
        if exc.errno not in ALREADY_APPLIED:
            raise
        log.warning("%s: %s, kept from an earlier run", migration, ALREADY_APPLIED[exc.errno])


def wait_for_database(settings: MySQLSettings, seconds: float) -> None:
    """Wait until MySQL accepts the account (its first start may still be running)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            connect(settings).close()
            return
        except DatabaseUnavailable as exc:
            cause = exc.__cause__
            errno = getattr(cause, "errno", None)
            if errno not in NOT_REACHABLE or time.monotonic() >= deadline:
                raise
            log.info("waiting for MySQL at %s:%s", settings.host, settings.port)
            time.sleep(2)


def grant_roles(cursor: Any, database: str, roles: DatabaseRoles) -> None:
    """Grant each role its tables; tables that a later migration adds are granted when it runs."""
    users = {
        "writer": roles.writer_user,
        "reader": roles.reader_user,
        "sla": roles.sla_user,
        "etl": roles.etl_user,
    }
    cursor.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (database,)
    )
    existing = {row[0] for row in cursor.fetchall()}
    for role, tables in ROLE_GRANTS.items():
        for table, privileges in tables.items():
            if table not in existing:
                continue
            # Identifiers cannot be parameters; every one here comes from this module or a
            # validated setting, and is checked again.
            for name in (database, table):
                if not _IDENTIFIER.match(name):
                    raise ValueError(f"not a plain identifier: {name!r}")
            try:
                cursor.execute(
                    f"GRANT {privileges} ON `{database}`.`{table}` TO %s@%s", (users[role], "%")
                )
            except mysql.connector.Error as exc:
                if exc.errno not in NO_SUCH_ACCOUNT:
                    raise
                # A database created before this account existed (compose creates accounts at
                # MySQL's first start only): the rest of the migration goes on, and that
                # service answers 503 until an administrator creates the account.
                log.warning(
                    "account %r does not exist: its grants are skipped; create it as MySQL's "
                    "root (README, 'Database accounts') and migrate again",
                    users[role],
                )
                break


def main(argv: list[str] | None = None) -> int:
    """`python -m monitoring_core.db migrate`: the migration step (compose runs it once)."""
    parser = argparse.ArgumentParser(prog="python -m monitoring_core.db")
    parser.add_argument("command", choices=["migrate"])
    parser.add_argument(
        "--wait-seconds",
        type=float,
        default=0,
        help="wait up to this long for MySQL to accept connections (its first start)",
    )
    args = parser.parse_args(argv)
    configure_logging()
    try:
        settings = MySQLSettings()
    except ValidationError as exc:
        print(f"error: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    try:
        wait_for_database(settings, args.wait_seconds)
        applied = migrate(settings, DatabaseRoles())
    except DatabaseUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"migrations applied: {', '.join(applied) or 'none (schema is current)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
