"""The two exporters Prometheus scrapes: the demo exporter (this repository's
`demo_exporter`, the seed's `job="summary", instance="106"` series) and Debian's
node exporter (real host metrics)."""

from __future__ import annotations

import sys

from stack.processes import Component
from stack.servers.shared import http_ok
from stack.settings import StackSettings


def demo_exporter(settings: StackSettings) -> Component:
    port = settings.demo_exporter_port
    address = ["--host", "127.0.0.1", "--port", str(port)]
    return Component(
        name="demo_exporter",
        ports=[port],
        port_setting="STACK_DEMO_EXPORTER_PORT",
        command=lambda: [sys.executable, "-m", "demo_exporter", *address],
        ready=lambda: http_ok(f"http://127.0.0.1:{port}/metrics"),
    )


def node_exporter(settings: StackSettings) -> Component:
    port = settings.node_exporter_port
    return Component(
        name="node_exporter",
        ports=[port],
        port_setting="STACK_NODE_EXPORTER_PORT",
        command=lambda: [
            "prometheus-node-exporter",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        ready=lambda: http_ok(f"http://127.0.0.1:{port}/metrics"),
    )
