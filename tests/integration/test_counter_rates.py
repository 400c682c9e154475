"""Our counter rate equals Prometheus' own `rate()` at the same timestamps, to 1e-9.

Two real Prometheus servers are the oracle: the stack's, on the node exporter's real
counters, and one this test starts on a throw-away data directory holding a counter that
resets twice (written with promtool's OpenMetrics backfill, as the stack's demo history is).
Our input is the raw samples (a range selector at the last evaluation time); Prometheus'
answer is `rate(m[w])` from a range query at the same step.
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from monitoring_core.analytics.rates import prometheus_rate

pytestmark = pytest.mark.integration

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")


def raw_samples(url: str, selector: str, seconds: int, at: float) -> dict[str, np.ndarray]:
    """Every series' raw samples in [at - seconds, at], by series labels."""
    answer = requests.get(
        f"{url}/api/v1/query", params={"query": f"{selector}[{seconds}s]", "time": at}, timeout=30
    ).json()
    return {
        str(sorted(item["metric"].items())): np.array(item["values"], dtype=float)
        for item in answer["data"]["result"]
    }


def prometheus_rates(url: str, selector: str, window: int, start: float, end: float, step: int):
    answer = requests.get(
        f"{url}/api/v1/query_range",
        params={
            "query": f"rate({selector}[{window}s])",
            "start": start,
            "end": end,
            "step": step,
        },
        timeout=30,
    ).json()
    return {
        str(sorted(item["metric"].items() | {("__name__", name)})): np.array(item["values"], float)
        for item in answer["data"]["result"]
        for name in [selector.split("{")[0]]
    }


def assert_same_rates(url: str, selector: str, window: int, start: float, end: float, step: int):
    ours_input = raw_samples(url, selector, int(end - start) + window, end)
    theirs = prometheus_rates(url, selector, window, start, end, step)
    assert theirs, f"Prometheus has no rate for {selector}"
    compared = 0
    for key, expected in theirs.items():
        samples = ours_input[key]
        got = prometheus_rate(samples[:, 0], samples[:, 1], window, expected[:, 0])
        np.testing.assert_allclose(got, expected[:, 1], rtol=1e-9, atol=0, err_msg=key)
        compared += len(expected)
    return compared


def test_node_exporter_counters_equal_prometheus_rate(prometheus_settings, node_history):  # noqa: ANN001
    url = prometheus_settings.url
    end = math.floor(time.time()) - 30
    span = min(600, int(node_history) - 150)  # what a freshly started stack already holds
    compared = assert_same_rates(url, 'node_cpu_seconds_total{job="node"}', 60, end - span, end, 15)
    compared += assert_same_rates(
        url, 'node_network_receive_bytes_total{job="node"}', 120, end - span, end, 30
    )
    assert compared > 20


def write_resetting_counter(path: Path, start: float) -> None:
    """A counter at 15 s that climbs by 3 to 9 per scrape and resets to 0 twice."""
    rng = np.random.default_rng(11)
    value, lines = 1e6, ["# TYPE resets_demo counter"]
    for i in range(480):  # 2 h
        value = 0.0 if i in (150, 330) else value + rng.uniform(3, 9)
        lines.append(f'resets_demo_total{{job="t"}} {value:.3f} {start + 15 * i:.3f}')
    path.write_text("\n".join(lines) + "\n# EOF\n")


@pytest.fixture(scope="module")
def throwaway_prometheus(tmp_path_factory):
    if not (PROMETHEUS and PROMTOOL):
        pytest.fail("prometheus/promtool missing: `make up` installs Debian's prometheus")
    folder = tmp_path_factory.mktemp("prometheus")
    start = math.floor(time.time() / 3600) * 3600 - 3 * 3600
    source = folder / "counter.om"
    write_resetting_counter(source, start)
    subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(source), str(folder / "data")],
        check=True,
        capture_output=True,
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (folder / "prometheus.yml").write_text("global: {}\n")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=30d",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.3)
        yield url, start
    finally:
        process.terminate()
        process.wait(20)


def test_a_counter_that_resets_twice_equals_prometheus_rate(throwaway_prometheus):
    url, start = throwaway_prometheus
    # Windows of 1 and 10 minutes, evaluated every 15 s and off the scrape grid, across
    # both resets (at 150 and 330 scrapes).
    for window, step, offset in ((60, 15, 0), (600, 15, 7), (240, 60, 3)):
        compared = assert_same_rates(
            url, 'resets_demo_total{job="t"}', window, start + 600 + offset, start + 7000, step
        )
        assert compared > 100
