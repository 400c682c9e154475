"""The consumer's MySQL writer: one connection whose multi-row upserts are prepared once and reused.

A batch is written in one transaction as a few multi-row `INSERT ... ON DUPLICATE KEY UPDATE`
statements per table. They are server-side prepared statements: the values travel as bound
parameters in the binary protocol, so the client neither formats nor escapes them into SQL text.
Preparing a statement of hundreds of rows costs about as much as running it, so each statement
shape is prepared once per connection: a table's rows go out as full statements of the largest
size, then the rest as powers of two (637 rows = 512 + 64 + 32 + 16 + 8 + 4 + 1), which bounds
the shapes per table to about a dozen whatever the batch sizes are.
"""

from __future__ import annotations

import logging
from operator import itemgetter
from typing import Any

import mysql.connector

from data_storage.rows import Batch
from monitoring_core.db import Connection, DatabaseUnavailable, connect
from monitoring_core.results_schema import ResultTable
from monitoring_core.settings import MySQLSettings

log = logging.getLogger(__name__)

# MySQL and MariaDB accept at most 65,535 parameters in one prepared statement.
MAX_PARAMETERS = 65_535


def statement_sizes(count: int, largest: int) -> list[int]:
    """Rows per statement for `count` rows: as many of `largest` as fit, then the rest's bits."""
    sizes = [largest] * (count // largest)
    rest = count % largest
    while rest:
        size = 1 << (rest.bit_length() - 1)
        sizes.append(size)
        rest -= size
    return sizes


class Writer:
    """Writes batches on one connection of its own; not thread-safe (the consume loop owns it).

    Any failure closes the connection (the server rolls the transaction back and drops the
    statements), so the next write starts from a fresh session. Raises `DatabaseUnavailable`
    when MySQL cannot be reached, other `mysql.connector.Error`s (a row the database refuses)
    as they are.
    """

    def __init__(self, settings: MySQLSettings, rows_per_statement: int) -> None:
        self.settings = settings
        self.rows_per_statement = rows_per_statement
        self._connection: Connection | None = None
        # (table, rows) -> (prepared cursor, its SQL): the cursor re-prepares only when handed
        # another string object than the one it prepared last.
        self._statements: dict[tuple[str, int], tuple[Any, str]] = {}

    def write(self, batch: Batch) -> int:
        """Upsert every row of the batch in one transaction; return how many rows were sent."""
        connection = self._connect()
        written = 0
        try:
            for table, rows in batch.tables():
                # In primary-key order: InnoDB fills its pages in sequence, and two writers
                # lock the same keys in the same order. Stable, so of two rows with one key
                # the later message's still comes last and wins.
                rows = sorted(rows, key=itemgetter(*range(len(table.key))))
                largest = max(1, min(self.rows_per_statement, MAX_PARAMETERS // len(table.columns)))
                start = 0
                for size in statement_sizes(len(rows), largest):
                    cursor, sql = self._statement(connection, table, size)
                    chunk = rows[start : start + size]
                    # mysql-connector's C extension binds a Python float as a 4-byte FLOAT
                    # (70.30357156651891 would be stored as 70.30357360839844): a float goes as
                    # its shortest round-trip text, which the server reads as the same DOUBLE.
                    params = [repr(v) if type(v) is float else v for row in chunk for v in row]
                    cursor.execute(sql, params)
                    start += size
                written += len(rows)
            connection.commit()
        except BaseException as exc:
            self.close()  # the server rolls back what the transaction wrote
            if isinstance(exc, (mysql.connector.OperationalError, mysql.connector.InterfaceError)):
                raise DatabaseUnavailable(f"MySQL: {exc.msg}") from exc
            raise
        return written

    def close(self) -> None:
        """Close the connection (the server drops its statements and rolls back what is open)."""
        connection, self._connection = self._connection, None
        self._statements = {}
        if connection is None:
            return
        try:
            connection.close()
        except mysql.connector.Error as exc:
            log.debug("closing a broken connection: %s", exc)

    def _connect(self) -> Connection:
        # A ping per batch: a connection the server dropped while idle (wait_timeout, a restart)
        # is replaced here rather than failing the batch into a retry.
        if self._connection is not None and not self._connection.is_connected():
            self.close()
        if self._connection is None:
            self._connection = connect(self.settings)
        return self._connection

    def _statement(self, connection: Connection, table: ResultTable, rows: int) -> tuple[Any, str]:
        key = (table.name, rows)
        statement = self._statements.get(key)
        if statement is None:
            statement = (connection.cursor(prepared=True), table.upsert_sql(rows, "?"))
            self._statements[key] = statement
        return statement
