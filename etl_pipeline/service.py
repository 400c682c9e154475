"""The ETL's cycles on demand and on schedule, and where its answers come from.

The routes and the worker's tick share one `ETLService`, which keeps nothing between requests:
runs, results and the forecast settings are in MySQL (`store.RunStore`), so any number of
gunicorn workers and replicas answer alike. One cycle runs at a time across all of them (the
scheduler's MySQL lock): a /regen_data that finds one running joins it and answers it once
stored; a change of the forecast settings, or the scheduler's tick, gets `RunInProgress` with
the running run's id instead. A failed run never replaces the last complete one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .analysis import ForecastConfig
from .results import RunResult, SeriesWindowResult
from .scheduler import CycleBusy, CycleScheduler
from .store import StoredRun

log = logging.getLogger(__name__)
# How long a /regen_data that found a cycle running waits for that cycle's id, and then for
# the cycle to be stored (after which it answers 409 with the id).
JOIN_START_SECONDS = 10.0
JOIN_WAIT_SECONDS = 300.0


class StorageLagging(Exception):
    """The run ended, but data_storage has not stored all of it yet; its id in `run_id`."""

    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"run {run_id} ended, but data_storage has not stored all of it yet:"
            f" GET /all_data?run={run_id} answers it once it has"
        )
        self.run_id = run_id


class RunInProgress(Exception):
    """A cycle is already running; its id is in `run_id`."""

    def __init__(self, run_id: str | None) -> None:
        super().__init__(f"run {run_id} is in progress")
        self.run_id = run_id


@dataclass
class Telemetry:
    """The ETL's own Prometheus metrics, on /internal/metrics."""

    stage_seconds: Histogram
    run_seconds: Histogram
    run_stage_seconds: Gauge
    series: Gauge
    series_cut: Gauge
    last_success: Gauge
    runs: Counter
    publish_failures: Counter
    messages: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> Telemetry:
        buckets = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
        return cls(
            stage_seconds=Histogram(
                "etl_stage_duration_seconds",
                "Time of one stage for one series in one window",
                ["stage", "window"],
                buckets=buckets,
                registry=registry,
            ),
            run_seconds=Histogram(
                "etl_run_duration_seconds",
                "Time of a whole cycle",
                buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
                registry=registry,
            ),
            # Gauges of the last cycle: under gunicorn (monitoring_core.gunicorn_conf) the
            # worker that ran it set them; the scrape answers its values, whichever answers.
            run_stage_seconds=Gauge(
                "etl_run_stage_seconds",
                "Wall time of each phase of the last cycle",
                ["stage"],
                registry=registry,
                multiprocess_mode="mostrecent",
            ),
            series=Gauge(
                "etl_series",
                "Series analysed by the last cycle",
                registry=registry,
                multiprocess_mode="mostrecent",
            ),
            series_cut=Gauge(
                "etl_series_cut",
                "Series cut by max_series in the last cycle",
                registry=registry,
                multiprocess_mode="mostrecent",
            ),
            last_success=Gauge(
                "etl_last_success_timestamp_seconds",
                "Unix time at which the last complete cycle finished",
                registry=registry,
                multiprocess_mode="max",
            ),
            runs=Counter("etl_runs", "Cycles by outcome", ["status"], registry=registry),
            publish_failures=Counter(
                "etl_publish_failures", "Cycles Kafka did not fully acknowledge", registry=registry
            ),
            messages=Counter(
                "etl_messages_published", "Messages acknowledged by Kafka", registry=registry
            ),
        )

    def observe(self, run: RunResult) -> None:
        self.runs.labels(run.status).inc()
        self.run_seconds.observe(run.stages.get("total", 0.0))
        for stage, seconds in run.stages.items():
            self.run_stage_seconds.labels(stage).set(seconds)
        if run.status != "complete":
            if run.reason and "Kafka" in run.reason:
                self.publish_failures.inc()
            return
        self.series.set(run.series_count)
        self.series_cut.set(run.series_cut)
        self.messages.inc(run.message_count)
        if run.finished_at:
            self.last_success.set(run.finished_at.timestamp())

    def observe_results(self, results: list[SeriesWindowResult]) -> None:
        """Each published series window's stage times (this process's shards)."""
        for result in results:
            for stage, seconds in result.stages.items():
                self.stage_seconds.labels(stage, result.window).observe(seconds)


class ETLService:
    """Runs cycles on demand (the routes) and on a schedule (the worker's tick), through the
    scheduler every process shares; answers runs, results and settings from MySQL."""

    def __init__(self, scheduler: CycleScheduler, telemetry: Telemetry) -> None:
        self.scheduler = scheduler
        self.pipeline = scheduler.pipeline
        self.store = scheduler.store
        self.telemetry = telemetry
        self.pipeline.observe = telemetry.observe_results

    @property
    def forecast(self) -> ForecastConfig:
        """The forecast settings of the next cycle: POST /forecasting's, else the defaults."""
        return self.scheduler.forecast()

    def last_good(self) -> StoredRun | None:
        return self.store.latest("complete")

    def last_attempt(self) -> StoredRun | None:
        return self.store.latest()

    def run_now(
        self, forecast: ForecastConfig | None = None, join: bool = False
    ) -> RunResult | StoredRun:
        """Run one cycle in the caller's thread; `forecast` replaces the forecast settings
        first. Answers the run as stored (what every process reads next); the cycle's own
        result when Kafka never took its record (a dependency was down: nothing was stored).
        When a cycle is already running (in any process): with `join` (and no `forecast`) wait
        until it is stored and answer it; else raise RunInProgress (nothing is changed).
        StorageLagging: the run ended but data_storage has not stored all of it in time."""
        try:
            result = self.scheduler.run_now(forecast)
        except CycleBusy as exc:
            if join and forecast is None:
                return self._join()
            raise RunInProgress(self.store.cycle()) from exc
        self._observe(result)
        if not result.recorded:
            return result
        stored = self.store.run(result.run_id) if result.stored else None
        if stored is None:
            raise StorageLagging(result.run_id)
        return stored

    def _join(self) -> StoredRun:
        """The cycle under way, once stored. Its holder wrote its id (`RunStore.save_cycle`)
        as it took the cycle lock; until then the id there is the previous cycle's, which
        ended before this request came: wait a little for the new one."""
        asked = self.pipeline.clock()
        deadline = time.monotonic() + JOIN_START_SECONDS
        while True:
            run_id = self.store.cycle()
            stored = self.store.run(run_id) if run_id else None
            finished = stored.finished_at if stored is not None else None
            if run_id and (finished is None or finished >= asked):
                break
            if time.monotonic() >= deadline:
                raise RunInProgress(None)
            time.sleep(0.2)
        joined = self.scheduler.wait_stored(run_id, timeout=JOIN_WAIT_SECONDS)
        if joined is None:
            raise RunInProgress(run_id)
        return joined

    def tick(self) -> None:
        """The worker's tick: the periodic cycle of this slot if this process is elected and no
        cycle runs (`CycleScheduler.tick`), counted in the ETL's own metrics."""
        result = self.scheduler.tick()
        if result is not None:
            self._observe(result)

    def _observe(self, result: RunResult) -> None:
        self.telemetry.observe(result)
        log.info(
            "run %s %s: %d series, %d messages in %.2fs",
            result.run_id,
            result.status,
            result.series_count,
            result.message_count,
            result.stages.get("total", 0.0),
        )

    def close(self) -> None:
        self.pipeline.close()
