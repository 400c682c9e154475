"""An ETL worker: `python -m etl_pipeline.shard_worker`, as many as the cycle needs.

The workers consume the work topic in one consumer group (ETL_WORKER_GROUP), so Kafka shares
its partitions among them and moves a dead worker's partitions to the others (cooperative-
sticky assignment: a rebalance moves only the partitions that change hands). For each work
item: the shard's status "started", `Pipeline.run_shard` (query, analyse and publish, streamed;
it returns once Kafka acknowledged the results), the status "done", and only then the commit
of the work item's offset. A worker killed mid-shard has committed nothing for it: the worker
that gets its partition redoes the shard, and the scheduler names it retried.

A shard that fails (Prometheus or Kafka down, a bug) is reported "failed" with its reason and
committed: the scheduler fails the run, as a one-process cycle would, and the next cycle
tries again.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka import Message as KafkaMessage

from monitoring_core.kafka import KafkaUnavailable, ensure_topics, make_consumer
from monitoring_core.logs import configure_logging
from monitoring_core.messages import MessageError, ShardStatus, WorkItem, decode_as
from monitoring_core.prometheus import PrometheusUnavailable
from monitoring_core.settings import KafkaSettings

from .analysis import ForecastConfig
from .bootstrap import bootstrap
from .cycle import Pipeline
from .sharding import from_shard_query

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"[:64]


class ShardWorker:
    """The consume loop of one ETL worker; `stop()` ends it after the shard in hand."""

    def __init__(
        self,
        pipeline: Pipeline,
        kafka_settings: KafkaSettings,
        name: str | None = None,
        consumer_factory: Callable[..., Consumer] = make_consumer,
    ) -> None:
        self.pipeline = pipeline
        self.settings = pipeline.settings
        self.kafka_settings = kafka_settings
        self.name = name or worker_name()
        self._consumer_factory = consumer_factory
        self._stop = threading.Event()
        self.assigned: set[int] = set()

    def stop(self) -> None:
        self._stop.set()

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned |= {p.partition for p in partitions}
        log.info("%s: assigned work partitions %s", self.name, sorted(self.assigned))

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Called inside poll(), between shards: nothing of ours is in hand, nothing to commit.
        self.assigned -= {p.partition for p in partitions}
        log.info("%s: revoked %s", self.name, sorted(p.partition for p in partitions))

    def _wait_for_topics(self) -> None:
        """The work topic must exist before the group subscribes (librdkafka would only see it
        at its next metadata refresh, minutes later)."""
        while not self._stop.is_set():
            try:
                ensure_topics(self.kafka_settings)
                return
            except KafkaUnavailable as exc:
                log.warning("%s: %s; retrying", self.name, exc)
                self._stop.wait(5.0)

    def run(self) -> None:
        self._wait_for_topics()
        session_ms = self.settings.worker_session_timeout_seconds * 1000
        consumer = self._consumer_factory(
            self.kafka_settings,
            **{
                "group.id": self.settings.worker_group,
                "partition.assignment.strategy": "cooperative-sticky",
                "session.timeout.ms": session_ms,
                "heartbeat.interval.ms": max(session_ms // 5, 1000),
                # A shard is processed between two polls: it must fit in this.
                "max.poll.interval.ms": int(self.settings.shard_timeout_seconds * 1000),
            },
        )
        try:
            consumer.subscribe(
                [self.kafka_settings.work_topic],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_revoke,
            )
            log.info("%s: waiting for work on %s", self.name, self.kafka_settings.work_topic)
            while not self._stop.is_set():
                message = consumer.poll(1.0)
                if message is None:
                    continue
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.warning("work topic: %s", error)
                    continue
                try:
                    self.handle(message)
                except KafkaUnavailable as exc:
                    # Its status was not acknowledged: not committed, read again after a pause.
                    log.warning("%s: %s; the shard is read again", self.name, exc)
                    consumer.seek(
                        TopicPartition(
                            self.kafka_settings.work_topic,
                            message.partition() or 0,
                            message.offset() or 0,
                        )
                    )
                    self._stop.wait(5.0)
                    continue
                try:
                    consumer.commit(message=message, asynchronous=False)
                except KafkaException as exc:
                    # The partition moved (a rebalance, a session past its timeout): its new
                    # holder reads the shard again, and results are upserts, so the worker
                    # goes on instead of ending.
                    log.warning("%s: commit refused (%s); the shard may be redone", self.name, exc)
        finally:
            # close(): leave the group, so the partitions move at once, not after the session.
            consumer.close()
            self.pipeline.close()

    def handle(self, message: KafkaMessage) -> None:
        """One work item: started, run_shard, done (or failed); returns when it may be
        committed."""
        try:
            item = decode_as(WorkItem, message.value())
        except MessageError as exc:
            log.error("work topic: skipped a message that is not a work item: %s", exc)
            return
        age = (self.pipeline.clock() - item.data_end).total_seconds()
        if age > self.pipeline.settings.shard_timeout_seconds:
            # Left on the topic while the workers were down: its scheduler gave the run up
            # (ETL_SHARD_TIMEOUT_SECONDS), and redoing it would only delay the current cycle.
            log.warning(
                "run %s shard %d: %.0f s old, past ETL_SHARD_TIMEOUT_SECONDS; skipped",
                item.run_id,
                item.shard,
                age,
            )
            return
        begun = time.perf_counter()
        self._status(item, "started")
        forecast = ForecastConfig(tuple(item.forecast_metrics), item.horizon_minutes)
        queries = [from_shard_query(q) for q in item.queries]
        try:
            shard = self.pipeline.run_shard(item.run_id, queries, item.data_end, forecast)
        except (PrometheusUnavailable, KafkaUnavailable) as exc:
            self._status(item, "failed", reason=str(exc), unavailable=True)
            return
        except Exception as exc:  # noqa: BLE001 - one shard must not end the worker
            log.exception("run %s shard %d failed", item.run_id, item.shard)
            self._status(item, "failed", reason=f"internal error: {type(exc).__name__}: {exc}")
            return
        self._status(
            item,
            "done",
            series_count=shard.series_count,
            message_count=shard.message_count,
            series_windows=shard.series_windows,
            seconds=time.perf_counter() - begun,
            skipped=shard.skipped,
        )
        log.info(
            "run %s shard %d/%d: %d series, %d messages in %.2fs",
            item.run_id,
            item.shard,
            item.shard_count,
            shard.series_count,
            shard.message_count,
            time.perf_counter() - begun,
        )

    def _status(self, item: WorkItem, status: str, **fields: object) -> None:
        message = ShardStatus(
            run_id=item.run_id,
            shard=item.shard,
            status=status,  # type: ignore[arg-type]
            worker=self.name,
            at=self.pipeline.clock(),
            **fields,  # type: ignore[arg-type]
        )
        report = self.pipeline.publishing.publisher.publish(
            [message], topic=self.kafka_settings.shard_status_topic, timeout=30.0
        )
        if not report.complete:
            # Not acknowledged: raise, so the offset is not committed and the shard is redone.
            raise KafkaUnavailable(f"shard status not acknowledged: {report.errors[:1]}")


def main() -> None:
    """The worker process: logging, bootstrap, consume until SIGTERM or SIGINT."""
    configure_logging()
    services = bootstrap()
    worker = ShardWorker(services.pipeline, services.pipeline.publishing.kafka_settings)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run()


if __name__ == "__main__":
    main()
