"""Leader election through MySQL's own named locks (GET_LOCK), not a heartbeat table.

One `Leadership` per process and role holds a named lock on a connection of its own. The
server releases the lock when that connection ends: a leader that exits, is killed or loses
the network stops leading as soon as MySQL notices its connection is gone (at once for a
killed process, whose kernel closes the socket). Every replica calls `lead()` before its
periodic work; the one that holds the lock does the work, the others are hot standbys that
take over at their next call.

The lock name carries the database name, so two stacks sharing one MySQL server elect
their leaders apart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import mysql.connector

from monitoring_core.db import Connection, DatabaseUnavailable, connect
from monitoring_core.settings import MySQLSettings

log = logging.getLogger(__name__)
MAX_LOCK_NAME = 64  # MySQL 8 refuses longer lock names


class Leadership:
    """Whether this process leads `role`, decided by GET_LOCK on its own connection."""

    def __init__(
        self,
        settings: MySQLSettings,
        role: str,
        connector: Callable[[MySQLSettings], Connection] = connect,
    ) -> None:
        self.name = f"{settings.database}.{role}"
        if len(self.name) > MAX_LOCK_NAME:
            raise ValueError(f"lock name {self.name!r} is longer than {MAX_LOCK_NAME} characters")
        self.settings = settings
        self._connector = connector
        self._connection: Connection | None = None
        self._lock = threading.Lock()
        self._leading = False

    def lead(self) -> bool:
        """True when this process holds the lock (taking it if it is free); never waits.

        A lost connection (MySQL restarted, the network cut) means the lock is lost too: the
        next call reconnects and competes again. MySQL down is "not leading", logged once.
        """
        with self._lock:
            try:
                leading = self._holds() or self._take()
            except (DatabaseUnavailable, mysql.connector.Error) as exc:
                self._drop()
                leading = False
                if self._leading:
                    log.warning("%s: lost the lock with its connection: %s", self.name, exc)
            if leading != self._leading:
                log.info("%s: %s", self.name, "leading" if leading else "standing by")
            self._leading = leading
            return leading

    def release(self) -> None:
        """Give the lock up (at shutdown) so that a standby takes over at once."""
        with self._lock:
            if self._connection is not None:
                try:
                    self._query("SELECT RELEASE_LOCK(%s)")
                except mysql.connector.Error:
                    pass
            self._drop()
            self._leading = False

    def _holds(self) -> bool:
        if self._connection is None:
            return False
        return self._query("SELECT IS_USED_LOCK(%s) = CONNECTION_ID()") == 1

    def _take(self) -> bool:
        if self._connection is None:
            # Named locks belong to the session, not to a transaction: autocommit is moot.
            self._connection = self._connector(self.settings)
        return self._query("SELECT GET_LOCK(%s, 0)") == 1

    def _query(self, sql: str) -> Any:
        assert self._connection is not None
        cursor = self._connection.cursor()
        try:
            cursor.execute(sql, (self.name,))
            row: Any = cursor.fetchone()
        finally:
            cursor.close()
        return row[0] if row else None

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except mysql.connector.Error:
                pass
            self._connection = None
