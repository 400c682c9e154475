"""Which assessments raise alerts, and the Alertmanager webhook body (version 4)."""

from __future__ import annotations

from typing import Any

from sla_manager.webhook import NEVER, find_transitions, new_alerts, webhook_payload


def result(
    window_end: str,
    in_range_now: bool,
    episode: str | None,
    likely: bool,
    sla_id: int = 1,
) -> dict[str, Any]:
    return {
        "sla": {"id": sla_id, "name": "web", "version": 1},
        "assessed_at": window_end,
        "window_end": window_end,
        "metrics": [
            {
                "name": "cpuLoad",
                "promql": "cpuLoad{}",
                "min": None,
                "max": 60.0,
                "series": [
                    {
                        "series": "instance=106",
                        "labels": {"instance": "106"},
                        "in_range_now": in_range_now,
                        "last_episode_start": episode,
                        "prediction": {
                            "state": "likely" if likely else "unlikely",
                            "likely": likely,
                            "exit_probability": 0.9 if likely else 0.1,
                            "horizon_minutes": 10,
                            "max_probability": 0.9 if likely else 0.1,
                            "first_likely_violation": "2026-01-01T12:05:00+00:00"
                            if likely
                            else None,
                        },
                    }
                ],
            }
        ],
    }


T0 = "2026-01-01T12:00:00+00:00"
T1 = "2026-01-01T12:01:00+00:00"


def names(alerts: list[dict[str, Any]]) -> list[str]:
    return [alert["labels"]["alertname"] for alert in alerts]


def test_without_a_previous_assessment_only_a_current_violation_fires() -> None:
    assert names(new_alerts({}, [result(T0, True, "2026-01-01T11:00:00+00:00", False)])) == []
    assert names(new_alerts({}, [result(T0, False, T0, False)])) == ["SLAViolation"]


def test_an_episode_that_began_after_the_previous_window_end_is_new() -> None:
    before = {1: result(T0, True, "2026-01-01T11:00:00+00:00", False)}
    started = "2026-01-01T12:00:30+00:00"
    alerts = new_alerts(before, [result(T1, True, started, False)])
    assert names(alerts) == ["SLAViolation"]
    assert alerts[0]["startsAt"] == started
    # The same episode seen again is not new.
    again = result(T1, True, started, False)
    assert new_alerts({1: again}, [again]) == []


def test_a_likely_violation_fires_once_until_it_is_no_longer_likely() -> None:
    quiet, likely = result(T0, True, None, False), result(T1, True, None, True)
    assert names(new_alerts({1: quiet}, [likely])) == ["SLAViolationLikely"]
    assert new_alerts({1: likely}, [likely]) == []


def test_the_body_follows_the_alertmanager_webhook_format() -> None:
    alerts = new_alerts({}, [result(T0, False, T0, True)])
    body = webhook_payload(alerts)
    assert body["version"] == "4" and body["status"] == "firing"
    assert {"receiver", "groupKey", "groupLabels", "commonLabels", "externalURL"} <= set(body)
    assert body["commonLabels"] == {
        "sla": "web",
        "sla_id": "1",
        "metric": "cpuLoad",
        "series_instance": "106",
    }
    for alert in body["alerts"]:
        assert alert["status"] == "firing" and alert["endsAt"] == NEVER
        assert set(alert) >= {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}
        assert alert["annotations"]["summary"]


def test_two_series_with_the_same_labels_are_told_apart_by_their_id() -> None:
    # An expression such as {__name__=~"cpu.*"} returns cpuLoad and cpuTemp with the same
    # labels: the same `series` text, two series ids. Before: cpuLoad likely, cpuTemp not.
    # Now both are likely: only cpuTemp's is new (keyed by text, the second overwrote the
    # first, and cpuLoad's would fire again).
    def two(likely: tuple[bool, bool], at: str) -> dict[str, Any]:
        out = result(at, True, None, False)
        (series,) = out["metrics"][0]["series"]
        out["metrics"][0]["series"] = [
            {**series, "series_id": sid, "prediction": {**series["prediction"], "likely": flag}}
            for sid, flag in zip(("0000000000000001", "0000000000000002"), likely, strict=True)
        ]
        return out

    alerts = new_alerts({1: two((True, False), T0)}, [two((True, True), T1)])
    assert names(alerts) == ["SLAViolationLikely"]


def test_a_transition_is_keyed_by_the_change_not_by_who_saw_it() -> None:
    # Two replicas that compared the same episode with different earlier assessments (one
    # stored between their reads) name the same transition: one insert of it wins in MySQL.
    started = "2026-01-01T12:00:30+00:00"
    early = {1: result("2026-01-01T11:59:00+00:00", True, None, False)}
    late = {1: result(T0, True, None, False)}
    now = [result(T1, False, started, False)]
    (seen_after_early,) = find_transitions(early, now)
    (seen_after_late,) = find_transitions(late, now)
    assert seen_after_early.key == seen_after_late.key
    # Another episode, another SLA or a likely violation is another transition.
    (later_episode,) = find_transitions(late, [result(T1, False, T1, False)])
    (other_sla,) = find_transitions({2: late[1]}, [result(T1, False, started, False, sla_id=2)])
    keys = {seen_after_late.key, later_episode.key}
    assert len(keys) == 2 and other_sla.sla_id == 2
    (likely,) = find_transitions(late, [result(T1, True, None, True)])
    assert likely.key not in keys and likely.alert["labels"]["alertname"] == "SLAViolationLikely"
