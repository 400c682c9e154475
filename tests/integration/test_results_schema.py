"""The result schema (monitoring_core.results_schema) against the database that the migrations
in sql/ build: the same tables, columns and primary keys, and the roles granted on each."""

from __future__ import annotations

import pytest

from monitoring_core.db import Database
from monitoring_core.results_schema import RESULT_TABLE_NAMES, RESULT_TABLES
from monitoring_core.settings import MySQLSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def columns(mysql_role, test_database: str) -> dict[str, list[tuple[str, str | None]]]:  # noqa: ANN001
    """table -> [(column, its place in the primary key or None)] in the table's column order."""
    settings: MySQLSettings = mysql_role("migrator")
    out: dict[str, list[tuple[str, str | None]]] = {}
    with Database(settings, "schema-test").transaction() as cursor:
        cursor.execute(
            "SELECT c.table_name AS t, c.column_name AS c, k.ordinal_position AS k"
            " FROM information_schema.columns c LEFT JOIN information_schema.key_column_usage k"
            " ON k.table_schema = c.table_schema AND k.table_name = c.table_name"
            " AND k.column_name = c.column_name AND k.constraint_name = 'PRIMARY'"
            " WHERE c.table_schema = %s ORDER BY c.table_name, c.ordinal_position",
            [test_database],
        )
        for row in cursor.fetchall():
            out.setdefault(row["t"], []).append((row["c"], row["k"]))
    return out


@pytest.mark.parametrize("table", RESULT_TABLES, ids=lambda t: t.name)
def test_the_declared_table_is_the_migrated_table(table, columns) -> None:  # noqa: ANN001
    assert table.name in columns, f"no table {table.name}: a migration is missing"
    live = columns[table.name]
    assert sorted(name for name, _ in live) == sorted(table.column_names)
    key = [name for name, place in sorted((c for c in live if c[1]), key=lambda c: c[1])]
    assert key == list(table.key_names)


def privileges(settings: MySQLSettings, database: str) -> set[tuple[str, str]]:
    """(table, privilege) the account of `settings` holds in `database` (as it sees them)."""
    with Database(settings, "schema-test").transaction() as cursor:
        cursor.execute(
            "SELECT table_name, privilege_type FROM information_schema.table_privileges"
            " WHERE table_schema = %s",
            [database],
        )
        return {(r["table_name"], r["privilege_type"]) for r in cursor.fetchall()}


def test_every_result_table_is_granted_to_the_writer_and_the_reader(
    mysql_role,
    test_database: str,  # noqa: ANN001
) -> None:
    writer = privileges(mysql_role("writer"), test_database)
    reader = privileges(mysql_role("reader"), test_database)
    for table in RESULT_TABLE_NAMES:
        assert {(table, "SELECT"), (table, "INSERT"), (table, "UPDATE")} <= writer, table
        assert (table, "SELECT") in reader and (table, "INSERT") not in reader, table
