"""One run of a piece of work at a time: a caller that finds it running joins it.

A second ``GET /regen_data`` while a cycle runs, or an assessment of SLAs that an assessment
already under way covers, waits for that run and shares its result instead of queueing
another: N impatient clients cost one run, not N.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class Busy(Exception):
    """A run that covers the key is under way and the caller would not (or could not) join it."""

    def __init__(self, key: Hashable) -> None:
        super().__init__(f"{key} is running")
        self.key = key


class SingleFlight(Generic[K, T]):
    """Runs ``fn`` for a key unless a running call covers it; then waits for that call."""

    def __init__(
        self,
        covers: Callable[[K, K], bool] = lambda running, wanted: running == wanted,
        wait_seconds: float = 300.0,
    ) -> None:
        self.covers = covers
        self.wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._running: dict[K, Future[T]] = {}

    def running(self) -> list[K]:
        with self._lock:
            return list(self._running)

    def run(self, key: K, fn: Callable[[], T], join: bool = True) -> tuple[K, T]:
        """``(key of the run that answered, its result)``. With ``join=False`` a covering run
        under way raises `Busy`; so does one still running after ``wait_seconds``."""
        with self._lock:
            found = next(((k, f) for k, f in self._running.items() if self.covers(k, key)), None)
            if found is None:
                future: Future[T] = Future()
                self._running[key] = future
        if found is not None:
            running_key, running = found
            if not join:
                raise Busy(running_key)
            try:
                return running_key, running.result(timeout=self.wait_seconds)
            except FutureTimeout as exc:
                raise Busy(running_key) from exc
        try:
            result = fn()
        except BaseException as exc:
            future.set_exception(exc)  # the joiners see the same failure
            raise
        else:
            future.set_result(result)
            return key, result
        finally:
            with self._lock:
                del self._running[key]
