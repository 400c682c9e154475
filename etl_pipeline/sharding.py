"""How a cycle is cut into shards, and the ids that make a cycle run once per schedule slot.

Pure functions (no I/O): the scheduler splits the discovered queries into shards and publishes
one work item per shard; a worker turns a work item's queries back into `SeriesQuery`s.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import datetime

from monitoring_core.messages import ShardQuery
from monitoring_core.metric_types import MetricType

from .discovery import SeriesQuery

# A run id is a uuid5 of the database name and the slot's start: every replica that computes
# the slot's run id gets the same one, so a standby that takes over cannot start that cycle
# again under a new id.
RUN_NAMESPACE = uuid.UUID("6f1c3a52-6f0e-4f55-9b53-4a1d2c9e7b10")


def shard_count(series: int, max_shard_series: int, partitions: int) -> int:
    """How many shards: each at most `max_shard_series` series, and a whole multiple of the
    work topic's partitions, so that every partition (and so every worker holding an equal
    share of the partitions) gets the same number of shards."""
    if series <= 0:
        return 0
    needed = math.ceil(series / max_shard_series)
    return min(partitions * math.ceil(needed / partitions), series)


def split(queries: Sequence[SeriesQuery], count: int) -> list[list[SeriesQuery]]:
    """`count` shards whose sizes differ by at most one; shard i takes every count-th query
    from i, so that the metrics (and their costs) are spread over the shards alike."""
    if count <= 0:
        return []
    return [list(queries[i::count]) for i in range(count)]


def to_shard_query(query: SeriesQuery) -> ShardQuery:
    return ShardQuery(
        name=query.name,
        promql=query.promql,
        labels=query.labels,
        metric_type=query.kind.type,
        type_source=query.kind.source,
        unit=query.kind.unit,
        transform=query.transform,  # type: ignore[arg-type]
    )


def from_shard_query(query: ShardQuery) -> SeriesQuery:
    kind = MetricType(query.metric_type, query.type_source, query.unit)
    return SeriesQuery(query.name, query.promql, query.labels, kind, query.transform)


def slot_start(now: datetime, interval_seconds: int) -> datetime:
    """The start of the schedule slot `now` falls in (slots are whole intervals since 1970)."""
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % interval_seconds, tz=now.tzinfo)


def slot_run_id(database: str, slot: datetime) -> str:
    """The run id of the scheduled cycle of one slot (36 characters, like a uuid4's)."""
    return str(uuid.uuid5(RUN_NAMESPACE, f"{database}/{int(slot.timestamp())}"))
