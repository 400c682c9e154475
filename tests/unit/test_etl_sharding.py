"""Sharding of a distributed cycle, slot run ids, and the work and shard-status messages.

Expected values are hand computations: 2,000 series at 100 a shard need 20 shards, a multiple of
4 partitions; 2,001 need 21, rounded up to the next multiple of 4, 24.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from etl_pipeline.discovery import SeriesQuery
from etl_pipeline.scheduler import ShardProgress
from etl_pipeline.settings import ETLSettings
from etl_pipeline.shard_worker import ShardWorker
from etl_pipeline.sharding import (
    from_shard_query,
    shard_count,
    slot_run_id,
    slot_start,
    split,
    to_shard_query,
)
from monitoring_core.messages import MessageError, ShardStatus, WorkItem, decode_as, encode
from monitoring_core.metric_types import MetricType
from monitoring_core.settings import KafkaSettings

AT = datetime(2026, 12, 2, 10, 7, 31, tzinfo=UTC)


def queries(count: int) -> list[SeriesQuery]:
    """Sorted by metric name as discovery gives them: 8 names, each a run of label sets."""
    per_name = -(-count // 8)
    return [SeriesQuery(f"m{i // per_name}", f'm{{i="{i}"}}', {"i": str(i)}) for i in range(count)]


@pytest.mark.parametrize(
    ("series", "per_shard", "partitions", "expected"),
    [(2_000, 100, 4, 20), (2_001, 100, 4, 24), (10, 100, 12, 10), (0, 100, 4, 0), (1, 1, 1, 1)],
)
def test_shard_count_is_a_multiple_of_the_partitions_and_never_above_the_series(
    series: int, per_shard: int, partitions: int, expected: int
) -> None:
    assert shard_count(series, per_shard, partitions) == expected


def test_split_covers_every_query_once_in_shards_of_equal_size() -> None:
    found = queries(2_001)
    shards = split(found, 24)
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == 2_001
    flat = [q.promql for shard in shards for q in shard]
    assert sorted(flat) == sorted(q.promql for q in found)
    # Round robin: each shard holds every metric name (8 of them) alike.
    assert {q.name for q in shards[0]} == {f"m{i}" for i in range(8)}


def test_a_query_survives_its_trip_as_a_shard_query() -> None:
    query = SeriesQuery(
        "c_total", 'c_total{a="b"}', {"a": "b"}, MetricType("counter", "name"), "rate"
    )
    assert from_shard_query(to_shard_query(query)) == query
    expression = SeriesQuery("reqRate", "rate(x[5m])", None)
    assert from_shard_query(to_shard_query(expression)) == expression


def test_a_slot_has_one_run_id_and_the_next_slot_another() -> None:
    slot = slot_start(AT, 300)
    assert slot == datetime(2026, 12, 2, 10, 5, tzinfo=UTC)
    same = slot_start(datetime(2026, 12, 2, 10, 9, 59, tzinfo=UTC), 300)
    assert slot_run_id("metrics", slot) == slot_run_id("metrics", same)
    later = slot_start(datetime(2026, 12, 2, 10, 10, tzinfo=UTC), 300)
    assert slot_run_id("metrics", later) != slot_run_id("metrics", slot)
    assert slot_run_id("other", slot) != slot_run_id("metrics", slot)  # two stacks, one server
    assert len(slot_run_id("metrics", slot)) == 36


def test_work_items_and_statuses_round_trip_and_refuse_garbage() -> None:
    item = WorkItem(
        run_id="r1",
        shard=3,
        shard_count=4,
        data_end=AT,
        forecast_metrics=["cpu"],
        horizon_minutes=10,
        queries=[to_shard_query(q) for q in queries(3)],
    )
    assert decode_as(WorkItem, encode(item)) == item
    status = ShardStatus(run_id="r1", shard=3, status="done", worker="w", at=AT, series_count=3)
    assert decode_as(ShardStatus, encode(status)) == status
    with pytest.raises(MessageError, match="invalid WorkItem"):
        decode_as(WorkItem, encode(status))
    with pytest.raises(MessageError):
        decode_as(ShardStatus, b"{not json")
    with pytest.raises(MessageError, match="empty"):
        decode_as(ShardStatus, None)


def test_progress_names_the_shards_started_on_two_workers() -> None:
    progress = ShardProgress(2)
    for shard, worker, state in [(0, "a", "started"), (1, "a", "started"), (1, "b", "started"),
                                 (0, "a", "done"), (1, "b", "done")]:  # fmt: skip
        progress.add(ShardStatus(run_id="r", shard=shard, status=state, worker=worker, at=AT))
    assert progress.finished and progress.retried == [1]
    failed = ShardProgress(2)
    failed.add(ShardStatus(run_id="r", shard=0, status="failed", worker="a", at=AT, reason="x"))
    assert failed.finished and failed.failed


def test_a_work_item_older_than_the_shard_timeout_is_skipped_not_redone() -> None:
    """Work left on the topic while the workers were down: its scheduler gave the run up after
    ETL_SHARD_TIMEOUT_SECONDS, so the worker skips it (no status, no queries) and one just
    inside the timeout is run."""
    ran: list[str] = []

    def run_shard(run_id: str, *_args: object) -> None:
        ran.append(run_id)
        raise RuntimeError("stop here")  # the shard ran; what follows is not under test

    timeout = ETLSettings().shard_timeout_seconds
    pipeline = SimpleNamespace(
        settings=ETLSettings(),
        clock=lambda: AT + timedelta(seconds=timeout + 1),
        run_shard=run_shard,
    )
    worker = ShardWorker(pipeline, KafkaSettings(), name="w")  # type: ignore[arg-type]
    statuses: list[str] = []
    worker._status = lambda item, status, **_: statuses.append(status)  # type: ignore[method-assign]

    def item(data_end: datetime) -> SimpleNamespace:
        work = WorkItem(
            run_id=f"r-{data_end:%H%M%S}",
            shard=0,
            shard_count=1,
            data_end=data_end,
            forecast_metrics=[],
            horizon_minutes=10,
            queries=[to_shard_query(q) for q in queries(1)],
        )
        return SimpleNamespace(value=lambda: encode(work))

    worker.handle(item(AT))  # type: ignore[arg-type]
    assert (ran, statuses) == ([], [])
    worker.handle(item(AT + timedelta(seconds=2)))  # type: ignore[arg-type]
    assert ran == [f"r-{AT + timedelta(seconds=2):%H%M%S}"]
    assert statuses == ["started", "failed"]
