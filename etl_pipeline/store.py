"""The ETL's state in MySQL: its runs (written by data_storage from the run records) and the
forecast settings (written here by POST /forecasting, read by the next cycle's scheduler).

Every ETL API replica and every gunicorn worker reads the same rows, so they answer alike.
The ETL's database account may read the result tables and write only `etl_settings`
(monitoring_core.db.ROLE_GRANTS).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitoring_core.db import Database

from .analysis import ForecastConfig

FORECAST_SETTING = "forecast"
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
    """Reads the runs, reads and writes the forecast settings."""

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
        with self.db.transaction() as cursor:
            cursor.execute("SELECT value FROM etl_settings WHERE name = %s", (FORECAST_SETTING,))
            row = cursor.fetchone()
        if row is None:
            return None
        value = json.loads(row["value"])
        return ForecastConfig(tuple(value["metrics"]), int(value["horizon_minutes"]))

    def save_forecast(self, config: ForecastConfig, now: datetime) -> None:
        value = json.dumps(
            {"metrics": list(config.metrics), "horizon_minutes": config.horizon_minutes}
        )
        with self.db.transaction() as cursor:
            cursor.execute(
                "INSERT INTO etl_settings (name, value, updated_at) VALUES (%s, %s, %s)"
                " ON DUPLICATE KEY UPDATE value = VALUES(value), updated_at = VALUES(updated_at)",
                (FORECAST_SETTING, value, now.astimezone(UTC).replace(tzinfo=None)),
            )
