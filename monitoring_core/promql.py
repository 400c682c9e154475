"""PromQL text built in one place: exact series selectors and the range queries' step grid."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime

# Prometheus refuses range queries of more than 11,000 points per series.
MAX_POINTS = 11_000
# Prometheus' own grammar of metric and label names, bounded by the columns that store them
# (series.metric and sla_metrics.metric are VARCHAR(255)); label names to 100, as a sanity bound.
MAX_METRIC_NAME = 255
METRIC_NAME = re.compile(rf"^[A-Za-z_:][A-Za-z0-9_:]{{0,{MAX_METRIC_NAME - 1}}}$")
LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


def is_metric_name(name: object) -> bool:
    """Whether ``name`` is a metric name Prometheus accepts and the database can store."""
    return isinstance(name, str) and METRIC_NAME.match(name) is not None


def quote(value: str) -> str:
    """``value`` as a PromQL double-quoted string literal.

    PromQL unquotes as Go does: a backslash and a double quote must be escaped, and a raw
    newline ends the string; every other character, non-ASCII included, stands for itself.
    Not ``json.dumps``: its ASCII mode writes an emoji as a surrogate pair
    (``\\ud83d\\ude00``), which Go's unquoting rejects.
    """
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def selector(metric: str, labels: Mapping[str, str], extra: str = "") -> str:
    """The exact selector of one metric name and label set: ``{__name__="m", a="x", b="y"}``.

    ``__name__`` first, then ``extra`` (matchers already in PromQL, such as a configured
    ``job="summary"``), then ``labels`` sorted by name. Exact matchers also match a series
    that has more labels: callers that want one series compare the answer's labels.
    """
    if "__name__" in labels:
        raise ValueError("labels must not hold __name__: pass the name as `metric`")
    matchers = [f"__name__={quote(metric)}"]
    if extra.strip():
        matchers.append(extra.strip())
    matchers += [f"{name}={quote(labels[name])}" for name in sorted(labels)]
    return "{" + ", ".join(matchers) + "}"


def align_end(now: datetime, step_seconds: int) -> datetime:
    """``now`` floored to a multiple of the step, so that sample times fall on the step grid
    (as subqueries' do) and two queries in the same step see the same samples."""
    seconds = math.floor(now.timestamp() / step_seconds) * step_seconds
    return datetime.fromtimestamp(seconds, tz=UTC)
