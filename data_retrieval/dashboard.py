"""The operator's dashboard: one static page drawing SVG charts, and the JSON routes it reads.

Samples come from Prometheus (the raw samples of one series per request), forecasts and the ETL's
stage timings from the result tables, SLA bands and violations from the SLA manager's tables
(its last stored assessment of each current SLA). Every route validates its parameters (400),
answers 404 for an unknown series and 503 when Prometheus or MySQL is down.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from flask import Blueprint, Response, jsonify, request, send_from_directory

from data_retrieval.queries import Reader
from monitoring_core.analytics.samples import clean_samples
from monitoring_core.auth import Access
from monitoring_core.json_values import finite_or_none, iso_utc
from monitoring_core.messages import series_id
from monitoring_core.params import LABEL_PREFIX, Limits, Query, check_metric, parse_query
from monitoring_core.prometheus import PrometheusClient
from monitoring_core.promql import align_end, selector
from monitoring_core.results_read import FORECASTS_KIND, METADATA_KIND, STATISTICS_KIND
from monitoring_core.results_schema import WHOLE_RUN
from monitoring_core.web import BadRequest, NotFound
from monitoring_core.windows import window_order

STATIC_DIR = Path(__file__).with_name("static") / "dashboard"
RANGES = {"1h": 3600, "3h": 3 * 3600}  # the samples an operator may ask for, at the scrape step
SERIES_ID = re.compile(r"^[0-9a-f]{16}$")
MAX_SERIES = 1000  # the series list is a <select>; more than this is not a dashboard any more
SERIES_PARAMS = frozenset({"series_id", "metric"})


@dataclass(frozen=True)
class StoredSeries:
    series_id: str
    metric: str
    labels: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"series_id": self.series_id, "metric": self.metric, "labels": self.labels}


def parse_args(allowed: frozenset[str]) -> tuple[dict[str, str], dict[str, str]]:
    """(plain parameters, label matchers) of this request, checked by the read API's own rules:
    unknown or repeated parameters, a malformed window or aggregate are 400."""
    if not allowed and request.args:
        name = next(iter(request.args))[:120]
        raise BadRequest(f"this route takes no query parameters (got {name!r})", parameter=name)
    labels = parse_query(request.args.items(multi=True), allowed=allowed, limits=Limits()).labels
    plain = {k: v for k, v in request.args.items() if not k.startswith(LABEL_PREFIX)}
    return plain, labels


class DashboardReader:
    """The dashboard's reads, shaped for its page, through the read API's `Reader`."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def list_series(self) -> dict[str, Any]:
        """Every stored series, and whether its latest complete run has forecasts."""
        rows = self.reader.series_with_forecasts(MAX_SERIES)
        series = [
            {
                "series_id": row["series_id"],
                "metric": row["metric"],
                "labels": json.loads(row["labels"]),
                "forecast": row["forecast_run_id"] is not None,
            }
            for row in rows
        ]
        default = next((s for s in series if s["forecast"]), series[0] if series else None)
        return {
            "count": len(series),
            "default_series_id": default["series_id"] if default else None,
            "series": series,
        }

    def find_series(self, plain: dict[str, str], labels: dict[str, str]) -> StoredSeries:
        """The series named by `series_id`, or by `metric` and its exact `label.<name>` set."""
        if ("series_id" in plain) == ("metric" in plain):
            raise BadRequest(
                "name the series by series_id, or by metric and its label.<name> matchers",
                parameter="series_id",
            )
        if "series_id" in plain:
            wanted = plain["series_id"]
            if not SERIES_ID.match(wanted):
                raise BadRequest("series_id must be 16 hex digits", parameter="series_id")
            if labels:
                raise BadRequest(
                    "label.<name> goes with metric, not series_id", parameter="label.*"
                )
        else:
            wanted = series_id(check_metric(plain["metric"]), labels)
        row = self.reader.series_by_id(wanted)
        if row is None:
            raise NotFound(f"unknown series {wanted!r}: no such series is stored")
        return StoredSeries(row["series_id"], row["metric"], json.loads(row["labels"]))

    def read_forecast(self, series: StoredSeries, window: str, aggregate: str) -> dict[str, Any]:
        """The series' forecast of its latest complete run for this window and aggregate."""
        # Label matchers narrow the metric's series; the id picks this one among supersets.
        query = Query(window=window, labels=series.labels, aggregate=aggregate)
        forecasts = self.reader.read(FORECASTS_KIND, series.metric, query)["forecasts"]
        found = next((f for f in forecasts if f["series_id"] == series.series_id), None)
        return {
            "series": series.to_dict(),
            "window": window,
            "aggregate": aggregate,
            "forecast": found,
            "reason": None if found else "no forecast stored for this series, window and aggregate",
            "summary": self.read_summary(series, window),
        }

    def read_summary(self, series: StoredSeries, window: str) -> dict[str, Any] | None:
        """The series at one look, from its latest statistics and metadata of the window:
        type and transform, domain, scrape interval and gaps, and the season found."""
        query = Query(window=window, labels=series.labels)
        try:
            stats = self.reader.read(STATISTICS_KIND, series.metric, query)["statistics"]
        except NotFound:
            return None
        row = next((r for r in stats if r["series_id"] == series.series_id), None)
        if row is None:
            return None
        metadata = self.reader.read(METADATA_KIND, series.metric, query)["metadata"]
        meta = next((m for m in metadata if m["series_id"] == series.series_id), None)
        return {
            **row["series_kind"],
            **row["samples"],
            "count": row["count"],
            "seasonality": meta["seasonality"] if meta else None,
        }

    def read_slas(self, series: StoredSeries) -> dict[str, Any]:
        """Current SLAs on the series' metric (labels it carries), with their last assessment."""
        rows, assessments = self.reader.slas_on_metric(series.metric, series.labels)
        slas = [self._sla_entry(row, assessments.get(row["sla_id"]), series) for row in rows]
        lows = [s["min"] for s in slas if s["min"] is not None]
        highs = [s["max"] for s in slas if s["max"] is not None]
        return {
            "series": series.to_dict(),
            "count": len(slas),
            # Outside any SLA's range is a violation of that SLA: the band is their intersection.
            "band": {"min": max(lows) if lows else None, "max": min(highs) if highs else None},
            "slas": slas,
        }

    @staticmethod
    def _sla_entry(
        row: dict[str, Any], result: dict[str, Any] | None, series: StoredSeries
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "sla": {"id": row["sla_id"], "name": row["name"], "version": row["version"]},
            "metric": row["metric_name"],
            "min": row["min_value"],
            "max": row["max_value"],
            "assessed_at": None,
            "window_end": None,
            "in_range_now": None,
            "windows": None,
            "prediction": None,
            "objective": None,  # {"objective": percent, "period": "28d"} when the SLA has one
            "budget": None,  # the series' error budget (sla_manager/budget.py)
            "reason": "not assessed yet",
        }
        if result is None:
            return entry
        entry["objective"] = result.get("objective")
        entry["assessed_at"] = result.get("assessed_at")
        entry["window_end"] = result.get("window_end")
        metrics = result.get("metrics", [])
        position = row["position"]
        metric = metrics[position] if position < len(metrics) else {}
        found = next(
            (s for s in metric.get("series", []) if s.get("series_id") == series.series_id), None
        )
        if found is None:
            entry["reason"] = metric.get("reason") or "the last assessment did not see this series"
            return entry
        entry.update(
            in_range_now=found.get("in_range_now"),
            windows=found.get("windows"),
            prediction=found.get("prediction"),
            budget=found.get("budget"),
            reason=None,
        )
        return entry

    def read_timings(self) -> dict[str, Any]:
        """Stage timings of the latest complete run: the run's phases, and per window the sum
        of each stage over the series."""
        run, rows = self.reader.latest_timings()
        if run is None:
            return {"run": None, "stages": {}, "windows": {}, "reason": "no complete run yet"}
        stages: dict[str, float] = {}
        windows: dict[str, dict[str, float]] = defaultdict(dict)
        for row in rows:
            if row["window_name"] == WHOLE_RUN:
                stages[row["stage"]] = float(row["seconds"])
            else:
                windows[row["window_name"]][row["stage"]] = float(row["seconds"])
        return {
            "run": {
                "run_id": run["run_id"],
                "status": run["status"],
                "started_at": iso_utc(run["started_at"]),
                "finished_at": iso_utc(run["finished_at"]),
                "series_count": run["series_count"],
            },
            "stages": stages,
            "windows": {w: windows[w] for w in sorted(windows, key=window_order)},
            "reason": None,
        }


def read_samples(
    prometheus: PrometheusClient, series: StoredSeries, range_name: str, now: datetime
) -> dict[str, Any]:
    """The raw samples of the last `range_name`, ending at the last step boundary (the
    window `[end - range, end]` of the ETL and the SLA manager)."""
    step = prometheus.settings.step_seconds
    end = align_end(now, step)
    start = end - timedelta(seconds=RANGES[range_name])
    promql = selector(series.metric, series.labels)
    answer = prometheus.read_samples(promql, start, end, step_seconds=step)
    # Exact matchers also match a series with extra labels: that one is another series.
    found = next((s for s in answer if s.labels == series.labels), None)
    points: list[list[float | None]] = []
    interval = None
    if found is not None:
        values, coverage = clean_samples(found.values, pd.Timestamp(end))
        interval = coverage.interval_seconds
        points = [
            # JSON has no NaN or Inf: an infinite or NaN sample becomes null.
            [stamp.timestamp(), finite_or_none(value)]
            for stamp, value in zip(values.index, values.to_numpy(), strict=True)
        ]
    return {
        "series": series.to_dict(),
        "range": range_name,
        "promql": promql,
        "start": start.timestamp(),
        "end": end.timestamp(),
        "step_seconds": step,
        # the page breaks the line where samples are more than 1.5 intervals apart (a gap)
        "interval_seconds": interval,
        "count": len(points),
        "points": points,
        "reason": None if points else "Prometheus has no samples of this series in the range",
    }


def create_dashboard(reader: Reader, prometheus: PrometheusClient) -> Blueprint:
    """The page, its assets and its JSON routes under /dashboard."""
    data = DashboardReader(reader)
    bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

    # The page and its assets hold no data: they load without a token even when reads are
    # closed, and the page asks for the read token when its JSON routes answer 401.
    @bp.get("")
    @Access.public
    def page() -> Response:
        return send_from_directory(STATIC_DIR, "index.html", max_age=0)

    @bp.get("/static/<name>")
    @Access.public
    def asset(name: str) -> Response:
        # Flat folder; send_from_directory refuses paths that leave it (404).
        return send_from_directory(STATIC_DIR, name, max_age=60)

    @bp.get("/api/series")
    def series_list() -> Response:
        parse_args(frozenset())
        return jsonify(data.list_series())

    @bp.get("/api/samples")
    def samples() -> Response:
        plain, labels = parse_args(SERIES_PARAMS | {"range"})
        range_name = plain.get("range", "1h")
        if range_name not in RANGES:
            raise BadRequest(f"range must be one of {', '.join(RANGES)}", parameter="range")
        series = data.find_series(plain, labels)
        return jsonify(read_samples(prometheus, series, range_name, datetime.now(UTC)))

    @bp.get("/api/forecast")
    def forecast() -> Response:
        plain, labels = parse_args(SERIES_PARAMS | {"window", "aggregate"})
        series = data.find_series(plain, labels)
        return jsonify(
            data.read_forecast(series, plain.get("window", "1h"), plain.get("aggregate", "mean"))
        )

    @bp.get("/api/sla")
    def sla() -> Response:
        plain, labels = parse_args(SERIES_PARAMS)
        return jsonify(data.read_slas(data.find_series(plain, labels)))

    @bp.get("/api/timings")
    def timings() -> Response:
        parse_args(frozenset())
        return jsonify(data.read_timings())

    return bp
