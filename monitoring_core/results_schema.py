"""The result tables, declared once: columns, key, the message field of each column, its API name.

The ETL's messages (`monitoring_core.messages`) are stored by data_storage into these tables and
read back by data_retrieval; both are built from this declaration, and so are the database
roles' grants (`monitoring_core.db`). Tests compare it with the live database's
`information_schema` and with the message models, so a column that one side lacks fails there.

A column's `field` is a dotted path into the message that fills it (`payload.count`,
`series.id`), or into one item of the table's `items` (`item.value`, one row per forecast
point); None when the storage computes the value itself (data_storage.rows says how). Its
`api` is where the read API shows it in a result object (`samples.gaps` is the key `gaps` of the
object `samples`); None when the API does not show it. The SQL types live in `sql/`: a column
is added by a migration and declared here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

# How a value changes form between message, column and JSON:
#   value: as it is; time: a datetime (naive UTC in DATETIME columns, ISO 8601 in the API);
#   json: a list or map (JSON text in a TEXT column); flag: a bool (TINYINT(1) in the column);
#   count: the number of items of a list field.
Form = Literal["value", "time", "json", "flag", "count"]

# series_id and window_name of rows that belong to the whole run (a NULL key would not be unique).
WHOLE_RUN = ""


@dataclass(frozen=True)
class Column:
    name: str
    field: str | None
    api: str | None = None
    form: Form = "value"


@dataclass(frozen=True)
class ResultTable:
    """One result table: its columns (key first), what fills them, and how a duplicate key
    is updated (default: `col = VALUES(col)`, the redelivered message's value)."""

    name: str
    kind: str | None  # the payload kind whose messages write rows here; None: every message
    key: tuple[Column, ...]
    values: tuple[Column, ...]
    items: str | None = None  # a list field of the message: one row per item
    updates: Mapping[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[Column, ...]:
        return self.key + self.values

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.key)

    def upsert_sql(self, rows: int = 1, placeholder: str = "%s") -> str:
        """The upsert of `rows` rows; placeholder `?` makes it a server-side prepared statement."""
        # Identifiers come from this module, never from a message.
        columns = ", ".join(self.column_names)
        row = f"({', '.join([placeholder] * len(self.columns))})"
        updates = ", ".join(
            self.updates.get(c.name, f"{c.name} = VALUES({c.name})") for c in self.values
        )
        return (
            f"INSERT INTO {self.name} ({columns}) VALUES {', '.join([row] * rows)} "
            f"ON DUPLICATE KEY UPDATE {updates}"
        )


def _series_key(shown: bool) -> tuple[Column, ...]:
    """series_id, run_id, window_name: the key every per-series result starts with."""
    return (
        Column("series_id", "series.id", "series_id" if shown else None),
        Column("run_id", "run_id", "run_id" if shown else None),
        Column("window_name", "window", "window" if shown else None),
    )


def _computed_at(shown: bool) -> Column:
    return Column("computed_at", "computed_at", "computed_at" if shown else None, "time")


def _values(prefix: str, api: str, names: str) -> tuple[Column, ...]:
    """Columns named as their message field under `prefix`, shown under `api` with that name."""
    return tuple(Column(n, f"{prefix}.{n}", f"{api}{n}") for n in names.split())


# A run record never goes back from complete/failed to running (a late redelivery of the
# "running" record must not hide a finished run). `status` is assigned last because MySQL
# evaluates the assignments left to right and the guard reads the old status.
_RUN_ADVANCES = "(status = 'running' OR VALUES(status) <> 'running')"
_RUN_VALUES = (
    "started_at",
    "finished_at",
    "series_count",
    "message_count",
    "summary",
    "shard_count",
    "retried_shards",
    "details",
)

RUNS_TABLE = ResultTable(
    "runs",
    kind="run",
    key=(Column("run_id", "run_id", "run_id"),),
    values=(
        Column("started_at", "payload.started_at", "started_at", "time"),
        Column("finished_at", "payload.finished_at", "finished_at", "time"),
        Column("series_count", "payload.series_count"),
        Column("message_count", "payload.message_count"),
        Column("summary", "payload.reason"),
        Column("shard_count", "payload.shard_count"),
        Column("retried_shards", "payload.retried_shards", None, "json"),
        Column("details", "payload.details", None, "json"),
        Column("status", "payload.status", "status"),
    ),
    updates={
        **{c: f"{c} = IF({_RUN_ADVANCES}, VALUES({c}), {c})" for c in _RUN_VALUES},
        "status": f"status = IF({_RUN_ADVANCES}, VALUES(status), status)",
    },
)
# Every message with a series upserts it: first seen and last seen at its computed_at.
SERIES_TABLE = ResultTable(
    "series",
    kind=None,
    key=(Column("series_id", "series.id", "series_id"),),
    values=(
        Column("metric", "series.metric", "metric"),
        Column("labels", "series.labels", "labels", "json"),
        Column("first_seen", "computed_at", "first_seen", "time"),
        Column("last_run_id", "run_id", "last_run_id"),
        Column("last_seen", "computed_at", "last_seen", "time"),
    ),
    updates={
        "first_seen": "first_seen = LEAST(first_seen, VALUES(first_seen))",
        # Before last_seen: it compares with the old last_seen.
        "last_run_id": (
            "last_run_id = IF(VALUES(last_seen) >= last_seen, VALUES(last_run_id), last_run_id)"
        ),
        "last_seen": "last_seen = GREATEST(last_seen, VALUES(last_seen))",
    },
)


def label_value_hash(value: str) -> bytes:
    """series_labels.value_hash: SHA-256 of the value's UTF-8 bytes (sql/009 computes the same
    with `UNHEX(SHA2(value, 256))`); the writer stores it, the read API seeks by it."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


# One row per label of a series (data_storage.rows.label_rows), written with the series: the
# read API's label matchers are index seeks on (name, value_hash, metric, series_id). A series
# id is a hash of its metric and labels, so these rows never change once written.
SERIES_LABELS_TABLE = ResultTable(
    "series_labels",
    kind=None,
    key=(Column("series_id", None), Column("name", None)),
    values=(Column("value_hash", None), Column("metric", None), Column("value", None)),
)
STATISTICS_TABLE = ResultTable(
    "statistics",
    kind="statistics",
    key=_series_key(shown=True),
    values=(
        _computed_at(shown=True),
        Column("start_at", "payload.start", "start", "time"),
        Column("end_at", "payload.end", "end", "time"),
        Column("sample_count", "payload.count", "count"),
        Column("max_value", "payload.max", "max"),
        Column("min_value", "payload.min", "min"),
        Column("mean_value", "payload.mean", "mean"),
        Column("std_value", "payload.std", "std"),
        *_values("payload", "", "p50 p95 p99 reason"),
        # The raw samples in time (issue 11).
        Column("interval_seconds", "payload.interval_seconds", "samples.interval_seconds"),
        Column("gap_count", "payload.gaps", "samples.gaps"),
        Column("missing_samples", "payload.missing_samples", "samples.missing_samples"),
        Column("longest_gap_seconds", "payload.longest_gap_seconds", "samples.longest_gap_seconds"),
        Column("ended_at", "payload.ended_at", "samples.ended_at", "time"),
        # What the series is and how it was analysed (issue 15).
        *_values(
            "payload", "series_kind.", "metric_type type_source transform domain domain_source"
        ),
    ),
)
# The three metadata tables are written together from one message: autocorrelation leads.
AUTOCORRELATION_TABLE = ResultTable(
    "autocorrelation",
    kind="metadata",
    key=_series_key(shown=True),
    values=(
        _computed_at(shown=True),
        Column("lags", "payload.autocorrelation.lags", "autocorrelation.lags", "json"),
        Column("reason", "payload.autocorrelation.reason", "autocorrelation.reason"),
    ),
)
_ADF = "payload.stationarity"
STATIONARITY_TABLE = ResultTable(
    "stationarity",
    kind="metadata",
    key=_series_key(shown=False),
    values=(
        _computed_at(shown=False),
        *_values(_ADF, "stationarity.", "statistic p_value used_lag nobs"),
        Column("critical_1", f"{_ADF}.critical_1", "stationarity.critical_values.1%"),
        Column("critical_5", f"{_ADF}.critical_5", "stationarity.critical_values.5%"),
        Column("critical_10", f"{_ADF}.critical_10", "stationarity.critical_values.10%"),
        Column("stationary", f"{_ADF}.stationary", "stationarity.stationary", "flag"),
        Column("reason", f"{_ADF}.reason", "stationarity.reason"),
    ),
)
SEASONALITY_TABLE = ResultTable(
    "seasonality",
    kind="metadata",
    key=_series_key(shown=False),
    values=(
        _computed_at(shown=False),
        *_values("payload.seasonality", "seasonality.", "period_minutes method strength"),
        Column("seasonal", "payload.seasonality.seasonal", "seasonality.seasonal", "json"),
        Column("reason", "payload.seasonality.reason", "seasonality.reason"),
    ),
)
# One row per forecast point; the API shows them as the `points` of their forecast.
FORECASTS_TABLE = ResultTable(
    "forecasts",
    kind="forecast",
    items="payload.points",
    key=(
        *_series_key(shown=False),
        Column("aggregate", "payload.aggregate"),
        Column("ts", "item.timestamp", "timestamp", "time"),
    ),
    values=(
        Column("value", "item.value", "value"),
        *_values("item", "", "lower_80 upper_80 lower_95 upper_95"),
    ),
)
# One row per forecast (series, run, window, aggregate): the model and its held-out error.
FORECAST_ERRORS_TABLE = ResultTable(
    "forecast_errors",
    kind="forecast",
    key=(*_series_key(shown=True), Column("aggregate", "payload.aggregate", "aggregate")),
    values=(
        _computed_at(shown=True),
        *_values("payload", "", "model period_buckets bucket_seconds"),
        Column("point_count", "payload.points", None, "count"),
        *_values("payload", "", "holdout_mae holdout_mase reason domain"),
    ),
)
# Seconds per ETL stage, one row per entry of the message's stages; series_id and window_name
# are WHOLE_RUN for the run's own stages.
TIMINGS_TABLE = ResultTable(
    "timings",
    kind="timing",
    key=(
        Column("series_id", None, "series_id"),
        Column("run_id", "run_id", "run_id"),
        Column("window_name", None, "window"),
        Column("stage", None, "stage"),
    ),
    values=(_computed_at(shown=False), Column("seconds", None, "seconds")),
)

# Written in this order inside one transaction: the same order in every batch, so two
# consumers never wait for each other's locks in opposite orders.
RESULT_TABLES = (
    RUNS_TABLE,
    SERIES_TABLE,
    SERIES_LABELS_TABLE,
    STATISTICS_TABLE,
    AUTOCORRELATION_TABLE,
    STATIONARITY_TABLE,
    SEASONALITY_TABLE,
    FORECASTS_TABLE,
    FORECAST_ERRORS_TABLE,
    TIMINGS_TABLE,
)
RESULT_TABLE_NAMES = tuple(table.name for table in RESULT_TABLES)


def complete_runs_sql(columns: str, presence: str, condition: str = "") -> str:
    """The complete runs (aliased r) that have a row in `presence` (aliased x), newest first.

    "Latest" everywhere is this plus `LIMIT 1`. `condition` narrows the probe (`x.series_id =
    s.series_id` correlates it on an outer series s). Not EXISTS: the optimizers turn EXISTS into
    a semi-join that reads a series' whole history; this form walks the runs (status,
    started_at) index newest first and stops at the first run whose probe (a primary-key prefix
    lookup: every result key starts series_id, run_id) finds a row.
    """
    where = f"{condition} AND " if condition else ""
    return (
        f"SELECT {columns} FROM runs r WHERE r.status = 'complete' AND (SELECT 1 FROM {presence} x"
        f" WHERE {where}x.run_id = r.run_id LIMIT 1) IS NOT NULL"
        " ORDER BY r.started_at DESC, r.run_id DESC"
    )
