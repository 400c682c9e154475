"""Settings of the storage consumer (STORAGE_*): its HTTP port, batch bounds, retry backoff."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from monitoring_core.settings import settings_config


class StorageSettings(BaseSettings):
    """How data_storage batches, retries and serves its health and metrics."""

    model_config = settings_config("STORAGE_")

    host: str = "127.0.0.1"
    port: int = Field(5006, ge=0, le=65535)  # 0: any free port (tests)
    batch_max_messages: int = Field(1000, ge=1, le=50_000)
    batch_max_seconds: float = Field(0.5, gt=0, le=60)
    retry_initial_seconds: float = Field(0.5, gt=0, le=60)
    retry_max_seconds: float = Field(30.0, gt=0, le=600)
    # How long the group waits for a consumer that died without leaving (SIGKILL, crash)
    # before its partitions go to another; the broker accepts 6000 and more by default.
    session_timeout_ms: int = Field(45_000, ge=1000, le=3_600_000)
    lag_interval_seconds: float = Field(5.0, gt=0, le=600)
    # Rows per INSERT statement: bounds the statement size under max_allowed_packet.
    rows_per_statement: int = Field(1000, ge=1, le=10_000)
