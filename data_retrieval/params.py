"""Validation of the read API's path and query parameters into one typed `Query`.

Pure: no Flask, no database. Every malformed value raises `BadRequest` naming the parameter,
so SQL or garbage in a query never reaches a statement (and statements bind values anyway).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from monitoring_core.messages import AGGREGATES
from monitoring_core.promql import LABEL_NAME, MAX_METRIC_NAME, is_metric_name
from monitoring_core.web import BadRequest
from monitoring_core.windows import parse_windows

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,35}$")
LABEL_PREFIX = "label."
MAX_LABEL_VALUE = 1024
MAX_MATCHERS = 20
MAX_OFFSET = 1_000_000
LATEST, HISTORY = "latest", "history"


@dataclass(frozen=True)
class Query:
    """What one read asks for: which series, which window and which run(s)."""

    window: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    run: str = LATEST  # "latest", "history" or a run id
    limit: int = 10
    offset: int = 0
    aggregate: str | None = None

    @property
    def history(self) -> bool:
        return self.run == HISTORY

    @property
    def run_id(self) -> str | None:
        return None if self.run in (LATEST, HISTORY) else self.run

    def matches(self, labels: dict[str, str]) -> bool:
        return all(labels.get(name) == value for name, value in self.labels.items())

    def describe(self) -> dict[str, object]:
        """The query as the response echoes it."""
        out: dict[str, object] = {"run": self.run, "window": self.window, "labels": self.labels}
        if self.aggregate is not None:
            out["aggregate"] = self.aggregate
        return out


def check_metric(name: str) -> str:
    if not is_metric_name(name):
        raise BadRequest(
            "malformed metric name: letters, digits, '_' and ':' only,"
            f" up to {MAX_METRIC_NAME} characters",
            parameter="name",
        )
    return name


def parse_query(
    args: Iterable[tuple[str, str]],
    *,
    allowed: frozenset[str],
    default_limit: int,
    max_limit: int,
) -> Query:
    """Build a `Query` from (name, value) pairs; `allowed` names the plain parameters a route takes.

    `label.<name>=<value>` matchers are always allowed (exact match, several are ANDed).
    """
    plain: dict[str, str] = {}
    labels: dict[str, str] = {}
    for name, value in args:
        if name.startswith(LABEL_PREFIX):
            label = name[len(LABEL_PREFIX) :]
            if not LABEL_NAME.match(label):
                raise BadRequest(f"malformed label name in {name[:120]!r}", parameter=name[:120])
            if len(value) > MAX_LABEL_VALUE:
                raise BadRequest(f"{name} is longer than {MAX_LABEL_VALUE}", parameter=name)
            if label in labels:
                raise BadRequest(f"{name} is given twice", parameter=name)
            labels[label] = value
            if len(labels) > MAX_MATCHERS:
                raise BadRequest(f"at most {MAX_MATCHERS} label matchers", parameter="label.*")
            continue
        if name not in allowed:
            expected = ", ".join(sorted(allowed | {"label.<name>"}))
            raise BadRequest(
                f"unknown query parameter {name[:120]!r} (expected: {expected})",
                parameter=name[:120],
            )
        if name in plain:
            raise BadRequest(f"{name} is given twice", parameter=name)
        plain[name] = value

    window = plain.get("window")
    if window is not None:
        try:
            parse_windows([window])
        except ValueError as exc:
            raise BadRequest(f"window: {exc}", parameter="window") from exc

    run = plain.get("run", LATEST)
    if run not in (LATEST, HISTORY) and not RUN_ID.match(run):
        raise BadRequest(
            "run must be 'latest', 'history' or a run id (letters, digits, _ . : -, up to 36)",
            parameter="run",
        )

    limit = _integer(plain, "limit", default_limit, 1, max_limit)
    offset = _integer(plain, "offset", 0, 0, MAX_OFFSET)
    if run != HISTORY and ("limit" in plain or "offset" in plain):
        raise BadRequest("limit and offset page through run=history only", parameter="limit")

    aggregate = plain.get("aggregate")
    if aggregate is not None and aggregate not in AGGREGATES:
        raise BadRequest("aggregate must be one of mean, min, max", parameter="aggregate")

    return Query(
        window=window, labels=labels, run=run, limit=limit, offset=offset, aggregate=aggregate
    )


def _integer(plain: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = plain.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}", parameter=name)
    value = int(raw)
    if not low <= value <= high:
        raise BadRequest(f"{name} must be from {low} to {high}", parameter=name)
    return value
