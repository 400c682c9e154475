"""ETL settings: durations, windows, names and the cross-field rules (expected values by hand)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from pydantic import ValidationError

from etl_pipeline.settings import ETLSettings, parse_names
from monitoring_core.windows import parse_duration, parse_windows


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("1d", 86400), ("1w", 604800)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "1", "h", "1x", "-1h", "1.5h", "0m", "1h 30m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_windows_are_sorted_shortest_first_and_keep_their_names() -> None:
    windows = parse_windows("12h, 1h,3h")
    assert list(windows) == ["1h", "3h", "12h"]
    assert windows["12h"] == timedelta(hours=12)


@pytest.mark.parametrize("text", ["", "1h,1h", "60m,1h", "8d", "1h,verylongname", "1h,x"])
def test_windows_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_windows(text)


def test_defaults_are_the_seeds() -> None:
    settings = ETLSettings()
    assert list(settings.window_durations) == ["1h", "3h", "12h"]
    assert settings.longest_window == timedelta(hours=12)
    assert settings.forecast_metric_names == (
        "availableMem",
        "cpuLoad",
        "cpuTemp",
        "diskUsage",
        "networkThroughput",
    )
    assert settings.bucket == "2min"
    assert settings.horizon_minutes == 10


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETL_WINDOWS", "30m,2h")
    monkeypatch.setenv("ETL_METRIC_EXPRESSIONS", '{"reqRate": "rate(http_requests_total[5m])"}')
    monkeypatch.setenv("ETL_SCHEDULER_ENABLED", "false")
    settings = ETLSettings()
    assert settings.window_durations == {"30m": timedelta(minutes=30), "2h": timedelta(hours=2)}
    assert settings.metric_expressions == {"reqRate": "rate(http_requests_total[5m])"}
    assert settings.scheduler_enabled is False


@pytest.mark.parametrize(
    "fields",
    [
        {"horizon_minutes": 200},  # above max_horizon_minutes (120)
        {"horizon_minutes": 1},  # shorter than a 2-minute bucket
        {"min_period_minutes": 60, "max_period_minutes": 30},
        {"exclude_metrics": "(unclosed"},
        {"metric_expressions": {"bad name": "up"}},
        {"metric_expressions": {"ok": "  "}},
        {"max_series": 0},
        {"query_concurrency": 0},
        {"forecast_metrics": "cpuLoad,not a name"},
        {"windows": "1h,fortnight"},
    ],
)
def test_invalid_settings_are_refused(fields: dict) -> None:
    with pytest.raises(ValidationError):
        ETLSettings(**fields)


@pytest.mark.parametrize("seconds", [5, 30])
def test_publish_timeout_must_outlast_the_producers_delivery_timeout(seconds: float) -> None:
    # Publisher's delivery.timeout.ms is 30 s: a shorter flush fails the run while the
    # messages are still delivered afterwards.
    with pytest.raises(ValidationError, match="delivery timeout"):
        ETLSettings(publish_timeout_seconds=seconds)
    assert ETLSettings(publish_timeout_seconds=31).publish_timeout_seconds == 31


def test_names_drop_duplicates_in_order() -> None:
    assert parse_names("cpuLoad, diskUsage,cpuLoad") == ("cpuLoad", "diskUsage")


def test_default_exclusions_leave_out_prometheus_own_alert_and_recorded_series() -> None:
    # The SLA manager's rules record slo:* series and raise ALERTS with the source series'
    # job and instance: the demo selector {job="summary", instance="106"} matches them.
    exclude = re.compile(ETLSettings().exclude_metrics)
    left_out = ["up", "scrape_duration_seconds", "ALERTS", "ALERTS_FOR_STATE"]
    left_out += ["slo:sli_error:ratio_rate5m", "sla:within_range:ratio_rate1h"]
    kept = ["cpuLoad", "availableMem", "push_time_seconds", "node_cpu_seconds_total", "ALERTSx"]
    assert [name for name in left_out if not exclude.search(name)] == []
    assert [name for name in kept if exclude.search(name)] == []
