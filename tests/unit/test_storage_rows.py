"""Unit tests of data_storage's message -> rows mapping, its upserts and its dead-letter record.

Expected rows are written out by hand from the message fields (no I/O).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone

import mysql.connector
import pytest
from confluent_kafka import Message as KafkaMessage

from data_storage.consumer import (
    DEAD_LETTER_VALUE_BYTES,
    DLQ_FORMAT,
    DeadLetter,
    is_data_error,
)
from data_storage.rows import Batch, map_message, to_utc
from monitoring_core.messages import (
    Autocorrelation,
    ForecastPayload,
    ForecastPoint,
    Message,
    MessageError,
    Metadata,
    RunRecord,
    Seasonality,
    SeriesRef,
    Stationarity,
    StatisticsPayload,
    Timing,
)
from monitoring_core.results_schema import RESULT_TABLES

T0 = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
NAIVE = T0.replace(tzinfo=None)
REF = SeriesRef.of("cpuLoad", {"job": "summary", "instance": "106"})
LABELS = '{"instance":"106","job":"summary"}'


def message(payload, series=REF, window="1h", computed_at=T0, run_id="run-1") -> Message:  # noqa: ANN001
    return Message(
        run_id=run_id, computed_at=computed_at, series=series, window=window, payload=payload
    )


def series_row(run_id: str = "run-1", at: datetime = NAIVE) -> tuple:
    return (REF.id, "cpuLoad", LABELS, at, run_id, at)


def label_rows() -> list[tuple]:
    """REF's labels, one row each: the value's SHA-256 from hashlib on its UTF-8 bytes."""
    return [
        (REF.id, name, hashlib.sha256(value.encode()).digest(), "cpuLoad", value)
        for name, value in (("instance", "106"), ("job", "summary"))
    ]


def test_statistics_become_one_row_and_the_series() -> None:
    payload = StatisticsPayload(
        start=T0 - timedelta(hours=1),
        end=T0,
        count=240,
        max=9.5,
        min=0.5,
        mean=4.25,
        std=1.5,
        p50=4.0,
        p95=8.0,
        p99=9.0,
        interval_seconds=15.0,
        gaps=2,
        missing_samples=16,
        longest_gap_seconds=240.0,
        ended_at=T0 - timedelta(minutes=5),
        metric_type="counter",
        type_source="metadata",
        transform="rate",
        domain="non_negative",
        domain_source="type",
    )
    rows = map_message(message(payload))
    assert rows == {
        "statistics": [
            (
                REF.id,
                "run-1",
                "1h",
                NAIVE,
                NAIVE - timedelta(hours=1),
                NAIVE,
                240,
                9.5,
                0.5,
                4.25,
                1.5,
                4.0,
                8.0,
                9.0,
                None,
                15.0,
                2,
                16,
                240.0,
                NAIVE - timedelta(minutes=5),
                "counter",
                "metadata",
                "rate",
                "non_negative",
                "type",
            )
        ],
        "series": [series_row()],
        "series_labels": label_rows(),
    }


def test_metadata_becomes_three_rows() -> None:
    payload = Metadata(
        autocorrelation=Autocorrelation(lags=[0.5, 0.25]),
        stationarity=Stationarity(
            statistic=-3.5,
            p_value=0.01,
            used_lag=2,
            nobs=100,
            critical_1=-3.4,
            critical_5=-2.9,
            critical_10=-2.6,
            stationary=True,
        ),
        seasonality=Seasonality(reason="no_season"),
    )
    rows = map_message(message(payload, window="3h"))
    key = (REF.id, "run-1", "3h", NAIVE)
    assert rows["autocorrelation"] == [(*key, "[0.5,0.25]", None)]
    assert rows["stationarity"] == [(*key, -3.5, 0.01, 2, 100, -3.4, -2.9, -2.6, True, None)]
    assert rows["seasonality"] == [(*key, None, None, None, None, "no_season")]


def test_forecast_becomes_a_row_per_point_and_one_with_the_error() -> None:
    points = [
        ForecastPoint(
            timestamp=T0 + timedelta(minutes=2 * i),
            value=float(i),
            lower_95=i - 1.0,
            upper_95=i + 1.0,
        )
        for i in range(1, 4)
    ]
    payload = ForecastPayload(
        aggregate="max",
        model="holt_winters",
        period_buckets=15,
        bucket_seconds=120,
        points=points,
        holdout_mae=0.5,
        holdout_mase=0.25,
    )
    rows = map_message(message(payload))
    assert rows["forecasts"] == [
        (
            REF.id,
            "run-1",
            "1h",
            "max",
            NAIVE + timedelta(minutes=2 * i),
            float(i),
            None,
            None,
            i - 1.0,
            i + 1.0,
        )
        for i in range(1, 4)
    ]
    assert rows["forecast_errors"] == [
        (REF.id, "run-1", "1h", "max", NAIVE, "holt_winters", 15, 120, 3, 0.5, 0.25, None, None)
    ]


def test_run_records_and_run_level_timings_have_no_series() -> None:
    run = RunRecord(
        status="complete",
        started_at=T0,
        finished_at=T0 + timedelta(seconds=9),
        series_count=8,
        message_count=140,
    )
    assert map_message(message(run, series=None, window=None)) == {
        "runs": [
            (
                "run-1",
                NAIVE,
                NAIVE + timedelta(seconds=9),
                8,
                140,
                None,
                None,
                None,
                None,
                "complete",
            )
        ]
    }
    # A distributed cycle's record: its shards, the retried ones and its summary, as JSON.
    sharded = run.model_copy(
        update={"shard_count": 4, "retried_shards": [2], "details": {"windows": ["1h"]}}
    )
    (row,) = map_message(message(sharded, series=None, window=None))["runs"]
    assert row[6:9] == (4, "[2]", '{"windows":["1h"]}')
    timing = Timing(stages={"total": 9.0, "discover": 0.5})
    assert map_message(message(timing, series=None, window=None)) == {
        "timings": [
            ("", "run-1", "", "discover", NAIVE, 0.5),
            ("", "run-1", "", "total", NAIVE, 9.0),
        ]
    }


@pytest.mark.parametrize("series,window", [(None, "1h"), (REF, None)])
def test_a_series_result_without_series_or_window_is_refused(series, window) -> None:  # noqa: ANN001
    payload = StatisticsPayload(start=T0, end=T0, count=0)
    with pytest.raises(MessageError, match="needs a series and a window"):
        map_message(message(payload, series=series, window=window))


def test_to_utc_converts_other_offsets_and_keeps_naive() -> None:
    cest = T0.astimezone(timezone(timedelta(hours=2)))
    assert to_utc(cest) == NAIVE
    assert to_utc(NAIVE) == NAIVE
    assert to_utc(None) is None


def test_batch_merges_series_rows_to_first_and_last_seen() -> None:
    batch = Batch()
    later = T0 + timedelta(minutes=5)
    stats = StatisticsPayload(start=T0, end=T0, count=0)
    batch.add(map_message(message(stats, computed_at=later, run_id="run-2")))
    batch.add(map_message(message(stats, window="3h")))
    tables = dict((t.name, rows) for t, rows in batch.tables())
    assert tables["series"] == [
        (REF.id, "cpuLoad", LABELS, NAIVE, "run-2", later.replace(tzinfo=None))
    ]
    assert len(tables["statistics"]) == 2
    # Two messages of one series: its labels once.
    assert sorted(tables["series_labels"]) == label_rows()
    assert batch.row_count() == 5
    assert [t.name for t, _ in batch.tables()] == ["series", "series_labels", "statistics"]


@pytest.mark.parametrize("table", RESULT_TABLES, ids=lambda t: t.name)
def test_every_upsert_updates_only_non_key_columns_from_values(table) -> None:  # noqa: ANN001
    sql = table.upsert_sql()
    assert sql.count("%s") == len(table.columns)
    head, update = sql.split(" ON DUPLICATE KEY UPDATE ")
    assert head.startswith(f"INSERT INTO {table.name} (")
    assigned = re.findall(r"(?:^|, )(\w+) = ", update)
    assert assigned == [c.name for c in table.values]
    for column in assigned:
        assert f"VALUES({column})" in update
    # The keys are never assigned, so a redelivered row cannot move to another key.
    assert not set(assigned) & set(table.key_names)


def test_dead_letter_carries_the_reason_and_the_raw_bytes() -> None:
    raw = b"\x00\xffgarbage"
    msg = KafkaMessage(topic="results", partition=2, offset=41, key=b"k1", value=raw)
    key, value, headers = DeadLetter(msg, "not JSON: boom").record()
    body = json.loads(value)
    assert key == b"k1"
    assert body["format"] == DLQ_FORMAT
    assert body["reason"] == "not JSON: boom"
    assert body["source"] == {"topic": "results", "partition": 2, "offset": 41}
    assert base64.b64decode(body["value_base64"]) == raw
    assert base64.b64decode(body["key_base64"]) == b"k1"
    assert (body["value_size"], body["value_truncated"]) == (len(raw), False)
    assert headers == {"dlq.reason": "not JSON: boom", "dlq.source": "results/2/41"}


def test_dead_letter_of_a_large_message_keeps_its_head_and_fits_the_broker() -> None:
    # 900 kB: its whole value in base64 would make a 1.2 MB dead letter, over the 1 MB the
    # broker takes (message.max.bytes), and the partition would be blocked behind it.
    raw = bytes(range(256)) * (900_000 // 256)
    msg = KafkaMessage(topic="results", partition=0, offset=7, key=b"k", value=raw)
    key, value, headers = DeadLetter(msg, "not JSON: boom").record()
    body = json.loads(value)
    assert len(value) + len(key) + sum(len(k) + len(v) for k, v in headers.items()) < 400_000
    assert base64.b64decode(body["value_base64"]) == raw[:DEAD_LETTER_VALUE_BYTES]
    assert (body["value_size"], body["value_truncated"]) == (len(raw), True)
    assert body["reason"] == "not JSON: boom"
    assert body["source"] == {"topic": "results", "partition": 0, "offset": 7}
    assert key == b"k"


def test_data_errors_are_told_from_database_trouble() -> None:
    too_long = mysql.connector.errors.get_mysql_exception(1406, "Data too long", "22001")
    bad_date = mysql.connector.errors.get_mysql_exception(1292, "Incorrect datetime", "22007")
    lost = mysql.connector.errors.get_mysql_exception(2013, "Lost connection", "HY000")
    denied = mysql.connector.errors.get_mysql_exception(1142, "INSERT denied", "42000")
    assert is_data_error(too_long) and is_data_error(bad_date)
    assert not is_data_error(lost) and not is_data_error(denied)
