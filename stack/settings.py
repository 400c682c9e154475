"""Settings of the local stack: where its state lives and which loopback ports it takes."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from monitoring_core.settings import settings_config

REPO = Path(__file__).resolve().parent.parent

Port = Field(ge=1024, le=65535)


class StackSettings(BaseSettings):
    """Ports and folders of one local stack; change the ports to run two side by side."""

    model_config = settings_config("STACK_")

    home: Path = REPO / ".stack"
    kafka_version: str = "3.9.1"
    kafka_port: int = Field(19092, ge=1024, le=65535)
    kafka_controller_port: int = Field(19093, ge=1024, le=65535)
    mariadb_port: int = Field(13306, ge=1024, le=65535)
    # InnoDB's buffer pool. With 256 MiB, 100,000 series' results (7.8 million rows) left the
    # pool full of dirty pages after a store, and reads waited for them to be flushed
    # (bench_read_scale: lookup p99 210 ms right after storing; 43 ms with 2 GiB).
    mariadb_buffer_pool_mib: int = Field(2048, ge=128, le=65536)
    prometheus_port: int = Field(19090, ge=1024, le=65535)
    node_exporter_port: int = Field(19100, ge=1024, le=65535)
    demo_exporter_port: int = Field(19101, ge=1024, le=65535)
    etl_port: int = Field(5000, ge=1024, le=65535)
    retrieval_port: int = Field(5005, ge=1024, le=65535)
    sla_port: int = Field(5002, ge=1024, le=65535)
    storage_port: int = Field(5006, ge=1024, le=65535)
    # ETL workers (`python -m etl_pipeline.shard_worker`) that share the distributed cycle;
    # more than 0 also turns the ETL's periodic cycle distributed (ETL_DISTRIBUTED=true).
    etl_workers: int = Field(0, ge=0, le=32)
    backfill_hours: float = Field(13.0, ge=0, le=24 * 14)
    ready_timeout_seconds: float = Field(90.0, gt=0)
    # The compose test publishes each service on this base + (its usual port % 10000): below
    # Linux's ephemeral ports (32768-60999), which any outgoing connection may hold (with 40000,
    # a connection of the native stack held 43306 and MySQL's container could not bind it).
    compose_port_base: int = Field(20000, ge=1024, le=50000)

    @property
    def cache(self) -> Path:
        """Downloads kept between runs (Kafka jars, the Maven repository, pip wheels)."""
        return self.home / "cache"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def run(self) -> Path:
        """Pid files and sockets."""
        return self.home / "run"

    @property
    def env_file(self) -> Path:
        """The environment clients of this stack need (addresses and generated credentials)."""
        return self.home / "stack.env"
