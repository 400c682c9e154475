"""Validation of the read routes' path and query parameters into one typed `Query` (the read API's
and the ETL API's pages of results).

Pure: no Flask, no database. Every malformed value raises `BadRequest` naming the parameter,
so SQL or garbage in a query never reaches a statement (and statements bind values anyway).
"""

from __future__ import annotations

import base64
import binascii
import json
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
MAX_CURSOR = 1024
SERIES_ID = re.compile(r"^[0-9a-f]{16}$")
LATEST, HISTORY = "latest", "history"


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after this series in the page order (metric, series_id)."""

    metric: str
    series_id: str

    def encode(self) -> str:
        """The `next` of a response: opaque to clients (base64url of a JSON pair)."""
        raw = json.dumps([self.metric, self.series_id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The `next` a client sent back; `BadRequest` for anything this API did not encode."""
        bad = BadRequest("next must be the 'next' of an earlier response", parameter="next")
        if not text or len(text) > MAX_CURSOR or not text.isascii():
            raise bad
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            pair = json.loads(raw)
        except (binascii.Error, ValueError) as exc:
            raise bad from exc
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(part, str) for part in pair)
            or not is_metric_name(pair[0])
            or not SERIES_ID.match(pair[1])
        ):
            raise bad
        return cls(pair[0], pair[1])


@dataclass(frozen=True)
class Query:
    """What one read asks for: which series, which window and which run(s), which page."""

    window: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    run: str = LATEST  # "latest", "history" or a run id
    # Series per page; with run=history, runs per page (its series are paged at `series_limit`).
    limit: int = 10
    offset: int = 0  # runs skipped, run=history only
    aggregate: str | None = None
    metric: str | None = None  # GET /metrics only
    after: Cursor | None = None  # the series page starts after this one
    series_limit: int = 100

    @property
    def history(self) -> bool:
        return self.run == HISTORY

    @property
    def run_id(self) -> str | None:
        return None if self.run in (LATEST, HISTORY) else self.run

    def describe(self) -> dict[str, object]:
        """The query as the response echoes it."""
        out: dict[str, object] = {"run": self.run, "window": self.window, "labels": self.labels}
        if self.aggregate is not None:
            out["aggregate"] = self.aggregate
        return out


def check_metric(name: str, parameter: str = "name") -> str:
    if not is_metric_name(name):
        raise BadRequest(
            "malformed metric name: letters, digits, '_' and ':' only,"
            f" up to {MAX_METRIC_NAME} characters",
            parameter=parameter,
        )
    return name


@dataclass(frozen=True)
class Limits:
    """Page sizes: `history_*` runs per page of run=history, `page_*` series per page."""

    history_default: int = 10
    history_max: int = 100
    page_default: int = 100
    page_max: int = 1000


def parse_query(
    args: Iterable[tuple[str, str]], *, allowed: frozenset[str], limits: Limits
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

    if run == HISTORY:
        limit = _integer(plain, "limit", limits.history_default, 1, limits.history_max)
    else:
        limit = _integer(plain, "limit", limits.page_default, 1, limits.page_max)
    offset = _integer(plain, "offset", 0, 0, MAX_OFFSET)
    if run != HISTORY and "offset" in plain:
        raise BadRequest("offset pages through run=history only", parameter="offset")

    metric = plain.get("metric")
    if metric is not None:
        metric = check_metric(metric, parameter="metric")
    after = Cursor.decode(plain["next"]) if "next" in plain else None

    aggregate = plain.get("aggregate")
    if aggregate is not None and aggregate not in AGGREGATES:
        raise BadRequest("aggregate must be one of mean, min, max", parameter="aggregate")

    return Query(
        window=window,
        labels=labels,
        run=run,
        limit=limit,
        offset=offset,
        aggregate=aggregate,
        metric=metric,
        after=after,
        series_limit=limits.page_default if run == HISTORY else limit,
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
