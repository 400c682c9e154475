"""Unit tests of the read API's parameter validation, its OpenAPI document and docs page (no I/O:
`create_app` builds a lazy pool that is never used here)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitoring_core.params import Cursor, Limits, Query, check_metric, parse_query
from monitoring_core.web import BadRequest
from monitoring_core.windows import window_order

ALLOWED = frozenset({"window", "run", "limit", "offset", "next"})
LIMITS = Limits(history_default=10, history_max=100, page_default=100, page_max=1000)


def parse(**params: str) -> Query:
    return parse_query(params.items(), allowed=ALLOWED, limits=LIMITS)


def test_defaults() -> None:
    # A page of series by default; run=history pages runs (and its series at the default).
    assert parse() == Query(labels={}, run="latest", limit=100, series_limit=100)
    assert parse(run="history") == Query(run="history", limit=10, series_limit=100)
    assert parse(limit="1000").series_limit == 1000


def test_every_parameter() -> None:
    query = parse_query(
        [
            ("window", "12h"),
            ("label.instance", "106"),
            ("label.job", "summary"),
            ("run", "history"),
            ("limit", "5"),
            ("offset", "20"),
        ],
        allowed=ALLOWED,
        limits=LIMITS,
    )
    assert query == Query(
        window="12h",
        labels={"instance": "106", "job": "summary"},
        run="history",
        limit=5,
        offset=20,
        series_limit=100,
    )
    assert query.history and query.run_id is None
    assert parse(run="2f1c-run_1.a:b").run_id == "2f1c-run_1.a:b"


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"window": "1 h"}, "window"),
        ({"window": "1h;"}, "window"),
        ({"window": "99999h"}, "window"),
        ({"run": "x' OR 1=1"}, "run"),
        ({"run": "a" * 37}, "run"),
        ({"run": "history", "limit": "0"}, "limit"),
        ({"run": "history", "limit": "101"}, "limit"),
        ({"run": "history", "limit": "1e3"}, "limit"),
        ({"run": "history", "limit": "²"}, "limit"),
        ({"run": "history", "offset": "-1"}, "offset"),
        ({"offset": "5"}, "offset"),  # runs of run=history only
        ({"limit": "1001"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"next": ""}, "next"),
        ({"next": "not base64 !"}, "next"),
        ({"next": "x" * 1025}, "next"),
        ({"next": "bnVsbA"}, "next"),  # base64url of JSON null
        ({"next": "WyJjcHVMb2FkIl0"}, "next"),  # ["cpuLoad"]: no series id
        ({"next": "WyJjcHUnTG9hZCIsIjAxMjM0NTY3ODlhYmNkZWYiXQ"}, "next"),  # cpu'Load
        ({"next": "WyJjcHVMb2FkIiwiMDEyMzQ1NiJd"}, "next"),  # a short series id
        ({"next": "/w"}, "next"),  # not UTF-8 JSON
        ({"label.bad-name": "1"}, "label.bad-name"),
        ({"label.": "1"}, "label."),
        ({"label.instance": "x" * 1025}, "label.instance"),
        ({"foo": "1"}, "foo"),
        ({"aggregate": "mean"}, "aggregate"),  # not a parameter of this route
    ],
)
def test_malformed_parameters_say_which(params: dict[str, str], parameter: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse(**params)
    assert caught.value.details["parameter"] == parameter


def test_repeated_parameters_are_refused() -> None:
    with pytest.raises(BadRequest, match="given twice"):
        parse_query([("window", "1h"), ("window", "3h")], allowed=ALLOWED, limits=LIMITS)
    with pytest.raises(BadRequest, match="given twice"):
        parse_query([("label.a", "1"), ("label.a", "2")], allowed=ALLOWED, limits=LIMITS)


def test_aggregate_where_allowed() -> None:
    allowed = ALLOWED | {"aggregate"}
    query = parse_query([("aggregate", "min")], allowed=allowed, limits=LIMITS)
    assert query.aggregate == "min" and query.describe()["aggregate"] == "min"
    with pytest.raises(BadRequest):
        parse_query([("aggregate", "median")], allowed=allowed, limits=LIMITS)


@pytest.mark.parametrize("name", ["cpuLoad", "node_cpu:rate5m", "_x"])
def test_metric_names(name: str) -> None:
    assert check_metric(name) == name


@pytest.mark.parametrize("name", ["", "1abc", "cpu'Load", "a;DROP", "x" * 256, "a b"])
def test_malformed_metric_names(name: str) -> None:
    with pytest.raises(BadRequest):
        check_metric(name)


def test_window_seconds_orders_windows() -> None:
    assert sorted(["12h", "1h", "3h", "30m"], key=window_order) == ["30m", "1h", "3h", "12h"]


@given(st.lists(st.tuples(st.text(max_size=30), st.text(max_size=30)), max_size=6))
def test_any_query_string_parses_or_says_bad_request(pairs: list[tuple[str, str]]) -> None:
    try:
        query = parse_query(pairs, allowed=ALLOWED, limits=LIMITS)
    except BadRequest as exc:
        assert exc.reason
        return
    assert query.window is None or re.fullmatch(r"[0-9]{1,4}[smhd]", query.window)
    assert 1 <= query.limit <= 1000 and query.offset >= 0
    assert query.history or query.series_limit == query.limit


@given(
    st.from_regex(r"[A-Za-z_:][A-Za-z0-9_:]{0,254}", fullmatch=True),
    st.from_regex(r"[0-9a-f]{16}", fullmatch=True),
)
def test_a_cursor_decodes_to_what_was_encoded(metric: str, series_id: str) -> None:
    cursor = Cursor(metric, series_id)
    text = cursor.encode()
    # URL-safe as it is (no padding, no + or /), and small enough for a query string.
    assert re.fullmatch(r"[A-Za-z0-9_-]+", text) and len(text) <= 1024
    assert Cursor.decode(text) == cursor
    assert parse(next=text).after == cursor


@given(st.text(max_size=60))
def test_any_next_decodes_or_says_bad_request(text: str) -> None:
    try:
        cursor = Cursor.decode(text)
    except BadRequest as exc:
        assert exc.details["parameter"] == "next"
        return
    assert Cursor.decode(cursor.encode()) == cursor
