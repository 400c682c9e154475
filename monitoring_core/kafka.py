"""Kafka: topic creation, the idempotent producer that counts acknowledgements, consumers.

The producer follows confluent-kafka-python's examples: a delivery callback that
records failures, `poll(0)` after each produce, `BufferError` treated as back-pressure,
and `flush()` before a batch is called delivered.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from monitoring_core import messages
from monitoring_core.settings import KafkaSettings

log = logging.getLogger(__name__)

DeliveryCallback = Callable[[KafkaError | None, Message], None]
# A Mapping, so that a caller's dict[str, str] type-checks (dict is invariant).
Headers = Mapping[str, str | bytes | None]


class KafkaUnavailable(Exception):
    """The broker cannot be reached or did not acknowledge; callers answer 503."""


def ensure_topics(settings: KafkaSettings, timeout: float = 10.0) -> None:
    """Create the results, dead-letter, work and shard-status topics if they are missing (the
    broker does not), and give a work topic created smaller than KAFKA_WORK_PARTITIONS its
    missing partitions (its items carry no key: adding partitions reorders nothing; the results
    topics, keyed by series, keep theirs)."""
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        # The ETL's run summaries carry this reason: the broker's address goes to the log only.
        log.warning("Kafka at %s: %s", settings.bootstrap_servers, exc)
        raise KafkaUnavailable(f"Kafka: {exc}") from exc
    partitions = {
        settings.topic: settings.partitions,
        settings.dead_letter_topic: settings.partitions,
        settings.work_topic: settings.work_partitions,
        settings.shard_status_topic: 1,
    }
    wanted = [
        NewTopic(name, num_partitions=count, replication_factor=1)
        for name, count in partitions.items()
        if name not in existing
    ]
    if wanted:
        _settle(admin.create_topics(wanted, operation_timeout=timeout), timeout)
    work = existing.get(settings.work_topic)
    if work is not None and len(work.partitions) < settings.work_partitions:
        log.warning(
            "topic %s has %d partitions, KAFKA_WORK_PARTITIONS is %d: adding the others",
            settings.work_topic,
            len(work.partitions),
            settings.work_partitions,
        )
        grown = [NewPartitions(settings.work_topic, settings.work_partitions)]
        _settle(admin.create_partitions(grown, operation_timeout=timeout), timeout)


def _settle(futures: dict[str, Any], timeout: float) -> None:
    """Wait for the admin client's answers; a topic or partitions created meanwhile by another
    process is no failure."""
    for name, future in futures.items():
        try:
            future.result(timeout)
        except TimeoutError as exc:  # concurrent.futures' timeout, not a KafkaException
            raise KafkaUnavailable(f"cannot create topic {name}: no answer in {timeout}s") from exc
        except KafkaException as exc:
            code = exc.args[0].code()
            if code not in (KafkaError.TOPIC_ALREADY_EXISTS, KafkaError.INVALID_PARTITIONS):
                raise KafkaUnavailable(f"cannot create topic {name}: {exc}") from exc


# One admin client per broker address and process: each holds threads and connections, so one
# per health probe would pile them up; keyed by pid too, as a forked child cannot use its
# parent's (librdkafka's threads do not survive a fork).
_admins: dict[tuple[int, str], AdminClient] = {}
_admins_lock = threading.Lock()


def check_broker(settings: KafkaSettings, topic: str | None = None, timeout: float = 3.0) -> None:
    """Ask the broker for metadata (of `topic` only, when given); any failure is `KafkaUnavailable`.

    For health checks: whatever the client raises (KafkaException, or ValueError and
    TypeError on arguments librdkafka refuses) fails the check rather than the request.
    """
    servers = settings.bootstrap_servers
    try:
        with _admins_lock:
            key = (os.getpid(), servers)
            admin = _admins.get(key)
            if admin is None:
                admin = _admins[key] = AdminClient({"bootstrap.servers": servers})
        if topic is None:
            admin.list_topics(timeout=timeout)
        else:
            admin.list_topics(topic=topic, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - any failure of the probe fails the check
        raise KafkaUnavailable(f"Kafka at {servers}: {exc}") from exc


@dataclass
class DeliveryReport:
    """What the broker acknowledged of one `publish` call."""

    sent: int = 0
    acked: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.acked == self.sent and not self.errors


class Publisher:
    """An idempotent producer (acks=all) for typed messages; one per process, thread-safe.

    The librdkafka producer is built at the first send: it starts threads and connects as
    soon as it exists, and a service that is only built (tests, a health check) needs neither.
    """

    def __init__(self, settings: KafkaSettings, **overrides: object) -> None:
        self.settings = settings
        self._config = {
            "bootstrap.servers": settings.bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "compression.type": "lz4",
            # A delivery that cannot be made within this time is reported as failed.
            "delivery.timeout.ms": 30_000,
            # librdkafka's own log lines go through logging (the service's format and level)
            # instead of raw to stderr.
            "logger": log,
            **overrides,
        }
        self._producer: Producer | None = None
        self._lock = threading.Lock()

    def publish(
        self,
        batch: Iterable[messages.Message | messages.WorkItem | messages.ShardStatus],
        topic: str | None = None,
        timeout: float = 60.0,
        partition: Callable[[int], int] | None = None,
    ) -> DeliveryReport:
        """Send every message and wait for the broker's answer about each one.

        `partition` maps a message's place in the batch to its partition (work items are
        spread evenly over the work topic); else the key decides."""
        records = (
            (message.key(), messages.encode(message), None, partition(i) if partition else None)
            for i, message in enumerate(batch)
        )
        return self._send(topic or self.settings.topic, records, timeout)

    def produce_raw(
        self, topic: str, key: bytes | None, value: bytes, headers: Headers | None = None
    ) -> DeliveryReport:
        """Send raw bytes (dead letters, tests) and wait for the acknowledgement."""
        return self._send(topic, [(key, value, headers, None)], 30.0)

    def _send(
        self,
        topic: str,
        records: Iterable[tuple[bytes | None, bytes, Headers | None, int | None]],
        timeout: float,
    ) -> DeliveryReport:
        report = DeliveryReport()

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is None:
                report.acked += 1
            else:
                report.errors.append(str(err))

        with self._lock:
            if self._producer is None:
                self._producer = Producer(self._config)
            producer = self._producer
            for key, value, headers, partition in records:
                error = self._produce(producer, topic, key, value, on_delivery, headers, partition)
                report.sent += 1
                if error is not None:
                    report.errors.append(error)
            # flush: the last delivery reports are only served here.
            remaining = producer.flush(timeout)
        if remaining:
            report.errors.append(f"{remaining} messages not acknowledged within {timeout:.0f}s")
        if report.errors:
            log.warning(
                "publish: %d of %d acked; first error: %s",
                report.acked,
                report.sent,
                report.errors[0],
            )
        return report

    @staticmethod
    def _produce(
        producer: Producer,
        topic: str,
        key: bytes | None,
        value: bytes,
        callback: DeliveryCallback,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> str | None:
        """Queue one record; the reason when librdkafka refuses it at once, else None.

        A refusal (MSG_SIZE_TOO_LARGE, an invalid topic name...) is not worth retrying: it is
        reported like a failed delivery, and the caller decides, rather than raised.
        """
        while True:
            try:
                producer.produce(
                    topic,
                    value=value,
                    key=key,
                    # -1: librdkafka's "unassigned", the partitioner decides from the key.
                    partition=-1 if partition is None else partition,
                    on_delivery=callback,
                    headers=None if headers is None else dict(headers),
                )
                producer.poll(0)
                return None
            except BufferError:
                # Back-pressure: the local queue is full; serve delivery reports to drain it.
                producer.poll(0.5)
            except KafkaException as exc:
                return str(exc.args[0] if exc.args else exc)

    def close(self, timeout: float = 30.0) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.flush(timeout)


def make_consumer(settings: KafkaSettings, **overrides: object) -> Consumer:
    """A consumer in the settings' group that commits offsets only when told to."""
    return Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": settings.group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            "logger": log,
            **overrides,
        }
    )
