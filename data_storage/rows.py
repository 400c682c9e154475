"""Message -> rows: which table rows each typed message becomes, and the upsert that writes them.

Pure: no I/O. Every table's primary key is the natural key of one result, and every write is
`INSERT ... ON DUPLICATE KEY UPDATE col = VALUES(col)` (MySQL 8 and MariaDB 10.11 alike), so a
redelivered message rewrites the same rows with the same values.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitoring_core.messages import (
    Forecast,
    Message,
    MessageError,
    Metadata,
    RunRecord,
    Statistics,
    Timing,
)

Row = tuple[Any, ...]
# series_id and window_name of rows that belong to the whole run (a NULL key would not be unique).
WHOLE_RUN = ""

# A run record never goes back from complete/failed to running (a late redelivery of the
# "running" record must not hide a finished run). `status` is assigned last because MySQL
# evaluates the assignments left to right and the guard reads the old status.
_RUN_ADVANCES = "(status = 'running' OR VALUES(status) <> 'running')"


@dataclass(frozen=True)
class Table:
    """One result table: its columns (key first) and how a duplicate key is updated."""

    name: str
    key: tuple[str, ...]
    values: tuple[str, ...]
    updates: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.key + self.values

    def upsert_sql(self, rows: int = 1, placeholder: str = "%s") -> str:
        """The upsert of `rows` rows; placeholder `?` makes it a server-side prepared statement."""
        # Identifiers come from the constants below, never from a message.
        columns = ", ".join(self.columns)
        row = f"({', '.join([placeholder] * len(self.columns))})"
        updates = ", ".join(self.updates.get(c, f"{c} = VALUES({c})") for c in self.values)
        return (
            f"INSERT INTO {self.name} ({columns}) VALUES {', '.join([row] * rows)} "
            f"ON DUPLICATE KEY UPDATE {updates}"
        )


RUNS = Table(
    "runs",
    key=("run_id",),
    values=("started_at", "finished_at", "series_count", "message_count", "summary", "status"),
    updates={
        **{
            c: f"{c} = IF({_RUN_ADVANCES}, VALUES({c}), {c})"
            for c in ("started_at", "finished_at", "series_count", "message_count", "summary")
        },
        "status": f"status = IF({_RUN_ADVANCES}, VALUES(status), status)",
    },
)
SERIES = Table(
    "series",
    key=("series_id",),
    values=("metric", "labels", "first_seen", "last_run_id", "last_seen"),
    updates={
        "first_seen": "first_seen = LEAST(first_seen, VALUES(first_seen))",
        # Before last_seen: it compares with the old last_seen.
        "last_run_id": (
            "last_run_id = IF(VALUES(last_seen) >= last_seen, VALUES(last_run_id), last_run_id)"
        ),
        "last_seen": "last_seen = GREATEST(last_seen, VALUES(last_seen))",
    },
)
_SERIES_KEY = ("series_id", "run_id", "window_name")
STATISTICS = Table(
    "statistics",
    key=_SERIES_KEY,
    values=(
        "computed_at", "start_at", "end_at", "sample_count", "max_value", "min_value",
        "mean_value", "std_value", "p50", "p95", "p99", "reason", "interval_seconds",
        "gap_count", "missing_samples", "longest_gap_seconds", "ended_at", "metric_type",
        "type_source", "transform", "domain", "domain_source",
    ),
)  # fmt: skip
AUTOCORRELATION = Table(
    "autocorrelation", key=_SERIES_KEY, values=("computed_at", "lags", "reason")
)
STATIONARITY = Table(
    "stationarity",
    key=_SERIES_KEY,
    values=(
        "computed_at", "statistic", "p_value", "used_lag", "nobs", "critical_1", "critical_5",
        "critical_10", "stationary", "reason",
    ),
)  # fmt: skip
SEASONALITY = Table(
    "seasonality",
    key=_SERIES_KEY,
    values=("computed_at", "period_minutes", "method", "strength", "seasonal", "reason"),
)
FORECASTS = Table(
    "forecasts",
    key=(*_SERIES_KEY, "aggregate", "ts"),
    values=("value", "lower_80", "upper_80", "lower_95", "upper_95"),
)
FORECAST_ERRORS = Table(
    "forecast_errors",
    key=(*_SERIES_KEY, "aggregate"),
    values=(
        "computed_at", "model", "period_buckets", "bucket_seconds", "point_count",
        "holdout_mae", "holdout_mase", "reason", "domain",
    ),
)  # fmt: skip
TIMINGS = Table("timings", key=(*_SERIES_KEY, "stage"), values=("computed_at", "seconds"))

# Written in this order inside one transaction: the same order in every batch, so two
# consumers never wait for each other's locks in opposite orders.
TABLES = (
    RUNS, SERIES, STATISTICS, AUTOCORRELATION, STATIONARITY, SEASONALITY, FORECASTS,
    FORECAST_ERRORS, TIMINGS,
)  # fmt: skip
TABLE_NAMES = tuple(table.name for table in TABLES)


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


def map_message(message: Message) -> dict[str, list[Row]]:
    """The rows one message becomes, by table name; `MessageError` if it lacks what its kind needs.

    run -> runs; statistics -> statistics; metadata -> autocorrelation, stationarity and
    seasonality; forecast -> one forecasts row per point and one forecast_errors row; timing ->
    one timings row per stage. Every message with a series also upserts that series.
    """
    # Called for every message the consumer reads: plain dicts and tuples, no per-row helpers.
    payload = message.payload
    run_id = message.run_id
    computed = to_utc(message.computed_at)
    rows: dict[str, list[Row]]
    if isinstance(payload, RunRecord):
        return {
            RUNS.name: [
                (
                    run_id, to_utc(payload.started_at), to_utc(payload.finished_at),
                    payload.series_count, payload.message_count, payload.reason, payload.status,
                )
            ]
        }  # fmt: skip

    series = message.series
    if isinstance(payload, Timing):
        series_id = series.id if series else WHOLE_RUN
        window = message.window or WHOLE_RUN
        rows = {
            TIMINGS.name: [
                (series_id, run_id, window, stage, computed, seconds)
                for stage, seconds in sorted(payload.stages.items())
            ]
        }
    else:
        if series is None or not message.window:
            raise MessageError(f"a {payload.kind} message needs a series and a window")
        key = (series.id, run_id, message.window)
        if isinstance(payload, Forecast):
            aggregate = payload.aggregate
            rows = {
                FORECAST_ERRORS.name: [
                    (
                        *key, aggregate, computed, payload.model, payload.period_buckets,
                        payload.bucket_seconds, len(payload.points), payload.holdout_mae,
                        payload.holdout_mase, payload.reason, payload.domain,
                    )
                ]
            }  # fmt: skip
            if payload.points:
                rows[FORECASTS.name] = [
                    (
                        *key, aggregate, to_utc(point.timestamp), point.value, point.lower_80,
                        point.upper_80, point.lower_95, point.upper_95,
                    )
                    for point in payload.points
                ]  # fmt: skip
        elif isinstance(payload, Statistics):
            rows = {
                STATISTICS.name: [
                    (
                        *key, computed, to_utc(payload.start), to_utc(payload.end), payload.count,
                        payload.max, payload.min, payload.mean, payload.std, payload.p50,
                        payload.p95, payload.p99, payload.reason, payload.interval_seconds,
                        payload.gaps, payload.missing_samples, payload.longest_gap_seconds,
                        to_utc(payload.ended_at), payload.metric_type, payload.type_source,
                        payload.transform, payload.domain, payload.domain_source,
                    )
                ]
            }  # fmt: skip
        elif isinstance(payload, Metadata):
            acf, adf, season = payload.autocorrelation, payload.stationarity, payload.seasonality
            rows = {
                AUTOCORRELATION.name: [(*key, computed, dump_json(acf.lags), acf.reason)],
                STATIONARITY.name: [
                    (
                        *key, computed, adf.statistic, adf.p_value, adf.used_lag, adf.nobs,
                        adf.critical_1, adf.critical_5, adf.critical_10, adf.stationary,
                        adf.reason,
                    )
                ],
                SEASONALITY.name: [
                    (
                        *key, computed, season.period_minutes, season.method, season.strength,
                        dump_json(season.seasonal), season.reason,
                    )
                ],
            }  # fmt: skip
        else:  # a payload kind added to messages.py but not mapped here yet
            raise MessageError(f"no table for {payload.kind} messages")

    if series is not None:
        rows[SERIES.name] = [
            (series.id, series.metric, dump_json(series.labels), computed, run_id, computed)
        ]
    return rows


class Batch:
    """The rows of many messages, merged per table, ready for one transaction."""

    def __init__(self) -> None:
        self.rows: dict[str, list[Row]] = defaultdict(list)
        # One series row per series: the earliest first_seen, the latest last_seen and its run.
        self._series: dict[str, Row] = {}

    def add(self, rows: dict[str, list[Row]]) -> None:
        for table, table_rows in rows.items():
            if table == SERIES.name:
                for row in table_rows:
                    self._merge_series(row)
            else:
                self.rows[table].extend(table_rows)

    def _merge_series(self, row: Row) -> None:
        old = self._series.get(row[0])
        if old is None:
            self._series[row[0]] = row
            return
        first_seen = min(old[3], row[3])
        latest = row if row[5] >= old[5] else old
        self._series[row[0]] = (row[0], row[1], row[2], first_seen, latest[4], latest[5])

    def tables(self) -> list[tuple[Table, list[Row]]]:
        """(table, rows) in the fixed write order, skipping empty tables."""
        merged = {**self.rows, SERIES.name: list(self._series.values())}
        return [(table, merged[table.name]) for table in TABLES if merged.get(table.name)]

    def row_count(self) -> int:
        return sum(len(rows) for _, rows in self.tables())
