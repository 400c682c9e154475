"""The typed, versioned messages the ETL publishes to Kafka, and their bytes.

One envelope per message: schema version, run id, computed-at time, the series (metric
name, labels and their stable id), the window, and a payload whose `kind` says what it
is: run, statistics, metadata, forecast or timing. `encode` and `decode` are the only
way a message becomes bytes and back; `decode` raises `MessageError` with a reason that
the consumer sends, with the raw bytes, to the dead-letter topic.

Every string, list and map is bounded by the column it is stored in (sql/001_init.sql,
sql/002_results.sql), so a value the database would refuse is refused here, where the
message is built, rather than dead-lettered by MySQL after the fact.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from monitoring_core.promql import MAX_METRIC_NAME

SCHEMA_VERSION: Literal[1] = 1
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
Aggregate = Literal["mean", "min", "max"]
AGGREGATES: tuple[Aggregate, ...] = get_args(Aggregate)  # the forecast bucket aggregates

# Column sizes. VARCHAR(n) counts characters; TEXT counts bytes, and utf8mb4 takes up to 4 a
# character, so a free text in TEXT (runs.summary) is bounded to 65,535 / 4 characters.
REASON_CHARS = 255  # reason VARCHAR(255)
RUN_REASON_CHARS = 65_535 // 4  # runs.summary TEXT
NAME_CHARS = 64  # seasonality.method, forecast_errors.model, timings.stage: VARCHAR(64)
LABELS_JSON_CHARS = 65_535  # series.labels TEXT, as data_storage.rows.dump_json writes it
MAX_LABELS = 128
MAX_STAGES = 64
# A 7-day window (monitoring_core.windows.MAX_WINDOW) of 1-minute buckets has at most 10,080
# buckets and a season of at most half that; ETL_ACF_LAGS is at most 1,000.
MAX_SERIES_VALUES = 10_000
MAX_SHARDS = 10_000
MAX_SHARD_SERIES = 10_000

Reason = Annotated[str, StringConstraints(max_length=REASON_CHARS)]
Name = Annotated[str, StringConstraints(max_length=NAME_CHARS)]


class MessageError(ValueError):
    """The bytes are not a message this version understands; the text says why."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


_M = TypeVar("_M", bound=_Model)


def series_id(metric: str, labels: dict[str, str]) -> str:
    """A stable 16-hex-digit id of a metric name and one label set (order does not matter)."""
    canonical = json.dumps({"__name__": metric, **labels}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class SeriesRef(_Model):
    """One series: a metric name is not enough, a selector can match several label sets."""

    metric: str = Field(min_length=1, max_length=MAX_METRIC_NAME)
    labels: dict[str, str] = Field(max_length=MAX_LABELS)
    id: str = Field(pattern=r"^[0-9a-f]{16}$")

    @classmethod
    def of(cls, metric: str, labels: dict[str, str]) -> SeriesRef:
        labels = {k: v for k, v in labels.items() if k != "__name__"}
        return cls(metric=metric, labels=labels, id=series_id(metric, labels))

    @field_validator("labels")
    @classmethod
    def _labels_fit(cls, value: dict[str, str]) -> dict[str, str]:
        # ASCII JSON, as stored: a character takes at most 12 (a surrogate pair escaped), so
        # the exact size is only computed for the rare label set that might not fit.
        bound = 2 + sum(12 * (len(k) + len(v)) + 6 for k, v in value.items())
        if bound > LABELS_JSON_CHARS:
            size = len(json.dumps(value, separators=(",", ":"), sort_keys=True))
            if size > LABELS_JSON_CHARS:
                raise ValueError(
                    f"labels take {size} characters as JSON; at most {LABELS_JSON_CHARS}"
                )
        return value

    @field_validator("id")
    @classmethod
    def _id_matches(cls, value: str, info: ValidationInfo) -> str:
        data = info.data
        if {"metric", "labels"} <= data.keys() and value != series_id(
            data["metric"], data["labels"]
        ):
            raise ValueError("series id does not match metric and labels")
        return value


class RunRecord(_Model):
    """A run of the ETL: written when it starts and again when all its messages are acked."""

    kind: Literal["run"] = "run"
    status: Literal["running", "complete", "failed"]
    started_at: datetime
    finished_at: datetime | None = None
    series_count: int = Field(ge=0)
    message_count: int = Field(ge=0, default=0)
    reason: str | None = Field(default=None, max_length=RUN_REASON_CHARS)
    # A distributed cycle (etl_pipeline.scheduler): how many shards it was split into, which
    # were started on more than one worker, and the run's summary as the ETL API answers it
    # (windows, data end, forecast settings, stages, skipped series). Optional: a message of
    # an older ETL has none.
    shard_count: int | None = Field(default=None, ge=0, le=MAX_SHARDS)
    retried_shards: list[int] | None = Field(default=None, max_length=MAX_SHARDS)
    details: dict[str, Any] | None = None


class StatisticsPayload(_Model):
    """max, min, mean, sample std, count and percentiles of one series in one window."""

    kind: Literal["statistics"] = "statistics"
    start: datetime
    end: datetime
    count: int = Field(ge=0)
    max: float | None = None
    min: float | None = None
    mean: float | None = None
    std: float | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    reason: Reason | None = None
    # The raw samples in time (analytics.clean_samples): the scrape interval learned from
    # their spacing, gaps over 1.5 intervals and the samples they miss, and when the series
    # ended inside the window. Optional: a message of an older ETL has none.
    interval_seconds: float | None = Field(default=None, gt=0)
    gaps: int | None = Field(default=None, ge=0)
    missing_samples: int | None = Field(default=None, ge=0)
    longest_gap_seconds: float | None = Field(default=None, ge=0)
    ended_at: datetime | None = None
    # What the series is and how it was analysed (monitoring_core.metric_types, analytics.
    # domain): its type and what decided it, raw or as a per-second rate, and the domain its
    # forecasts respect. Optional: a message of an older ETL has none.
    metric_type: Name | None = None
    type_source: Name | None = None
    transform: Literal["raw", "rate"] | None = None
    domain: Name | None = None
    domain_source: Name | None = None


class Autocorrelation(_Model):
    lags: list[float] | None = Field(default=None, max_length=MAX_SERIES_VALUES)  # lag 1..k
    reason: Reason | None = None


class Stationarity(_Model):
    statistic: float | None = None
    p_value: float | None = None
    used_lag: int | None = None
    nobs: int | None = None
    critical_1: float | None = None
    critical_5: float | None = None
    critical_10: float | None = None
    stationary: bool | None = None  # verdict at 5 %
    reason: Reason | None = None


class Seasonality(_Model):
    period_minutes: float | None = None
    method: Name | None = None  # how the period was estimated
    strength: float | None = Field(default=None, ge=0, le=1)
    # One period of the additive seasonal component.
    seasonal: list[float] | None = Field(default=None, max_length=MAX_SERIES_VALUES)
    reason: Reason | None = None


class Metadata(_Model):
    """Time-series diagnostics of one series in one window."""

    kind: Literal["metadata"] = "metadata"
    autocorrelation: Autocorrelation
    stationarity: Stationarity
    seasonality: Seasonality


class ForecastPoint(_Model):
    timestamp: datetime
    value: float
    lower_80: float | None = None
    upper_80: float | None = None
    lower_95: float | None = None
    upper_95: float | None = None


class ForecastPayload(_Model):
    """The forecast of one bucket aggregate (mean, min or max) and its held-out error."""

    kind: Literal["forecast"] = "forecast"
    aggregate: Aggregate
    model: Name | None = None
    period_buckets: int | None = None
    bucket_seconds: int = Field(gt=0)
    points: list[ForecastPoint] = Field(default_factory=list, max_length=10_000)
    holdout_mae: float | None = None
    holdout_mase: float | None = None
    reason: Reason | None = None
    # The domain the points and intervals were truncated to (analytics.domain); None: free.
    domain: Name | None = None


class Timing(_Model):
    """Seconds per stage; per series-window, or for the whole run when series is None."""

    kind: Literal["timing"] = "timing"
    stages: dict[Name, float] = Field(max_length=MAX_STAGES)


Payload = Annotated[
    RunRecord | StatisticsPayload | Metadata | ForecastPayload | Timing, Field(discriminator="kind")
]


class Message(_Model):
    schema_version: Literal[1] = SCHEMA_VERSION
    run_id: str = Field(min_length=1, max_length=36)
    computed_at: datetime
    series: SeriesRef | None = None
    window: str | None = Field(default=None, max_length=8)
    payload: Payload

    @property
    def kind(self) -> str:
        return self.payload.kind

    def key(self) -> bytes:
        """Kafka key: one series stays on one partition, in order."""
        return (self.series.id if self.series else self.run_id).encode()


def encode(message: Message | WorkItem | ShardStatus) -> bytes:
    return message.model_dump_json().encode()


def decode(raw: bytes | None) -> Message:
    """Parse and validate; any failure is a `MessageError` whose text says why."""
    if raw is None:
        raise MessageError("empty message")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MessageError(f"message of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")
    # Fast path: pydantic's own JSON parser straight into the models, without Python dicts on
    # the way. A message without schema_version would get the default here, so it goes the
    # slow way too; any failure is explained by the slow way below.
    try:
        message = Message.model_validate_json(raw)
        if "schema_version" in message.model_fields_set:
            return message
    except (ValueError, RecursionError):  # ValidationError is a ValueError
        pass
    try:
        data = json.loads(raw)
    except RecursionError as exc:
        # b"[" * 100_000: json.loads recurses once per level; pydantic stops at its own limit.
        raise MessageError("not JSON: nested too deeply") from exc
    except (ValueError, TypeError) as exc:  # JSONDecodeError, UnicodeDecodeError among them
        raise MessageError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise MessageError("not a JSON object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise MessageError(f"unknown schema_version {version!r} (this consumer reads 1)")
    try:
        return Message.model_validate(data)
    except RecursionError as exc:
        raise MessageError("invalid message: nested too deeply") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        raise MessageError(f"invalid message: {problems}") from exc
    except (TypeError, ValueError) as exc:  # a validator's own failure, not pydantic's
        raise MessageError(f"invalid message: {exc}") from exc


# -- the distributed cycle's own messages (etl_pipeline.scheduler and etl_pipeline.shard_worker) --


class ShardQuery(_Model):
    """One range query of a shard: a discovered label set (exact matchers) or an expression
    (labels None), and how its series are analysed (etl_pipeline.discovery.SeriesQuery)."""

    name: str = Field(min_length=1, max_length=MAX_METRIC_NAME)
    promql: str = Field(min_length=1, max_length=4_000)
    labels: dict[str, str] | None = Field(default=None, max_length=MAX_LABELS)
    metric_type: Name
    type_source: Name
    unit: Name | None = None
    transform: Literal["raw", "rate", "skip"] = "raw"


class WorkItem(_Model):
    """One shard of a cycle, published by the elected scheduler to the work topic and
    processed by the ETL worker that holds its partition."""

    kind: Literal["work"] = "work"
    schema_version: Literal[1] = SCHEMA_VERSION
    run_id: str = Field(min_length=1, max_length=36)
    shard: int = Field(ge=0)
    shard_count: int = Field(ge=1, le=MAX_SHARDS)
    data_end: datetime  # the windows end here (aligned to the step)
    forecast_metrics: list[str] = Field(max_length=1_000)
    horizon_minutes: int = Field(ge=1)
    queries: list[ShardQuery] = Field(max_length=MAX_SHARD_SERIES)

    def key(self) -> bytes:
        return f"{self.run_id}/{self.shard}".encode()


class ShardStatus(_Model):
    """A worker started, or finished (its results acknowledged), one shard of a run.

    Keyed by run id on a one-partition topic, so the scheduler reads a run's statuses in
    order from the cycle's start."""

    kind: Literal["shard"] = "shard"
    schema_version: Literal[1] = SCHEMA_VERSION
    run_id: str = Field(min_length=1, max_length=36)
    shard: int = Field(ge=0)
    status: Literal["started", "done", "failed"]
    worker: str = Field(min_length=1, max_length=NAME_CHARS)
    at: datetime
    series_count: int = Field(ge=0, default=0)
    message_count: int = Field(ge=0, default=0)
    series_windows: int = Field(ge=0, default=0)  # done: the statistics messages among them
    seconds: float = Field(ge=0, default=0.0)
    skipped: list[dict[str, str]] = Field(default_factory=list, max_length=MAX_SHARD_SERIES)
    reason: str | None = Field(default=None, max_length=RUN_REASON_CHARS)  # failed: why
    unavailable: bool = False  # failed because Prometheus or Kafka is down

    def key(self) -> bytes:
        return self.run_id.encode()


def decode_as(model: type[_M], raw: bytes | None) -> _M:
    """Parse a work item or a shard status; any failure is a `MessageError` saying why."""
    if raw is None:
        raise MessageError("empty message")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MessageError(f"message of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        raise MessageError(f"invalid {model.__name__}: {problems}") from exc
