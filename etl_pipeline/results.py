"""Turn the analytics of one series window into the typed Kafka payloads, and runs into JSON."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitoring_core import analytics
from monitoring_core.json_values import iso_utc
from monitoring_core.messages import (
    AGGREGATES,
    Autocorrelation,
    ForecastPayload,
    ForecastPoint,
    Message,
    Metadata,
    RunRecord,
    Seasonality,
    SeriesRef,
    Stationarity,
    StatisticsPayload,
    Timing,
)
from monitoring_core.metric_types import MetricType

STAGES = ("query", "statistics", "metadata", "forecast", "publish")
# The run record carries the run's summary; its list of skipped series is cut to this many
# (with the total), so that a cycle where everything failed stays a small message.
MAX_SKIPPED_STORED = 100


@dataclass
class SeriesWindowResult:
    """What one series produced in one window: the payloads published, its samples in time
    (count, scrape interval, gaps), the gap policy of its buckets, timings."""

    series: SeriesRef
    window: str
    statistics: StatisticsPayload
    metadata: Metadata
    forecasts: dict[str, ForecastPayload]
    samples: dict[str, Any]
    gaps: dict[str, Any]
    stages: dict[str, float]

    def messages(self, run_id: str, computed_at: datetime) -> list[Message]:
        """The result messages of this series window (its Timing is sent after publishing)."""
        payloads: list[StatisticsPayload | Metadata | ForecastPayload] = [
            self.statistics,
            self.metadata,
            *self.forecasts.values(),
        ]
        return [
            Message(
                run_id=run_id,
                computed_at=computed_at,
                series=self.series,
                window=self.window,
                payload=payload,
            )
            for payload in payloads
        ]

    def timing_message(self, run_id: str, computed_at: datetime) -> Message:
        return Message(
            run_id=run_id,
            computed_at=computed_at,
            series=self.series,
            window=self.window,
            payload=Timing(stages=self.stages),
        )


@dataclass
class RunResult:
    """One cycle: its status, what it counted and where the time went (its results went to
    Kafka, and through data_storage to MySQL, where the ETL API reads them)."""

    run_id: str
    status: str  # running | complete | failed
    started_at: datetime
    end: datetime  # the data's end time (aligned to the step); windows end here
    windows: list[str]
    forecast_metrics: list[str]
    horizon_minutes: int
    finished_at: datetime | None = None
    series_count: int = 0
    message_count: int = 0
    series_windows: int = 0  # results published (series x windows analysed)
    reason: str | None = None
    unavailable: bool = False  # failed because Prometheus or Kafka is down (-> 503)
    recorded: bool = False  # Kafka took its final record (complete or failed) for storage
    stored: bool = False  # data_storage stored that record and all the run's results
    stages: dict[str, float] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    series_cut: int = 0
    shard_count: int | None = None  # the distributed cycle's; None in one process
    retried_shards: list[int] = field(default_factory=list)

    def record(self) -> RunRecord:
        summary = self.summary()
        if len(self.skipped) > MAX_SKIPPED_STORED:
            summary["skipped"] = self.skipped[:MAX_SKIPPED_STORED]
            summary["skipped_total"] = len(self.skipped)
        return RunRecord(
            status=self.status,  # type: ignore[arg-type]
            started_at=self.started_at,
            finished_at=self.finished_at,
            series_count=self.series_count,
            message_count=self.message_count,
            reason=self.reason,
            shard_count=self.shard_count,
            retried_shards=self.retried_shards if self.shard_count is not None else None,
            details=summary,
        )

    def summary(self) -> dict[str, Any]:
        """The run without its results: what /regen_data answers."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "started_at": iso_utc(self.started_at),
            "finished_at": iso_utc(self.finished_at),
            "data_end": iso_utc(self.end),
            "windows": self.windows,
            "series_count": self.series_count,
            "series_cut": self.series_cut,
            "message_count": self.message_count,
            "series_windows": self.series_windows,
            "forecast_metrics": self.forecast_metrics,
            "horizon_minutes": self.horizon_minutes,
            "stages": {k: round(v, 6) for k, v in self.stages.items()},
            "skipped": self.skipped,
            "reason": self.reason,
            "unavailable": self.unavailable,
            "shard_count": self.shard_count,
            "retried_shards": self.retried_shards,
        }


def _reason(*parts: tuple[str | None, str | None]) -> str | None:
    """ "code: detail" of every part that has a code, joined; None when none has."""
    texts = [f"{code}: {detail}" if detail else code for code, detail in parts if code]
    return "; ".join(texts)[:255] or None  # the reason columns are VARCHAR(255)


def _finite_list(values: tuple[float | None, ...]) -> list[float] | None:
    """The values when there are some and all are finite (the analytics' None is NaN/inf)."""
    finite = [v for v in values if v is not None]
    return finite if finite and len(finite) == len(values) else None


# The statistics the payload carries under the analytics' own names (count, max, ..., p99): a
# statistic added to both, and to the schema, needs no line here.
_SHARED_STATISTICS = tuple(
    f.name
    for f in dataclasses.fields(analytics.Statistics)
    if f.name in StatisticsPayload.model_fields and f.name != "reason"
)


def build_statistics(
    stats: analytics.Statistics,
    start: datetime,
    end: datetime,
    samples: analytics.SampleCoverage | None = None,
) -> StatisticsPayload:
    coverage = {}
    if samples is not None:
        coverage = {
            "interval_seconds": samples.interval_seconds,
            "gaps": samples.gaps,
            "missing_samples": samples.missing_samples,
            "longest_gap_seconds": samples.longest_gap_seconds,
            # datetime has microseconds; a sample time may carry nanoseconds (not from
            # Prometheus, whose are milliseconds): floor, rather than warn and drop them.
            "ended_at": (
                None if samples.ended_at is None else samples.ended_at.floor("us").to_pydatetime()
            ),
        }
    return StatisticsPayload(
        **coverage,
        **{name: getattr(stats, name) for name in _SHARED_STATISTICS},
        start=start,
        end=end,
        reason=_reason((stats.reason, stats.detail)),
    )


def build_metadata(analysis: analytics.WindowAnalysis) -> Metadata:
    acf, adf, season = analysis.acf, analysis.adf, analysis.seasonality
    lags = _finite_list(acf.values)
    acf_reason = _reason((acf.reason, acf.detail))
    if lags is None and acf_reason is None:
        acf_reason = "non_finite: an autocorrelation was not finite"
    pattern = _finite_list(season.pattern)
    return Metadata(
        autocorrelation=Autocorrelation(lags=lags, reason=acf_reason),
        stationarity=Stationarity(
            statistic=adf.statistic,
            p_value=adf.p_value,
            used_lag=adf.used_lag,
            nobs=adf.nobs,
            critical_1=adf.critical_value_1,
            critical_5=adf.critical_value_5,
            critical_10=adf.critical_value_10,
            stationary=adf.stationary,
            reason=_reason((adf.reason, adf.detail)),
        ),
        seasonality=Seasonality(
            period_minutes=season.period_minutes,
            method=season.method,
            strength=season.strength,
            seasonal=pattern,
            reason=_reason((season.reason, season.detail)),
        ),
    )


def build_forecast(
    aggregate: str, result: analytics.Forecast, bucket_seconds: int
) -> ForecastPayload:
    """One aggregate's forecast; the reason also says when the model fell back (no season)."""
    points = []
    for point in result.points:
        if point.value is None or point.timestamp is None:
            continue
        bounds = {round(iv.level * 100): iv for iv in point.intervals}
        points.append(
            ForecastPoint(
                timestamp=point.timestamp.to_pydatetime(),
                value=point.value,
                lower_80=bounds[80].lower if 80 in bounds else None,
                upper_80=bounds[80].upper if 80 in bounds else None,
                lower_95=bounds[95].lower if 95 in bounds else None,
                upper_95=bounds[95].upper if 95 in bounds else None,
            )
        )
    fallback = None
    if result.model and result.model_reason and result.model_reason != "season":
        fallback = f"fell back to {result.model}"
    holdout = result.holdout
    dropped = len(result.points) - len(points)
    reason = _reason(
        (result.reason, result.detail),
        (result.model_reason if fallback else None, fallback),
        (holdout.reason if holdout else None, holdout.detail if holdout else None),
        ("non_finite" if dropped else None, f"{dropped} points had no finite value"),
    )
    return ForecastPayload(
        aggregate=aggregate,  # type: ignore[arg-type]
        model=result.model,
        period_buckets=result.period,
        bucket_seconds=bucket_seconds,
        points=points,
        holdout_mae=holdout.mae if holdout else None,
        holdout_mase=holdout.mase if holdout else None,
        reason=reason,
    )


def build_result(
    series: SeriesRef,
    window: str,
    analysis: analytics.WindowAnalysis,
    start: datetime,
    end: datetime,
    query_seconds: float,
    kind: MetricType | None = None,
    transform: str = "raw",
) -> SeriesWindowResult:
    """The payloads of one series window; `publish` is filled in once the batch is acked.

    ``kind`` and ``transform`` say what the series is and whether it was analysed as a rate;
    they, and the window's domain, go with its statistics."""
    bucket_seconds = int(analysis.buckets.bucket_seconds)
    domain = analysis.domain
    forecasts: dict[str, ForecastPayload] = {
        name: build_forecast(name, analysis.forecasts[name], bucket_seconds).model_copy(
            update={"domain": domain.name if domain is not None else None}
        )
        for name in AGGREGATES
        if analysis.forecasts and name in analysis.forecasts
    }
    statistics = build_statistics(analysis.statistics, start, end, analysis.samples)
    statistics = statistics.model_copy(
        update={
            "metric_type": kind.type if kind is not None else None,
            "type_source": kind.source if kind is not None else None,
            "transform": transform,
            "domain": domain.name if domain is not None else None,
            "domain_source": domain.source if domain is not None else None,
        }
    )
    timings = analysis.timings
    return SeriesWindowResult(
        series=series,
        window=window,
        statistics=statistics,
        metadata=build_metadata(analysis),
        forecasts=forecasts,
        samples=analysis.samples.to_dict(),
        gaps=analysis.buckets.to_dict(),
        stages={
            "query": query_seconds,
            "statistics": timings.statistics,
            "metadata": timings.metadata,
            "forecast": timings.forecast,
            "publish": 0.0,
        },
    )
