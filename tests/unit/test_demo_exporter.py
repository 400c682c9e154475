"""Unit tests of the demo exporter: deterministic series, exposition, backfill, HTTP."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from demo_exporter.backfill import main as backfill_main
from demo_exporter.backfill import render_openmetrics, write_openmetrics
from demo_exporter.exporter import make_server, render_metrics
from demo_exporter.series import SERIES, SLOT_SECONDS, get_spec, value_at, values_between

PROMTOOL = "/usr/bin/promtool"
T0 = 1_699_999_200.0  # fixed start (a multiple of 30 min) so every run sees the same data
NAMES = [s.name for s in SERIES]
SEED_NAMES = {
    "availableMem",
    "cpuLoad",
    "cpuTemp",
    "diskUsage",
    "inodeUsage",
    "networkThroughput",
    "push_time_seconds",
    "realUsedMem",
}
# Added to the seed's metrics: a ratio (issue 15: its forecasts stay within [0, 1]).
EXTRA_NAMES = {"cacheHitRatio"}
SEASONAL = [s for s in SERIES if s.period_minutes is not None]


def test_series_table_matches_seed():
    assert set(NAMES) == SEED_NAMES | EXTRA_NAMES and len(NAMES) == len(SEED_NAMES) + 1
    assert [s.name for s in SERIES if s.constant] == ["inodeUsage"]
    assert [s.name for s in SERIES if s.has_gaps] == ["networkThroughput"]
    periods = [s.period_minutes for s in SEASONAL]
    assert len(set(periods)) == len(periods), "each seasonal series has its own period"
    assert all(10 <= p <= 60 for p in periods)
    non_constant = [s for s in SERIES if not s.constant and not s.ramp]
    assert all(s.period_minutes is not None for s in non_constant)
    with pytest.raises(KeyError):
        get_spec("nope")


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_and_matches_vectorised(name):
    ts, vs = values_between(name, T0, T0 + 3 * 3600)
    assert len(ts) == 3 * 240 + 1
    assert np.all(np.diff(ts) == SLOT_SECONDS)
    ts2, vs2 = values_between(name, T0, T0 + 3 * 3600)
    np.testing.assert_array_equal(ts, ts2)
    np.testing.assert_array_equal(vs, vs2)
    for i in range(0, len(ts), 37):
        a = value_at(name, ts[i])
        assert a == value_at(name, ts[i])
        # anywhere inside the 15 s slot gives the slot's value
        assert a == value_at(name, ts[i] + 14.9)
        if math.isnan(vs[i]):
            assert a is None
        else:
            assert a is not None
            assert a == pytest.approx(vs[i], rel=1e-12, abs=0.0)


def test_batch_size_does_not_change_values():
    # a sub-range computed on its own draws the same noise and spikes as the whole range
    for name in NAMES:
        _, whole = values_between(name, T0, T0 + 3600)
        _, part = values_between(name, T0 + 600, T0 + 1200)
        np.testing.assert_allclose(part, whole[40:81], rtol=1e-12, equal_nan=True)


def test_constant_series_is_constant():
    _, v = values_between("inodeUsage", T0, T0 + 12 * 3600)
    assert np.all(v == v[0])
    assert 0 < v[0] < 100


def test_gaps_only_in_gap_series():
    for name in NAMES:
        ts, v = values_between(name, T0, T0 + 12 * 3600)
        missing = np.isnan(v)
        if name == "networkThroughput":
            # a few minutes missing every half hour
            assert 0.05 < missing.mean() < 0.25
            starts = ts[1:][missing[1:] & ~missing[:-1]]
            assert len(starts) >= 20
            assert set(np.diff(starts)) == {1800.0}
            assert value_at(name, float(starts[0])) is None
        else:
            assert not missing.any(), name


def test_realistic_ranges():
    ranges = {
        "cpuLoad": (0, 100),
        "cpuTemp": (20, 105),
        "diskUsage": (0, 100),
        "inodeUsage": (0, 100),
        "availableMem": (1e9, 64e9),
        "realUsedMem": (1e9, 64e9),
        "networkThroughput": (0, 1e9),
        "cacheHitRatio": (0, 1),
    }
    for name, (lo, hi) in ranges.items():
        _, v = values_between(name, T0, T0 + 12 * 3600)
        assert lo <= np.nanmin(v) and np.nanmax(v) <= hi, name
    _, cpu = values_between("cpuLoad", T0, T0 + 12 * 3600)
    assert 0.02 < np.mean(cpu > 60) < 0.5, "an SLA [0, 60] on cpuLoad is sometimes violated"
    ts, push = values_between("push_time_seconds", T0, T0 + 3600)
    np.testing.assert_array_equal(push, ts)


@pytest.mark.parametrize("spec", SEASONAL, ids=lambda s: s.name)
def test_dominant_period_is_declared_period(spec):
    ts, v = values_between(spec.name, T0, T0 + 12 * 3600 - SLOT_SECONDS)
    missing = np.isnan(v)
    if missing.any():
        v = np.interp(ts, ts[~missing], v[~missing])
    v = v - np.polyval(np.polyfit(ts - ts[0], v, 1), ts - ts[0])  # remove the slow trend
    power = np.abs(np.fft.rfft(v)) ** 2
    freqs = np.fft.rfftfreq(len(v), d=SLOT_SECONDS)  # Hz
    k = int(np.argmax(power[1:])) + 1
    period_minutes = 1.0 / freqs[k] / 60.0
    assert abs(period_minutes - spec.period_minutes) <= 2.0, period_minutes


def test_exposition_parses():
    for t in (T0, T0 + 7 * 60 + 30, time.time()):
        text = render_metrics(t)
        families = {f.name: f for f in text_string_to_metric_families(text)}
        in_gap = value_at("networkThroughput", t) is None
        expected = (SEED_NAMES | EXTRA_NAMES) - ({"networkThroughput"} if in_gap else set())
        assert set(families) == expected
        for fam in families.values():
            assert fam.type == "gauge"
            (sample,) = fam.samples
            assert sample.labels == {}
            assert sample.value == value_at(fam.name, t)
    # T0 + 7.5 min is inside a gap of networkThroughput
    assert "networkThroughput" not in render_metrics(T0 + 7 * 60 + 30)


def test_openmetrics_file_format(tmp_path):
    out = tmp_path / "bf.om"
    n = write_openmetrics(out, T0, T0 + 3600)
    lines = out.read_text().splitlines()
    assert lines[-1] == "# EOF"
    assert n == len(lines) - len(SERIES) - 1
    sample = re.compile(r'^(\w+)\{job="summary",instance="106"\} (\S+) (\d+)$')
    current = None
    last_ts: dict[str, int] = {}
    seen = []
    for line in lines[:-1]:
        if line.startswith("# TYPE "):
            _, _, current, kind = line.split(" ")
            assert kind == "gauge"
            seen.append(current)
            continue
        m = sample.match(line)
        assert m and m.group(1) == current, line
        float(m.group(2))
        ts = int(m.group(3))
        assert ts > last_ts.get(current, -1)
        last_ts[current] = ts
    assert seen == NAMES
    assert "nan" not in out.read_text().lower()
    assert render_openmetrics(T0, T0 + 3600, labels={}).splitlines()[1].startswith("availableMem ")


def test_backfill_13h_is_fast(tmp_path):
    start = time.perf_counter()
    n = write_openmetrics(tmp_path / "bf.om", T0, T0 + 13 * 3600)
    elapsed = time.perf_counter() - start
    assert 27_000 < n < 28_300  # 9 series x 3,120 slots, less networkThroughput's gaps
    assert elapsed < 1.0


@pytest.mark.skipif(
    not os.path.exists(PROMTOOL), reason=f"{PROMTOOL} not installed (Debian package prometheus)"
)
def test_promtool_accepts_backfill(tmp_path):
    out = tmp_path / "bf.om"
    assert backfill_main(["--hours", "3", "--out", str(out)]) == 0
    data = tmp_path / "data"
    proc = subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(out), str(data)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    blocks = [p for p in data.iterdir() if p.is_dir() and (p / "meta.json").exists()]
    assert blocks
    meta = json.loads((blocks[0] / "meta.json").read_text())
    assert meta["stats"]["numSamples"] > 0


def _get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.headers["Content-Type"], resp.read().decode()


def test_http_server_in_thread():
    server = make_server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        status, ctype, body = _get(base + "/metrics")
        assert status == 200 and "version=0.0.4" in ctype
        names = {f.name for f in text_string_to_metric_families(body)}
        assert names >= SEED_NAMES - {"networkThroughput"}
        status, _, body = _get(base + "/health")
        assert status == 200 and json.loads(body)["status"] == "ok"
        with pytest.raises(urllib.error.HTTPError) as err:
            _get(base + "/nope")
        assert err.value.code == 404
        err.value.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_module_cli_serves_and_stops_on_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo_exporter", "--host", "127.0.0.1", "--port", "0"],
        cwd=Path(__file__).resolve().parents[2],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stderr.readline()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/metrics", line)
        assert m, line
        status, _, body = _get(f"http://127.0.0.1:{m.group(1)}/metrics")
        assert status == 200 and "# TYPE cpuLoad gauge" in body
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=10)
        assert proc.returncode == 0, rest
        assert "stopped" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
