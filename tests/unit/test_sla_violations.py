"""Past violations on hand-made series (counts worked out by hand) and the prediction math."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from sla_manager.violations import assess_windows, predict_violations

END = pd.Timestamp("2026-01-01T12:00:00Z")
STEP = 15.0


def series(values: list[float], end: pd.Timestamp = END, step: float = STEP) -> pd.Series:
    """Samples every ``step`` seconds, the last one at ``end``."""
    index = end - pd.to_timedelta(np.arange(len(values))[::-1] * step, unit="s")
    return pd.Series(np.asarray(values, dtype=float), index=index)


def one(values: pd.Series, low: float | None, high: float | None, seconds: float = 3600):
    (result,) = assess_windows(values, END, [("w", seconds)], low, high)
    return result


def test_counts_episodes_seconds_and_worst_on_a_two_sided_range() -> None:
    # Range [30, 60]. Outside: 70, 75 (above), 20 (below), 80 (above) -> 4 samples, 3 above,
    # 1 below; runs {70, 75}, {20}, {80} -> 3 episodes; time-weighted, each sample stands
    # until the next: 70, 75 and 20 for 15 s each, 80 (at END) for 0 s -> 45 s; the window's
    # hour before the first sample is unknown: 3600 - 6 x 15 s; excesses 10, 15, 10,
    # 20 -> worst 80 at the last sample, 20 beyond; in range 3 of 7 samples.
    values = series([50, 70, 75, 50, 20, 50, 80])
    result = one(values, 30, 60)
    assert (result.samples, result.samples_outside) == (7, 4)
    assert (result.samples_above, result.samples_below) == (3, 1)
    assert result.episodes == 3
    assert result.seconds_outside == 45.0
    assert result.seconds_unknown == 3600 - 90.0 and result.interval_seconds == 15.0
    assert (result.worst_value, result.worst_at, result.worst_excess) == (80.0, END, 20.0)
    assert result.within_range_ratio == pytest.approx(3 / 7)
    assert result.in_range_now is False
    assert result.last_episode_start == END


def test_a_bound_left_out_is_open() -> None:
    # Only max=60: the 20 is fine. Outside: 70, 75, 80 -> 3 samples in 2 episodes.
    result = one(series([50, 70, 75, 50, 20, 50, 80]), None, 60)
    assert (result.samples_outside, result.episodes, result.samples_below) == (3, 2, 0)


def test_no_violation_reports_the_smallest_margin_as_worst() -> None:
    # Range [0, 100]: margins 40, 45, 10 -> the worst is 90, 10 inside (excess -10).
    result = one(series([40, 55, 90]), 0, 100)
    assert (result.samples_outside, result.episodes, result.seconds_outside) == (0, 0, 0.0)
    assert (result.worst_value, result.worst_excess) == (90.0, -10.0)
    assert result.within_range_ratio == 1.0
    assert result.in_range_now is True
    assert result.last_episode_start is None


def test_windows_include_both_ends_and_are_sliced_from_one_series() -> None:
    # 8 samples 15 s apart ending at END. A 60 s window holds END - 60 s <= t <= END: the last
    # 5 samples (60, 45, 30, 15 and 0 s before END) = 70 50 70 50 70, as Prometheus 2's [1m:15s].
    values = series([70, 70, 70, 70, 50, 70, 50, 70])
    short, long = assess_windows(values, END, [("1m", 60), ("2m", 120)], None, 60)
    assert (short.samples, short.samples_outside, short.episodes) == (5, 3, 3)
    assert (long.samples, long.samples_outside, long.episodes) == (8, 6, 3)


def test_an_episode_running_into_the_window_counts_once_inside_it() -> None:
    # The run 70, 70, 70 starts before the 15 s window (2 samples: t >= END - 15 s).
    short, long = assess_windows(series([70, 70, 70]), END, [("a", 15), ("b", 60)], None, 60)
    assert (short.samples_outside, short.episodes) == (2, 1)
    assert (long.samples_outside, long.episodes) == (3, 1)


def test_a_missing_sample_ends_an_episode_and_nan_counts_as_missing() -> None:
    # 70 70 _ 70 (a gap of 30 s) -> 2 episodes; NaN in the middle behaves the same.
    values = series([70, 70, 0, 70]).drop(END - pd.Timedelta(seconds=15))
    assert one(values, None, 60).episodes == 2
    with_nan = one(series([70, 70, np.nan, 70]), None, 60)
    assert (with_nan.samples, with_nan.samples_outside, with_nan.episodes) == (3, 3, 2)


def test_an_empty_window_has_no_figures() -> None:
    result = one(series([np.nan, np.nan]), 0, 1)
    assert result.samples == 0
    assert result.within_range_ratio is None and result.in_range_now is None


def test_a_ramp_is_predicted_to_cross_its_bound_at_the_right_minute() -> None:
    # A clock: value = unix time. 1-minute means of the 4 samples at :00 :15 :30 :45 are the
    # minute start + 22.5 s. With max = END + 270 s the minute starting at END + 4 min has
    # mean END + 262.5 s (in range) and END + 5 min has END + 322.5 s (outside), so the first
    # likely violation is the minute starting at END + 5 min. END is the :00 sample, so the
    # last complete minute is the one ending before END.
    stamps = pd.date_range(END - pd.Timedelta(hours=3), END, freq="15s")
    values = pd.Series(stamps.as_unit("ns").asi8 / 1e9, index=stamps)
    high = END.timestamp() + 270
    result = predict_violations(values, END - pd.Timedelta(seconds=15), STEP, None, high, 10)
    assert result.likely is True
    assert result.minutes[0].at == END
    assert result.minutes[0].value == pytest.approx(END.timestamp() + 22.5, abs=0.5)
    assert result.first_likely_violation == END + pd.Timedelta(minutes=5)


def test_a_flat_series_well_inside_is_not_likely_to_leave() -> None:
    stamps = pd.date_range(END - pd.Timedelta(hours=3), END, freq="15s")
    values = pd.Series(23.4, index=stamps)
    result = predict_violations(values, END, STEP, 0, 100, 10)
    assert result.likely is False and result.max_probability == 0.0
    assert result.first_likely_violation is None and len(result.minutes) == 10


def test_probabilities_are_both_tails_of_the_forecast_normal() -> None:
    # Independent check with scipy: sigma from the 95 % interval, P = Phi((lo - mu) / sigma)
    # + 1 - Phi((hi - mu) / sigma), for a noisy series and a range cut close on both sides.
    rng = np.random.default_rng(7)
    stamps = pd.date_range(END - pd.Timedelta(hours=3), END, freq="15s")
    values = pd.Series(50 + rng.normal(0, 2, stamps.size), index=stamps)
    values.iloc[-1] = 50.0  # in range now: what follows is a prediction, not a violation
    result = predict_violations(values, END, STEP, 49.5, 51, 10, likely_probability=0.3)
    for minute in result.minutes:
        sigma = (minute.upper_95 - minute.value) / norm.ppf(0.975)
        expected = norm.cdf((49.5 - minute.value) / sigma) + norm.sf((51 - minute.value) / sigma)
        assert minute.probability_outside == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert result.max_probability == max(m.probability_outside for m in result.minutes)
    # Leaving at least once is at least as likely as being out in any one minute.
    assert result.exit_probability >= result.max_probability
    assert result.state == "likely" and result.likely is True
    assert result.first_exit_earliest <= result.first_likely_violation <= result.first_exit_latest
    assert result.first_likely_violation >= result.minutes[0].at


def test_no_samples_no_prediction() -> None:
    empty = pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=float)
    result = predict_violations(empty, END, STEP, 0, 1, 10)
    assert result.reason == "empty" and result.likely is False


def test_infinite_samples_are_present_and_outside_on_their_side() -> None:
    # By hand, range [30, 60]: 50 +Inf 50 -Inf. PromQL's `+Inf > 60` and `-Inf < 30` are
    # true, so 4 samples are present and 2 outside (1 above, 1 below), each its own episode;
    # +Inf stands 15 s until the next sample, -Inf (at END) 0 s: 15 s; half the samples in
    # range. Both lie infinitely far beyond their bound; the first is the worst, and an
    # infinite excess has no finite figure (null).
    values = series([50, np.inf, 50, -np.inf])
    result = one(values, 30, 60)
    assert (result.samples, result.samples_outside) == (4, 2)
    assert (result.samples_above, result.samples_below) == (1, 1)
    assert (result.episodes, result.seconds_outside) == (2, 15.0)
    assert result.within_range_ratio == 0.5
    assert result.worst_value == np.inf and result.worst_at == END - pd.Timedelta(seconds=30)
    assert result.worst_excess is None
    assert (result.last_value, result.in_range_now, result.last_episode_start) == (
        -np.inf,
        False,
        END,
    )
    # JSON-ready: the infinities become null.
    out = result.to_dict()
    assert (out["worst_value"], out["last_value"]) == (None, None)
    # An open side: +Inf is within [0, open) and -Inf within (open, 100].
    assert one(series([np.inf]), 0, None).samples_outside == 0
    assert one(series([-np.inf]), None, 100).samples_outside == 0


def history(values: np.ndarray) -> pd.Series:
    """15 s samples ending at END."""
    stamps = pd.date_range(end=END, periods=values.size, freq="15s")
    return pd.Series(values, index=stamps)


def test_a_random_walk_near_its_bound_warns_although_no_minute_is_likely_out() -> None:
    # A random walk (steps of sd 0.3 every 15 s) about 0.7 below its max: the point
    # forecast is flat (simple exponential smoothing), so no single minute is more likely
    # out than in, but a walk that close leaves within 30 minutes more often than not.
    rng = np.random.default_rng(2)
    walk = np.cumsum(rng.normal(0, 0.3, 720))
    values = history(walk - walk[-1] + 50.0)
    result = predict_violations(values, END, STEP, None, 51.0, 30, metric="walk")
    assert result.model == "simple_exponential_smoothing"
    assert len({round(m.value, 9) for m in result.minutes}) == 1  # flat
    assert result.max_probability < 0.5
    assert result.state == "likely" and result.exit_probability >= 0.5
    assert result.first_likely_violation > END


def test_a_season_under_a_slower_wave_is_forecast_at_short_horizons_only() -> None:
    # Three hours of 15 s samples: a 20-minute sine (amplitude 6) over a 90-minute one
    # (amplitude 8), noise sd 1 (bench_warnings' two_seasons). At 10 minutes the 20-minute
    # season is forecast (found from the last minute's forecasts, estimate_period's
    # anchored); at 30 it is not: Holt-Winters ranked on 30-minute errors would hold the
    # level nearly fixed under the slow wave (docs/sla_manager.md).
    rng = np.random.default_rng(5)
    minutes = np.arange(720) / 4
    values = history(
        50
        + 6 * np.sin(2 * np.pi * minutes / 20)
        + 8 * np.sin(2 * np.pi * (minutes / 90 + 0.3))
        + rng.normal(0, 1, 720)
    )
    short = predict_violations(values, END, STEP, None, 70.0, 10, metric="waves")
    assert short.model == "holt_winters_additive" and short.period_minutes in (19, 20, 21)
    long = predict_violations(values, END, STEP, None, 70.0, 30, metric="waves")
    assert long.period_minutes is None


def test_a_steady_drift_towards_a_bound_warns_before_the_crossing() -> None:
    # +0.02 per 15 s (4.8 per hour... 0.08 per minute) with little noise, 1.2 below the max:
    # the crossing is about 15 minutes ahead; the warning comes now, and names a minute
    # before the horizon ends.
    rng = np.random.default_rng(9)
    values = history(48.8 - 0.02 * np.arange(720)[::-1] + rng.normal(0, 0.05, 720))
    result = predict_violations(values, END, STEP, None, 50.0, 30, metric="drift")
    assert result.state == "likely"
    assert END < result.first_likely_violation < END + pd.Timedelta(minutes=30)


def test_a_flat_series_far_from_its_bounds_never_warns() -> None:
    rng = np.random.default_rng(1)
    values = history(50 + rng.normal(0, 0.5, 720))
    result = predict_violations(values, END, STEP, 40.0, 60.0, 60, metric="flat")
    assert result.state == "unlikely" and result.exit_probability < 0.01
    assert result.first_likely_violation is None


def test_a_series_already_outside_is_a_violation_not_a_prediction() -> None:
    values = history(np.full(720, 70.0))
    result = predict_violations(values, END, STEP, None, 60.0, 10, metric="hot")
    assert result.state == "violating" and result.likely is False
    assert result.first_likely_violation is None


def test_missing_latest_minutes_never_give_a_past_time() -> None:
    # The last 3 minutes have no samples: the forecast still starts at the current minute.
    rng = np.random.default_rng(2)
    values = history(49 + np.linspace(0, 1, 720) + rng.normal(0, 0.1, 720)).iloc[:-12]
    result = predict_violations(values, END, STEP, None, 50.0, 10, metric="gappy")
    current_minute = END.floor("1min")
    assert result.minutes[0].at == current_minute and len(result.minutes) == 10
    for at in (result.first_likely_violation, result.first_exit_earliest):
        assert at is None or at >= current_minute


def test_a_horizon_longer_than_half_the_history_gives_its_reason_not_a_guess() -> None:
    # 50 complete minutes of history: a 25-minute horizon is forecast, a 26-minute one is not.
    rng = np.random.default_rng(4)
    values = history(50 + rng.normal(0, 0.5, 200))
    assert predict_violations(values, END, STEP, None, 60.0, 25).model is not None
    refused = predict_violations(values, END, STEP, None, 60.0, 26)
    assert refused.reason == "history_too_short" and refused.state == "unknown"
    assert "26-minute horizon needs at least 52 minutes" in refused.detail
    assert refused.minutes == () and refused.exit_probability is None


def test_a_bound_the_metric_cannot_cross_is_never_predicted() -> None:
    # A non-negative series near 0 with a min of 0: the domain says it cannot go below.
    rng = np.random.default_rng(4)
    values = history(np.abs(rng.normal(0.2, 0.3, 720)))
    result = predict_violations(values, END, STEP, 0.0, None, 10, metric="node_load1")
    assert result.domain == "non_negative"
    assert result.exit_probability == 0.0
    assert all(m.probability_outside == 0.0 and m.lower_95 >= 0 for m in result.minutes)


def test_seconds_outside_at_a_gap_count_one_interval_and_the_rest_is_unknown() -> None:
    # 15 s samples over the last 10 minutes, all at 70 (above max 60), with a 4-minute hole:
    # the samples strictly between END - 8 min and END - 4 min are missing (15 of them), so
    # one spacing is 240 s. By the stated rule the sample before the hole stands for one
    # interval (15 s), not 240 s. Samples: 41 - 15 = 26; time stood for: 24 spacings of
    # 15 s, 15 s across the hole, 0 s for the last at END = 375 s, all outside; unknown:
    # 600 - 375 = 225 s. The hole ends an episode: two episodes.
    values = series([70.0] * 41)
    t = (values.index - END).total_seconds()
    values = values[(t <= -480) | (t >= -240)]
    (w,) = assess_windows(values, END, [("10m", 600)], None, 60)
    assert w.samples == 26 and w.interval_seconds == 15.0
    assert w.seconds_outside == 375.0 and w.seconds_unknown == 225.0
    assert w.episodes == 2 and w.reason == "gaps" and "15 samples missing" in w.detail


def test_a_series_that_stops_mid_window_is_not_in_range_now_nor_outside() -> None:
    # Samples at 70 until 10 minutes before END: the last stands for one interval (a staleness
    # marker would end it at the next scrape); the series ended, so it has no value now.
    values = series([70.0] * 20, end=END - pd.Timedelta(minutes=10))
    (w,) = assess_windows(values, END, [("1h", 3600)], None, 60)
    assert w.samples == 20 and w.samples_outside == 20
    assert w.seconds_outside == 19 * 15 + 15 and w.seconds_unknown == 3600 - 300
    assert w.in_range_now is None and w.reason == "ended"


def test_out_of_order_and_duplicate_samples_are_counted_once_in_order() -> None:
    # A federated source: 50 70 50 70 at 15 s, sent in reverse, and the last sample twice.
    values = series([50, 70, 50, 70])
    messy = pd.concat([values.iloc[::-1], values.iloc[-1:]])
    (w,) = assess_windows(messy, END, [("1m", 60)], None, 60)
    (clean,) = assess_windows(values, END, [("1m", 60)], None, 60)
    assert (w.samples, w.samples_outside, w.episodes) == (4, 2, 2)
    assert (w.seconds_outside, w.in_range_now) == (clean.seconds_outside, False)
    assert w.reason == "duplicate_timestamps" and "out of time order" in w.detail


def test_a_single_sample_counts_but_has_no_known_seconds() -> None:
    (w,) = assess_windows(series([70.0]), END, [("1h", 3600)], None, 60)
    assert (w.samples, w.samples_outside, w.episodes) == (1, 1, 1)
    assert w.seconds_outside == 0.0 and w.seconds_unknown == 3600.0
    assert w.interval_seconds is None and w.reason == "too_few_samples"


def test_values_near_the_float_limits_compare_without_overflow() -> None:
    # 1.7e308 is above max 1e308 by 7e307; -1.7e308 below min -1e308: both outside, finite
    # excesses; the JSON of the result has no NaN.
    (w,) = assess_windows(series([1.7e308, 0.0, -1.7e308]), END, [("1m", 60)], -1e308, 1e308)
    assert (w.samples_above, w.samples_below) == (1, 1)
    assert w.worst_excess == pytest.approx(7e307)
    json.dumps(w.to_dict(), allow_nan=False)
