"""An ETL cycle's two halves: `plan` (find the series) and `run_shard` (query, analyse and
publish some of them, streamed), and `run`, the whole cycle in one process.

The distributed cycle (`scheduler.py`) plans, cuts the plan into shards and hands them to the
ETL workers (`shard_worker.py`), each of which runs `run_shard`. The steps live in their own
modules: `discovery` (which series, one read of each), `analysis` (the analytics per series
and window, in a process pool when it pays), `publishing` (typed messages to Kafka). A shard
is done only once Kafka acknowledged all of its messages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from monitoring_core.kafka import KafkaUnavailable, Publisher
from monitoring_core.metric_types import SKIP
from monitoring_core.prometheus import PrometheusClient, PrometheusUnavailable
from monitoring_core.promql import MAX_POINTS, align_end
from monitoring_core.settings import KafkaSettings

from .analysis import Analysis, ForecastConfig
from .discovery import Discovery, SeriesQuery
from .publishing import ResultPublisher
from .results import RunResult, SeriesWindowResult
from .settings import ETLSettings

log = logging.getLogger(__name__)
SKIPPED_BUCKETS = (
    "histogram buckets are not analysed one by one"
    " (ETL_HISTOGRAM_QUANTILES=true adds their p50/p95/p99)"
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Plan:
    """What discovery found for one cycle: the queries to shard, and what it left out."""

    end: datetime
    queries: list[SeriesQuery]
    skipped: list[dict[str, str]]
    series_cut: int
    seconds: float


@dataclass
class ShardResult:
    """What one shard (or the one-process cycle) produced and acknowledged."""

    series_count: int = 0
    series_cut: int = 0
    message_count: int = 0
    series_windows: int = 0  # the results published: one statistics row each in MySQL
    skipped: list[dict[str, str]] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)


class Pipeline:
    """Runs cycles, one at a time (the service's lock sees to it); `known_metrics` may run
    alongside a cycle."""

    def __init__(
        self,
        settings: ETLSettings,
        prometheus: PrometheusClient,
        kafka_settings: KafkaSettings,
        publisher: Publisher | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.windows = settings.window_durations
        self.step = prometheus.settings.step_seconds
        points = settings.longest_window.total_seconds() / self.step
        if points > MAX_POINTS:
            raise ValueError(
                f"the longest window at a {self.step}s step is {points:.0f} points; "
                f"Prometheus answers at most {MAX_POINTS}: shorten the window or raise the step"
            )
        self.discovery = Discovery(settings, prometheus, self.step)
        self.analysis = Analysis(settings, self.step)
        self.publishing = ResultPublisher(settings, kafka_settings, clock, publisher)
        # Sees each shard's results once Kafka acknowledged them (the ETL API's own metrics).
        self.observe: Callable[[list[SeriesWindowResult]], None] | None = None

    def data_end(self, now: datetime) -> datetime:
        """Where the windows end: the last step boundary at least one step before `now`, so
        that the last sample is final (a scrape that started before `now` may not be stored)."""
        return align_end(now - timedelta(seconds=self.step), self.step)

    def known_metrics(self) -> set[str]:
        """Metric names of the last discovery (and the expressions); discovers when none yet."""
        return self.discovery.known_metrics(self.data_end(self.clock()))

    def close(self, timeout: float = 10.0) -> None:
        """Flush the producer, stop the process pool."""
        self.publishing.close(timeout)
        self.analysis.close()

    def plan(self, end: datetime) -> Plan:
        """Discovery for a cycle whose windows end at `end`: the series to query (histogram
        buckets left out, with their reason) and how many the cap cut."""
        mark = time.perf_counter()
        queries, cut = self.discovery.discover(end - self.settings.longest_window, end)
        buckets = sorted({q.name for q in queries if q.transform == SKIP})
        skipped = [{"metric": name, "reason": SKIPPED_BUCKETS} for name in buckets]
        queries = [q for q in queries if q.transform != SKIP]
        return Plan(end, queries, skipped, cut, time.perf_counter() - mark)

    def run_shard(
        self,
        run_id: str,
        queries: list[SeriesQuery],
        end: datetime,
        forecast: ForecastConfig,
    ) -> ShardResult:
        """Query, analyse and publish one shard's series, streamed: each series is analysed as
        its samples arrive while the next ones are read, so the memory held is bounded by the
        shard (and the queries in flight), not by the cycle. Returns once Kafka acknowledged
        every result; raises PrometheusUnavailable or KafkaUnavailable. The results are
        dropped once published (after `observe`, the ETL API's metrics, has seen them)."""
        shard = ShardResult()
        reads = self.discovery.read_stream(
            queries, end - self.settings.longest_window, end, shard.skipped
        )
        stream = self.analysis.analyze_stream(reads, end, forecast, len(queries))
        results: list[SeriesWindowResult] = []
        mark = time.perf_counter()
        analyzing = 0.0
        for (ref, _values, seconds, query), outcome in stream:
            begun = time.perf_counter()
            shard.series_count += 1
            if shard.series_count > self.settings.max_series:
                shard.series_cut += 1
                continue
            built = self.analysis.series_results(ref, outcome, end, seconds, query)
            if isinstance(built, str):
                shard.skipped.append({"metric": ref.metric, "series": ref.id, "reason": built})
            else:
                results.extend(built)
            analyzing += time.perf_counter() - begun
        if shard.series_cut:
            log.warning(
                "max_series=%d: %d series after the expressions; %d cut",
                self.settings.max_series,
                shard.series_count,
                shard.series_cut,
            )
            shard.series_count -= shard.series_cut
        # The analysis runs while the queries stream in: "query" is the time spent waiting for
        # samples, "analyze" the time spent on them (a process pool's work counts as waiting).
        streamed = time.perf_counter() - mark
        shard.stages["query"] = streamed - analyzing
        shard.stages["analyze"] = analyzing
        mark = time.perf_counter()
        shard.message_count = self.publishing.publish_shard(run_id, results)
        shard.series_windows = len(results)
        shard.stages["publish"] = time.perf_counter() - mark
        if self.observe is not None:
            self.observe(results)
        return shard

    def run(self, run_id: str, forecast: ForecastConfig) -> RunResult:
        """One cycle in this process (the whole cycle as one shard; the distributed one is
        `etl_pipeline.scheduler`). Never raises: a failure is a RunResult with status "failed"
        and a reason."""
        started = self.clock()
        clock0 = time.perf_counter()
        end = self.data_end(started)
        result = RunResult(
            run_id=run_id,
            status="running",
            started_at=started,
            end=end,
            windows=list(self.windows),
            forecast_metrics=list(forecast.metrics),
            horizon_minutes=forecast.horizon_minutes,
        )
        stages = result.stages
        kafka_up = False
        try:
            self.publishing.check()
            self.publishing.publish_run(result)
            kafka_up = True
            stages["start"] = time.perf_counter() - clock0

            plan = self.plan(end)
            stages["discover"] = plan.seconds
            result.skipped.extend(plan.skipped)
            result.series_cut = plan.series_cut
            shard = self.run_shard(run_id, plan.queries, end, forecast)
            stages.update(shard.stages)
            result.skipped.extend(shard.skipped)
            result.series_cut += shard.series_cut
            result.series_count = shard.series_count
            result.message_count = shard.message_count
            result.series_windows = shard.series_windows
            self.publishing.publish_complete(result, clock0)
        except (PrometheusUnavailable, KafkaUnavailable) as exc:
            self._fail(
                result,
                str(exc),
                unavailable=True,
                kafka_up=kafka_up and not isinstance(exc, KafkaUnavailable),
            )
        except Exception as exc:  # noqa: BLE001 - a cycle must never kill the scheduler
            log.exception("run %s failed", run_id)
            self._fail(
                result,
                f"internal error: {type(exc).__name__}: {exc}"[:300],
                unavailable=False,
                kafka_up=kafka_up,
            )
        stages["total"] = time.perf_counter() - clock0
        return result

    def _fail(self, result: RunResult, reason: str, unavailable: bool, kafka_up: bool) -> None:
        log.warning("run %s failed: %s", result.run_id, reason)
        result.status = "failed"
        result.reason = reason
        result.unavailable = unavailable
        result.finished_at = self.clock()
        if kafka_up:
            try:
                self.publishing.publish_run(result)
            except KafkaUnavailable as exc:
                log.warning("could not record the failure of run %s: %s", result.run_id, exc)
