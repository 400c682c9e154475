"""Kafka messages: typed, versioned, and every bad input rejected with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitoring_core.messages import (
    Forecast,
    ForecastPoint,
    Message,
    MessageError,
    SeriesRef,
    Statistics,
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
        payload=Statistics(start=NOW, end=NOW, count=3, max=3.0, min=1.0, mean=2.0, std=1.0),
    )


def test_round_trip_keeps_every_field():
    message = statistics_message()
    assert decode(encode(message)) == message
    assert message.kind == "statistics"
    assert message.key() == SERIES.id.encode()


def test_forecast_round_trip():
    point = ForecastPoint(timestamp=NOW, value=1.5, lower_80=1.0, upper_80=2.0)
    message = statistics_message().model_copy(
        update={"payload": Forecast(aggregate="max", bucket_seconds=120, points=[point])}
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
