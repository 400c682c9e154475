"""The analytics of one cycle: every series' windows, in a process pool when it pays, each
series isolated (its failure is its own, never the cycle's), and the results built from them.
"""

from __future__ import annotations

import logging
import multiprocessing
import traceback
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd

from monitoring_core.analytics import WindowAnalysis, analyze_window, learn_interval
from monitoring_core.analytics.domain import infer_domain
from monitoring_core.analytics.rates import rate_series
from monitoring_core.messages import SeriesRef
from monitoring_core.metric_types import RATE, RAW
from monitoring_core.windows import slice_windows

from .discovery import ReadSeries, SeriesQuery
from .results import SeriesWindowResult, build_result
from .settings import ETLSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForecastConfig:
    """Which metrics are forecast and how far ahead (changed by POST /forecasting)."""

    metrics: tuple[str, ...]
    horizon_minutes: int


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


class Analysis:
    """Runs the analytics of a cycle's series; keeps the process pool between cycles."""

    def __init__(self, settings: ETLSettings, step: int) -> None:
        self.settings = settings
        self.windows = settings.window_durations
        self.step = step
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self, series_count: int) -> Executor | None:
        processes = self.settings.analysis_processes
        if processes < 2 or series_count < self.settings.process_pool_min_series:
            return None
        if self._pool is None:
            # spawn, not fork: this process has Kafka and HTTP threads that a fork would copy.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=processes, mp_context=context)
        return self._pool

    def options(self, forecast: ForecastConfig) -> AnalysisOptions:
        return AnalysisOptions(
            nlags=self.settings.acf_lags,
            bucket=self.settings.bucket,
            max_gap=self.settings.max_gap,
            horizon_minutes=forecast.horizon_minutes,
            min_period_minutes=self.settings.min_period_minutes,
            max_period_minutes=self.settings.max_period_minutes,
            step_seconds=float(self.step),
            domains=dict(self.settings.domains),
        )

    def analyze_stream(
        self,
        reads: Iterable[ReadSeries],
        end: datetime,
        forecast: ForecastConfig,
        expected: int,
    ) -> Iterator[tuple[ReadSeries, dict[str, WindowAnalysis] | SeriesFailure]]:
        """Each series' windows as its samples arrive, in their order; a series whose analysis
        raised is a SeriesFailure. With a process pool (`expected` series make it pay), at most
        two series per process wait in it, so memory stays bounded by the caller's stream."""
        options = self.options(forecast)
        wanted = set(forecast.metrics)

        def args(read: ReadSeries) -> tuple:  # type: ignore[type-arg]
            ref, values, _, query = read
            return (values, end, self.windows, ref.metric in wanted, options, query)

        pool = self._executor(expected)
        if pool is None:
            for read in reads:
                yield read, analyze_series_isolated(*args(read))
            return
        pending: deque[tuple[ReadSeries, Future[dict[str, WindowAnalysis] | SeriesFailure]]]
        pending = deque()
        try:
            for read in reads:
                pending.append((read, pool.submit(analyze_series_isolated, *args(read))))
                while len(pending) > 2 * self.settings.analysis_processes:
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
        except BrokenProcessPool:
            # A worker died (killed, out of memory): the pool refuses every later task. This
            # cycle fails; the next one starts a new pool.
            self._drop_pool(pool)
            raise

    def analyze_all(
        self, series: list[ReadSeries], end: datetime, forecast: ForecastConfig
    ) -> list[dict[str, WindowAnalysis] | SeriesFailure]:
        """Every series' windows, in order (`analyze_stream` over a list)."""
        return [o for _, o in self.analyze_stream(series, end, forecast, len(series))]

    def _drop_pool(self, pool: Executor) -> None:
        if self._pool is pool:
            self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def series_results(
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
