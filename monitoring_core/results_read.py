"""Reading stored results back as the APIs show them: built from monitoring_core.results_schema.

The read API (data_retrieval) and the ETL API (`/all_data`, `/metrics/<window>`) answer the same
objects from the same rows: each kind of result (statistics, metadata, forecasts) is its lead
table joined with the tables written from the same message, and each column lands at its `api`
path. Every value is a bound parameter; the only text spliced into a statement is built from
constants (table names, column lists, a number of placeholders).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from monitoring_core.json_values import iso_utc
from monitoring_core.results_schema import (
    AUTOCORRELATION_TABLE,
    FORECAST_ERRORS_TABLE,
    FORECASTS_TABLE,
    SEASONALITY_TABLE,
    STATIONARITY_TABLE,
    STATISTICS_TABLE,
    Column,
    ResultTable,
)


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


# How a column's value becomes JSON (results_schema.Form); "value" and "count" pass as they are.
_SHOWN_FORM: dict[str, Callable[[Any], Any]] = {"time": iso_utc, "json": _json, "flag": _flag}


def _values(names: list[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """row -> the values of these names, as a tuple (itemgetter of one name gives the value)."""
    get = itemgetter(*names)
    return get if len(names) > 1 else lambda row: (get(row),)


def _shaper(shown: list[tuple[str, Column]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """row -> the API's object: each (select name, column) put at the column's `api` path.

    Columns in a row under the same object are copied together (C-level `itemgetter`, `zip`
    and `update`; a page shapes hundreds of rows), then the few with a form are converted."""
    paths = [column.api for _, column in shown]
    assert len(set(paths)) == len(paths), "two columns at one place of the answer"
    runs: list[tuple[tuple[str, ...], list[str], list[str], list[tuple[str, Callable]]]] = []
    for select_name, column in shown:
        assert column.api is not None
        *parents, leaf = column.api.split(".")
        if not runs or runs[-1][0] != tuple(parents):
            runs.append((tuple(parents), [], [], []))
        runs[-1][1].append(select_name)
        runs[-1][2].append(leaf)
        if column.form in _SHOWN_FORM:
            runs[-1][3].append((leaf, _SHOWN_FORM[column.form]))
    steps = [(parents, _values(names), leaves, formed) for parents, names, leaves, formed in runs]

    def shape(row: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for parents, values, leaves, formed in steps:
            target = out
            for parent in parents:
                target = target.setdefault(parent, {})
            target.update(zip(leaves, values(row), strict=True))
            for leaf, form in formed:
                if target[leaf] is not None:
                    target[leaf] = form(target[leaf])
        return out

    return shape


def placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


class ReadKind:
    """One kind of result the APIs read, built from its tables in the schema: the first one
    (aliased t) says "this run has results of this kind"; the others are joined on its key."""

    def __init__(self, name: str, *tables: ResultTable, has_aggregate: bool = False) -> None:
        self.name = name  # the response's list key, and the word in messages
        self.presence = tables[0].name
        self.table = f"{tables[0].name} t"
        self.has_aggregate = has_aggregate
        lead = tables[0]
        # The lead's key is always selected: rows are grouped and sorted by it.
        selected = [(c.name, c) for c in lead.columns if c.api is not None or c in lead.key]
        select = [f"t.{name}" for name, _ in selected]
        joins = []
        for i, table in enumerate(tables[1:], start=1):
            alias = f"j{i}"
            on = " AND ".join(f"{alias}.{k} = t.{k}" for k in table.key_names)
            joins.append(f" LEFT JOIN {table.name} {alias} ON {on}")
            for column in table.columns:
                if column.api is not None:
                    select.append(f"{alias}.{column.name} AS {alias}_{column.name}")
                    selected.append((f"{alias}_{column.name}", column))
        self.columns = ", ".join(select)
        self.joins = "".join(joins)
        self.shape = _shaper([(n, c) for n, c in selected if c.api is not None])

    def filters(
        self, alias: str, window: str | None, aggregate: str | None = None
    ) -> tuple[str, list[Any]]:
        """The window/aggregate conditions on a result table, as SQL and parameters."""
        sql, params = "", []
        if window is not None:
            sql += f" AND {alias}.window_name = %s"
            params.append(window)
        if self.has_aggregate and aggregate is not None:
            sql += f" AND {alias}.aggregate = %s"
            params.append(aggregate)
        return sql, params


STATISTICS_KIND = ReadKind("statistics", STATISTICS_TABLE)
# The three metadata tables are written together from one message: autocorrelation leads.
METADATA_KIND = ReadKind("metadata", AUTOCORRELATION_TABLE, STATIONARITY_TABLE, SEASONALITY_TABLE)
FORECASTS_KIND = ReadKind("forecasts", FORECAST_ERRORS_TABLE, has_aggregate=True)
_POINT_COLUMNS = ", ".join(f"t.{name}" for name in FORECASTS_TABLE.column_names)
POINTS_SELECT = f"SELECT {_POINT_COLUMNS} FROM {FORECASTS_TABLE.name} t"
shape_point = _shaper([(c.name, c) for c in FORECASTS_TABLE.columns if c.api is not None])


def read_rows(
    cursor: Any,
    kind: ReadKind,
    series_ids: list[str],
    run_ids: list[str],
    window: str | None = None,
    aggregate: str | None = None,
) -> list[dict[str, Any]]:
    """The rows of `kind` for these series in these runs (unshaped: `kind.shape` each)."""
    if not series_ids or not run_ids:
        return []
    extra, extra_params = kind.filters("t", window, aggregate)
    cursor.execute(
        f"SELECT {kind.columns} FROM {kind.table}{kind.joins}"
        f" WHERE t.series_id IN ({placeholders(len(series_ids))})"
        f" AND t.run_id IN ({placeholders(len(run_ids))}){extra}",
        [*series_ids, *run_ids, *extra_params],
    )
    return cursor.fetchall()


def attach_points(
    cursor: Any,
    forecasts: list[dict[str, Any]],
    window: str | None = None,
    aggregate: str | None = None,
) -> None:
    """Each forecast row's `points`, read by the (series, run) pairs of the forecasts."""
    if not forecasts:
        return
    pairs = sorted({(row["series_id"], row["run_id"]) for row in forecasts})
    where = " OR ".join(["(t.series_id = %s AND t.run_id = %s)"] * len(pairs))
    extra, extra_params = FORECASTS_KIND.filters("t", window, aggregate)
    cursor.execute(
        f"{POINTS_SELECT} WHERE ({where}){extra} ORDER BY t.ts",
        [*(value for pair in pairs for value in pair), *extra_params],
    )
    points: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for p in cursor.fetchall():
        key = (p["series_id"], p["run_id"], p["window_name"], p["aggregate"])
        points[key].append(shape_point(p))
    for row in forecasts:
        key = (row["series_id"], row["run_id"], row["window_name"], row["aggregate"])
        row["points"] = points.get(key, [])
