"""The one scheduler of every service's background work: named jobs, each on its own interval.

A job runs in its own daemon thread: once at start when asked (`first=True`), then every
`interval` seconds until `stop()`. An exception in one round is logged and the schedule goes
on (a failed ETL cycle or SLA assessment must not end the service's loop). A job with no
interval runs once (the SLA rules published at start); a loop job is one call that runs until
its own `stop` is called (the storage consumer). The failure of a loop job or of a run-once
job is kept in `failed`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[], object]
    interval: float | None  # None: once
    first: bool  # run at start, before the first wait
    stop: Callable[[], object] | None = None  # ends a loop job's call


class Scheduler:
    """Collects jobs with `every`/`once`, then `start()` runs them; `stop()` ends them."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.failed: list[str] = []  # loop jobs and run-once jobs that raised

    def every(self, name: str, interval: float, run: Callable[[], object], first: bool) -> None:
        if interval <= 0:
            raise ValueError(f"job {name}: the interval must be positive, got {interval}")
        self.jobs.append(Job(name, run, interval, first))

    def once(self, name: str, run: Callable[[], object]) -> None:
        self.jobs.append(Job(name, run, None, True))

    def loop(self, name: str, run: Callable[[], object], stop: Callable[[], object]) -> None:
        self.jobs.append(Job(name, run, None, True, stop))

    def start(self) -> None:
        if self._threads:
            return
        for job in self.jobs:
            thread = threading.Thread(target=self._loop, args=(job,), name=job.name, daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask every job to end and wait up to `timeout` for each (a round in hand finishes)."""
        self._stop.set()
        for job in self.jobs:
            if job.stop is not None:
                try:
                    job.stop()
                except Exception:  # noqa: BLE001 - the other jobs must still be stopped
                    log.exception("stopping %s failed", job.name)
        for thread in self._threads:
            thread.join(timeout)

    def wait(self) -> None:
        """Block until every job has ended (a process whose work is a loop job)."""
        for thread in self._threads:
            thread.join()

    def _loop(self, job: Job) -> None:
        if job.first:
            self._round(job)
        if job.interval is None:
            return
        while not self._stop.wait(job.interval):
            self._round(job)

    def _round(self, job: Job) -> None:
        try:
            job.run()
        except Exception:  # noqa: BLE001 - a failed round must not end the schedule
            if job.stop is not None:
                log.exception("%s failed", job.name)
                self.failed.append(job.name)
            elif job.interval is None:
                log.exception("%s failed (it runs once)", job.name)
                self.failed.append(job.name)
            else:
                log.exception("%s failed; next round in %s s", job.name, job.interval)
