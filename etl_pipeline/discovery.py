"""Which series a cycle analyses, and one read of each: discovery and the queries.

Discovery resolves the selector again each cycle (so new series are picked up and gone ones
dropped), classifies each metric (Prometheus' metadata, else its name), adds the histograms'
quantiles and the named PromQL expressions, and caps the lot at `max_series`. Then every
series' raw samples are read once over the longest window (`PrometheusClient.read_samples`,
a bounded thread pool whose answers stream to the analysis as they arrive; an expression that
is not a plain selector is evaluated on the step grid).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

import pandas as pd

from monitoring_core.analytics.rates import RATE_WINDOW_SCRAPES
from monitoring_core.messages import SeriesRef
from monitoring_core.metric_types import (
    EXPRESSION,
    HISTOGRAM_BUCKET,
    RAW,
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
from monitoring_core.promql import selector

from .settings import ETLSettings

log = logging.getLogger(__name__)
HISTOGRAM_QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class SeriesQuery:
    """One range query: a discovered label set (exact matchers) or a named expression."""

    name: str
    promql: str
    labels: dict[str, str] | None  # None: an expression, each of its results is a series
    # What the metric is (Prometheus' metadata, else its name) and so how it is analysed.
    kind: MetricType = EXPRESSION
    transform: str = RAW


# One series read: its reference, its samples, the seconds its query took, and the query.
ReadSeries = tuple[SeriesRef, pd.Series, float, SeriesQuery]
# One query's answer: the query, its series, the seconds it took, and Prometheus' refusal.
QueryAnswer = tuple[SeriesQuery, list[tuple[SeriesRef, pd.Series]], float, str | None]


class Discovery:
    """Finds the series and reads them; `discover` and `known_metrics` may run alongside a
    cycle (POST /forecasting checks names against the last discovery)."""

    def __init__(self, settings: ETLSettings, prometheus: PrometheusClient, step: int) -> None:
        self.settings = settings
        self.prometheus = prometheus
        self.step = step
        self._exclude = re.compile(settings.exclude_metrics)
        self._raw_metrics = re.compile(settings.raw_metrics)
        self._known: set[str] = set(settings.metric_expressions)
        self._known_lock = threading.Lock()
        self._discovered = False

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

    def known_metrics(self, end: datetime) -> set[str]:
        """Metric names of the last discovery (and the expressions); discovers the windows
        ending at `end` when none yet."""
        with self._known_lock:
            if self._discovered:
                return set(self._known)
        self.discover(end - self.settings.longest_window, end)
        with self._known_lock:
            return set(self._known)

    def _query_one(self, query: SeriesQuery, start: datetime, end: datetime) -> QueryAnswer:
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

    def query_stream(
        self, queries: Iterable[SeriesQuery], start: datetime, end: datetime
    ) -> Iterator[QueryAnswer]:
        """Run the queries with at most `query_concurrency` in flight and as many answers
        waiting, each answer yielded as it arrives: the caller analyses one while the next
        ones are read, and holds no more than that many answers' samples at once.

        Prometheus unavailable (or a bug) raises at once; the queued queries are dropped."""
        todo = iter(queries)
        workers = self.settings.query_concurrency
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="etl-query")
        running: set[Future[QueryAnswer]] = set()
        try:
            for query in islice(todo, 2 * workers):
                running.add(pool.submit(self._query_one, query, start, end))
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    answer = future.result()
                    following = next(todo, None)
                    if following is not None:
                        running.add(pool.submit(self._query_one, following, start, end))
                    yield answer
        finally:
            # After an exception the queued queries would each wait out the timeout and the
            # retries: drop them; the few in flight end alone.
            pool.shutdown(wait=False, cancel_futures=True)

    def read_stream(
        self,
        queries: Iterable[SeriesQuery],
        start: datetime,
        end: datetime,
        skipped: list[dict[str, str]],
    ) -> Iterator[ReadSeries]:
        """Each series of the queries' answers as it arrives, once (the first query that yields
        a series keeps it: an expression can repeat one); a query Prometheus rejects is
        appended to `skipped` with its reason."""
        seen: set[str] = set()
        for query, found, seconds, error in self.query_stream(queries, start, end):
            if error is not None:
                log.warning("query for %s rejected by Prometheus: %s", query.name, error)
                skipped.append({"metric": query.name, "reason": error})
                continue
            for ref, values in found:
                if ref.id not in seen:
                    seen.add(ref.id)
                    yield ref, values, seconds, query
