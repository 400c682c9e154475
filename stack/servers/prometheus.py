"""Prometheus from Debian's packages: its configuration (the exporters and the four
services' own metrics), and the demo history backfilled as TSDB blocks."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from stack.processes import Component
from stack.servers.shared import http_ok, run_step
from stack.settings import StackSettings


def home(settings: StackSettings) -> Path:
    return settings.home / "prometheus"


def rules_file(settings: StackSettings) -> Path:
    """The SLA manager writes its generated rules here and reloads Prometheus."""
    return home(settings) / "rules" / "sla.rules.yml"


def prepare(settings: StackSettings) -> None:
    data = home(settings) / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": [str(rules_file(settings).parent / "*.yml")],
        "scrape_configs": [
            {
                "job_name": "summary",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{settings.demo_exporter_port}"],
                        "labels": {"instance": "106"},
                    }
                ],
            },
            {
                "job_name": "node",
                "static_configs": [{"targets": [f"127.0.0.1:{settings.node_exporter_port}"]}],
            },
            *(
                {
                    "job_name": name,
                    "metrics_path": "/internal/metrics",
                    "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
                }
                for name, port in (
                    ("etl_pipeline", settings.etl_port),
                    ("data_storage", settings.storage_port),
                    ("data_retrieval", settings.retrieval_port),
                    ("sla_manager", settings.sla_port),
                )
            ),
        ],
    }
    (home(settings) / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    backfill(settings, data)


def backfill(settings: StackSettings, data: Path) -> None:
    """Write the demo history Prometheus lacks (up to STACK_BACKFILL_HOURS) as TSDB blocks."""
    from demo_exporter.backfill import write_openmetrics

    marker = home(settings) / "backfilled_until"
    now = time.time()
    start = now - settings.backfill_hours * 3600
    if marker.exists():
        start = max(start, float(marker.read_text()))
    if now - start < 120:
        return
    print(f"backfilling {(now - start) / 3600:.1f} h of demo history", flush=True)
    source = home(settings) / "backfill.om"
    write_openmetrics(source, start, now)
    run_step(
        "prometheus: backfill demo history",
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
    )
    source.unlink()
    marker.write_text(f"{now:.0f}")


def component(settings: StackSettings) -> Component:
    return Component(
        name="prometheus",
        ports=[settings.prometheus_port],
        port_setting="STACK_PROMETHEUS_PORT",
        prepare=lambda: prepare(settings),
        command=lambda: [
            "prometheus",
            f"--config.file={home(settings) / 'prometheus.yml'}",
            f"--storage.tsdb.path={home(settings) / 'data'}",
            f"--web.listen-address=127.0.0.1:{settings.prometheus_port}",
            "--storage.tsdb.retention.time=15d",
            "--web.enable-lifecycle",
        ],
        ready=lambda: http_ok(f"http://127.0.0.1:{settings.prometheus_port}/-/ready"),
    )
