"""`python -m stack status` shows each server under the module that defines it, with its log."""

from __future__ import annotations

import pytest

from stack.__main__ import main
from stack.settings import StackSettings


def test_status_names_each_server_under_its_module(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STACK_HOME", str(tmp_path))  # a stack that never ran
    settings = StackSettings()

    assert main(["status"]) == 0

    lines = capsys.readouterr().out.splitlines()
    modules = [line for line in lines if not line.startswith(" ")]
    assert modules == [
        f"stack/servers/{name}.py"
        for name in ("kafka", "mariadb", "exporters", "prometheus", "services")
    ]
    servers = {line.split()[0]: line.split()[1:] for line in lines if line.startswith(" ")}
    assert list(servers) == [
        "kafka",
        "mariadb",
        "demo_exporter",
        "node_exporter",
        "prometheus",
        "data_storage",
        "data_retrieval",
        "sla_manager",
        "etl_pipeline",
        # and STACK_ETL_WORKERS (0 by default) workers, without a port of their own
    ]
    assert servers["kafka"][0] == f"{settings.kafka_port},{settings.kafka_controller_port}"
    assert servers["etl_pipeline"][0] == str(settings.etl_port)
    for name, (_, state, log) in servers.items():
        assert state == "stopped"
        assert log == str(tmp_path / "logs" / f"{name}.log")


def test_down_also_finds_the_workers_a_former_up_started(tmp_path) -> None:
    """`STACK_ETL_WORKERS=3 make up`, then `make down` without it: the pid files of workers
    beyond today's count are still found, so down stops them (not only the configured two)."""
    from stack.servers.services import leftover_workers
    from stack.servers.shared import Stack

    settings = StackSettings(home=tmp_path, etl_workers=2)
    settings.run.mkdir(parents=True)
    for index in (1, 2, 3, 12):
        (settings.run / f"etl_worker_{index}.pid").write_text("999999")
    found = leftover_workers(Stack(settings))
    assert [component.name for component in found] == ["etl_worker_12", "etl_worker_3"]
