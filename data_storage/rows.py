"""Message -> rows: which table rows each typed message becomes, by monitoring_core.results_schema.

Pure: no I/O. The schema says which tables a message kind writes and which message field
fills each column; the upserts are the schema's too (`ResultTable.upsert_sql`).

Every table's primary key is the natural key of one result, and every write is
`INSERT ... ON DUPLICATE KEY UPDATE col = VALUES(col)` (MySQL 8 and MariaDB 10.11 alike), so a
redelivered message rewrites the same rows with the same values.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from operator import attrgetter
from typing import Any

from monitoring_core.messages import Message, MessageError
from monitoring_core.results_schema import (
    RESULT_TABLES,
    SERIES_LABELS_TABLE,
    SERIES_TABLE,
    TIMINGS_TABLE,
    WHOLE_RUN,
    Column,
    ResultTable,
    label_value_hash,
)

Row = tuple[Any, ...]


def to_utc(value: datetime | None) -> datetime | None:
    """A naive UTC datetime for DATETIME columns (the connection's time zone is +00:00)."""
    if value is None:
        return None
    offset = value.utcoffset()
    if offset is None:
        return value
    # Cheaper than astimezone(UTC) on pydantic's UTC tzinfo, which every decoded time has.
    value = value.replace(tzinfo=None)
    return value - offset if offset else value


_JSON = json.JSONEncoder(separators=(",", ":"), sort_keys=True)  # one encoder, not one per call


def dump_json(value: Any) -> str | None:
    return None if value is None else _JSON.encode(value)


_STORED_FORM: dict[str, Callable[[Any], Any]] = {"time": to_utc, "json": dump_json, "count": len}


def _getter(paths: list[str]) -> Callable[[Any], Row]:
    """A tuple of the attributes at `paths` (dotted), read in one C call."""
    if not paths:
        return lambda _: ()
    get = attrgetter(*paths)
    return get if len(paths) > 1 else lambda obj: (get(obj),)


class RowMaker:
    """Builds one table's rows from a message, by the columns' fields in the schema."""

    def __init__(self, table: ResultTable) -> None:
        columns: list[Column] = list(table.columns)
        if any(c.field is None for c in columns):
            raise ValueError(f"{table.name}: a column without a message field has its own mapping")
        on_item = [c.field.startswith("item.") for c in columns if c.field]
        if on_item != sorted(on_item) or (any(on_item) and table.items is None):
            raise ValueError(f"{table.name}: the item columns come last, and need `items`")
        self.table = table
        paths = [c.field for c in columns if c.field]
        self._get = _getter([p for p, item in zip(paths, on_item, strict=True) if not item])
        self._get_item = _getter(
            [p.removeprefix("item.") for p, item in zip(paths, on_item, strict=True) if item]
        )
        self._items = attrgetter(table.items) if table.items else None
        self._forms = tuple(
            (i, _STORED_FORM[c.form]) for i, c in enumerate(columns) if c.form in _STORED_FORM
        )

    def rows(self, message: Message) -> list[Row]:
        base = self._get(message)
        if self._items is None:
            rows = [base]
        else:
            get_item = self._get_item
            rows = [base + get_item(item) for item in self._items(message)]
        if self._forms:
            rows = [self._stored(row) for row in rows]
        return rows

    def _stored(self, row: Row) -> Row:
        values = list(row)
        for i, form in self._forms:
            values[i] = form(values[i])
        return tuple(values)


# Per payload kind, the tables its messages write (timings have their own mapping below).
ROW_MAKERS: dict[str, tuple[RowMaker, ...]] = {}
for _table in RESULT_TABLES:
    if _table.kind is not None and _table is not TIMINGS_TABLE:
        ROW_MAKERS[_table.kind] = (*ROW_MAKERS.get(_table.kind, ()), RowMaker(_table))
_SERIES_ROWS = RowMaker(SERIES_TABLE)
_SERIES_AT = {name: i for i, name in enumerate(SERIES_TABLE.column_names)}


def map_message(message: Message) -> dict[str, list[Row]]:
    """The rows one message becomes, by table name; `MessageError` if it lacks what its kind needs.

    Each table of the message's kind in `monitoring_core.results_schema` gets its rows (one per
    item for a table with items: a forecast's points); timing -> one timings row per stage.
    Every message with a series also upserts that series.
    """
    payload = message.payload
    kind = payload.kind
    series = message.series
    rows: dict[str, list[Row]] = {}
    if kind == TIMINGS_TABLE.kind:
        series_id = series.id if series else WHOLE_RUN
        window = message.window or WHOLE_RUN
        computed = to_utc(message.computed_at)
        rows[TIMINGS_TABLE.name] = [
            (series_id, message.run_id, window, stage, computed, seconds)
            for stage, seconds in sorted(payload.stages.items())  # type: ignore[union-attr]
        ]
    else:
        makers = ROW_MAKERS.get(kind)
        if makers is None:  # a payload kind added to messages.py but not to the schema yet
            raise MessageError(f"no table for {kind} messages")
        if kind != "run" and (series is None or not message.window):
            raise MessageError(f"a {kind} message needs a series and a window")
        for maker in makers:
            table_rows = maker.rows(message)
            if table_rows:
                rows[maker.table.name] = table_rows
    if series is not None:
        rows[SERIES_TABLE.name] = _SERIES_ROWS.rows(message)
        rows[SERIES_LABELS_TABLE.name] = label_rows(series.id, series.metric, series.labels)
    return rows


def label_rows(series_id: str, metric: str, labels: dict[str, str]) -> list[Row]:
    """The series_labels rows of one series: (series_id, name, value_hash, metric, value)."""
    return [
        (series_id, name, label_value_hash(value), metric, value)
        for name, value in sorted(labels.items())
    ]


class Batch:
    """The rows of many messages, merged per table, ready for one transaction."""

    def __init__(self) -> None:
        self.rows: dict[str, list[Row]] = defaultdict(list)
        # One series row per series: the earliest first_seen, the latest last_seen and its run.
        self._series: dict[str, Row] = {}
        # One row per label of those series (every message of a series repeats the same ones).
        self._labels: dict[tuple[str, str], Row] = {}

    def add(self, rows: dict[str, list[Row]]) -> None:
        for table, table_rows in rows.items():
            if table == SERIES_TABLE.name:
                for row in table_rows:
                    self._merge_series(row)
            elif table == SERIES_LABELS_TABLE.name:
                for row in table_rows:
                    self._labels[(row[0], row[1])] = row
            else:
                self.rows[table].extend(table_rows)

    def _merge_series(self, row: Row) -> None:
        old = self._series.get(row[0])
        if old is None:
            self._series[row[0]] = row
            return
        at = _SERIES_AT
        merged = list(row if row[at["last_seen"]] >= old[at["last_seen"]] else old)
        merged[at["first_seen"]] = min(old[at["first_seen"]], row[at["first_seen"]])
        self._series[row[0]] = tuple(merged)

    def tables(self) -> list[tuple[ResultTable, list[Row]]]:
        """(table, rows) in the schema's fixed write order, skipping empty tables."""
        merged = {
            **self.rows,
            SERIES_TABLE.name: list(self._series.values()),
            SERIES_LABELS_TABLE.name: list(self._labels.values()),
        }
        return [(table, merged[table.name]) for table in RESULT_TABLES if merged.get(table.name)]

    def row_count(self) -> int:
        return sum(len(rows) for _, rows in self.tables())
