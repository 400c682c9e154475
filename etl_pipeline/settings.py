"""The ETL's own settings (prefix ETL_): schedule, windows, which series, analytics knobs."""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings

from monitoring_core.analytics.domain import BOUNDS
from monitoring_core.promql import is_metric_name
from monitoring_core.settings import settings_config
from monitoring_core.windows import parse_windows

MAX_EXPRESSIONS = 100
MAX_EXPRESSION_CHARS = 2_000
# The producer's "delivery.timeout.ms" (30_000 in monitoring_core.kafka.Publisher): a flush
# that gives up before it reports the batch failed while librdkafka still delivers it.
PRODUCER_DELIVERY_TIMEOUT_SECONDS = 30.0


def parse_names(text: str) -> tuple[str, ...]:
    """Comma-separated metric names, duplicates dropped, order kept."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    for name in names:
        if not is_metric_name(name):
            raise ValueError(f"{name!r} is not a metric name")
    return tuple(dict.fromkeys(names))


class ETLSettings(BaseSettings):
    """How often the ETL runs, over which windows and series, and the analytics' knobs."""

    model_config = settings_config("ETL_")

    interval_seconds: int = Field(300, ge=10, le=86_400)
    scheduler_enabled: bool = True
    windows: str = "1h,3h,12h"
    max_series: int = Field(2000, ge=1, le=100_000)
    query_concurrency: int = Field(4, ge=1, le=32)
    # JSON object in the environment, e.g. {"reqRate": "rate(http_requests_total[5m])"}.
    metric_expressions: dict[str, str] = Field(default_factory=dict)
    # Prometheus adds up and scrape_* series to every job, and its rules write ALERTS,
    # ALERTS_FOR_STATE and recorded series (a colon in the name, by convention) that keep the
    # source series' labels, so the selector matches them too: none is the user's metrics.
    exclude_metrics: str = r"^(up|scrape_.*|ALERTS|ALERTS_FOR_STATE|.*:.*)$"
    # Counters (Prometheus' metadata, else _total/_sum/_count) are analysed as per-second
    # rates; off globally here, or for the metrics this regex matches.
    counter_rates: bool = True
    raw_metrics: str = r"(?!)"
    # Histogram buckets are never analysed one by one; true adds p50/p95/p99 per histogram
    # (histogram_quantile over the buckets' rate) as series named <family>:p50 etc.
    histogram_quantiles: bool = False
    # JSON {"metric": "free" | "non_negative" | "unit_interval" | "percent"}: the domain that
    # forecasts respect, instead of the one inferred from type, unit, name and history.
    domains: dict[str, str] = Field(default_factory=dict)
    forecast_metrics: str = "availableMem,cpuLoad,cpuTemp,diskUsage,networkThroughput"
    horizon_minutes: int = Field(10, ge=1)
    max_horizon_minutes: int = Field(120, ge=1, le=1440)
    acf_lags: int | None = Field(None, ge=1, le=1000)  # None: statsmodels' default
    bucket_minutes: int = Field(2, ge=1, le=60)
    max_gap_minutes: int = Field(6, ge=1, le=1440)
    min_period_minutes: float = Field(4.0, gt=0)
    max_period_minutes: float = Field(240.0, gt=0)
    # Process pool for the analytics of big cycles; 0 keeps them in the cycle's thread.
    analysis_processes: int = Field(0, ge=0, le=64)
    process_pool_min_series: int = Field(200, ge=1)
    publish_timeout_seconds: float = Field(60.0, gt=0, le=600)
    kafka_check_timeout_seconds: float = Field(5.0, gt=0, le=60)
    max_body_bytes: int = Field(16 * 1024, ge=256, le=1024 * 1024)
    # The distributed cycle (etl_pipeline.scheduler, etl_pipeline.shard_worker): at most this
    # many series per work item; the workers' consumer group and its session timeout (a
    # killed worker's shards move to the others after it); how long a scheduler waits for
    # every shard before it fails the run.
    # False (the default): the periodic cycle runs in this API process, as the seed's routes
    # expect (/all_data answers it). True: the elected replica hands the periodic cycles to the
    # ETL workers (their results reach MySQL and the read API; /all_data and /metrics/<window>
    # answer only this process's on-demand runs until the ETL API is stateless, issue 12).
    distributed: bool = False
    shard_series: int = Field(100, ge=1, le=10_000)
    worker_group: str = "etl-workers"
    worker_session_timeout_seconds: int = Field(10, ge=6, le=300)
    shard_timeout_seconds: float = Field(900.0, gt=0, le=86_400)

    @field_validator("windows")
    @classmethod
    def _valid_windows(cls, value: str) -> str:
        return ",".join(parse_windows(value))

    @field_validator("publish_timeout_seconds")
    @classmethod
    def _outlasts_delivery_timeout(cls, value: float) -> float:
        if value <= PRODUCER_DELIVERY_TIMEOUT_SECONDS:
            raise ValueError(
                f"publish_timeout_seconds must be above the producer's delivery timeout "
                f"({PRODUCER_DELIVERY_TIMEOUT_SECONDS:.0f}s, delivery.timeout.ms): a shorter "
                "wait fails the run while Kafka still delivers its messages"
            )
        return value

    @field_validator("forecast_metrics")
    @classmethod
    def _valid_forecast_metrics(cls, value: str) -> str:
        return ",".join(parse_names(value))

    @field_validator("exclude_metrics", "raw_metrics")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value

    @field_validator("domains")
    @classmethod
    def _valid_domains(cls, value: dict[str, str]) -> dict[str, str]:
        for name, domain in value.items():
            if not is_metric_name(name):
                raise ValueError(f"{name!r} is not a metric name")
            if domain not in BOUNDS:
                raise ValueError(f"{name}: domain {domain!r} is not one of {', '.join(BOUNDS)}")
        return value

    @field_validator("metric_expressions")
    @classmethod
    def _valid_expressions(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_EXPRESSIONS:
            raise ValueError(f"at most {MAX_EXPRESSIONS} metric expressions")
        for name, expression in value.items():
            if not is_metric_name(name):
                raise ValueError(f"expression name {name!r} is not a metric name")
            if not expression.strip() or len(expression) > MAX_EXPRESSION_CHARS:
                raise ValueError(f"expression {name!r} is empty or too long")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ETLSettings:
        if self.horizon_minutes > self.max_horizon_minutes:
            raise ValueError("horizon_minutes is above max_horizon_minutes")
        if self.horizon_minutes < self.bucket_minutes:
            raise ValueError("horizon_minutes is shorter than one bucket")
        if self.min_period_minutes >= self.max_period_minutes:
            raise ValueError("min_period_minutes must be below max_period_minutes")
        if self.max_gap_minutes < self.bucket_minutes:
            raise ValueError("max_gap_minutes is shorter than one bucket")
        return self

    @property
    def window_durations(self) -> dict[str, timedelta]:
        return parse_windows(self.windows)

    @property
    def longest_window(self) -> timedelta:
        return max(self.window_durations.values())

    @property
    def forecast_metric_names(self) -> tuple[str, ...]:
        return parse_names(self.forecast_metrics)

    @property
    def bucket(self) -> str:
        return f"{self.bucket_minutes}min"

    @property
    def max_gap(self) -> str:
        return f"{self.max_gap_minutes}min"
