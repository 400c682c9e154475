"""The storage consumer's dead letters and lifecycle, without a broker or a database.

The publisher and the writer are stand-ins at the boundary (they record what they are handed);
the messages are real confluent-kafka Message objects and decode/map_message are the real ones.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from confluent_kafka import Message as KafkaMessage
from prometheus_client import CollectorRegistry

from data_storage import consumer as consumer_module
from data_storage.consumer import DeadLetter, StorageConsumer, StorageMetrics
from data_storage.rows import Batch
from data_storage.settings import StorageSettings
from monitoring_core.db import Database
from monitoring_core.kafka import DeliveryReport, KafkaUnavailable
from monitoring_core.messages import Message, SeriesRef, StatisticsPayload, encode
from monitoring_core.settings import KafkaSettings, MySQLSettings

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
GOOD = encode(
    Message(
        run_id="run-1",
        computed_at=T0,
        series=SeriesRef.of("cpuLoad", {"i": "1"}),
        window="1h",
        payload=StatisticsPayload(start=T0, end=T0, count=1),
    )
)


class RecordingPublisher:
    """Acknowledges every dead letter except, once each, those at the offsets in `fail_once`."""

    def __init__(self, fail_once: set[int] | None = None) -> None:
        self.sent: list[int] = []
        self.fail_once = set(fail_once or ())
        self.closed = False

    def produce_raw(
        self, topic: str, key: bytes | None, value: bytes, headers: dict | None = None
    ) -> DeliveryReport:
        offset = json.loads(value)["source"]["offset"]
        if offset in self.fail_once:
            self.fail_once.discard(offset)
            return DeliveryReport(sent=1, errors=["Local: Message timed out"])
        self.sent.append(offset)
        return DeliveryReport(sent=1, acked=1)

    def close(self, timeout: float = 30.0) -> None:
        self.closed = True


class RecordingWriter:
    def __init__(self) -> None:
        self.rows: list[int] = []
        self.closed = False

    def write(self, batch: Batch) -> int:
        self.rows.append(batch.row_count())
        return batch.row_count()

    def close(self) -> None:
        self.closed = True


def storage_consumer(publisher: RecordingPublisher) -> StorageConsumer:
    consumer = StorageConsumer(
        KafkaSettings(bootstrap_servers="127.0.0.1:1"),
        Database(MySQLSettings(port=1)),
        StorageSettings(),
        StorageMetrics(CollectorRegistry()),
        publisher=publisher,  # type: ignore[arg-type]
    )
    consumer.writer = RecordingWriter()  # type: ignore[assignment]
    return consumer


def kafka_message(offset: int, value: bytes) -> KafkaMessage:
    return KafkaMessage(topic="results", partition=0, offset=offset, key=b"k", value=value)


def test_a_retried_send_does_not_publish_the_acknowledged_letters_again() -> None:
    publisher = RecordingPublisher(fail_once={2})
    consumer = storage_consumer(publisher)
    dead = [DeadLetter(kafka_message(offset, b"x"), "not JSON") for offset in (1, 2, 3)]
    acked: set = set()
    with pytest.raises(KafkaUnavailable, match="dead letter not acknowledged"):
        consumer.send_dead_letters(dead, acked)
    assert publisher.sent == [1]
    # The retry loop in _handle stores the batch again and hands over the same set.
    consumer.send_dead_letters(dead, acked)
    assert publisher.sent == [1, 2, 3]


def test_deeply_nested_json_is_dead_lettered_and_the_rest_stored() -> None:
    consumer = storage_consumer(RecordingPublisher())
    batch = [kafka_message(0, b"[" * 100_000), kafka_message(1, GOOD)]
    written, dead = consumer.store(batch)
    assert written == 3  # the statistics row, its series and its one label
    assert [(d.message.offset(), d.reason) for d in dead] == [(0, "not JSON: nested too deeply")]


def test_any_failure_on_one_message_dead_letters_that_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_map = consumer_module.map_message

    def map_message(message: Message) -> dict:
        if message.run_id == "run-1":
            raise KeyError("bug")
        return real_map(message)

    monkeypatch.setattr(consumer_module, "map_message", map_message)
    other = GOOD.replace(b'"run-1"', b'"run-2"')
    consumer = storage_consumer(RecordingPublisher())
    written, dead = consumer.store([kafka_message(0, GOOD), kafka_message(1, other)])
    assert written == 3  # run-2: its statistics row, series and label
    assert [(d.message.offset(), d.reason) for d in dead] == [
        (0, "cannot read the message: KeyError: 'bug'")
    ]


def test_a_consumer_stopped_before_the_topics_exist_closes_its_writer_and_publisher() -> None:
    publisher = RecordingPublisher()
    consumer = storage_consumer(publisher)
    consumer.stop()
    consumer.run()  # _ensure_topics gives up at once: stopping
    assert publisher.closed and consumer.writer.closed  # type: ignore[attr-defined]
    assert not consumer.running
