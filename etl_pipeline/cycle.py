"""One ETL cycle: find the series, query each once, analyse every window, publish to Kafka.

A cycle is a run with a uuid run id. Its steps live in their own modules: `discovery`
(which series, one read of each), `analysis` (the analytics per series and window, in a
process pool when it pays), `publishing` (typed messages to Kafka). The run is complete
only once Kafka acknowledged them all; it never raises.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from monitoring_core.kafka import KafkaUnavailable, Publisher
from monitoring_core.metric_types import SKIP
from monitoring_core.prometheus import PrometheusClient, PrometheusUnavailable
from monitoring_core.promql import MAX_POINTS, align_end
from monitoring_core.settings import KafkaSettings

from .analysis import Analysis, ForecastConfig
from .discovery import Discovery
from .publishing import ResultPublisher
from .results import RunResult
from .settings import ETLSettings

log = logging.getLogger(__name__)
SKIPPED_BUCKETS = (
    "histogram buckets are not analysed one by one"
    " (ETL_HISTOGRAM_QUANTILES=true adds their p50/p95/p99)"
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


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

    def run(self, run_id: str, forecast: ForecastConfig) -> RunResult:
        """One cycle. Never raises: a failure is a RunResult with status "failed" and a reason."""
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

            mark = time.perf_counter()
            start = end - self.settings.longest_window
            queries, result.series_cut = self.discovery.discover(start, end)
            stages["discover"] = time.perf_counter() - mark

            buckets = sorted({q.name for q in queries if q.transform == SKIP})
            result.skipped.extend({"metric": name, "reason": SKIPPED_BUCKETS} for name in buckets)
            queries = [q for q in queries if q.transform != SKIP]

            mark = time.perf_counter()
            series, skipped = self.discovery.query_all(queries, start, end)
            result.skipped.extend(skipped)
            stages["query"] = time.perf_counter() - mark
            cap = self.settings.max_series
            if len(series) > cap:
                log.warning(
                    "max_series=%d: %d series after the expressions; %d cut",
                    cap,
                    len(series),
                    len(series) - cap,
                )
                result.series_cut += len(series) - cap
                series = series[:cap]
            result.series_count = len(series)

            mark = time.perf_counter()
            analyses = self.analysis.analyze_all(series, end, forecast)
            for (ref, _values, seconds, query), outcome in zip(series, analyses, strict=True):
                built = self.analysis.series_results(ref, outcome, end, seconds, query)
                if isinstance(built, str):
                    result.skipped.append({"metric": ref.metric, "series": ref.id, "reason": built})
                else:
                    result.results.extend(built)
            stages["analyze"] = time.perf_counter() - mark

            self.publishing.publish_results(result, clock0)
            result.status = "complete"
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
