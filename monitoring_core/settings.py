"""Typed settings, read once from the environment: one class per concern.

Each entry point builds the classes it needs; tests construct them directly.
Every variable is listed in the README's settings table and in `.env.example`.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def settings_config(prefix: str) -> SettingsConfigDict:
    # Empty values count as unset, so compose files can pass a variable through unconditionally.
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", frozen=True, env_ignore_empty=True)


class PrometheusSettings(BaseSettings):
    """Where the monitored Prometheus is and which series to watch."""

    model_config = settings_config("PROMETHEUS_")

    url: str = "http://127.0.0.1:19090"
    selector: str = '{job="summary", instance="106"}'
    step_seconds: int = Field(15, ge=1, le=3600)
    timeout_seconds: float = Field(30.0, gt=0)


class KafkaSettings(BaseSettings):
    """The broker and the topics results travel on."""

    model_config = settings_config("KAFKA_")

    bootstrap_servers: str = "127.0.0.1:19092"
    topic: str = "metrics.results"
    dead_letter_topic: str = "metrics.results.dlq"
    group_id: str = "data-storage"
    partitions: int = Field(6, ge=1, le=1000)


# The prefix of every password in .env.example: refused, so nobody runs with a published one.
PLACEHOLDER_PASSWORD = "change-me"


class MySQLSettings(BaseSettings):
    """One database account: each service runs as its own least-privileged user."""

    model_config = settings_config("MYSQL_")

    host: str = "127.0.0.1"
    port: int = Field(13306, ge=1, le=65535)
    database: str = "metrics"
    user: str = "reader"
    password: SecretStr = SecretStr("")
    pool_size: int = Field(8, ge=1, le=32)
    connect_timeout_seconds: int = Field(5, ge=1, le=120)

    @field_validator("password")
    @classmethod
    def _not_a_placeholder(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value().startswith(PLACEHOLDER_PASSWORD):
            raise ValueError(
                "MYSQL_PASSWORD is still the placeholder of .env.example; set your own in .env"
            )
        return value

    @field_validator("database")
    @classmethod
    def _plain_identifier(cls, value: str) -> str:
        # The name is spliced into DDL by the bootstrap, so it must be a bare identifier.
        if not value.replace("_", "").isalnum():
            raise ValueError("MYSQL_DATABASE must be letters, digits and underscores")
        return value


# Account names reach CREATE USER in the bootstrap: plain names only.
ACCOUNT_NAME = r"^[A-Za-z0-9_]{1,32}$"


class DatabaseRoles(BaseSettings):
    """Account names of the four roles; the migration step grants each only what it needs."""

    model_config = settings_config("DB_")

    migrator_user: str = Field("migrator", pattern=ACCOUNT_NAME)
    writer_user: str = Field("storage_writer", pattern=ACCOUNT_NAME)
    reader_user: str = Field("retrieval_reader", pattern=ACCOUNT_NAME)
    sla_user: str = Field("sla_manager", pattern=ACCOUNT_NAME)
