"""Settings of the SLA manager (environment variables with the SLA_ prefix)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode

from monitoring_core.settings import settings_config
from monitoring_core.windows import parse_windows


class SLASettings(BaseSettings):
    """Limits of an SLA, the assessment windows and schedule, the forecast and the webhook."""

    model_config = settings_config("SLA_")

    max_metrics: int = Field(5, ge=1, le=50)
    # Current SLAs at most: every one is assessed every interval. A new name past it: 409.
    max_current: int = Field(100, ge=1, le=10_000)
    # Prometheus stops evaluating one metric's query after this long (its `timeout`); that
    # metric's reason says so and the others are still assessed.
    query_timeout_seconds: float = Field(10.0, gt=0, le=300)
    # The check at POST /SLA: each expression over the last few minutes, within this time.
    validation_timeout_seconds: float = Field(5.0, gt=0, le=60)
    windows: Annotated[tuple[str, ...], NoDecode] = ("1h", "3h", "12h")
    # The forecast horizon of an SLA that does not set its own `horizon_minutes` (1-60).
    horizon_minutes: int = Field(10, ge=1, le=60)
    # A violation is "likely" when the chance of leaving the range within the horizon reaches
    # this (chosen on bench/bench_warnings.py's training seed; see docs/sla_manager.md).
    likely_probability: float = Field(0.5, gt=0, lt=1)
    # 0 turns the periodic assessment off (tests). Any number of gunicorn workers and replicas:
    # only the one elected through MySQL (monitoring_core/leader.py) runs it.
    assessment_interval_seconds: float = Field(60.0, ge=0)
    assessment_retention_hours: float = Field(48.0, gt=0)
    max_series_per_metric: int = Field(20, ge=1, le=1000)
    max_body_bytes: int = Field(16 * 1024, ge=256, le=1024 * 1024)
    webhook_url: str = ""  # empty: no webhook
    webhook_retries: int = Field(5, ge=0, le=20)
    webhook_backoff_seconds: float = Field(1.0, gt=0, le=300)
    webhook_timeout_seconds: float = Field(5.0, gt=0, le=60)
    # How often the leader looks for alerts whose sender gave up or died (sql/011_sla_alerts.sql).
    webhook_resend_interval_seconds: float = Field(30.0, gt=0, le=3600)
    # Prometheus rules generated from the SLAs (sla_manager/rulegen.py): the file Prometheus'
    # rule_files names, and its reload endpoint; empty: off.
    rules_file: str = ""
    prometheus_reload_url: str = ""

    @field_validator("windows", mode="before")
    @classmethod
    def _parse_windows(cls, value: object) -> object:
        # SLA_WINDOWS=1h,3h,12h in the environment, or a tuple in code; shortest first.
        if isinstance(value, str | list | tuple):
            return tuple(parse_windows(value))
        return value

    @property
    def window_durations(self) -> dict[str, timedelta]:
        return parse_windows(self.windows)
