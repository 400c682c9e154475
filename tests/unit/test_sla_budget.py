"""Error budget and burn rate figures (sla_manager/budget.py), against hand computations and
the Google SRE workbook's table (the factors Sloth generates for a 30-day period)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring_core.web import BadRequest
from sla_manager.budget import (
    ALERT_WINDOWS,
    BURN_WINDOWS,
    Objective,
    format_duration,
    outside_promql,
    parse_objective,
    period_queries,
    period_step,
    series_budget,
    window_budget,
)
from sla_manager.violations import assess_windows

DAY = 86_400
TWELVE_HOURS = 12 * 3600


def test_workbook_factors_for_30_days() -> None:
    # SRE workbook table 5-8 / Sloth's google-30d windows: 14.4, 6, 3, 1.
    factors = [round(w.factor(30 * DAY), 6) for w in ALERT_WINDOWS]
    assert factors == [14.4, 6.0, 3.0, 1.0]
    assert [(w.severity, w.short, w.long) for w in ALERT_WINDOWS] == [
        ("page", "5m", "1h"),
        ("page", "30m", "6h"),
        ("ticket", "2h", "1d"),
        ("ticket", "6h", "3d"),
    ]


def test_factors_scale_with_the_period() -> None:
    # 2 % of a 28-day budget in 1h: 0.02 * 672 = 13.44 (Sloth's google-28d windows).
    assert ALERT_WINDOWS[0].factor(28 * DAY) == pytest.approx(13.44)


def test_window_budget_by_hand() -> None:
    # 99 % over 28d: 1 % may be outside, i.e. 0.01 * 28 d = 24192 s of violation.
    objective = Objective(99.0, 28 * DAY)
    # 1h at 15 s: 241 samples, 12 outside -> error ratio 12/241, burn rate 100 * 12/241.
    figures = window_budget(241, 12, 12 * 15, objective)
    assert figures.error_ratio == pytest.approx(12 / 241)
    assert figures.burn_rate == pytest.approx(12 / 241 / 0.01)
    assert figures.budget_consumed == pytest.approx(12 * 15 / 24192)
    assert figures.budget_left == pytest.approx(1 - 180 / 24192)
    # at this burn rate the budget left lasts left * period / burn
    assert figures.seconds_to_exhaustion == pytest.approx(
        (1 - 180 / 24192) * 28 * DAY / (12 / 241 / 0.01)
    )


def test_nothing_burns_never_exhausts_and_overspent_is_zero() -> None:
    objective = Objective(99.9, 30 * DAY)
    clean = window_budget(100, 0, 0.0, objective)
    assert (clean.burn_rate, clean.budget_left, clean.seconds_to_exhaustion) == (0.0, 1.0, None)
    # 0.1 % of 30 d is 2592 s; 200 samples of 15 s outside is 3000 s: overspent.
    spent = window_budget(200, 200, 200 * 15, objective)
    assert spent.budget_left == pytest.approx(1 - 3000 / 2592)
    assert spent.seconds_to_exhaustion == 0.0
    empty = window_budget(0, 0, 0.0, objective)
    assert (empty.error_ratio, empty.burn_rate) == (None, None)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"objective": 100}, "strictly between 0 and 100"),
        ({"objective": 0}, "strictly between 0 and 100"),
        ({"objective": -5}, "strictly between 0 and 100"),
        ({"objective": 100.5}, "strictly between 0 and 100"),
        ({"objective": "99"}, "must be a number"),
        ({"objective": True}, "must be a number"),
        ({"objective": 99, "period": "6h"}, "shorter than the longest assessment window"),
        ({"objective": 99, "period": "2M"}, "not a duration"),
        ({"objective": 99, "period": 28}, "must be a duration"),
        ({"objective": 99, "period": "400d"}, "longer than 366d"),
        ({"period": "28d"}, "needs an 'objective'"),
    ],
)
def test_bad_objectives(body: dict, reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        parse_objective(body, TWELVE_HOURS)


def test_objective_defaults_and_canonical_period() -> None:
    assert parse_objective({}, TWELVE_HOURS) is None
    assert parse_objective({"objective": 99}, TWELVE_HOURS) == Objective(99.0, 28 * DAY)
    four_weeks = parse_objective({"objective": 99.5, "period": "4w"}, TWELVE_HOURS)
    assert four_weeks is not None and four_weeks.period == "28d"
    assert parse_objective({"objective": 99, "period": "12h"}, TWELVE_HOURS) is not None
    assert [format_duration(s) for s in (2_419_200, 5_400, 43_200, 90)] == [
        "28d",
        "90m",
        "12h",
        "90s",
    ]


def test_outside_promql() -> None:
    assert outside_promql("up", 10, 80) == "((up) < bool 10.0) + ((up) > bool 80.0)"
    assert outside_promql("up", None, 80) == "(up) > bool 80.0"
    assert outside_promql("a / b", 4, None) == "(a / b) < bool 4.0"
    count, outside = period_queries("up", 1, None, Objective(99, 28 * DAY), 15, 1000.0)
    # 28d at 15 s would be 161,280 steps: at 60 s, 40,320 (PERIOD_POINTS)
    assert count == "count_over_time(((up) < bool 1.0)[28d:60s] @ 1000.000)"
    assert outside == "sum_over_time(((up) < bool 1.0)[28d:60s] @ 1000.000)"
    short = period_queries("up", 1, None, Objective(99, 7 * DAY), 15, 1000.0)[0]
    assert "[7d:15s]" in short  # 40,320 steps of 15 s: exactly at the limit
    assert [period_step(Objective(99, d * DAY), 15) for d in (1, 7, 8, 28, 30, 90)] == [
        15,
        15,
        30,
        60,
        75,
        195,
    ]


def test_series_budget_from_the_assessment_windows() -> None:
    # 6h of 15 s samples at 50, the last 10 minutes (40 samples + the end) at 95 > max 80.
    end = pd.Timestamp("2026-11-29T12:00:00Z")
    index = pd.date_range(end - pd.Timedelta("6h"), end, freq="15s")
    values = pd.Series(np.where(index > end - pd.Timedelta("10min"), 95.0, 50.0), index=index)
    objective = Objective(99.0, 28 * DAY)
    windows = assess_windows(values, end, [("1h", 3600)], None, 80)
    burn = assess_windows(values, end, BURN_WINDOWS, None, 80)
    report = series_budget(windows, burn, objective, 15, (5760, 40), None)
    five = report["burn_rates"]["5m"]
    assert (five["samples"], five["samples_outside"]) == (21, 21)
    assert five["burn_rate"] == pytest.approx(100.0)  # all outside: 1 / 0.01
    thirty = report["burn_rates"]["30m"]
    assert (thirty["samples"], thirty["samples_outside"]) == (121, 40)
    assert report["windows"]["1h"]["samples_outside"] == 40
    assert report["windows"]["1h"] == report["burn_rates"]["1h"]  # the same samples
    assert report["windows"]["1h"]["budget_consumed"] == pytest.approx(
        windows[0].seconds_outside / 24192
    )
    # the period's samples are at 60 s (period_step): each stands for a minute
    assert report["period_budget"]["budget_consumed"] == pytest.approx(40 * 60 / 24192)
    assert report["period_budget"]["coverage"] == pytest.approx(5760 * 60 / (28 * DAY))
    assert set(report["burn_rates"]) == {"5m", "30m", "1h", "6h"}
    # The SRE workbook's factors over 28 days: 2 % of the budget in 1h is 0.02 * 672 h / 1 h.
    hours = 28 * 24
    assert [(a["severity"], a["short"], a["long"]) for a in report["alerts"]] == [
        ("page", "5m", "1h"),
        ("page", "30m", "6h"),
        ("ticket", "2h", "1d"),
        ("ticket", "6h", "3d"),
    ]
    factors = [a["factor"] for a in report["alerts"]]
    assert factors == pytest.approx(
        [0.02 * hours, 0.05 * hours / 6, 0.1 * hours / 24, 0.1 * hours / 72]
    )
