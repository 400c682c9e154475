"""The one scheduler of the services' background work: first rounds, intervals, failures, stop."""

from __future__ import annotations

import threading

import pytest

from monitoring_core.scheduler import Scheduler


def test_a_job_runs_first_then_every_interval_and_outlives_a_failed_round() -> None:
    rounds: list[int] = []
    third = threading.Event()

    def job() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("the first round fails")
        if len(rounds) == 3:
            third.set()

    scheduler = Scheduler()
    scheduler.every("test-job", 0.05, job, first=True)
    scheduler.start()
    try:
        assert third.wait(5)  # the failed first round did not end the schedule
    finally:
        scheduler.stop()
    count = len(rounds)
    threading.Event().wait(0.2)
    assert len(rounds) == count  # stopped: no more rounds


def test_without_first_nothing_runs_before_the_interval_and_once_runs_once() -> None:
    ran: list[str] = []
    once_done = threading.Event()
    scheduler = Scheduler()
    scheduler.every("hourly", 3600, lambda: ran.append("hourly"), first=False)
    scheduler.once("at-start", lambda: (ran.append("once"), once_done.set()))
    scheduler.start()
    assert once_done.wait(5)
    scheduler.stop()
    assert ran == ["once"]
    assert not any(t.name in ("hourly", "at-start") for t in threading.enumerate())


def test_an_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Scheduler().every("never", 0, lambda: None, first=True)


def test_a_loop_job_runs_until_its_stop_and_a_failure_is_kept() -> None:
    stopped = threading.Event()
    scheduler = Scheduler()
    scheduler.loop("consumer", lambda: stopped.wait(10), stop=stopped.set)
    scheduler.loop("broken", lambda: 1 / 0, stop=lambda: None)
    scheduler.start()
    scheduler.stop(timeout=5)
    scheduler.wait()
    assert stopped.is_set() and scheduler.failed == ["broken"]
