"""What the scale benchmarks share: the running stack's addresses and roles, and cleaning up.

Not a benchmark itself (`make bench` runs bench/bench_*.py only).
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitoring_core.db import connect  # noqa: E402
from monitoring_core.results_schema import RESULT_TABLE_NAMES  # noqa: E402
from monitoring_core.settings import MySQLSettings  # noqa: E402
from stack.settings import StackSettings  # noqa: E402

# Every table a run's results land in, keyed by run_id (the run's own row goes last); a series'
# own rows (series, series_labels) go by metric name.
SERIES_TABLES = ("runs", "series", "series_labels")
RESULT_TABLES = tuple(name for name in RESULT_TABLE_NAMES if name not in SERIES_TABLES)
DELETE_CHUNK = 50_000


def read_env() -> dict[str, str]:
    """The stack's client environment (.stack/stack.env: addresses, passwords, tokens)."""
    path = StackSettings().env_file
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def role_settings(env: dict[str, str], role: str) -> MySQLSettings:
    """The stack's database as one of its roles (migrator, writer, reader, sla)."""
    return MySQLSettings(
        host=env["MYSQL_HOST"],
        port=int(env["MYSQL_PORT"]),
        database=env["MYSQL_DATABASE"],
        user=env[f"DB_{role.upper()}_USER"],
        password=env[f"DB_{role.upper()}_PASSWORD"],
    )


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"


def delete_runs(env: dict[str, str], run_ids: list[str], metric_prefix: str) -> None:
    """Remove a benchmark's runs and its series (metric names starting with `metric_prefix`),
    in chunks of one short transaction each, so that the stack stays as it was. Runs with
    statistics of those series go too (a cycle interrupted before it answered its run id)."""
    connection = connect(role_settings(env, "migrator"))
    try:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT DISTINCT t.run_id FROM statistics t JOIN series s"
            " ON s.series_id = t.series_id WHERE s.metric LIKE %s",
            [_like_prefix(metric_prefix)],
        )
        found = cast(list[tuple[str]], cursor.fetchall())
        run_ids = list(dict.fromkeys([*run_ids, *(run_id for (run_id,) in found)]))
        for table in (*RESULT_TABLES, "runs"):
            for run_id in run_ids:
                while True:
                    cursor.execute(
                        f"DELETE FROM {table} WHERE run_id = %s LIMIT {DELETE_CHUNK}", [run_id]
                    )
                    connection.commit()
                    if cursor.rowcount < DELETE_CHUNK:
                        break
        for table in ("series_labels", "series"):
            while True:
                cursor.execute(
                    f"DELETE FROM {table} WHERE metric LIKE %s LIMIT {DELETE_CHUNK}",
                    [_like_prefix(metric_prefix)],
                )
                connection.commit()
                if cursor.rowcount < DELETE_CHUNK:
                    break
    finally:
        connection.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
