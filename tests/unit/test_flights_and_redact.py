"""Joining a run under way instead of queueing another, and URLs as the logs show them."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from monitoring_core.flights import Busy, SingleFlight
from monitoring_core.redact import redact_url, redact_urllib3_retries


def test_callers_that_a_running_call_covers_share_its_result() -> None:
    flights: SingleFlight[frozenset[int], list[int]] = SingleFlight(
        covers=lambda running, wanted: wanted <= running
    )
    started, release = threading.Event(), threading.Event()
    calls: list[frozenset[int]] = []

    def work(ids: frozenset[int]) -> list[int]:
        calls.append(ids)
        started.set()
        release.wait(5)
        return sorted(ids)

    answers: list[tuple[frozenset[int], list[int]]] = []
    first = threading.Thread(
        target=lambda: answers.append(flights.run(frozenset({1, 2}), lambda: work({1, 2})))
    )
    first.start()
    assert started.wait(5)
    joiners = [
        threading.Thread(
            target=lambda: answers.append(flights.run(frozenset({2}), lambda: work({2})))
        )
        for _ in range(3)
    ]
    for thread in joiners:
        thread.start()
    time.sleep(0.2)
    release.set()
    for thread in [first, *joiners]:
        thread.join(5)
    assert calls == [frozenset({1, 2})]  # one run, four answers
    assert answers == [(frozenset({1, 2}), [1, 2])] * 4
    # Not covered: its own run.
    assert flights.run(frozenset({3}), lambda: [3]) == (frozenset({3}), [3])


def test_a_caller_that_will_not_join_is_told_busy_and_failures_are_shared() -> None:
    flights: SingleFlight[str, int] = SingleFlight(wait_seconds=5)
    started, release = threading.Event(), threading.Event()

    def failing() -> int:
        started.set()
        release.wait(5)
        raise RuntimeError("cycle failed")

    errors: list[BaseException] = []

    def run() -> None:
        try:
            flights.run("cycle", failing)
        except RuntimeError as exc:
            errors.append(exc)

    owner = threading.Thread(target=run)
    owner.start()
    assert started.wait(5)
    with pytest.raises(Busy):
        flights.run("cycle", lambda: 1, join=False)
    joiner = threading.Thread(target=lambda: errors.append(_raised(flights)))
    joiner.start()
    time.sleep(0.1)
    release.set()
    owner.join(5)
    joiner.join(5)
    assert [str(e) for e in errors] == ["cycle failed", "cycle failed"]
    assert flights.running() == []


def _raised(flights: SingleFlight[str, int]) -> BaseException:
    with pytest.raises(RuntimeError) as caught:
        flights.run("cycle", lambda: 1)
    return caught.value


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example.com/services/T0/B0/XXXX", "https://hooks.example.com/..."),
        ("http://user:pw@alerts.example:9093/api?token=s3cret", "http://alerts.example:9093/..."),
        ("http://127.0.0.1:9093", "http://127.0.0.1:9093"),
        ("http://[::1]:9093/", "http://[::1]:9093"),
        ("http://host:notaport/x", "<unparseable URL>"),
    ],
)
def test_urls_in_logs_keep_scheme_host_and_port_only(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_urllib3_retry_warnings_lose_the_request_path(caplog: pytest.LogCaptureFixture) -> None:
    redact_urllib3_retries()
    redact_urllib3_retries()  # idempotent
    logger = logging.getLogger("urllib3.connectionpool")
    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        logger.warning(
            "Retrying (%r) after connection broken by '%r': %s", "Retry(1)", "err", "/x?token=abc"
        )
    assert "token=abc" not in caplog.text and "Retrying" in caplog.text
