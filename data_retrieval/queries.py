"""The read side's SQL: which runs to show for a metric's series, and their rows as JSON objects.

Every value is a bound parameter; the only text spliced into a statement is built here from
constants (table names, column lists, a number of placeholders). "Latest" is, per series, the
newest *complete* run that has rows of the asked kind for it: the runs (status, started_at)
index is walked newest first and each candidate is probed by the result table's primary key
(series_id, run_id, ...), so the lookup stays cheap however long the history grows.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from data_retrieval.params import LATEST, Query
from monitoring_core.db import Database
from monitoring_core.web import NotFound
from monitoring_core.windows import window_order


@dataclass(frozen=True)
class Kind:
    """One kind of result the API reads: where its rows are and how they become JSON."""

    name: str  # the response's list key, and the word in messages
    presence: str  # the table whose rows say "this run has results of this kind"
    columns: str  # the select list; the result table is aliased t
    table: str  # the result table, aliased t
    shape: Callable[[dict[str, Any]], dict[str, Any]]
    has_aggregate: bool = False
    joins: str = ""  # tables joined to t by its key


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=UTC).isoformat()


def _common(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "metric": row["metric"],
        "labels": row["labels"],
        "series_id": row["series_id"],
        "window": row["window_name"],
    }


def shape_statistics(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **_common(row),
        "max": row["max_value"],
        "min": row["min_value"],
        "mean": row["mean_value"],
        "std": row["std_value"],
        "count": row["sample_count"],
        "p50": row["p50"],
        "p95": row["p95"],
        "p99": row["p99"],
        "start": iso(row["start_at"]),
        "end": iso(row["end_at"]),
        "run_id": row["run_id"],
        "computed_at": iso(row["computed_at"]),
        "reason": row["reason"],
        "samples": {
            "interval_seconds": row["interval_seconds"],
            "gaps": row["gap_count"],
            "missing_samples": row["missing_samples"],
            "longest_gap_seconds": row["longest_gap_seconds"],
            "ended_at": iso(row["ended_at"]),
        },
        # What the series is and how it was analysed (null in rows from before they were)
        "series_kind": {
            "metric_type": row["metric_type"],
            "type_source": row["type_source"],
            "transform": row["transform"],
            "domain": row["domain"],
            "domain_source": row["domain_source"],
        },
    }


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def shape_metadata(row: dict[str, Any]) -> dict[str, Any]:
    stationary = row["stationary"]
    return {
        **_common(row),
        "run_id": row["run_id"],
        "computed_at": iso(row["computed_at"]),
        "autocorrelation": {"lags": _json(row["lags"]), "reason": row["acf_reason"]},
        "stationarity": {
            "statistic": row["statistic"],
            "p_value": row["p_value"],
            "used_lag": row["used_lag"],
            "nobs": row["nobs"],
            "critical_values": {
                "1%": row["critical_1"],
                "5%": row["critical_5"],
                "10%": row["critical_10"],
            },
            "stationary": None if stationary is None else bool(stationary),
            "reason": row["adf_reason"],
        },
        "seasonality": {
            "period_minutes": row["period_minutes"],
            "method": row["method"],
            "strength": row["strength"],
            "seasonal": _json(row["seasonal"]),
            "reason": row["season_reason"],
        },
    }


def shape_forecast(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **_common(row),
        "aggregate": row["aggregate"],
        "run_id": row["run_id"],
        "computed_at": iso(row["computed_at"]),
        "model": row["model"],
        "period_buckets": row["period_buckets"],
        "bucket_seconds": row["bucket_seconds"],
        "holdout_mae": row["holdout_mae"],
        "holdout_mase": row["holdout_mase"],
        "reason": row["reason"],
        # the domain the points and intervals were truncated to; null: free (or older rows)
        "domain": row["domain"],
        "points": [],
    }


STATISTICS = Kind(
    "statistics",
    presence="statistics",
    columns=(
        "t.series_id, t.run_id, t.window_name, t.computed_at, t.start_at, t.end_at,"
        " t.sample_count, t.max_value, t.min_value, t.mean_value, t.std_value, t.p50, t.p95,"
        " t.p99, t.reason, t.interval_seconds, t.gap_count, t.missing_samples,"
        " t.longest_gap_seconds, t.ended_at, t.metric_type, t.type_source, t.transform,"
        " t.domain, t.domain_source"
    ),
    table="statistics t",
    shape=shape_statistics,
)
# The three metadata tables are written together from one message: autocorrelation leads.
METADATA = Kind(
    "metadata",
    presence="autocorrelation",
    columns=(
        "t.series_id, t.run_id, t.window_name, t.computed_at, t.lags,"
        " t.reason AS acf_reason, st.statistic, st.p_value, st.used_lag, st.nobs, st.critical_1,"
        " st.critical_5, st.critical_10, st.stationary, st.reason AS adf_reason,"
        " se.period_minutes, se.method, se.strength, se.seasonal, se.reason AS season_reason"
    ),
    table="autocorrelation t",
    joins=(
        " LEFT JOIN stationarity st ON st.series_id = t.series_id AND st.run_id = t.run_id"
        " AND st.window_name = t.window_name"
        " LEFT JOIN seasonality se ON se.series_id = t.series_id AND se.run_id = t.run_id"
        " AND se.window_name = t.window_name"
    ),
    shape=shape_metadata,
)
FORECASTS = Kind(
    "forecasts",
    presence="forecast_errors",
    columns=(
        "t.series_id, t.run_id, t.window_name, t.aggregate, t.computed_at, t.model,"
        " t.period_buckets, t.bucket_seconds, t.holdout_mae, t.holdout_mase, t.reason, t.domain"
    ),
    table="forecast_errors t",
    shape=shape_forecast,
    has_aggregate=True,
)
POINTS_SELECT = (
    "SELECT t.series_id, t.run_id, t.window_name, t.aggregate, t.ts, t.value, t.lower_80,"
    " t.upper_80, t.lower_95, t.upper_95 FROM forecasts t"
)
RUN_COLUMNS = "r.run_id, r.status, r.started_at, r.finished_at"
RUN_BY_ID = f"SELECT {RUN_COLUMNS} FROM runs r WHERE r.run_id = %s"


def _filters(kind: Kind, query: Query, alias: str) -> tuple[str, list[Any]]:
    """The window/aggregate conditions on a result table, as SQL and parameters."""
    sql, params = "", []
    if query.window is not None:
        sql += f" AND {alias}.window_name = %s"
        params.append(query.window)
    if kind.has_aggregate and query.aggregate is not None:
        sql += f" AND {alias}.aggregate = %s"
        params.append(query.aggregate)
    return sql, params


def _placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def _run_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": row["run_id"],
        "status": row["status"],
        "started_at": iso(row["started_at"]),
        "finished_at": iso(row["finished_at"]),
    }


class Reader:
    """The read API's queries, as the reader role; one short transaction per request."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def list_series(self, query: Query) -> dict[str, Any]:
        latest, params = latest_run_sql(STATISTICS, query)
        with self.db.transaction() as cursor:
            cursor.execute(
                "SELECT s.series_id, s.metric, s.labels, s.first_seen, s.last_seen,"
                f" ({latest}) AS last_run_id FROM series s ORDER BY s.metric, s.series_id",
                params,
            )
            rows = cursor.fetchall()
        series = []
        for row in rows:
            labels = json.loads(row["labels"])
            if query.matches(labels):
                series.append(
                    {
                        "metric": row["metric"],
                        "labels": labels,
                        "series_id": row["series_id"],
                        "first_seen": iso(row["first_seen"]),
                        "last_seen": iso(row["last_seen"]),
                        "last_run_id": row["last_run_id"],
                    }
                )
        return {"query": {"labels": query.labels}, "count": len(series), "series": series}

    def read(self, kind: Kind, metric: str, query: Query) -> dict[str, Any]:
        """The response body of one data route: the rows of `kind` for `metric` under `query`."""
        body: dict[str, Any] = {"metric": metric, "query": query.describe()}
        with self.db.transaction() as cursor:
            if query.run == LATEST:
                rows = self._latest_rows(cursor, kind, metric, query)
                labels = {r["series_id"]: r["series_labels"] for r in rows}
                if not rows:
                    self._check_metric(cursor, metric)
            else:
                labels = self._series(cursor, metric, query)
                if query.history:
                    runs, more = self._history_runs(cursor, kind, list(labels), query)
                    body["pagination"] = {
                        "limit": query.limit,
                        "offset": query.offset,
                        "next_offset": query.offset + query.limit if more else None,
                    }
                else:
                    runs = self._run(cursor, query.run)
                run_ids = [r["run_id"] for r in runs] if query.history else [query.run]
                body["runs"] = [_run_json(r) for r in runs]
                rows = self._rows(cursor, kind, list(labels), run_ids, query)
                if not query.history and not rows and not runs:
                    raise NotFound(f"unknown run {query.run!r}: no such run of metric {metric!r}")
            if query.run == LATEST:
                rows = [r for r in rows if query.matches(self._labels(r["series_labels"]))]
            if kind is FORECASTS and rows:
                self._attach_points(cursor, rows, query)

        order = {r["run_id"]: i for i, r in enumerate(body.get("runs", []))}
        rows.sort(
            key=lambda r: (
                order.get(r["run_id"], 0),
                labels[r["series_id"]],
                r["series_id"],
                window_order(r["window_name"]),
                r["window_name"],
                r.get("aggregate") or "",
            )
        )
        items = []
        for row in rows:
            row["metric"] = metric
            row["labels"] = self._labels(labels[row["series_id"]])
            item = kind.shape(row)
            if kind is FORECASTS:
                item["points"] = row["points"]
            items.append(item)
        body["count"] = len(items)
        body[kind.name] = items
        return body

    @staticmethod
    def _labels(text: str) -> dict[str, str]:
        return json.loads(text)

    def _latest_rows(
        self, cursor: Any, kind: Kind, metric: str, query: Query
    ) -> list[dict[str, Any]]:
        """One statement: per series of the metric, the rows of its latest complete run.

        The run subquery is a key part of the join (t's primary key starts series_id, run_id).
        """
        latest, params = latest_run_sql(kind, query)
        extra, extra_params = _filters(kind, query, "t")
        cursor.execute(
            f"SELECT s.labels AS series_labels, {kind.columns} FROM series s"
            f" JOIN {kind.table} ON t.series_id = s.series_id AND t.run_id = ({latest})"
            f"{kind.joins} WHERE s.metric = %s{extra}",
            [*params, metric, *extra_params],
        )
        return cursor.fetchall()

    def _check_metric(self, cursor: Any, metric: str) -> None:
        cursor.execute("SELECT 1 AS known FROM series WHERE metric = %s LIMIT 1", [metric])
        if not cursor.fetchall():
            raise NotFound(f"unknown metric {metric!r}: no series of that name is stored")

    def _series(self, cursor: Any, metric: str, query: Query) -> dict[str, str]:
        """series_id -> labels (JSON text) of the metric's series that match; 404: none stored."""
        cursor.execute("SELECT series_id, labels FROM series WHERE metric = %s", [metric])
        rows = cursor.fetchall()
        if not rows:
            raise NotFound(f"unknown metric {metric!r}: no series of that name is stored")
        return {
            row["series_id"]: row["labels"]
            for row in rows
            if query.matches(self._labels(row["labels"]))
        }

    def _history_runs(
        self, cursor: Any, kind: Kind, series_ids: list[str], query: Query
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of the complete runs with rows for these series, newest first."""
        if not series_ids:
            return [], False
        extra, params = _filters(kind, query, "x")
        cursor.execute(
            f"SELECT {RUN_COLUMNS} FROM runs r WHERE r.status = 'complete' AND (SELECT 1 FROM"
            f" {kind.presence} x WHERE x.series_id IN ({_placeholders(len(series_ids))})"
            f" AND x.run_id = r.run_id{extra} LIMIT 1) IS NOT NULL"
            " ORDER BY r.started_at DESC, r.run_id DESC LIMIT %s OFFSET %s",
            [*series_ids, *params, query.limit + 1, query.offset],
        )
        runs = cursor.fetchall()
        return runs[: query.limit], len(runs) > query.limit

    def _run(self, cursor: Any, run_id: str) -> list[dict[str, Any]]:
        cursor.execute(RUN_BY_ID, [run_id])
        return cursor.fetchall()

    def _rows(
        self, cursor: Any, kind: Kind, series_ids: list[str], run_ids: list[str], query: Query
    ) -> list[dict[str, Any]]:
        if not series_ids or not run_ids:
            return []
        extra, extra_params = _filters(kind, query, "t")
        cursor.execute(
            f"SELECT {kind.columns} FROM {kind.table}{kind.joins}"
            f" WHERE t.series_id IN ({_placeholders(len(series_ids))})"
            f" AND t.run_id IN ({_placeholders(len(run_ids))}){extra}",
            [*series_ids, *run_ids, *extra_params],
        )
        return cursor.fetchall()

    def _attach_points(self, cursor: Any, forecasts: list[dict[str, Any]], query: Query) -> None:
        """Each forecast's points, read by the (series, run) pairs of the forecasts."""
        pairs = sorted({(row["series_id"], row["run_id"]) for row in forecasts})
        where = " OR ".join(["(t.series_id = %s AND t.run_id = %s)"] * len(pairs))
        extra, extra_params = _filters(FORECASTS, query, "t")
        cursor.execute(
            f"{POINTS_SELECT} WHERE ({where}){extra} ORDER BY t.ts",
            [*(value for pair in pairs for value in pair), *extra_params],
        )
        points: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for p in cursor.fetchall():
            points[(p["series_id"], p["run_id"], p["window_name"], p["aggregate"])].append(
                {
                    "timestamp": iso(p["ts"]),
                    "value": p["value"],
                    "lower_80": p["lower_80"],
                    "upper_80": p["upper_80"],
                    "lower_95": p["lower_95"],
                    "upper_95": p["upper_95"],
                }
            )
        for row in forecasts:
            key = (row["series_id"], row["run_id"], row["window_name"], row["aggregate"])
            row["points"] = points.get(key, [])


def latest_run_sql(kind: Kind, query: Query) -> tuple[str, list[Any]]:
    """A scalar subquery correlated on series s: its newest complete run with `kind` rows.

    Not EXISTS: the optimizers turn EXISTS into a semi-join that reads the series' whole
    history; this form walks the runs (status, started_at) index newest first and stops at the
    first run whose probe (a primary-key prefix lookup) finds a row.
    """
    extra, params = _filters(kind, query, "x")
    sql = (
        f"SELECT r.run_id FROM runs r WHERE r.status = 'complete' AND (SELECT 1 FROM"
        f" {kind.presence} x WHERE x.series_id = s.series_id AND x.run_id = r.run_id{extra}"
        " LIMIT 1) IS NOT NULL ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1"
    )
    return sql, params
