"""monitoring_core.kafka without a broker: refused records, topic timeouts, the health probe.

A record librdkafka refuses at once is refused by the real client (no broker is needed for
that); the admin client is replaced by a fake only where the test needs an answer a broker
cannot be made to give on demand (a create that never completes, a ValueError).
"""

from __future__ import annotations

from concurrent.futures import Future
from types import SimpleNamespace

import pytest

from etl_pipeline import create_app
from etl_pipeline.bootstrap import bootstrap
from etl_pipeline.settings import ETLSettings
from monitoring_core import kafka
from monitoring_core.kafka import KafkaUnavailable, Publisher, check_broker, ensure_topics
from monitoring_core.settings import KafkaSettings

from .test_etl_pipeline import FakePrometheus, samples

NOWHERE = KafkaSettings(bootstrap_servers="127.0.0.1:1")


class FakeAdmin:
    """An admin client whose metadata request raises ValueError, and that counts its builds."""

    built: list[dict[str, str]] = []

    def __init__(self, config: dict[str, str]) -> None:
        FakeAdmin.built.append(config)

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> object:
        raise ValueError("embedded null character")


@pytest.fixture
def fake_admin(monkeypatch: pytest.MonkeyPatch) -> type[FakeAdmin]:
    monkeypatch.setattr(kafka, "AdminClient", FakeAdmin)
    monkeypatch.setattr(kafka, "_admins", {})
    FakeAdmin.built = []
    return FakeAdmin


def test_a_record_the_producer_refuses_at_once_is_a_failed_report_not_an_exception() -> None:
    # The producer checks message.max.bytes in produce() itself: MSG_SIZE_TOO_LARGE at once.
    publisher = Publisher(NOWHERE, **{"message.max.bytes": 1000})
    try:
        report = publisher.produce_raw("results", b"key", b"x" * 5000)
    finally:
        publisher.close(1)
    assert (report.sent, report.acked, report.complete) == (1, 0, False)
    assert "MSG_SIZE_TOO_LARGE" in report.errors[0]


def test_a_topic_creation_that_times_out_is_kafka_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class SlowAdmin:
        def __init__(self, config: dict[str, str]) -> None:
            pass

        def list_topics(self, timeout: float) -> object:
            return SimpleNamespace(topics={})

        def create_topics(self, topics: list, operation_timeout: float) -> dict[str, Future]:
            return {topic.topic: Future() for topic in topics}  # never completed

    monkeypatch.setattr(kafka, "AdminClient", SlowAdmin)
    # future.result(timeout) raises TimeoutError, which is not a KafkaException.
    with pytest.raises(KafkaUnavailable, match="cannot create topic .*no answer in 0.05s"):
        ensure_topics(NOWHERE, timeout=0.05)


def test_check_broker_turns_any_client_error_into_kafka_unavailable() -> None:
    # The real client: a NUL in a topic name is a ValueError, not a KafkaException.
    with pytest.raises(KafkaUnavailable, match="Kafka at 127.0.0.1:1: embedded null character"):
        check_broker(NOWHERE, topic="bad\x00topic", timeout=0.2)
    with pytest.raises(KafkaUnavailable, match="Kafka at 127.0.0.1:1: .*_TRANSPORT"):
        check_broker(NOWHERE, timeout=0.2)


def test_check_broker_keeps_one_admin_client_per_broker(fake_admin: type[FakeAdmin]) -> None:
    for _ in range(3):
        with pytest.raises(KafkaUnavailable):
            check_broker(NOWHERE)
    with pytest.raises(KafkaUnavailable):
        check_broker(KafkaSettings(bootstrap_servers="127.0.0.1:2"))
    assert fake_admin.built == [
        {"bootstrap.servers": "127.0.0.1:1"},
        {"bootstrap.servers": "127.0.0.1:2"},
    ]


def test_etl_health_uses_the_shared_broker_check(
    fake_admin: type[FakeAdmin], read_headers: dict[str, str]
) -> None:
    labels = (("instance", "106"), ("job", "summary"))
    app = create_app(
        bootstrap(
            ETLSettings(scheduler_enabled=False),
            kafka_settings=NOWHERE,
            prometheus=FakePrometheus({("cpuLoad", labels): samples(1)}),  # type: ignore[arg-type]
        )
    )
    client = app.test_client()
    for _ in range(2):
        response = client.get("/health", headers=read_headers)  # details need a token
        assert response.status_code == 503
        kafka_check = response.json["checks"]["kafka"]
        assert kafka_check == {
            "ok": False,
            "reason": "Kafka at 127.0.0.1:1: embedded null character",
        }
    assert fake_admin.built == [{"bootstrap.servers": "127.0.0.1:1"}]  # one client, not one a probe
