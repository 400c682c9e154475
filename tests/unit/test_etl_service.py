"""ETLService's answers to /regen_data without a database: the run as stored, a lagging store,
a failure Kafka never heard of, and joining the cycle another process runs.

The scheduler (its MySQL lock) and the database are fakes, the boundaries: what they hold is
set by each test. The real lock and store: tests/integration/test_etl_pipeline.py.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from etl_pipeline import service as service_module
from etl_pipeline.results import RunResult
from etl_pipeline.scheduler import CycleBusy
from etl_pipeline.service import ETLService, RunInProgress, StorageLagging, Telemetry
from etl_pipeline.settings import ETLSettings
from etl_pipeline.store import StoredRun

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def stored(run_id: str, status: str, finished: datetime | None) -> StoredRun:
    return StoredRun(run_id, status, NOW, finished, 3, 10, None, None, [], {"run_id": run_id})


@dataclass
class Database:
    """The runs and the cycle id as MySQL holds them."""

    runs: dict[str, StoredRun] = field(default_factory=dict)
    current: str | None = None

    def run(self, run_id: str) -> StoredRun | None:
        return self.runs.get(run_id)

    def cycle(self) -> str | None:
        return self.current


class Pipeline:
    settings = ETLSettings()
    observe = None

    def clock(self) -> datetime:
        return NOW


class Lock:
    """The scheduler: `run_now` runs `result` unless `busy` (another process holds the lock)."""

    def __init__(self, store: Database, result: RunResult | None = None, busy: bool = False):
        self.store, self.result, self.busy, self.pipeline = store, result, busy, Pipeline()

    def run_now(self, forecast: object = None) -> RunResult:
        if self.busy:
            raise CycleBusy("another process holds the cycle lock")
        assert self.result is not None
        return self.result

    def wait_stored(self, run_id: str, timeout: float) -> StoredRun | None:
        run = self.store.run(run_id)
        return run if run is not None and run.status != "running" else None


def service_of(lock: Lock) -> ETLService:
    return ETLService(lock, Telemetry.create(CollectorRegistry()))  # type: ignore[arg-type]


def result(run_id: str, recorded: bool, stored_: bool, status: str = "complete") -> RunResult:
    run = RunResult(run_id, status, NOW, NOW, ["1h"], [], 10, finished_at=NOW)
    run.recorded, run.stored = recorded, stored_
    return run


def test_a_stored_run_is_answered_as_stored() -> None:
    db = Database({"r1": stored("r1", "complete", NOW)})
    answer = service_of(Lock(db, result("r1", recorded=True, stored_=True))).run_now()
    assert answer is db.runs["r1"]


def test_a_run_storage_did_not_finish_storing_is_storage_lagging() -> None:
    db = Database({"r1": stored("r1", "running", None)})
    with pytest.raises(StorageLagging) as raised:
        service_of(Lock(db, result("r1", recorded=True, stored_=False))).run_now()
    assert raised.value.run_id == "r1"


def test_a_failure_kafka_never_heard_of_is_the_cycles_own_result() -> None:
    failed = result("r1", recorded=False, stored_=False, status="failed")
    assert service_of(Lock(Database(), failed)).run_now() is failed


def test_a_joiner_waits_for_the_cycle_whose_id_the_holder_stored() -> None:
    db = Database({"old": stored("old", "complete", NOW - timedelta(minutes=5))}, current="old")
    service = service_of(Lock(db, busy=True))

    def holder_starts_then_ends() -> None:
        db.current = "new"  # the lock holder's save_cycle, a moment after the join began
        db.runs["new"] = stored("new", "complete", NOW)

    timer = threading.Timer(0.5, holder_starts_then_ends)
    timer.start()
    try:
        assert service.run_now(join=True).run_id == "new"  # not the cycle that ended before
    finally:
        timer.cancel()


def test_a_joiner_that_never_sees_a_new_cycle_is_409(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service_module, "JOIN_START_SECONDS", 0.5)
    db = Database({"old": stored("old", "complete", NOW - timedelta(minutes=5))}, current="old")
    with pytest.raises(RunInProgress):
        service_of(Lock(db, busy=True)).run_now(join=True)


def test_a_change_while_busy_is_409_naming_the_cycle_under_way() -> None:
    db = Database(current="running-one")
    with pytest.raises(RunInProgress) as raised:
        service_of(Lock(db, busy=True)).run_now(forecast=object())  # type: ignore[arg-type]
    assert raised.value.run_id == "running-one"
