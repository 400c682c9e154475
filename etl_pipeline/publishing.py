"""A cycle's messages to Kafka: the run record, the results, the timings.

The run is complete only once Kafka acknowledged every message; a partial acknowledgement
raises `KafkaUnavailable` with how many were acknowledged (never the broker's address, which
goes to the log).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from monitoring_core.kafka import KafkaUnavailable, Publisher, ensure_topics
from monitoring_core.messages import Message, Timing
from monitoring_core.settings import KafkaSettings

from .results import RunResult, SeriesWindowResult
from .settings import ETLSettings

log = logging.getLogger(__name__)


class ResultPublisher:
    """Publishes one cycle's messages (the Kafka producer is built at the first publish)."""

    def __init__(
        self,
        settings: ETLSettings,
        kafka_settings: KafkaSettings,
        clock: Callable[[], datetime],
        publisher: Publisher | None = None,
    ) -> None:
        self.settings = settings
        self.kafka_settings = kafka_settings
        self.clock = clock
        self.publisher = publisher or Publisher(kafka_settings)

    def close(self, timeout: float = 10.0) -> None:
        """Flush the producer (the last delivery reports are only served there)."""
        self.publisher.close(timeout)

    def check(self) -> None:
        """A quick metadata request: a broker that is down fails here in seconds, not after
        the producer's delivery timeout."""
        ensure_topics(self.kafka_settings, timeout=self.settings.kafka_check_timeout_seconds)

    def publish(self, batch: list[Message], what: str) -> None:
        report = self.publisher.publish(batch, timeout=self.settings.publish_timeout_seconds)
        if not report.complete:
            first = report.errors[0] if report.errors else "no answer"
            # The reason reaches the run's summary: no broker address (the log has it).
            log.warning("Kafka at %s: %s", self.kafka_settings.bootstrap_servers, first)
            raise KafkaUnavailable(
                f"Kafka acknowledged {report.acked} of {report.sent} {what} messages: {first}"
            )

    def publish_run(self, result: RunResult) -> None:
        """The run's record (at its start, its end, or its failure)."""
        message = Message(run_id=result.run_id, computed_at=self.clock(), payload=result.record())
        self.publish([message], "run-record")
        result.recorded = result.status != "running"

    def publish_shard(self, run_id: str, results: list[SeriesWindowResult]) -> int:
        """A shard's results, then their timings (each series window's share of the one
        flush); how many messages Kafka acknowledged (all, or this raises)."""
        computed_at = self.clock()
        per_result = [r.messages(run_id, computed_at) for r in results]
        batch = [m for group in per_result for m in group]
        mark = time.perf_counter()
        self.publish(batch, "result")
        publish_seconds = time.perf_counter() - mark
        for r, group in zip(results, per_result, strict=True):
            # One batch is flushed for the whole shard: each series window gets its share.
            r.stages["publish"] = publish_seconds * len(group) / max(len(batch), 1)
        timings = [r.timing_message(run_id, computed_at) for r in results]
        self.publish(timings, "timing")
        return len(batch) + len(timings)

    def publish_complete(self, result: RunResult, clock0: float) -> None:
        """The run's own timings, then its record as complete."""
        result.stages["total"] = time.perf_counter() - clock0
        message = Message(
            run_id=result.run_id, computed_at=self.clock(), payload=Timing(stages=result.stages)
        )
        self.publish([message], "timing")
        result.message_count += 1
        result.status = "complete"
        result.finished_at = self.clock()
        self.publish_run(result)
