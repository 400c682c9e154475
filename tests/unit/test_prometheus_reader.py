"""How `read_samples` asks Prometheus and what it keeps, with the HTTP answer faked at the
boundary (the real Prometheus 2.x is in tests/integration/test_raw_samples.py).

Both versions' answers are simulated: Prometheus 2's range selectors are closed,
`[t - d, t]`, so for the reader's `d + 1 ms` it also sends the sample one millisecond before
`start`, which the reader drops; Prometheus 3's are left-open, `(t - d, t]`, where that extra
millisecond is what brings the sample at exactly `start` in. Both give `[start, end]`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from monitoring_core import prometheus as prometheus_module
from monitoring_core.prometheus import PrometheusClient, PrometheusQueryError, is_selector
from monitoring_core.settings import PrometheusSettings

END = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
START = END - timedelta(hours=1)


class FakePrometheus:
    """Answers `sel[<d>ms]` at `time` from a list of (unix ms, value), with Prometheus 2's
    closed range selectors or Prometheus 3's left-open ones."""

    def __init__(self, samples: list[tuple[int, float]], closed: bool = False) -> None:
        self.samples = samples
        self.closed = closed
        self.queries: list[tuple[str, str]] = []

    def __call__(
        self, method: str, query: str, params: dict[str, str], timeout_seconds: float | None
    ) -> list[dict]:
        assert method == "custom_query"
        self.queries.append((query, params["time"]))
        span_ms = int(query.rsplit("[", 1)[1].split("ms", 1)[0])
        at_ms = round(float(params["time"]) * 1000)
        first = at_ms - span_ms if self.closed else at_ms - span_ms + 1
        values = [[t / 1000, repr(v)] for t, v in self.samples if first <= t <= at_ms]
        return [{"metric": {"__name__": "m", "job": "j"}, "values": values}] if values else []


def reader(fake: FakePrometheus) -> PrometheusClient:
    client = PrometheusClient(PrometheusSettings(url="http://prometheus.invalid"))
    client._call = fake  # type: ignore[assignment, method-assign]
    return client


def ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


@pytest.mark.parametrize("closed", [True, False], ids=["prometheus-2", "prometheus-3"])
def test_the_window_is_start_to_end_both_included_on_either_version(closed: bool) -> None:
    # Samples 1 ms before START (outside), at START (inside), mid-window, and at END.
    fake = FakePrometheus(
        [(ms(START) - 1, 1.0), (ms(START), 2.0), (ms(START) + 60_000, 3.0), (ms(END), 4.0)],
        closed=closed,
    )
    (series,) = reader(fake).read_samples('m{job="j"}', START, END)
    assert series.raw and series.metric == "m" and series.labels == {"job": "j"}
    assert series.values.tolist() == [2.0, 3.0, 4.0]
    assert series.values.index[0] == START
    assert fake.queries == [('m{job="j"}[3600001ms]', f"{END.timestamp():.3f}")]


@pytest.mark.parametrize("closed", [True, False], ids=["prometheus-2", "prometheus-3"])
def test_chunks_meet_without_losing_or_repeating_a_sample(
    monkeypatch: pytest.MonkeyPatch, closed: bool
) -> None:
    # Every 15 s over the hour: 241 samples, read in chunks of 40 steps (10 minutes), whose
    # boundaries fall on samples.
    monkeypatch.setattr(prometheus_module, "CHUNK_STEPS", 40)
    samples = [(ms(START) + 15_000 * i, float(i)) for i in range(241)]
    fake = FakePrometheus(samples, closed=closed)
    (series,) = reader(fake).read_samples("m", START, END, step_seconds=15)
    assert len(fake.queries) == 6
    assert series.values.tolist() == [float(i) for i in range(241)]
    assert series.values.index.is_unique and series.values.index.is_monotonic_increasing


def test_an_expression_is_read_on_the_step_grid_by_a_subquery() -> None:
    fake = FakePrometheus([(ms(END), 1.0)])
    client = reader(fake)
    client._call = lambda method, query, params, timeout_seconds: (  # type: ignore[method-assign]
        fake.queries.append((query, params["time"])) or []
    )
    assert client.read_samples("rate(x[5m])", START, END, step_seconds=15) == []
    assert fake.queries == [("(rate(x[5m]))[3600001ms:15s]", f"{END.timestamp():.3f}")]


def test_an_answer_that_is_not_a_range_is_refused() -> None:
    client = reader(FakePrometheus([]))
    client._call = lambda method, query, params, timeout_seconds: [  # type: ignore[method-assign]
        {"metric": {}, "value": [1, "1"]}
    ]
    with pytest.raises(PrometheusQueryError, match="did not give a range"):
        client.read_samples("m", START, END)


@pytest.mark.parametrize(
    "promql, plain",
    [
        ("cpuLoad", True),
        ('cpuLoad{job="summary", instance="106"}', True),
        ('{__name__="cpuLoad", job="x\\"}y"}', True),
        ("{job=~'a|b',}", True),
        ("m{a!~`x`}", True),
        ("availableMem / 1e9", False),
        ("rate(x[5m])", False),
        ("x offset 5m", False),
        ('x{a="b"} @ 100', False),
        ('a{b="}"} + 1', False),
        ("", False),
    ],
)
def test_which_promql_is_a_plain_selector(promql: str, plain: bool) -> None:
    assert is_selector(promql) is plain


def test_an_answer_converts_as_python_float_of_each_string_to_the_millisecond() -> None:
    # Prometheus' JSON: times as float seconds (milliseconds at most), values as strings in
    # Go's notation for the special ones. Expected: Python's float() of each string, and the
    # times as whole milliseconds (1767225600.123 s is not exact in binary).
    values = [
        [1767225600.123, "NaN"],
        [1767225615, "+Inf"],
        [1767225630.5, "-Inf"],
        [1767225645.001, "1e-320"],
        [1767225660, "-0"],
        [1767225675, "0.1"],
    ]
    series = prometheus_module.to_sample_series(
        {"metric": {"__name__": "m", "job": "j"}, "values": values}, "fallback"
    )
    assert (series.metric, series.labels) == ("m", {"job": "j"})
    got = series.values.to_numpy()
    assert got.tobytes() == np.array([float(v) for _, v in values]).tobytes()  # -0.0, NaN too
    assert series.values.index.as_unit("ms").asi8.tolist() == [
        1767225600123,
        1767225615000,
        1767225630500,
        1767225645001,
        1767225660000,
        1767225675000,
    ]
    empty = prometheus_module.to_sample_series({"metric": {}, "values": []}, "fallback")
    assert (empty.metric, len(empty.values)) == ("fallback", 0)
