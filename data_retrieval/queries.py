"""The read side's SQL: which runs to show for a metric's series, and their rows as JSON objects.

Select lists, joins and JSON objects are built from monitoring_core.results_schema (each
column's `api` name). Every value is a bound parameter; the only text spliced into a statement
is built from constants (table names, column lists, a number of placeholders).

"Latest" is, per series, the newest *complete* run that has rows of the asked kind for it:
the series' last run (series.last_run_id) when it qualifies, else the runs (status,
started_at) index walked newest first, each candidate probed by the result table's primary key
(series_id, run_id, ...), so the lookup stays cheap however long the history grows
(`latest_run_sql`, monitoring_core.results_schema.complete_runs_sql).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from monitoring_core.db import Database
from monitoring_core.json_values import iso_utc
from monitoring_core.params import LATEST, Cursor, Query
from monitoring_core.results_read import (
    FORECASTS_KIND,
    STATISTICS_KIND,
    ReadKind,
    attach_points,
    placeholders,
    read_rows,
)
from monitoring_core.results_schema import TIMINGS_TABLE, complete_runs_sql, label_value_hash
from monitoring_core.sla_tables import read_latest_assessments
from monitoring_core.web import BadRequest, NotFound
from monitoring_core.windows import window_order

RUN_COLUMNS = "r.run_id, r.status, r.started_at, r.finished_at"
RUN_BY_ID = f"SELECT {RUN_COLUMNS} FROM runs r WHERE r.run_id = %s"
# A page p of series joined to the run r of each one's newest message, when that run is
# complete. By the primary key, not (status, started_at): one probe per series, not a walk.
LAST_COMPLETE_RUN = (
    " LEFT JOIN runs r FORCE INDEX (PRIMARY) ON r.run_id = p.last_run_id AND r.status = 'complete'"
)


def _filters(kind: ReadKind, query: Query, alias: str) -> tuple[str, list[Any]]:
    """The window/aggregate conditions of `query` on a result table, as SQL and parameters."""
    return kind.filters(alias, query.window, query.aggregate)


def _run_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": row["run_id"],
        "status": row["status"],
        "started_at": iso_utc(row["started_at"]),
        "finished_at": iso_utc(row["finished_at"]),
    }


class Reader:
    """The read API's queries, as the reader role; one short transaction per request."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def list_series(self, query: Query) -> dict[str, Any]:
        """GET /metrics: one page of series (by metric and labels), each with its latest run."""
        after = query.after
        if after is not None and query.metric is not None and after.metric != query.metric:
            raise BadRequest("next belongs to another metric's pages", parameter="next")
        page_sql, params = series_page_sql(
            query.metric,
            query,
            "s.series_id, s.metric, s.labels, s.first_seen, s.last_seen, s.last_run_id",
        )
        with self.db.transaction() as cursor:
            # One statement for the series whose last run answers (as `_latest_page`); the
            # others walk the complete runs.
            cursor.execute(
                "SELECT p.series_id, p.metric, p.labels, p.first_seen, p.last_seen,"
                f" r.run_id AS last_run_id FROM ({page_sql}) p{LAST_COMPLETE_RUN}"
                f" AND (SELECT 1 FROM {STATISTICS_KIND.presence} x"
                " WHERE x.series_id = p.series_id AND x.run_id = r.run_id LIMIT 1) IS NOT NULL"
                " ORDER BY p.metric, p.series_id",
                params,
            )
            found = cursor.fetchall()
            rows = found[: query.series_limit]
            walk = [row["series_id"] for row in rows if row["last_run_id"] is None]
            if walk:
                latest, latest_params = latest_run_sql(STATISTICS_KIND, Query())
                cursor.execute(
                    f"SELECT s.series_id, ({latest}) AS last_run_id FROM series s"
                    f" WHERE s.series_id IN ({placeholders(len(walk))})",
                    [*latest_params, *walk],
                )
                walked = {row["series_id"]: row["last_run_id"] for row in cursor.fetchall()}
                for row in rows:
                    row["last_run_id"] = row["last_run_id"] or walked.get(row["series_id"])
        more = len(found) > len(rows)
        series = [
            {
                "metric": row["metric"],
                "labels": self._labels(row["labels"]),
                "series_id": row["series_id"],
                "first_seen": iso_utc(row["first_seen"]),
                "last_seen": iso_utc(row["last_seen"]),
                "last_run_id": row["last_run_id"],
            }
            for row in rows
        ]
        return {
            "query": {"metric": query.metric, "labels": query.labels},
            "count": len(series),
            "series": series,
            "pagination": {
                "limit": query.limit,
                # The cursor carries the metric as asked (the same on every page).
                "next": _next(
                    query.metric or (series[-1]["metric"] if series else None),
                    rows[-1]["series_id"] if rows else None,
                    more,
                ),
            },
        }

    def read(self, kind: ReadKind, metric: str, query: Query) -> dict[str, Any]:
        """The response body of one data route: the rows of `kind` for `metric` under `query`,
        for one page of the metric's series."""
        if query.after is not None and query.after.metric != metric:
            raise BadRequest("next belongs to another metric's pages", parameter="next")
        body: dict[str, Any] = {"metric": metric, "query": query.describe()}
        more_runs = False
        with self.db.transaction() as cursor:
            if query.run == LATEST:
                labels, more, rows = self._latest_page(cursor, kind, metric, query)
            else:
                labels, more = self._series_page(cursor, metric, query)
            if not labels and query.after is None:
                self._check_metric(cursor, metric)
            if query.run != LATEST:
                if query.history:
                    runs, more_runs = self._history_runs(cursor, kind, list(labels), query)
                else:
                    runs = self._run(cursor, query.run)
                run_ids = [r["run_id"] for r in runs] if query.history else [query.run]
                body["runs"] = [_run_json(r) for r in runs]
                rows = read_rows(cursor, kind, list(labels), run_ids, query.window, query.aggregate)
                if not query.history and not rows and not runs and query.after is None:
                    raise NotFound(f"unknown run {query.run!r}: no such run of metric {metric!r}")
            if kind is FORECASTS_KIND and rows:
                attach_points(cursor, rows, query.window, query.aggregate)

        pagination: dict[str, Any] = {"limit": query.limit}
        if query.history:
            pagination["offset"] = query.offset
            pagination["next_offset"] = query.offset + query.limit if more_runs else None
            pagination["series_limit"] = query.series_limit
        pagination["next"] = _next(metric, next(reversed(labels), None), more)
        order = {r["run_id"]: i for i, r in enumerate(body.get("runs", []))}
        place = {series_id: i for i, series_id in enumerate(labels)}
        rows.sort(
            key=lambda r: (
                order.get(r["run_id"], 0),
                place[r["series_id"]],
                window_order(r["window_name"]),
                r["window_name"],
                r.get("aggregate") or "",
            )
        )
        parsed = {series_id: self._labels(text) for series_id, text in labels.items()}
        items = []
        for row in rows:
            item = {"metric": metric, "labels": parsed[row["series_id"]]}
            item.update(kind.shape(row))
            if kind is FORECASTS_KIND:
                item["points"] = row["points"]
            items.append(item)
        body["count"] = len(items)
        body[kind.name] = items
        body["pagination"] = pagination
        return body

    # The dashboard's reads (data_retrieval.dashboard shapes them).

    def series_with_forecasts(self, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` stored series, each with its latest complete run that has forecasts."""
        latest, params = latest_run_sql(FORECASTS_KIND, Query())
        with self.db.transaction() as cursor:
            cursor.execute(
                f"SELECT s.series_id, s.metric, s.labels, ({latest}) AS forecast_run_id"
                " FROM series s ORDER BY s.metric, s.series_id LIMIT %s",
                [*params, limit],
            )
            return cursor.fetchall()

    def series_by_id(self, series_id: str) -> dict[str, Any] | None:
        with self.db.transaction() as cursor:
            cursor.execute(
                "SELECT series_id, metric, labels FROM series WHERE series_id = %s", [series_id]
            )
            return cursor.fetchone()

    def slas_on_metric(
        self, metric: str, labels: dict[str, str]
    ) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
        """The current SLA objectives on `metric` whose labels `labels` carries, and the last
        stored assessment of each of their SLAs (the SLA manager's tables, read only)."""
        with self.db.transaction() as cursor:
            cursor.execute(
                "SELECT s.sla_id, s.name, s.version, m.position, m.name AS metric_name,"
                " m.labels, m.min_value, m.max_value FROM slas s"
                " JOIN sla_metrics m ON m.sla_id = s.sla_id"
                " WHERE s.retired_at IS NULL AND m.metric = %s ORDER BY s.sla_id, m.position",
                [metric],
            )
            rows = [
                row
                for row in cursor.fetchall()
                if json.loads(row["labels"] or "{}").items() <= labels.items()
            ]
            assessments = read_latest_assessments(cursor, sorted({r["sla_id"] for r in rows}))
        return rows, assessments

    def latest_timings(self) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The latest complete run with timings, and its seconds per window and stage."""
        columns = "r.run_id, r.status, r.started_at, r.finished_at, r.series_count"
        with self.db.transaction() as cursor:
            cursor.execute(f"{complete_runs_sql(columns, TIMINGS_TABLE.name)} LIMIT 1")
            run = cursor.fetchone()
            if run is None:
                return None, []
            cursor.execute(
                "SELECT window_name, stage, SUM(seconds) AS seconds, COUNT(*) AS n FROM timings"
                " WHERE run_id = %s GROUP BY window_name, stage",
                [run["run_id"]],
            )
            return run, cursor.fetchall()

    @staticmethod
    def _labels(text: str) -> dict[str, str]:
        return orjson.loads(text)  # a page parses 100

    def _latest_page(
        self, cursor: Any, kind: ReadKind, metric: str, query: Query
    ) -> tuple[dict[str, str], bool, list[dict[str, Any]]]:
        """One page of the metric's series (as `_series_page`) and the rows of each one's
        latest complete run, in one statement when each series' last run answers: the page
        joined to its last run if complete, and to that run's rows. Those without (their last
        run still running or failed, or without rows of this window) are read by
        `_latest_rows`, which walks the complete runs (docs/storage_retrieval.md: why)."""
        page_sql, params = series_page_sql(metric, query, "s.series_id, s.labels, s.last_run_id")
        extra, extra_params = _filters(kind, query, "t")
        cursor.execute(
            f"SELECT p.series_id AS page_series_id, p.labels AS page_labels, {kind.columns}"
            f" FROM ({page_sql}) p{LAST_COMPLETE_RUN}"
            f" LEFT JOIN {kind.table} ON t.series_id = p.series_id AND t.run_id = r.run_id{extra}"
            f"{kind.joins} ORDER BY p.series_id",  # the page's order, as the page has one metric
            [*params, *extra_params],
        )
        found: dict[str, str] = {}
        answered: list[dict[str, Any]] = []
        for row in cursor.fetchall():
            found.setdefault(row["page_series_id"], row["page_labels"])
            if row["series_id"] is not None:
                answered.append(row)
        page = dict(list(found.items())[: query.series_limit])
        rows = [row for row in answered if row["series_id"] in page]
        seen = {row["series_id"] for row in rows}
        rows += self._latest_rows(cursor, kind, [s for s in page if s not in seen], query)
        return page, len(found) > len(page), rows

    def _latest_rows(
        self, cursor: Any, kind: ReadKind, series_ids: list[str], query: Query
    ) -> list[dict[str, Any]]:
        """One statement: per series given, the rows of its latest complete run, wherever the
        walk finds it (`_latest_page` sends the series its join does not answer).

        The run subquery is a key part of the join (t's primary key starts series_id, run_id).
        """
        if not series_ids:
            return []
        latest, params = latest_run_sql(kind, query)
        extra, extra_params = _filters(kind, query, "t")
        cursor.execute(
            f"SELECT {kind.columns} FROM series s"
            f" JOIN {kind.table} ON t.series_id = s.series_id AND t.run_id = ({latest})"
            f"{kind.joins} WHERE s.series_id IN ({placeholders(len(series_ids))}){extra}",
            [*params, *series_ids, *extra_params],
        )
        return cursor.fetchall()

    def _check_metric(self, cursor: Any, metric: str) -> None:
        cursor.execute("SELECT 1 AS known FROM series WHERE metric = %s LIMIT 1", [metric])
        if not cursor.fetchall():
            raise NotFound(f"unknown metric {metric!r}: no series of that name is stored")

    def _series_page(
        self, cursor: Any, metric: str | None, query: Query
    ) -> tuple[dict[str, str], bool]:
        """series_id -> labels (JSON text) of one page of series, in page order, and whether
        more follow (series_page_sql says which series)."""
        sql, params = series_page_sql(metric, query)
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        page = rows[: query.series_limit]
        return {row["series_id"]: row["labels"] for row in page}, len(rows) > len(page)

    def _history_runs(
        self, cursor: Any, kind: ReadKind, series_ids: list[str], query: Query
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of the complete runs with rows for these series, newest first."""
        if not series_ids:
            return [], False
        extra, params = _filters(kind, query, "x")
        runs_sql = complete_runs_sql(
            RUN_COLUMNS, kind.presence, f"x.series_id IN ({placeholders(len(series_ids))}){extra}"
        )
        cursor.execute(
            f"{runs_sql} LIMIT %s OFFSET %s",
            [*series_ids, *params, query.limit + 1, query.offset],
        )
        runs = cursor.fetchall()
        return runs[: query.limit], len(runs) > query.limit

    def _run(self, cursor: Any, run_id: str) -> list[dict[str, Any]]:
        cursor.execute(RUN_BY_ID, [run_id])
        return cursor.fetchall()


def series_page_sql(
    metric: str | None, query: Query, columns: str = "s.series_id, s.labels"
) -> tuple[str, list[Any]]:
    """One page of series (`columns` of series s): those of `metric` (any, if None) that carry
    every label matcher of `query`, after its cursor, in the order (metric, series_id), up to
    `series_limit` + 1 rows (the one more says a next page exists).

    The rows that drive the read (alias d) are read in page order straight from an index and the
    read stops after the page: with label matchers, the first matcher's series_labels rows (key
    name, value_hash, metric, series_id), each other matcher a primary-key probe; without, the
    series table's `series_metric (metric)` key, which ends with the primary key series_id.
    """
    matchers = sorted(query.labels.items())
    params: list[Any] = []
    where: list[str] = []
    if matchers:
        source = "series_labels d JOIN series s ON s.series_id = d.series_id"
        where.append("d.name = %s AND d.value_hash = %s")
        params += [matchers[0][0], label_value_hash(matchers[0][1])]
        for i, (name, value) in enumerate(matchers[1:], start=1):
            source += (
                f" JOIN series_labels l{i} ON l{i}.series_id = d.series_id"
                f" AND l{i}.name = %s AND l{i}.value_hash = %s"
            )
            params += [name, label_value_hash(value)]
    else:
        source = "series d JOIN series s ON s.series_id = d.series_id"
    if metric is not None:
        where.append("d.metric = %s")
        params.append(metric)
    after = query.after
    if after is not None and metric is not None:
        where.append("d.series_id > %s")
        params.append(after.series_id)
    elif after is not None:
        where.append("(d.metric > %s OR (d.metric = %s AND d.series_id > %s))")
        params += [after.metric, after.metric, after.series_id]
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    sql = f"SELECT {columns} FROM {source}{condition} ORDER BY d.metric, d.series_id"
    return f"{sql} LIMIT %s", [*params, query.series_limit + 1]


def _next(metric: str | None, last: str | None, more: bool) -> str | None:
    """The `next` of a page whose last series is `last`: after it, None when no page
    follows."""
    if metric is None or last is None or not more:
        return None
    return Cursor(metric, last).encode()


def latest_run_sql(kind: ReadKind, query: Query) -> tuple[str, list[Any]]:
    """A scalar expression correlated on series s: its newest complete run with `kind` rows.

    First the run of the series' newest message (`series.last_run_id`, kept by storage): when
    that run is complete and has such rows it is the answer, in one primary-key read and one
    probe, however many runs came after the series was last seen (a series that left the
    selector). Only when it is not (still running, failed, or without rows of this window or
    aggregate) are the complete runs walked newest first (`complete_runs_sql`); COALESCE stops at
    the first that answers. This relies on a series' newer runs having newer messages, which
    holds while cycles follow one another.
    """
    extra, params = _filters(kind, query, "x")
    condition = f"x.series_id = s.series_id{extra}"
    last = (
        "SELECT r.run_id FROM runs r WHERE r.run_id = s.last_run_id AND r.status = 'complete'"
        f" AND (SELECT 1 FROM {kind.presence} x WHERE {condition} AND x.run_id = r.run_id"
        " LIMIT 1) IS NOT NULL"
    )
    runs = complete_runs_sql("r.run_id", kind.presence, condition)
    return f"COALESCE(({last}), ({runs} LIMIT 1))", [*params, *params]
