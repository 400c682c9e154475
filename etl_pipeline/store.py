"""The ETL's state in MySQL: its runs and their results (written by data_storage from the
cycle's messages) and the forecast settings (written here by POST /forecasting, read by the next
cycle's scheduler).

Nothing of a run is kept in process memory: every ETL API replica and every gunicorn worker
reads the same rows, so they answer alike. The results are read back as the read API shows
them (monitoring_core.results_read), a page of series at a time. The ETL's database account may
read the result tables and write only `etl_settings` (monitoring_core.db.ROLE_GRANTS).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitoring_core.db import Database
from monitoring_core.params import Cursor
from monitoring_core.results_read import (
    FORECASTS_KIND,
    METADATA_KIND,
    STATISTICS_KIND,
    attach_points,
    placeholders,
    read_rows,
)
from monitoring_core.windows import window_order

from .analysis import ForecastConfig
from .results import STAGES

FORECAST_SETTING = "forecast"
CYCLE_SETTING = "cycle"
_RUN_COLUMNS = (
    "run_id, status, started_at, finished_at, series_count, message_count, summary,"
    " shard_count, retried_shards, details"
)


@dataclass(frozen=True)
class StoredRun:
    """One row of `runs`: its state, and the summary the ETL API answers (`details`)."""

    run_id: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    series_count: int
    message_count: int
    reason: str | None
    shard_count: int | None
    retried_shards: list[int]
    details: dict[str, Any]

    @property
    def unavailable(self) -> bool:
        """Failed because Prometheus or Kafka was down (the API answers 503, not 500)."""
        return bool(self.details.get("unavailable"))

    def summary(self) -> dict[str, Any]:
        """What /regen_data answers: the cycle's own summary, with the stored state."""
        return {
            **self.details,
            "run_id": self.run_id,
            "status": self.status,
            "series_count": self.series_count,
            "message_count": self.message_count,
            "reason": self.reason,
            "shard_count": self.shard_count,
            "retried_shards": self.retried_shards,
        }


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def _run(row: dict[str, Any]) -> StoredRun:
    return StoredRun(
        run_id=row["run_id"],
        status=row["status"],
        started_at=_utc(row["started_at"]) or datetime.min.replace(tzinfo=UTC),
        finished_at=_utc(row["finished_at"]),
        series_count=row["series_count"],
        message_count=row["message_count"],
        reason=row["summary"],
        shard_count=row["shard_count"],
        retried_shards=json.loads(row["retried_shards"]) if row["retried_shards"] else [],
        details=json.loads(row["details"]) if row["details"] else {},
    )


class RunStore:
    """Reads the runs and their results; reads and writes the forecast settings and the id of
    the cycle under way."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def run(self, run_id: str) -> StoredRun | None:
        return self._one(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = %s", (run_id,))

    def latest(self, status: str | None = None) -> StoredRun | None:
        """The newest run (of that status); the (status, started_at) index serves both."""
        if status is None:
            return self._one(
                f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY started_at DESC, run_id DESC LIMIT 1",
                (),
            )
        return self._one(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE status = %s"
            " ORDER BY started_at DESC, run_id DESC LIMIT 1",
            (status,),
        )

    def _one(self, sql: str, params: tuple[Any, ...]) -> StoredRun | None:
        with self.db.transaction() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        return None if row is None else _run(row)

    def forecast(self) -> ForecastConfig | None:
        """The forecast settings POST /forecasting stored; None: never set (the defaults)."""
        value = self._read(FORECAST_SETTING)
        if value is None:
            return None
        return ForecastConfig(tuple(value["metrics"]), int(value["horizon_minutes"]))

    def save_forecast(self, config: ForecastConfig, now: datetime) -> None:
        value = json.dumps(
            {"metrics": list(config.metrics), "horizon_minutes": config.horizon_minutes}
        )
        self._save(FORECAST_SETTING, value, now)

    def _read(self, name: str) -> Any:
        with self.db.transaction() as cursor:
            cursor.execute("SELECT value FROM etl_settings WHERE name = %s", (name,))
            row = cursor.fetchone()
        return None if row is None else json.loads(row["value"])

    def _save(self, name: str, value: str, now: datetime) -> None:
        with self.db.transaction() as cursor:
            cursor.execute(
                "INSERT INTO etl_settings (name, value, updated_at) VALUES (%s, %s, %s)"
                " ON DUPLICATE KEY UPDATE value = VALUES(value), updated_at = VALUES(updated_at)",
                (name, value, now.astimezone(UTC).replace(tzinfo=None)),
            )

    # -- a run's results, a page of series at a time (GET /all_data, GET /metrics/<window>) --

    def series_page(
        self, run_id: str, after: Cursor | None, limit: int, metrics: list[str] | None = None
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to `limit` series the run analysed (of `metrics`, when given), in the read API's
        page order (metric, series_id) after `after`, and whether more follow. The run's
        statistics rows say which series it analysed."""
        with self.db.transaction() as cursor:
            return self._page(cursor, "statistics", [run_id], after, limit, metrics)

    def stored_windows(self, run_id: str) -> int:
        """How many series windows of the run are stored (its statistics rows)."""
        with self.db.transaction() as cursor:
            cursor.execute("SELECT COUNT(*) AS n FROM statistics WHERE run_id = %s", (run_id,))
            return int(cursor.fetchone()["n"])

    def results(
        self, run_id: str, series: list[dict[str, Any]], forecasts_only: bool = False
    ) -> list[dict[str, Any]]:
        """The run's results of these series (a page of `series_page`), grouped by series, then
        window: statistics, metadata, forecasts with their points, and stage timings."""
        ids = [entry["id"] for entry in series]
        every = (STATISTICS_KIND, METADATA_KIND, FORECASTS_KIND)
        kinds = (FORECASTS_KIND,) if forecasts_only else every
        windows: dict[str, dict[str, dict[str, Any]]] = {i: {} for i in ids}

        def part(row: dict[str, Any]) -> dict[str, Any]:
            return windows[row["series_id"]].setdefault(row["window_name"], {})

        with self.db.transaction() as cursor:
            for kind in kinds:
                rows = read_rows(cursor, kind, ids, [run_id])
                if kind is FORECASTS_KIND:
                    attach_points(cursor, rows)
                    for row in rows:
                        shown = {**kind.shape(row), "points": row["points"]}
                        part(row).setdefault("forecasts", {})[row["aggregate"]] = shown
                else:
                    for row in rows:
                        part(row)[kind.name] = kind.shape(row)
            if not forecasts_only and ids:
                for row in self._timings(cursor, run_id, ids):
                    stages = part(row).setdefault("stages", {})
                    stages[row["stage"]] = row["seconds"]
        return [
            {
                "series": entry,
                "windows": {
                    name: windows[entry["id"]][name]
                    for name in sorted(windows[entry["id"]], key=window_order)
                },
            }
            for entry in series
        ]

    def window_timings(
        self, run_id: str, window: str, after: Cursor | None, limit: int
    ) -> tuple[dict[str, Any], bool]:
        """GET /metrics/<window>: a page of the run's series with their stage seconds in one
        window and, on the first page only (no `after`: the sum reads every series' rows),
        how many series the window has and their stage seconds summed; and whether more
        series follow."""
        body: dict[str, Any] = {}
        with self.db.transaction() as cursor:
            if after is None:
                cursor.execute(
                    "SELECT stage, SUM(seconds) AS seconds, COUNT(*) AS series FROM timings"
                    " WHERE run_id = %s AND window_name = %s GROUP BY stage",
                    [run_id, window],
                )
                sums = cursor.fetchall()
                totals = {row["stage"]: round(float(row["seconds"]), 6) for row in sums}
                body["series_count"] = max((int(row["series"]) for row in sums), default=0)
                body["totals"] = {stage: totals.get(stage, 0.0) for stage in STAGES}
            page, more = self._page(cursor, "timings", [run_id, window], after, limit)
            stages: dict[str, dict[str, float]] = {entry["id"]: {} for entry in page}
            for row in self._timings(cursor, run_id, list(stages), window):
                stages[row["series_id"]][row["stage"]] = row["seconds"]
        body["series"] = [{**entry, "stages": stages[entry["id"]]} for entry in page]
        return body, more

    # -- the cycle under way (the requests that join it read its id here) -----------------

    def save_cycle(self, run_id: str, now: datetime) -> None:
        """Written by the holder of the cycle lock as a cycle starts."""
        value = json.dumps({"run_id": run_id, "started_at": now.isoformat()})
        self._save(CYCLE_SETTING, value, now)

    def cycle(self) -> str | None:
        """The id of the last cycle started (it may have ended)."""
        value = self._read(CYCLE_SETTING)
        return None if value is None else str(value["run_id"])

    @staticmethod
    def _page(
        cursor: Any,
        table: str,
        params: list[Any],
        after: Cursor | None,
        limit: int,
        metrics: list[str] | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """{metric, labels, id} of one page of the series that have rows in `table` ("statistics"
        for the run, params [run_id]; "timings" for one window, [run_id, window]), in the order
        (metric, series_id), and whether more follow.

        The series are walked in page order on their (metric, series_id) key and each is
        probed on the table's primary key (series_id, run_id, window_name ...), so a page
        costs about `limit` probes (an IN subquery would read the whole run first); a run
        that has few of the stored series walks past the others."""
        window = " AND t.window_name = %s" if table == "timings" else ""
        probe = f"SELECT 1 FROM {table} t WHERE t.series_id = s.series_id AND t.run_id = %s{window}"
        where = [f"({probe} LIMIT 1) IS NOT NULL"]
        params = list(params)
        if metrics:
            where.append(f"s.metric IN ({placeholders(len(metrics))})")
            params += metrics
        if after is not None:
            where.append("(s.metric > %s OR (s.metric = %s AND s.series_id > %s))")
            params += [after.metric, after.metric, after.series_id]
        cursor.execute(
            f"SELECT s.series_id, s.metric, s.labels FROM series s WHERE {' AND '.join(where)}"
            " ORDER BY s.metric, s.series_id LIMIT %s",
            [*params, limit + 1],
        )
        rows = cursor.fetchall()
        page = [
            {"metric": row["metric"], "labels": json.loads(row["labels"]), "id": row["series_id"]}
            for row in rows[:limit]
        ]
        return page, len(rows) > limit

    @staticmethod
    def _timings(
        cursor: Any, run_id: str, ids: list[str], window: str | None = None
    ) -> list[dict[str, Any]]:
        if not ids:
            return []
        extra = " AND window_name = %s" if window is not None else ""
        cursor.execute(
            "SELECT series_id, window_name, stage, seconds FROM timings"
            f" WHERE run_id = %s AND series_id IN ({placeholders(len(ids))}){extra}",
            [run_id, *ids, *([window] if window is not None else [])],
        )
        return cursor.fetchall()
