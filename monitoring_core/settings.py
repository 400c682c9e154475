"""Typed settings, read once from the environment: one class per concern.

Each entry point builds the classes it needs; tests construct them directly.
Every variable is listed in the README's settings table and in `.env.example`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from limits import parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitoring_core.windows import parse_duration


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
    # The ETL's distributed cycle: one work item per shard on the work topic (its partitions
    # bound how many ETL workers share a cycle), and the workers' shard statuses on a topic of
    # one partition that the scheduler reads from the cycle's start.
    work_topic: str = "etl.work"
    work_partitions: int = Field(12, ge=1, le=1000)
    shard_status_topic: str = "etl.shards"


# The prefix of every password and token in .env.example: refused, so nobody runs with a
# published one.
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
    """Account names of the five roles; the migration step grants each only what it needs."""

    model_config = settings_config("DB_")

    migrator_user: str = Field("migrator", pattern=ACCOUNT_NAME)
    writer_user: str = Field("storage_writer", pattern=ACCOUNT_NAME)
    reader_user: str = Field("retrieval_reader", pattern=ACCOUNT_NAME)
    sla_user: str = Field("sla_manager", pattern=ACCOUNT_NAME)
    etl_user: str = Field("etl_pipeline", pattern=ACCOUNT_NAME)


class AccessSettings(BaseSettings):
    """Who may call what: the bearer token of each scope, and whether reads need one.

    ``admin`` changes things and starts work; ``read`` reads. Each token comes from its
    variable or from a file (``*_FILE``, for Docker secrets); a service that has no admin
    token refuses every admin route. Reads are open unless ``READS_REQUIRE_TOKEN`` is true.
    Unprefixed names: the same ``ADMIN_TOKEN`` a user exports for curl.
    """

    # hide_input_in_errors: a bad value must not print the tokens beside it.
    model_config = settings_config("") | SettingsConfigDict(hide_input_in_errors=True)

    admin_token: SecretStr | None = None
    admin_token_file: Path | None = None
    read_token: SecretStr | None = None
    read_token_file: Path | None = None
    reads_require_token: bool = False
    # Per client (address) and route, on the routes that start work; limits' syntax.
    work_rate_limit: str = "30/minute"

    @field_validator("work_rate_limit")
    @classmethod
    def _valid_limit(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(
                f"WORK_RATE_LIMIT is not a rate limit such as 30/minute: {exc}"
            ) from exc
        return value

    @model_validator(mode="after")
    def _read_files(self) -> AccessSettings:
        for scope in SCOPES:
            token: SecretStr | None = getattr(self, f"{scope}_token")
            path: Path | None = getattr(self, f"{scope}_token_file")
            if path is None:
                continue
            if token is not None:
                raise ValueError(
                    f"give {scope.upper()}_TOKEN or {scope.upper()}_TOKEN_FILE, not both"
                )
            try:
                text = path.read_text().strip()
            except OSError as exc:
                raise ValueError(f"{scope.upper()}_TOKEN_FILE {path}: {exc.strerror}") from exc
            object.__setattr__(self, f"{scope}_token", SecretStr(text))
        for scope in SCOPES:
            token = getattr(self, f"{scope}_token")
            if token is not None and token.get_secret_value().startswith(PLACEHOLDER_PASSWORD):
                raise ValueError(
                    f"{scope.upper()}_TOKEN is still the placeholder of .env.example;"
                    " set your own in .env"
                )
            if token is not None and len(token.get_secret_value()) < MIN_TOKEN_CHARS:
                raise ValueError(f"the {scope} token is shorter than {MIN_TOKEN_CHARS} characters")
        return self

    def tokens(self) -> dict[str, str]:
        """Scope -> token, for the scopes this service was given a token of."""
        found = {scope: getattr(self, f"{scope}_token") for scope in SCOPES}
        return {scope: token.get_secret_value() for scope, token in found.items() if token}


SCOPES = ("admin", "read")
MIN_TOKEN_CHARS = 16


class PromQLSettings(BaseSettings):
    """What a user's PromQL expression may ask of Prometheus (`monitoring_core.promql_guard`)."""

    model_config = settings_config("PROMQL_")

    # Longest range, subquery range or offset; unset: the service's longest window.
    max_range: str | None = None
    max_selectors: int = Field(10, ge=1, le=100)

    @field_validator("max_range")
    @classmethod
    def _valid_range(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    def max_range_or(self, longest_window: timedelta) -> timedelta:
        return parse_duration(self.max_range) if self.max_range else longest_window
