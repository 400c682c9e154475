"""The ETL's state between requests: one run at a time, the last results.

The routes and the worker's scheduled cycle share one `ETLService`. Only one cycle runs at a time: a
/regen_data that finds one running joins it and answers its result; a change of the forecast
settings, or the scheduler's tick, gets `RunInProgress` with the running run's id instead. A
lock guards the last results, which a failed run never replaces.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from monitoring_core.flights import Busy, SingleFlight

from .analysis import ForecastConfig
from .cycle import Pipeline
from .results import RunResult
from .scheduler import CycleBusy, CycleScheduler

log = logging.getLogger(__name__)


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
            run_stage_seconds=Gauge(
                "etl_run_stage_seconds",
                "Wall time of each phase of the last cycle",
                ["stage"],
                registry=registry,
            ),
            series=Gauge("etl_series", "Series analysed by the last cycle", registry=registry),
            series_cut=Gauge(
                "etl_series_cut", "Series cut by max_series in the last cycle", registry=registry
            ),
            last_success=Gauge(
                "etl_last_success_timestamp_seconds",
                "Unix time at which the last complete cycle finished",
                registry=registry,
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
        for result in run.results:
            for stage, seconds in result.stages.items():
                self.stage_seconds.labels(stage, result.window).observe(seconds)


class ETLService:
    """Runs cycles on demand (the routes) and on a schedule (the worker); keeps the last good
    run."""

    def __init__(
        self,
        pipeline: Pipeline,
        forecast: ForecastConfig,
        telemetry: Telemetry,
        scheduler: CycleScheduler | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.telemetry = telemetry
        # With the distributed cycle (ETL_DISTRIBUTED): the cycle lock every replica shares,
        # and the forecast setting stored in MySQL for the elected scheduler's cycles.
        self.scheduler = scheduler
        self._cycles: SingleFlight[str, RunResult] = SingleFlight()
        self._state_lock = threading.Lock()
        self._forecast = forecast
        self._running: str | None = None
        self._last_good: RunResult | None = None
        self._last_attempt: RunResult | None = None

    # -- state --------------------------------------------------------------------------

    @property
    def forecast(self) -> ForecastConfig:
        if self.scheduler is not None:
            return self.scheduler.forecast()
        with self._state_lock:
            return self._forecast

    def last_good(self) -> RunResult | None:
        with self._state_lock:
            return self._last_good

    def last_attempt(self) -> RunResult | None:
        with self._state_lock:
            return self._last_attempt

    def running(self) -> str | None:
        with self._state_lock:
            return self._running

    # -- cycles -------------------------------------------------------------------------

    def run_now(self, forecast: ForecastConfig | None = None, join: bool = False) -> RunResult:
        """Run one cycle in the caller's thread; `forecast` replaces the forecast settings
        first. When a cycle is already running: with `join` (and no `forecast`) wait for it and
        return its result; else raise RunInProgress (nothing is changed)."""
        try:
            return self._cycles.run("cycle", lambda: self._run(forecast), join and not forecast)[1]
        except Busy as exc:
            raise RunInProgress(self.running()) from exc

    def _run(self, forecast: ForecastConfig | None) -> RunResult:
        try:
            run_id = str(uuid.uuid4())
            with self._state_lock:
                self._running = run_id
            result = self._exclusive(run_id, forecast)
            with self._state_lock:
                self._last_attempt = result
                if result.status == "complete":
                    self._last_good = result
            self.telemetry.observe(result)
            log.info(
                "run %s %s: %d series, %d messages in %.2fs",
                run_id,
                result.status,
                result.series_count,
                result.message_count,
                result.stages.get("total", 0.0),
            )
            return result
        finally:
            # Also when the run or the telemetry raised: a 409 must not name a finished run.
            with self._state_lock:
                self._running = None

    def _exclusive(self, run_id: str, forecast: ForecastConfig | None) -> RunResult:
        """The cycle, holding the cycle lock every replica shares when the cycle is
        distributed (RunInProgress when another replica runs one); `forecast` is stored first."""

        def run() -> RunResult:
            if forecast is not None:
                if self.scheduler is not None:
                    self.scheduler.store.save_forecast(forecast, self.pipeline.clock())
                with self._state_lock:
                    self._forecast = forecast
            return self.pipeline.run(run_id, self.forecast)

        if self.scheduler is None:
            return run()
        try:
            result = self.scheduler.run_exclusive(run, adopt=False)
        except CycleBusy as exc:
            raise RunInProgress(exc.run.run_id if exc.run else None) from exc
        assert result is not None
        return result

    def distributed_tick(self) -> None:
        """The worker's tick with the distributed cycle: the elected scheduler's cycle, its
        outcome counted in the ETL's own metrics and kept as the last attempt (its results are
        on the workers' side: MySQL and the read API)."""
        assert self.scheduler is not None
        result = self.scheduler.tick()
        if result is not None:
            with self._state_lock:
                self._last_attempt = result
            self.telemetry.observe(result)

    def scheduled_cycle(self) -> None:
        """The worker's tick: a cycle, unless a /regen_data run is in progress (it counts as
        this tick)."""
        try:
            self.run_now()
        except RunInProgress:
            pass

    def close(self) -> None:
        self.pipeline.close()
