"""Kafka messages: typed, versioned, and every bad input rejected with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitoring_core.messages import (
    ForecastPayload,
    ForecastPoint,
    Message,
    MessageError,
    RunRecord,
    Seasonality,
    SeriesRef,
    StatisticsPayload,
    Timing,
    decode,
    encode,
    series_id,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SERIES = SeriesRef.of("cpuLoad", {"job": "summary", "instance": "106"})


def statistics_message() -> Message:
    return Message(
        run_id="r1",
        computed_at=NOW,
        series=SERIES,
        window="1h",
        payload=StatisticsPayload(start=NOW, end=NOW, count=3, max=3.0, min=1.0, mean=2.0, std=1.0),
    )


def test_round_trip_keeps_every_field():
    message = statistics_message()
    assert decode(encode(message)) == message
    assert message.kind == "statistics"
    assert message.key() == SERIES.id.encode()


def test_forecast_round_trip():
    point = ForecastPoint(timestamp=NOW, value=1.5, lower_80=1.0, upper_80=2.0)
    message = statistics_message().model_copy(
        update={"payload": ForecastPayload(aggregate="max", bucket_seconds=120, points=[point])}
    )
    assert decode(encode(message)).payload == message.payload


@given(
    st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=10), max_size=5),
)
def test_series_id_ignores_label_order(labels):
    reordered = dict(reversed(list(labels.items())))
    assert series_id("m", labels) == series_id("m", reordered)


def test_series_id_tells_label_sets_apart():
    assert series_id("cpuLoad", {"instance": "106"}) != series_id("cpuLoad", {"instance": "107"})
    assert SeriesRef.of("cpuLoad", {"__name__": "cpuLoad", "a": "1"}).labels == {"a": "1"}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty message"),
        (b"\xff\xfe", "not JSON"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"schema_version": 2}', "unknown schema_version 2"),
        (b'{"run_id": "x"}', "unknown schema_version None"),
        (b'{"schema_version": 1, "run_id": "x"}', "computed_at: Field required"),
    ],
)
def test_bad_bytes_are_rejected_with_a_reason(raw, reason):
    with pytest.raises(MessageError, match=reason):
        decode(raw)


def test_unknown_kind_and_tampered_series_id_are_rejected():
    data = json.loads(encode(statistics_message()))
    data["payload"]["kind"] = "gossip"
    with pytest.raises(MessageError, match="payload"):
        decode(json.dumps(data).encode())
    data = json.loads(encode(statistics_message()))
    data["series"]["labels"]["instance"] = "999"
    with pytest.raises(MessageError, match="series id does not match"):
        decode(json.dumps(data).encode())


def test_non_finite_numbers_are_refused_on_the_wire():
    data = json.loads(encode(statistics_message()))
    raw = json.dumps(data).replace('"max": 3.0', '"max": NaN').encode()
    with pytest.raises(MessageError, match="max"):
        decode(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,
        b'{"a":' * 100_000,
        b'{"schema_version": 1, "run_id": "x", "payload": ' + b"[" * 100_000,
    ],
    ids=["arrays", "objects", "inside-a-message"],
)
def test_deeply_nested_json_is_a_message_error_not_a_recursion_error(raw):
    # json.loads raises RecursionError on these: the consumer only dead-letters MessageError.
    with pytest.raises(MessageError, match="nested too deeply"):
        decode(raw)


# Column sizes from sql/001_init.sql and sql/002_results.sql: reason VARCHAR(255),
# seasonality.method / forecast_errors.model / timings.stage VARCHAR(64), runs.summary TEXT
# (65,535 bytes, 4 per utf8mb4 character), series.labels TEXT (the labels as ASCII JSON).
@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: StatisticsPayload(start=NOW, end=NOW, count=1, reason="r" * 256), "reason"),
        (lambda: ForecastPayload(aggregate="mean", bucket_seconds=60, reason="r" * 256), "reason"),
        (lambda: Seasonality(reason="r" * 256), "reason"),
        (lambda: Seasonality(method="m" * 65), "method"),
        (lambda: Seasonality(seasonal=[0.0] * 10_001), "seasonal"),
        (lambda: ForecastPayload(aggregate="mean", bucket_seconds=60, model="m" * 65), "model"),
        (lambda: Timing(stages={"s" * 65: 1.0}), "stages"),
        (lambda: Timing(stages={f"stage{i}": 1.0 for i in range(65)}), "stages"),
        (lambda: SeriesRef.of("m", {f"l{i}": "v" for i in range(129)}), "labels"),
        (lambda: SeriesRef.of("m", {"big": "v" * 65_530}), "labels"),
        # 11,000 characters, but 66,000 as stored: each is written \u00e9.
        (lambda: SeriesRef.of("m", {"accents": "\u00e9" * 11_000}), "labels"),
        (
            lambda: RunRecord(status="failed", started_at=NOW, series_count=0, reason="r" * 16_384),
            "reason",
        ),
    ],
)
def test_values_too_large_for_their_column_are_refused_when_built(build, field):
    with pytest.raises(ValueError, match=field):
        build()


def test_values_that_fill_their_column_exactly_are_accepted():
    assert StatisticsPayload(start=NOW, end=NOW, count=1, reason="r" * 255).reason == "r" * 255
    assert Seasonality(method="m" * 64, seasonal=[0.0] * 10_000).method == "m" * 64
    assert Timing(stages={"s" * 64: 1.0}).stages == {"s" * 64: 1.0}
    labels = {"big": "v" * (65_535 - len('{"big":""}'))}
    assert SeriesRef.of("m", labels).labels == labels
    assert RunRecord(status="failed", started_at=NOW, series_count=0, reason="r" * 16_383)


def test_an_oversized_value_on_the_wire_is_a_message_error():
    data = json.loads(encode(statistics_message()))
    data["payload"]["reason"] = "r" * 256
    with pytest.raises(MessageError, match="payload.statistics.reason"):
        decode(json.dumps(data).encode())
