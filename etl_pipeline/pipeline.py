"""One ETL cycle: find the series, query each once, analyse every window, publish to Kafka.

A cycle is a run with a uuid run id. It resolves the selector again (so new series are
picked up and gone ones dropped), adds the named PromQL expressions, reads every series'
raw samples once over the longest window (`PrometheusClient.read_samples`, a bounded thread
pool; an expression that is not a plain selector is evaluated on the step grid), slices
that answer in memory for the shorter windows, runs the analytics per series and window,
and publishes typed messages. The run is complete only once Kafka acknowledged them all.
"""

from __future__ import annotations

import logging
import multiprocessing
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import (
    FIRST_EXCEPTION,
    Executor,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from monitoring_core.analytics import WindowAnalysis, analyze_window, learn_interval
from monitoring_core.analytics.domain import infer_domain
from monitoring_core.analytics.rates import RATE_WINDOW_SCRAPES, rate_series
from monitoring_core.kafka import KafkaUnavailable, Publisher, ensure_topics
from monitoring_core.messages import Message, SeriesRef, Timing
from monitoring_core.metric_types import (
    EXPRESSION,
    HISTOGRAM_BUCKET,
    RATE,
    RAW,
    SKIP,
    MetricType,
    classify,
    transform_for,
)
from monitoring_core.prometheus import (
    PrometheusClient,
    PrometheusQueryError,
    PrometheusUnavailable,
    QueryTooCostly,
)
from monitoring_core.promql import MAX_POINTS, align_end, selector
from monitoring_core.settings import KafkaSettings
from monitoring_core.windows import slice_windows

from .results import RunResult, SeriesWindowResult, build_result
from .settings import ETLSettings

log = logging.getLogger(__name__)
HISTOGRAM_QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class ForecastConfig:
    """Which metrics are forecast and how far ahead (changed by POST /forecasting)."""

    metrics: tuple[str, ...]
    horizon_minutes: int


@dataclass(frozen=True)
class SeriesQuery:
    """One range query: a discovered label set (exact matchers) or a named expression."""

    name: str
    promql: str
    labels: dict[str, str] | None  # None: an expression, each of its results is a series
    # What the metric is (Prometheus' metadata, else its name) and so how it is analysed.
    kind: MetricType = EXPRESSION
    transform: str = RAW


@dataclass(frozen=True)
class AnalysisOptions:
    """The analytics' knobs of one cycle (picklable: sent to the process pool)."""

    nlags: int | None
    bucket: str
    max_gap: str
    horizon_minutes: int
    min_period_minutes: float
    max_period_minutes: float
    step_seconds: float = 15.0  # the scrape interval to assume when the samples cannot tell
    domains: dict[str, str] = field(default_factory=dict)  # operators' (ETL_DOMAINS)


def analyze_series(
    values: pd.Series,
    end: datetime,
    windows: dict[str, timedelta],
    forecast: bool,
    options: AnalysisOptions,
    query: SeriesQuery | None = None,
) -> dict[str, WindowAnalysis]:
    """Every window of one series (a top-level function so that a process pool can run it).

    The scrape interval is learned once on the longest window, so that a short window whose
    samples are mostly one gap is judged by the same interval. A counter becomes its
    per-second rate first (Prometheus' `rate()` over four intervals, at each sample), and
    the forecasts keep to the series' domain."""
    ordered = values.sort_index(kind="stable")
    interval = learn_interval(ordered.index.unique().as_unit("ns").asi8)
    name = query.name if query is not None else str(values.name or "")
    transform = query.transform if query is not None else RAW
    if transform == RATE:
        unique = ordered[~ordered.index.duplicated(keep="last")]
        ordered = rate_series(unique, interval or options.step_seconds)
    domain = infer_domain(
        name,
        ordered.to_numpy(),
        transform=transform,
        unit=query.kind.unit if query is not None else None,
        override=options.domains.get(name),
    )
    return {
        window_name: analyze_window(
            window,
            forecast=forecast,
            nlags=options.nlags,
            bucket=options.bucket,
            horizon_minutes=options.horizon_minutes,
            min_period_minutes=options.min_period_minutes,
            max_period_minutes=options.max_period_minutes,
            max_gap=options.max_gap,
            end=pd.Timestamp(end),
            interval_seconds=interval,
            domain=domain,
        )
        for window_name, window in slice_windows(ordered, end, windows).items()
    }


@dataclass(frozen=True)
class SeriesFailure:
    """The analysis of one series raised: that series' stated failure, not the cycle's."""

    error: str  # "TypeName: message"
    traceback: str  # formatted where it was raised (maybe a worker), logged by the cycle


def analyze_series_isolated(
    values: pd.Series,
    end: datetime,
    windows: dict[str, timedelta],
    forecast: bool,
    options: AnalysisOptions,
    query: SeriesQuery | None = None,
) -> dict[str, WindowAnalysis] | SeriesFailure:
    """`analyze_series`, an unexpected exception returned as the series' failure (raised in a
    worker, it would also lose the other series of its chunk)."""
    try:
        return analyze_series(values, end, windows, forecast, options, query)
    except Exception as exc:  # noqa: BLE001 - one series must not fail the cycle
        return SeriesFailure(f"{type(exc).__name__}: {exc}"[:300], traceback.format_exc())


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Pipeline:
    """Runs cycles, one at a time (the service's lock sees to it); `discover` and
    `known_metrics` may run alongside a cycle."""

    def __init__(
        self,
        settings: ETLSettings,
        prometheus: PrometheusClient,
        publisher: Publisher | None,
        kafka_settings: KafkaSettings,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.settings = settings
        self.prometheus = prometheus
        self._publisher = publisher
        self._publisher_lock = threading.Lock()
        self.kafka_settings = kafka_settings
        self.clock = clock
        self.windows = settings.window_durations
        self.step = prometheus.settings.step_seconds
        points = settings.longest_window.total_seconds() / self.step
        if points > MAX_POINTS:
            raise ValueError(
                f"the longest window at a {self.step}s step is {points:.0f} points; "
                f"Prometheus answers at most {MAX_POINTS}: shorten the window or raise the step"
            )
        self._exclude = re.compile(settings.exclude_metrics)
        self._raw_metrics = re.compile(settings.raw_metrics)
        self._known: set[str] = set(settings.metric_expressions)
        self._known_lock = threading.Lock()
        self._discovered = False
        self._pool: ProcessPoolExecutor | None = None

    def data_end(self, now: datetime) -> datetime:
        """Where the windows end: the last step boundary at least one step before `now`, so
        that the last sample is final (a scrape that started before `now` may not be stored)."""
        return align_end(now - timedelta(seconds=self.step), self.step)

    # -- which series ---------------------------------------------------------------------

    def discover(self, start: datetime, end: datetime) -> tuple[list[SeriesQuery], int]:
        """The selector's label sets (minus excluded names) and the expressions; and how many
        label sets the cap cut."""
        label_sets = self.prometheus.series_labels(self.prometheus.settings.selector, start, end)
        metadata = self._metadata()
        kinds: dict[str, MetricType] = {}
        found: dict[tuple[str, tuple[tuple[str, str], ...]], SeriesQuery] = {}
        for raw in label_sets:
            labels = {k: v for k, v in raw.items() if k != "__name__"}
            name = raw.get("__name__", "")
            if not name or self._exclude.search(name):
                continue
            kind = kinds.setdefault(name, classify(name, metadata))
            transform = transform_for(
                name, kind, rates=self.settings.counter_rates, raw_metrics=self._raw_metrics
            )
            key = (name, tuple(sorted(labels.items())))
            found[key] = SeriesQuery(name, selector(name, labels), labels, kind, transform)
        if self.settings.histogram_quantiles:
            for query in self._histogram_quantiles(found.values()):
                found[(query.name, tuple(sorted((query.labels or {}).items())))] = query
        queries = [found[key] for key in sorted(found)]
        room = max(self.settings.max_series - len(self.settings.metric_expressions), 0)
        cut = max(len(queries) - room, 0)
        if cut:
            log.warning(
                "max_series=%d: analysing %d of %d series matched by %s; %d cut "
                "(raise ETL_MAX_SERIES or narrow PROMETHEUS_SELECTOR to keep them)",
                self.settings.max_series,
                room,
                len(queries),
                self.prometheus.settings.selector,
                cut,
            )
            queries = queries[:room]
        with self._known_lock:
            self._known = {q.name for q in queries} | set(self.settings.metric_expressions)
            self._discovered = True
        expressions = [
            SeriesQuery(name, expression, None, EXPRESSION)
            for name, expression in self.settings.metric_expressions.items()
        ]
        return queries + expressions, cut

    def _metadata(self) -> dict[str, list[dict[str, Any]]]:
        """Prometheus' metric metadata, once per cycle; none (names decide) when unavailable."""
        try:
            return self.prometheus.metadata()
        except PrometheusUnavailable as exc:
            log.warning("no metric metadata (%s): types come from the names", exc)
            return {}

    def _histogram_quantiles(self, found: Iterable[SeriesQuery]) -> list[SeriesQuery]:
        """p50/p95/p99 of each histogram's label set (its buckets' labels without `le`),
        from `histogram_quantile` over the buckets' rate, as named expressions."""
        window = f"{RATE_WINDOW_SCRAPES * self.step}s"
        families: dict[tuple[str, tuple[tuple[str, str], ...]], None] = {}
        for query in found:
            if query.kind.type == HISTOGRAM_BUCKET and query.labels is not None:
                labels = tuple(sorted((k, v) for k, v in query.labels.items() if k != "le"))
                families[(query.name, labels)] = None
        out = []
        for bucket, labels in families:
            family = bucket.removesuffix("_bucket")
            inner = selector(bucket, dict(labels))
            for quantile in HISTOGRAM_QUANTILES:
                promql = f"histogram_quantile({quantile}, rate({inner}[{window}]))"
                name = f"{family}:p{round(quantile * 100)}"
                out.append(SeriesQuery(name, promql, dict(labels), EXPRESSION))
        return out

    def known_metrics(self) -> set[str]:
        """Metric names of the last discovery (and the expressions); discovers when none yet."""
        with self._known_lock:
            if self._discovered:
                return set(self._known)
        end = self.data_end(self.clock())
        self.discover(end - self.settings.longest_window, end)
        with self._known_lock:
            return set(self._known)

    # -- one read per series ---------------------------------------------------------------

    def _query_one(
        self, query: SeriesQuery, start: datetime, end: datetime
    ) -> tuple[SeriesQuery, list[tuple[SeriesRef, pd.Series]], float, str | None]:
        started = time.perf_counter()
        try:
            # An expression may match many series: refused past the cycle's cap before any of
            # its answer is converted (a discovered label set is one series).
            cap = None if query.labels is not None else self.settings.max_series
            answer = self.prometheus.read_samples(
                query.promql, start, end, self.step, max_series=cap
            )
        except (PrometheusQueryError, QueryTooCostly) as exc:
            return query, [], time.perf_counter() - started, str(exc)
        seconds = time.perf_counter() - started
        if query.labels is not None:
            # Matchers on the known labels also match a series with extra labels: keep ours.
            found = [
                (SeriesRef.of(query.name, s.labels), s.values)
                for s in answer
                if s.labels == query.labels
            ]
        else:
            found = [(SeriesRef.of(query.name, s.labels), s.values) for s in answer]
        return query, found, seconds, None

    def query_all(
        self, queries: list[SeriesQuery], start: datetime, end: datetime
    ) -> tuple[list[tuple[SeriesRef, pd.Series, float, SeriesQuery]], list[dict[str, str]]]:
        """Run the queries with at most `query_concurrency` in flight; series in query order,
        each with its query (what it is and how it is analysed)."""
        series: dict[str, tuple[SeriesRef, pd.Series, float, SeriesQuery]] = {}
        skipped: list[dict[str, str]] = []
        workers = min(self.settings.query_concurrency, max(len(queries), 1))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="etl-query")
        try:
            futures = [pool.submit(self._query_one, q, start, end) for q in queries]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:
                future.result()  # Prometheus unavailable (or a bug) raises here, at once
            answers = [future.result() for future in futures]
        finally:
            # After an exception the queued queries would each wait out the timeout and the
            # retries while the run lock is held: drop them; the few in flight end alone.
            pool.shutdown(wait=False, cancel_futures=True)
        for query, found, seconds, error in answers:
            if error is not None:
                log.warning("query for %s rejected by Prometheus: %s", query.name, error)
                skipped.append({"metric": query.name, "reason": error})
                continue
            for ref, values in found:
                # The first query that yields a series keeps it (an expression can repeat one).
                series.setdefault(ref.id, (ref, values, seconds, query))
        return list(series.values()), skipped

    # -- analytics --------------------------------------------------------------------------

    def _executor(self, series_count: int) -> Executor | None:
        processes = self.settings.analysis_processes
        if processes < 2 or series_count < self.settings.process_pool_min_series:
            return None
        if self._pool is None:
            # spawn, not fork: this process has Kafka and HTTP threads that a fork would copy.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=processes, mp_context=context)
        return self._pool

    def analyze_all(
        self,
        series: list[tuple[SeriesRef, pd.Series, float, SeriesQuery]],
        end: datetime,
        forecast: ForecastConfig,
    ) -> Iterable[dict[str, WindowAnalysis] | SeriesFailure]:
        """Every series' windows, in order; a series whose analysis raised is a SeriesFailure."""
        options = AnalysisOptions(
            nlags=self.settings.acf_lags,
            bucket=self.settings.bucket,
            max_gap=self.settings.max_gap,
            horizon_minutes=forecast.horizon_minutes,
            min_period_minutes=self.settings.min_period_minutes,
            max_period_minutes=self.settings.max_period_minutes,
            step_seconds=float(self.step),
            domains=dict(self.settings.domains),
        )
        wanted = set(forecast.metrics)
        args = [
            (values, end, self.windows, ref.metric in wanted, options, query)
            for ref, values, _, query in series
        ]
        pool = self._executor(len(series))
        if pool is None:
            return [analyze_series_isolated(*a) for a in args]
        chunk = max(1, len(args) // (4 * self.settings.analysis_processes))
        try:
            return list(
                pool.map(analyze_series_isolated, *zip(*args, strict=True), chunksize=chunk)
            )
        except BrokenProcessPool:
            # A worker died (killed, out of memory): the pool refuses every later task. This
            # cycle fails; the next one starts a new pool.
            self._drop_pool(pool)
            raise

    def _drop_pool(self, pool: Executor) -> None:
        if self._pool is pool:
            self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    # -- publishing -------------------------------------------------------------------------

    @property
    def publisher(self) -> Publisher:
        """The producer, built at the first publish: librdkafka connects as soon as it exists."""
        with self._publisher_lock:
            if self._publisher is None:
                self._publisher = Publisher(self.kafka_settings)
            return self._publisher

    def use_kafka(self, settings: KafkaSettings, publisher: Publisher | None = None) -> None:
        """Point the next cycles at another broker (tests: a closed port, then back)."""
        with self._publisher_lock:
            self.kafka_settings = settings
            self._publisher = publisher

    def close(self, timeout: float = 10.0) -> None:
        """Flush the producer (the last delivery reports are only served there), stop the pool."""
        with self._publisher_lock:
            if self._publisher is not None:
                self._publisher.close(timeout)
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def _publish(self, batch: list[Message], what: str) -> None:
        report = self.publisher.publish(batch, timeout=self.settings.publish_timeout_seconds)
        if not report.complete:
            first = report.errors[0] if report.errors else "no answer"
            # The reason reaches the run's summary: no broker address (the log has it).
            log.warning("Kafka at %s: %s", self.kafka_settings.bootstrap_servers, first)
            raise KafkaUnavailable(
                f"Kafka acknowledged {report.acked} of {report.sent} {what} messages: {first}"
            )

    # -- the cycle --------------------------------------------------------------------------

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
            # A quick metadata request: a broker that is down fails here in seconds, not after
            # the producer's delivery timeout.
            ensure_topics(self.kafka_settings, timeout=self.settings.kafka_check_timeout_seconds)
            self._publish([self._run_message(result)], "run-record")
            kafka_up = True
            stages["start"] = time.perf_counter() - clock0

            mark = time.perf_counter()
            start = end - self.settings.longest_window
            queries, result.series_cut = self.discover(start, end)
            stages["discover"] = time.perf_counter() - mark

            buckets = [q for q in queries if q.transform == SKIP]
            queries = [q for q in queries if q.transform != SKIP]
            result.skipped.extend(
                {"metric": name, "reason": "histogram buckets are not analysed one by one"
                 " (ETL_HISTOGRAM_QUANTILES=true adds their p50/p95/p99)"}
                for name in sorted({q.name for q in buckets})
            )  # fmt: skip

            mark = time.perf_counter()
            series, skipped = self.query_all(queries, start, end)
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
            analyses = self.analyze_all(series, end, forecast)
            for (ref, _values, query_seconds, query), outcome in zip(series, analyses, strict=True):
                built = self._series_results(ref, outcome, end, query_seconds, query)
                if isinstance(built, str):
                    result.skipped.append({"metric": ref.metric, "series": ref.id, "reason": built})
                else:
                    result.results.extend(built)
            stages["analyze"] = time.perf_counter() - mark

            self._publish_results(result, clock0)
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

    def _series_results(
        self,
        ref: SeriesRef,
        outcome: dict[str, WindowAnalysis] | SeriesFailure,
        end: datetime,
        query_seconds: float,
        query: SeriesQuery | None = None,
    ) -> list[SeriesWindowResult] | str:
        """The series' window results, or why it has none: an exception in its analysis or
        in its messages fails that series alone (logged with it), and the cycle goes on."""
        if isinstance(outcome, SeriesFailure):
            log.error(
                "analysis of series %s %s (%s) failed: %s\n%s",
                ref.metric,
                ref.labels,
                ref.id,
                outcome.error,
                outcome.traceback,
            )
            return f"analysis failed: {outcome.error}"
        try:
            return [
                build_result(
                    ref,
                    window,
                    analysis,
                    end - self.windows[window],
                    end,
                    query_seconds,
                    kind=query.kind if query is not None else None,
                    transform=query.transform if query is not None else RAW,
                )
                for window, analysis in outcome.items()
            ]
        except Exception as exc:  # noqa: BLE001 - one series must not fail the cycle
            log.exception("results of series %s %s (%s) failed", ref.metric, ref.labels, ref.id)
            return f"analysis failed: {type(exc).__name__}: {exc}"[:300]

    def _publish_results(self, result: RunResult, clock0: float) -> None:
        computed_at = self.clock()
        per_result = [r.messages(result.run_id, computed_at) for r in result.results]
        batch = [m for group in per_result for m in group]
        mark = time.perf_counter()
        self._publish(batch, "result")
        publish_seconds = time.perf_counter() - mark
        result.stages["publish"] = publish_seconds
        for r, group in zip(result.results, per_result, strict=True):
            # One batch is flushed for the whole run: each series window gets its share.
            r.stages["publish"] = publish_seconds * len(group) / max(len(batch), 1)
        timings = [r.timing_message(result.run_id, computed_at) for r in result.results]
        timings.append(
            Message(
                run_id=result.run_id,
                computed_at=computed_at,
                payload=Timing(stages={**result.stages, "total": time.perf_counter() - clock0}),
            )
        )
        self._publish(timings, "timing")
        result.message_count = len(batch) + len(timings)
        result.status = "complete"
        result.finished_at = self.clock()
        self._publish([self._run_message(result)], "run-record")

    def _run_message(self, result: RunResult) -> Message:
        return Message(run_id=result.run_id, computed_at=self.clock(), payload=result.record())

    def _fail(self, result: RunResult, reason: str, unavailable: bool, kafka_up: bool) -> None:
        log.warning("run %s failed: %s", result.run_id, reason)
        result.status = "failed"
        result.reason = reason
        result.unavailable = unavailable
        result.finished_at = self.clock()
        if kafka_up:
            try:
                self._publish([self._run_message(result)], "run-record")
            except KafkaUnavailable as exc:
                log.warning("could not record the failure of run %s: %s", result.run_id, exc)
