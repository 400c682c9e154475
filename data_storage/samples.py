"""Synthetic, valid result messages of every kind, as an ETL run would publish them.

For tests, the ingest benchmark and demos: deterministic (seeded), so the expected rows of a
run can be computed from the same messages that were sent.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal

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

WINDOWS = ("1h", "3h", "12h")
WINDOW_HOURS = {"1h": 1, "3h": 3, "12h": 12}
STAGES = ("statistics", "metadata", "forecast")


def demo_series(prefix: str = "demo", count: int = 8) -> list[SeriesRef]:
    """`count` series of metrics named `<prefix>_<i>` under {job="summary", instance="106"}."""
    return [
        SeriesRef.of(f"{prefix}_{i}", {"job": "summary", "instance": "106"}) for i in range(count)
    ]


def run_messages(
    run_id: str,
    series: list[SeriesRef],
    started_at: datetime,
    *,
    status: Literal["running", "complete", "failed"] = "complete",
    seed: int = 0,
    points: int = 5,
    windows: tuple[str, ...] = WINDOWS,
) -> Iterator[Message]:
    """Every message of one run: its records, then per series and window statistics,
    metadata, one forecast per aggregate and timings, then the run's own timings."""
    rng = random.Random(f"{run_id}:{seed}")
    at = started_at.astimezone(UTC)
    yield _message(
        run_id, at, None, None, RunRecord(status="running", started_at=at, series_count=len(series))
    )
    count = 0
    for ref in series:
        for window in windows:
            computed = at + timedelta(seconds=rng.uniform(0.1, 5.0))
            values = [rng.gauss(50, 10) for _ in range(40)]
            ordered = sorted(values)
            mean = sum(values) / len(values)
            std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
            yield _message(
                run_id,
                computed,
                ref,
                window,
                StatisticsPayload(
                    start=at - timedelta(hours=WINDOW_HOURS.get(window, 1)),
                    end=at,
                    count=len(values),
                    max=ordered[-1],
                    min=ordered[0],
                    mean=mean,
                    std=std,
                    p50=ordered[20],
                    p95=ordered[37],
                    p99=ordered[39],
                    interval_seconds=15.0,
                    gaps=(gaps := rng.randint(0, 2)),
                    missing_samples=16 * gaps,
                    longest_gap_seconds=255.0 if gaps else None,
                ),
            )
            yield _message(
                run_id,
                computed,
                ref,
                window,
                Metadata(
                    autocorrelation=Autocorrelation(lags=[rng.uniform(-1, 1) for _ in range(10)]),
                    stationarity=Stationarity(
                        statistic=rng.uniform(-5, 0),
                        p_value=rng.uniform(0, 1),
                        used_lag=3,
                        nobs=36,
                        critical_1=-3.6,
                        critical_5=-2.9,
                        critical_10=-2.6,
                        stationary=rng.random() < 0.5,
                    ),
                    seasonality=Seasonality(
                        period_minutes=30.0,
                        method="acf_peak",
                        strength=rng.uniform(0, 1),
                        seasonal=[rng.gauss(0, 1) for _ in range(15)],
                    ),
                ),
            )
            for aggregate in AGGREGATES:
                level = rng.gauss(50, 10)
                yield _message(
                    run_id,
                    computed,
                    ref,
                    window,
                    ForecastPayload(
                        aggregate=aggregate,
                        model="holt_winters",
                        period_buckets=15,
                        bucket_seconds=120,
                        holdout_mae=rng.uniform(0, 2),
                        holdout_mase=rng.uniform(0, 1),
                        points=[
                            ForecastPoint(
                                timestamp=at + timedelta(minutes=2 * (i + 1)),
                                value=level + i,
                                lower_80=level + i - 1.28,
                                upper_80=level + i + 1.28,
                                lower_95=level + i - 1.96,
                                upper_95=level + i + 1.96,
                            )
                            for i in range(points)
                        ],
                    ),
                )
            yield _message(
                run_id,
                computed,
                ref,
                window,
                Timing(stages={s: rng.uniform(0, 0.1) for s in STAGES}),
            )
            count += 6
    finished = at + timedelta(seconds=10)
    yield _message(run_id, finished, None, None, Timing(stages={"total": 10.0}))
    yield _message(
        run_id,
        finished,
        None,
        None,
        RunRecord(
            status=status,
            started_at=at,
            finished_at=None if status == "running" else finished,
            series_count=len(series),
            message_count=count + 3,
        ),
    )


def _message(run_id, computed_at, series, window, payload) -> Message:  # noqa: ANN001
    return Message(
        run_id=run_id, computed_at=computed_at, series=series, window=window, payload=payload
    )
