"""The storage consumer: Kafka batches -> one MySQL transaction each -> dead letters -> offsets.

At-least-once made exact: offsets are committed only after the database commit (and after the
dead letters of the batch are acknowledged), and every row is an idempotent upsert, so a batch
that is delivered again after a crash rewrites the same rows. While MySQL is down the consumer
pauses its partitions and keeps the batch, retries with exponential backoff, and resumes.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import mysql.connector
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka import Message as KafkaMessage
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from data_storage.rows import Batch, map_message
from data_storage.settings import StorageSettings
from data_storage.writer import Writer
from monitoring_core.db import Database, DatabaseUnavailable
from monitoring_core.kafka import Headers, KafkaUnavailable, Publisher, ensure_topics, make_consumer
from monitoring_core.messages import MessageError, decode
from monitoring_core.results_schema import RESULT_TABLE_NAMES
from monitoring_core.settings import KafkaSettings

log = logging.getLogger(__name__)

DLQ_FORMAT = "data_storage.dead_letter.v1"
# A batch in the making is written when a poll this long brings nothing more (or at once when
# every partition is read up to the end the broker last reported).
CAUGHT_UP_SECONDS = 0.05
# MySQL errors caused by the row itself (a value out of range, too long, not a valid date...):
# the message is dead-lettered. Any other error is the database's trouble and is retried.
DATA_ERRNOS = frozenset({1048, 1062, 1264, 1265, 1292, 1366, 1367, 1406, 1451, 1452, 3819, 4025})
# What a dead letter keeps of the raw message. Base64 grows it by a third and the broker takes
# at most 1 MB a message (message.max.bytes): a dead letter of a whole large message would be
# refused, and the partition behind it blocked for good.
DEAD_LETTER_VALUE_BYTES = 256 * 1024
DEAD_LETTER_KEY_BYTES = 16 * 1024
DEAD_LETTER_REASON_CHARS = 4000


def is_data_error(exc: mysql.connector.Error) -> bool:
    return isinstance(exc, mysql.connector.DataError) or exc.errno in DATA_ERRNOS


class StorageMetrics:
    """The consumer's own metrics, served on /internal/metrics."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.consumed = Counter(
            "storage_messages_consumed_total", "Kafka messages consumed", registry=registry
        )
        self.rows = Counter(
            "storage_rows_written_total", "Rows upserted, by table", ["table"], registry=registry
        )
        for table in RESULT_TABLE_NAMES:
            self.rows.labels(table)
        self.dead_letters = Counter(
            "storage_dead_letters_total",
            "Messages sent to the dead-letter topic",
            registry=registry,
        )
        self.retries = Counter(
            "storage_retries_total",
            "Batches held back because MySQL or Kafka was down",
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "storage_batch_seconds",
            "Time to store one batch (decode, write, commit)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.lag = Gauge(
            "storage_consumer_lag",
            "Messages behind the end of each partition",
            ["partition"],
            registry=registry,
        )


def _base64(raw: bytes | None, limit: int) -> str | None:
    return None if raw is None else base64.b64encode(raw[:limit]).decode()


@dataclass(frozen=True)
class DeadLetter:
    message: KafkaMessage
    reason: str

    @property
    def source(self) -> tuple[str | None, int | None, int | None]:
        """Where the message was read: topic, partition, offset."""
        return self.message.topic(), self.message.partition(), self.message.offset()

    def record(self) -> tuple[bytes | None, bytes, Headers]:
        """Key, value and headers on the dead-letter topic: a JSON wrapper with the raw bytes.

        Of a large message only the first DEAD_LETTER_VALUE_BYTES are kept (`value_truncated`
        says so, `value_size` gives the original size); the source offset finds the rest.
        """
        msg = self.message
        raw_key, raw_value = msg.key(), msg.value()
        topic, partition, offset = self.source
        source = {"topic": topic, "partition": partition, "offset": offset}
        value = {
            "format": DLQ_FORMAT,
            "reason": self.reason[:DEAD_LETTER_REASON_CHARS],
            "source": source,
            "failed_at": datetime.now(UTC).isoformat(),
            "key_base64": _base64(raw_key, DEAD_LETTER_KEY_BYTES),
            "value_base64": _base64(raw_value, DEAD_LETTER_VALUE_BYTES),
            "value_size": len(raw_value) if raw_value is not None else None,
            "value_truncated": raw_value is not None and len(raw_value) > DEAD_LETTER_VALUE_BYTES,
        }
        if raw_key is not None and len(raw_key) > DEAD_LETTER_KEY_BYTES:
            value |= {"key_size": len(raw_key), "key_truncated": True}
        headers: Headers = {
            "dlq.reason": self.reason[:1000],
            "dlq.source": f"{topic}/{partition}/{offset}",
        }
        key = raw_key[:DEAD_LETTER_KEY_BYTES] if raw_key is not None else None
        return key, json.dumps(value).encode(), headers


def write_batch(db: Database, batch: Batch, rows_per_statement: int) -> int:
    """Upsert the batch in one transaction on a connection of its own; return rows sent.

    For tests and benchmarks that fill a database; the consumer keeps its `Writer` open.
    """
    writer = Writer(db.settings, rows_per_statement)
    try:
        return writer.write(batch)
    finally:
        writer.close()


def partition_lags(consumer: Consumer) -> dict[int, int | None]:
    """Messages behind the end of each assigned partition, by partition, as of the last fetch.

    No request to the broker (the cached high watermark); None where nothing was consumed yet
    or no fetch has answered yet, so there is nothing to measure from.
    """
    lags: dict[int, int | None] = {}
    for tp in consumer.position(consumer.assignment()):
        _low, high = consumer.get_watermark_offsets(tp, cached=True)
        lags[tp.partition] = high - tp.offset if tp.offset >= 0 and high >= 0 else None
    return lags


class StorageConsumer:
    """The consume loop; `run()` blocks until `stop()` (SIGTERM) and closes the consumer."""

    def __init__(
        self,
        kafka: KafkaSettings,
        db: Database,
        settings: StorageSettings,
        metrics: StorageMetrics,
        publisher: Publisher | None = None,
    ) -> None:
        self.kafka = kafka
        self.db = db
        self.settings = settings
        self.metrics = metrics
        self.publisher = publisher or Publisher(kafka)  # dead letters
        self.writer = Writer(db.settings, settings.rows_per_statement)
        self._stop = threading.Event()
        self.running = False
        self.heartbeat = time.monotonic()
        self._lag_checked = 0.0

    def stop(self) -> None:
        """Finish the batch in hand, commit it, and leave (safe from a signal handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        consumer: Consumer | None = None
        try:
            if not self._ensure_topics():
                return
            consumer = make_consumer(
                self.kafka, **{"session.timeout.ms": self.settings.session_timeout_ms}
            )
            consumer.subscribe([self.kafka.topic])
            self.running = True
            log.info("consuming %s as group %s", self.kafka.topic, self.kafka.group_id)
            while not self._stop.is_set():
                batch = self._collect(consumer)
                if batch:
                    self._handle(consumer, batch)
                self._observe_lag(consumer)
        finally:
            self.running = False
            try:
                if consumer is not None:
                    consumer.close()
            finally:
                self.writer.close()
                self.publisher.close()
                log.info("consumer closed")

    def _ensure_topics(self) -> bool:
        delay = self.settings.retry_initial_seconds
        while not self._stop.is_set():
            try:
                ensure_topics(self.kafka)
                return True
            except KafkaUnavailable as exc:
                log.warning("Kafka not ready (%s); retrying in %.1fs", exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self.settings.retry_max_seconds)
        return False

    def _poll(self, consumer: Consumer, limit: int, timeout: float) -> list[KafkaMessage]:
        """Up to `limit` messages, waiting at most `timeout` for the first one only.

        Partition EOF is skipped, other errors are logged (or raised when fatal).
        """
        self.heartbeat = time.monotonic()
        # consume() would wait the whole timeout for `limit` messages: take what is queued, and
        # only when nothing is, wait for one message.
        got = consumer.consume(num_messages=limit, timeout=0)
        if not got:
            first = consumer.poll(timeout)
            if first is None:
                return []
            got = [first]
            if limit > 1:
                got += consumer.consume(num_messages=limit - 1, timeout=0)
        good = []
        for msg in got:
            err = msg.error()
            if err is None:
                good.append(msg)
            elif err.code() == KafkaError._PARTITION_EOF:
                continue
            elif err.fatal():
                raise KafkaException(err)
            else:
                log.warning("consumer error: %s", err)
        return good

    def _collect(self, consumer: Consumer) -> list[KafkaMessage]:
        """A batch bounded by count and by time since its first message.

        It also closes when a poll comes back empty: the consumer has caught up, and waiting
        for more would only delay what it holds. When the partitions are read to their end as
        of the last fetch, nothing is waited for at all.
        """
        limit = self.settings.batch_max_messages
        batch: list[KafkaMessage] = []
        deadline = None
        while len(batch) < limit and not self._stop.is_set():
            if deadline is None:
                timeout = 0.5
            elif self._caught_up(consumer):
                timeout = 0.0  # take what librdkafka holds, if anything, and go
            else:
                timeout = min(deadline - time.monotonic(), CAUGHT_UP_SECONDS)
                if timeout <= 0:
                    break
            got = self._poll(consumer, limit - len(batch), timeout)
            if not got:
                break
            if deadline is None:
                deadline = time.monotonic() + self.settings.batch_max_seconds
            batch.extend(got)
        return batch

    def _handle(self, consumer: Consumer, batch: list[KafkaMessage]) -> None:
        """Store the batch, retrying while MySQL or Kafka is down; then commit its offsets."""
        started = time.perf_counter()
        delay = self.settings.retry_initial_seconds
        paused = False
        # Dead letters already acknowledged, by source: a retry stores the batch again but
        # does not publish them a second time.
        acked: set[tuple[str | None, int | None, int | None]] = set()
        while True:
            try:
                written, dead = self.store(batch)
                self.send_dead_letters(dead, acked)
                break
            except (DatabaseUnavailable, KafkaUnavailable) as exc:
                if self._stop.is_set():
                    # Offsets stay uncommitted: the next consumer gets this batch again.
                    log.warning("stopping with an unstored batch of %d: %s", len(batch), exc)
                    return
                self.metrics.retries.inc()
                log.warning("batch of %d held: %s; retrying in %.1fs", len(batch), exc, delay)
                # Pause so that the waiting polls below (which keep the group membership
                # alive) fetch nothing; a partition assigned meanwhile is paused next time.
                consumer.pause(consumer.assignment())
                paused = True
                batch.extend(self._wait(consumer, delay))
                delay = min(delay * 2, self.settings.retry_max_seconds)
        if paused:
            consumer.resume(consumer.assignment())
        self._commit(consumer, batch)
        self.metrics.consumed.inc(len(batch))
        self.metrics.dead_letters.inc(len(dead))
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        log.debug("stored %d messages as %d rows, %d dead letters", len(batch), written, len(dead))

    def _wait(self, consumer: Consumer, seconds: float) -> list[KafkaMessage]:
        until = time.monotonic() + seconds
        extra: list[KafkaMessage] = []
        while not self._stop.is_set():
            left = until - time.monotonic()
            if left <= 0:
                break
            extra.extend(self._poll(consumer, self.settings.batch_max_messages, min(left, 0.5)))
        return extra

    def store(self, batch: list[KafkaMessage]) -> tuple[int, list[DeadLetter]]:
        """Decode and write the batch in one transaction; return rows written and dead letters.

        When the database rejects a row for a data reason the batch is written again one
        message at a time, to dead-letter only the messages it rejects.
        """
        dead: list[DeadLetter] = []
        mapped: list[KafkaMessage] = []
        whole = Batch()
        for msg in batch:
            try:
                whole.add(map_message(decode(msg.value())))
            except MessageError as exc:
                dead.append(DeadLetter(msg, str(exc)))
            except Exception as exc:  # noqa: BLE001 - one bad message must not stop the partition
                # decode and map_message mean to raise MessageError only; anything else is a
                # bug met on this message, and retrying it would fail the same way forever.
                log.exception("unexpected failure on message at offset %s", msg.offset())
                dead.append(
                    DeadLetter(msg, f"cannot read the message: {type(exc).__name__}: {exc}")
                )
            else:
                mapped.append(msg)
        try:
            written = self._write(whole)
        except _RowRejected:
            # Rare: the messages are decoded again rather than their rows kept for this case
            # (thousands of per-message dicts alive through the write would cost garbage
            # collector passes over them on every batch).
            written = 0
            for msg in mapped:
                single = Batch()
                single.add(map_message(decode(msg.value())))
                try:
                    written += self._write(single)
                except _RowRejected as exc:
                    dead.append(DeadLetter(msg, f"database rejected the message: {exc}"))
        return written, dead

    def _write(self, batch: Batch) -> int:
        try:
            written = self.writer.write(batch)
        except mysql.connector.Error as exc:
            if is_data_error(exc):
                raise _RowRejected(exc.msg) from exc
            raise DatabaseUnavailable(f"MySQL: {exc.msg}") from exc
        for table, rows in batch.tables():
            self.metrics.rows.labels(table.name).inc(len(rows))
        return written

    def send_dead_letters(
        self,
        dead: list[DeadLetter],
        acked: set[tuple[str | None, int | None, int | None]] | None = None,
    ) -> None:
        """Publish each dead letter and wait for its acknowledgement before offsets move on.

        The sources of the acknowledged ones are added to `acked`, and those already in it
        are skipped: a batch retried after a failed send does not send its letters twice.
        """
        acked = set() if acked is None else acked
        for letter in dead:
            if letter.source in acked:
                continue
            key, value, headers = letter.record()
            report = self.publisher.produce_raw(self.kafka.dead_letter_topic, key, value, headers)
            if not report.complete:
                raise KafkaUnavailable(f"dead letter not acknowledged: {report.errors}")
            acked.add(letter.source)
            log.warning(
                "dead letter %s/%d/%d: %s",
                letter.message.topic(),
                letter.message.partition(),
                letter.message.offset(),
                letter.reason,
            )

    def _commit(self, consumer: Consumer, batch: list[KafkaMessage]) -> None:
        ends: dict[tuple[str, int], int] = {}
        for msg in batch:
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            if topic is None or partition is None or offset is None:
                continue  # not a fetched message (consumed messages carry all three)
            ends[(topic, partition)] = max(ends.get((topic, partition), -1), offset + 1)
        offsets = [TopicPartition(topic, part, offset) for (topic, part), offset in ends.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # A rebalance took the partition away: its new owner redelivers, and the upserts
            # make that harmless.
            log.warning("offset commit failed (%s); the batch will be redelivered", exc)

    def _observe_lag(self, consumer: Consumer) -> None:
        now = time.monotonic()
        if now - self._lag_checked < self.settings.lag_interval_seconds:
            return
        self._lag_checked = now
        try:
            lags = partition_lags(consumer)
        except KafkaException as exc:
            log.debug("lag not measured: %s", exc)
            return
        for partition, lag in lags.items():
            if lag is not None:
                self.metrics.lag.labels(str(partition)).set(max(lag, 0))

    def _caught_up(self, consumer: Consumer) -> bool:
        try:
            lags = partition_lags(consumer)
        except KafkaException:
            return False
        return bool(lags) and all(lag is not None and lag <= 0 for lag in lags.values())


class _RowRejected(Exception):
    """The database refused a row for a reason in the data itself."""
