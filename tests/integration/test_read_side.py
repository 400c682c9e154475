"""The read side at scale (issue 12) against the real MariaDB, through the read API (Flask test
client, the reader role): label matchers answered from `series_labels`, cursor pages, and the
migration that fills `series_labels` from the series stored before it.

Series are written as the writer role with data_storage's own upsert (`write_batch`), from
messages built by `data_storage.samples`. The expected series of every filter come from an
oracle that does not use `series_labels`: the stored JSON labels of `series`, parsed and
filtered in Python here.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from data_retrieval import create_app
from data_retrieval.bootstrap import bootstrap
from data_storage.consumer import write_batch
from data_storage.rows import Batch, map_message
from data_storage.samples import run_messages
from monitoring_core.db import SQL_DIR, Database, connect, migrate
from monitoring_core.messages import Message, SeriesRef, StatisticsPayload
from monitoring_core.results_schema import SERIES_TABLE
from monitoring_core.settings import DatabaseRoles, MySQLSettings

pytestmark = pytest.mark.integration

T0 = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
TAG = uuid.uuid4().hex[:8]
METRIC = f"rs_{TAG}"
OTHER = f"rs_{TAG}_other"
# Label values that an exact match must tell apart: case, a trailing space, non-ASCII (stored
# as \\u escapes in the JSON), quotes, and the empty string.
ZONES = ("a", "A", "a ", "zöne", "q\"uo'te", "")


def layout(count: int, first: int = 0) -> list[SeriesRef]:
    """Series `first`..`first+count-1` of METRIC, labels varied so that filters overlap."""
    return [
        SeriesRef.of(
            METRIC,
            {"job": TAG, "instance": str(i), "zone": ZONES[i % len(ZONES)], "odd": str(i % 2)},
        )
        for i in range(first, first + count)
    ]


def store(
    settings: MySQLSettings,
    run_id: str,
    series: list[SeriesRef],
    at: datetime,
    without: str | None = None,
    **run: Any,
) -> None:
    """One run of `series` (every kind but `without`; complete, three windows unless `run` says
    otherwise: see data_storage.samples.run_messages), written by the storage's code."""
    batch = Batch()
    for message in run_messages(run_id, series, at, points=2, **run):
        if message.kind != without:
            batch.add(map_message(message))
    write_batch(Database(settings, "test-writer"), batch, 1000)


@pytest.fixture(scope="module")
def stored(mysql_role: Callable[[str], MySQLSettings]) -> list[SeriesRef]:
    series = layout(60)
    # The same labels under another metric: a metric filter must keep them out.
    others = [SeriesRef.of(OTHER, s.labels) for s in series[:12]]
    store(mysql_role("writer"), f"rs-{TAG}-1", series + others, T0)
    return series


@pytest.fixture(scope="module")
def client(mysql_role: Callable[[str], MySQLSettings]) -> Any:
    return create_app(bootstrap(mysql=mysql_role("reader"))).test_client()


def oracle(settings: MySQLSettings, labels: dict[str, str], metric: str | None) -> list[str]:
    """The ids of the stored series carrying `labels` (of `metric`, if given), in page order
    (metric, series_id): from series.labels (JSON) filtered here, not from series_labels."""
    with Database(settings, "test-oracle").transaction() as cursor:
        cursor.execute("SELECT series_id, metric, labels FROM series ORDER BY metric, series_id")
        rows = cursor.fetchall()
    return [
        row["series_id"]
        for row in rows
        if (metric is None or row["metric"] == metric)
        and labels.items() <= json.loads(row["labels"]).items()
    ]


Params = list[tuple[str, str]]


def walk(
    client: Any, path: str, params: Params, key: str, between: Callable[[], None] = lambda: None
) -> list:
    """Every item of a paged route, page by page (following `next`), calling `between` after
    each page; fails if a `next` comes twice."""
    items, seen_next = [], set()
    following = None
    while True:
        extra = [] if following is None else [("next", following)]
        response = client.get(path, query_string=[*params, *extra])
        assert response.status_code == 200, response.json
        body = response.json
        items += body[key]
        following = body["pagination"]["next"]
        if following is None:
            return items
        assert following not in seen_next
        seen_next.add(following)
        between()


@pytest.mark.parametrize(
    "labels",
    [
        {},
        {"zone": "a"},
        {"zone": "A"},
        {"zone": "a "},
        {"zone": "zöne"},
        {"zone": "q\"uo'te"},
        {"zone": ""},
        {"zone": "a", "odd": "1"},
        {"odd": "0", "instance": "12"},
        {"instance": "12", "job": TAG, "zone": "a", "odd": "0"},
        {"zone": "no such zone"},
        {"nosuchlabel": "a"},
    ],
    ids=repr,
)
def test_label_filters_answer_what_the_stored_json_says(client, stored, mysql_role, labels) -> None:
    matchers = [(f"label.{name}", value) for name, value in labels.items()]
    reader = mysql_role("reader")
    # GET /metrics of one metric, in pages of 7.
    listed = walk(client, "/metrics", [("metric", METRIC), ("limit", "7"), *matchers], "series")
    assert [s["series_id"] for s in listed] == oracle(reader, labels, METRIC)
    assert all(labels.items() <= s["labels"].items() for s in listed)
    # Any metric: the other metric's copies come too, after METRIC's (page order).
    if labels:
        everywhere = walk(client, "/metrics", [("limit", "5"), *matchers], "series")
        assert [s["series_id"] for s in everywhere] == oracle(reader, labels, None)
    # A data route: the 1h statistics of the same series, in pages of 4 series.
    params = [("window", "1h"), ("limit", "4"), *matchers]
    rows = walk(client, f"/metrics/metric/{METRIC}", params, "statistics")
    assert [r["series_id"] for r in rows] == oracle(reader, labels, METRIC)


def test_paging_walks_every_series_once_while_rows_are_written(client, stored, mysql_role) -> None:
    writer = mysql_role("writer")
    before = oracle(mysql_role("reader"), {}, METRIC)
    assert len(before) == 60
    added: list[SeriesRef] = []

    def write_more() -> None:
        # New series (ids land before and after the cursor alike) and a newer complete run
        # of the first ten series, between every two pages.
        n = len(added)
        fresh = layout(3, first=1000 + n)
        added.extend(fresh)
        at = T0 + timedelta(minutes=1 + n)
        store(writer, f"rs-{TAG}-more-{n}", fresh + stored[:10], at)

    params = [("metric", METRIC), ("limit", "9")]
    listed = walk(client, "/metrics", params, "series", write_more)
    ids = [s["series_id"] for s in listed]
    assert len(ids) == len(set(ids)), "a series came twice"
    assert ids == sorted(ids), "pages out of order"
    assert set(before) <= set(ids), "a series stored before the walk was skipped"
    assert set(ids) <= set(before) | {s.id for s in added}
    assert added  # rows were written during the walk

    params = [("window", "1h"), ("limit", "9")]
    statistics = walk(client, f"/metrics/metric/{METRIC}", params, "statistics", write_more)
    ids = [r["series_id"] for r in statistics]
    assert len(ids) == len(set(ids)) and ids == sorted(ids)
    assert set(before) <= set(ids)


def test_pages_are_bounded_and_bad_cursors_are_400(client, stored, mysql_role) -> None:
    first_two = set(oracle(mysql_role("reader"), {}, METRIC)[:2])
    page = client.get(f"/metrics/forecasting/{METRIC}?limit=2").json
    assert {f["series_id"] for f in page["forecasts"]} == first_two
    assert len(page["forecasts"]) == 2 * 3 * 3  # series x windows x aggregates
    following = client.get(
        f"/metrics/forecasting/{METRIC}?limit=2&next={page['pagination']['next']}"
    ).json
    assert following["forecasts"] and not {f["series_id"] for f in following["forecasts"]} & (
        first_two
    )
    for bad in ("%%%", "eyJ4IjoxfQ", "W10", "x" * 2000):
        response = client.get(f"/metrics?next={bad}")
        assert response.status_code == 400, bad
        assert response.json["parameter"] == "next"
    response = client.get(f"/metrics/metric/{OTHER}?next={page['pagination']['next']}")
    assert response.status_code == 400 and "another metric" in response.json["reason"]
    listed = client.get(f"/metrics?metric={METRIC}&limit=2").json["pagination"]["next"]
    response = client.get(f"/metrics?metric={OTHER}&next={listed}")
    assert response.status_code == 400 and response.json["parameter"] == "next"
    assert client.get("/metrics?limit=1001").status_code == 400
    assert client.get("/metrics?metric=bad;name").json["parameter"] == "metric"


def test_latest_is_chosen_per_series_and_window_on_every_page(client, mysql_role) -> None:
    # A page is read in one statement for the series whose last run answers, and through the
    # walk of complete runs for the others; the pages below mix both.
    metric = f"rs_{TAG}_latest"
    a, b, c, d = sorted((SeriesRef.of(metric, {"instance": n}) for n in "abcd"), key=lambda s: s.id)
    writer = mysql_role("writer")
    run = {n: f"rs-{TAG}-latest-{n}" for n in (1, 2, 3)}
    store(writer, run[1], [a, b, c, d], T0)
    store(writer, run[2], [a], T0 + timedelta(minutes=5), windows=("12h",))
    store(writer, run[2], [b], T0 + timedelta(minutes=5))
    store(writer, run[3], [b], T0 + timedelta(minutes=10), status="running")
    # d's run 2 is complete, with its forecasts but no statistics.
    store(writer, run[2], [d], T0 + timedelta(minutes=5), without="statistics")
    # Expected, by hand from the runs just stored: per series, the newest complete run with
    # rows of the asked kind and window (a's run 2 has 12h only; b's run 3 is still running).
    expected = {
        "1h": {a.id: [run[1]], b.id: [run[2]], c.id: [run[1]], d.id: [run[1]]},
        "12h": {a.id: [run[2]], b.id: [run[2]], c.id: [run[1]], d.id: [run[1]]},
        None: {a.id: [run[2]], b.id: [run[2]] * 3, c.id: [run[1]] * 3, d.id: [run[1]] * 3},
    }
    for window, runs in expected.items():
        params = [] if window is None else [("window", window)]
        for limit in ("1", "2", "100"):
            found = walk(client, f"/metrics/metric/{metric}", [*params, ("limit", limit)],
                         "statistics")  # fmt: skip
            by_series: dict[str, list[str]] = {}
            for row in found:
                by_series.setdefault(row["series_id"], []).append(row["run_id"])
            assert by_series == runs, (window, limit)
            assert all(window in (None, row["window"]) for row in found)
    # GET /metrics: each series once, with its newest complete run that has statistics. Its
    # forecasts: every row of that kind's newest complete run (windows x 3 aggregates).
    for limit in ("1", "2", "100"):
        listed = walk(client, "/metrics", [("metric", metric), ("limit", limit)], "series")
        assert [(s["series_id"], s["last_run_id"]) for s in listed] == [
            (a.id, run[2]), (b.id, run[2]), (c.id, run[1]), (d.id, run[1])
        ]  # fmt: skip
        forecasts = walk(client, f"/metrics/forecasting/{metric}", [("limit", limit)], "forecasts")
        by_series = {}
        for row in forecasts:
            by_series.setdefault(row["series_id"], []).append(row["run_id"])
        assert by_series == {
            a.id: [run[2]] * 3, b.id: [run[2]] * 9, c.id: [run[1]] * 9, d.id: [run[2]] * 9
        }  # fmt: skip


# The migration that adds series_labels fills it from the series stored before it.


@pytest.fixture
def old_database(
    mysql_role: Callable[[str], MySQLSettings], db_roles: DatabaseRoles, tmp_path: Path
) -> Iterator[tuple[MySQLSettings, Path]]:
    """A database of its own migrated up to 008 (the schema before series_labels), and the
    sql/ directory to migrate it further with."""
    name = f"test_{TAG}_backfill"
    connection = connect(mysql_role("migrator"), database="")
    cursor = connection.cursor()
    cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    connection.commit()
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    for path in SQL_DIR.glob("00[1-8]_*.sql"):
        shutil.copy(path, sql_dir)
    settings = mysql_role("migrator").model_copy(update={"database": name})
    migrate(settings, db_roles, sql_dir)
    try:
        yield settings, sql_dir
    finally:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        connection.close()


def test_the_migration_fills_series_labels_from_the_stored_series(
    old_database, db_roles, mysql_role
) -> None:
    settings, sql_dir = old_database
    odd = {"ünï": '☃ \\ "x"', 'q"': "1"}  # a key JSON must quote in a path, escapes in values
    series = [*layout(30), SeriesRef.of(OTHER, {}), SeriesRef.of(OTHER, odd)]
    # The series rows as the storage wrote them before 009 (its series mapping, its upsert).
    stats = StatisticsPayload(start=T0, end=T0, count=0)
    rows = []
    for ref in series:
        message = Message(run_id="old", computed_at=T0, series=ref, window="1h", payload=stats)
        rows += map_message(message)["series"]
    connection = connect(settings)
    try:
        connection.cursor().executemany(SERIES_TABLE.upsert_sql(), rows)
        connection.commit()
    finally:
        connection.close()

    shutil.copy(SQL_DIR / "009_series_labels.sql", sql_dir)
    assert migrate(settings, db_roles, sql_dir) == ["009_series_labels.sql"]

    with Database(settings, "test-backfill").transaction() as cursor:
        cursor.execute("SELECT series_id, name, value_hash, metric, value FROM series_labels")
        found = sorted(
            (r["series_id"], r["name"], bytes(r["value_hash"]), r["metric"], r["value"])
            for r in cursor.fetchall()
        )
    # Expected: every (series, label) of the messages, the hash from hashlib on UTF-8 bytes.
    expected = sorted(
        (ref.id, name, hashlib.sha256(value.encode()).digest(), ref.metric, value)
        for ref in series
        for name, value in ref.labels.items()
    )
    assert found == expected

    # And the read API finds them by label in that database.
    reader = mysql_role("reader").model_copy(update={"database": settings.database})
    client = create_app(bootstrap(mysql=reader)).test_client()
    body = client.get("/metrics", query_string={"metric": METRIC, "label.zone": "zöne"}).json
    assert [s["series_id"] for s in body["series"]] == sorted(
        s.id for s in series if s.labels.get("zone") == "zöne"
    )


def test_a_request_pings_mariadb_once_and_outlives_a_killed_connection(mysql_role) -> None:
    # The pool pings a connection as it hands it out (and reconnects one that went away); the C
    # extension's cursor() used to ping again. MariaDB counts each ping of a session in its
    # Com_admin_commands.
    settings = mysql_role("reader").model_copy(update={"pool_size": 1})
    db = Database(settings, "ping-count", read_only=True)
    counts, sessions = [], []
    for _ in range(4):
        with db.transaction() as cursor:
            cursor.execute("SHOW SESSION STATUS LIKE 'Com_admin_commands'")
            counts.append(int(cursor.fetchone()["Value"]))
            cursor.execute("SELECT CONNECTION_ID() AS id")
            sessions.append(cursor.fetchone()["id"])
    assert len(set(sessions)) == 1  # one pooled connection throughout
    assert [b - a for a, b in zip(counts, counts[1:], strict=False)] == [1, 1, 1]

    killer = connect(settings)
    try:
        killer.cursor().execute("KILL %s", [sessions[0]])
    finally:
        killer.close()
    with db.transaction() as cursor:  # the pool's ping finds it gone and reconnects
        cursor.execute("SELECT CONNECTION_ID() AS id")
        assert cursor.fetchone()["id"] != sessions[0]
