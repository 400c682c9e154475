"""The suite's four services, each started from this repository as its own database role,
with only its own password and tokens."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from stack.processes import Component
from stack.servers import prometheus
from stack.servers.shared import ROLE_ENV, TOKEN_ENV, Stack, http_ok

SINGLE_THREADED_BLAS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# Which service gets which API tokens: a service holds only the tokens of the scopes it checks.
SERVICE_TOKENS = {
    "etl_pipeline": ("admin", "read"),
    "sla_manager": ("admin", "read"),
    "data_retrieval": ("read",),
    "data_storage": ("read",),
}


def components(stack: Stack) -> list[Component]:
    """The four services, in start order, and the ETL workers."""
    s = stack.settings
    creds = stack.credentials()
    bin_dir = Path(sys.executable).parent

    def service_env(name: str, role: str | None, **extra: str) -> dict[str, str]:
        # One BLAS thread: the analytics' matrices are small, and OpenBLAS threads spinning
        # on them made an ETL cycle 3x slower on 2 cores (bench/bench_etl.py).
        env = {**stack.client_env(), **SINGLE_THREADED_BLAS, **extra}
        for var in [*ROLE_ENV.values(), *TOKEN_ENV.values()]:
            env.pop(var, None)  # a service sees only its own password and tokens
        for scope in SERVICE_TOKENS[name]:
            env[TOKEN_ENV[scope]] = creds[TOKEN_ENV[scope]]
        # An operator's own Prometheus wins over the stack's (README: "your own Prometheus").
        if os.environ.get("PROMETHEUS_URL"):
            env["PROMETHEUS_URL"] = os.environ["PROMETHEUS_URL"]
        if role is not None:
            env["MYSQL_USER"] = getattr(stack.roles, f"{role}_user")
            env["MYSQL_PASSWORD"] = creds[ROLE_ENV[role]]
        return env

    def gunicorn(app: str, port: int, workers: int, threads: int) -> list[str]:
        return [
            str(bin_dir / "gunicorn"),
            "--config", "python:monitoring_core.gunicorn_conf",  # metrics of every worker
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers),
            "--threads", str(threads),
            "--graceful-timeout", "20",
            "--timeout", "300",
            "--access-logfile", "-",
            app,
        ]  # fmt: skip

    def gunicorn_env(name: str, role: str, **extra: str) -> dict[str, str]:
        # Where its workers' metrics files go (monitoring_core/gunicorn_conf.py empties it).
        metrics = str(s.run / f"{name}.metrics")
        return service_env(name, role, PROMETHEUS_MULTIPROC_DIR=metrics, **extra)

    def health(port: int) -> bool:
        return http_ok(f"http://127.0.0.1:{port}/health")

    return [
        Component(
            name="data_storage",
            ports=[s.storage_port],
            port_setting="STACK_STORAGE_PORT",
            command=lambda: [sys.executable, "-m", "data_storage"],
            env=lambda: service_env("data_storage", "writer", STORAGE_PORT=str(s.storage_port)),
            ready=lambda: health(s.storage_port),
        ),
        Component(
            name="data_retrieval",
            ports=[s.retrieval_port],
            port_setting="STACK_RETRIEVAL_PORT",
            # One thread per worker: a keep-alive connection stays with the worker that took
            # it, and with 2 threads the 16 clients of bench_read_scale.py queued behind each
            # other's GIL (lookup p99 70-118 ms; 5 x 1: 34-49 ms, docs/storage_retrieval.md).
            command=lambda: gunicorn("data_retrieval:create_app()", s.retrieval_port, 5, 1),
            env=lambda: gunicorn_env("data_retrieval", "reader"),
            ready=lambda: health(s.retrieval_port),
        ),
        Component(
            name="sla_manager",
            ports=[s.sla_port],
            port_setting="STACK_SLA_PORT",
            # Any number of workers: the state is in MySQL, one elected worker assesses.
            command=lambda: gunicorn("sla_manager.wsgi:application()", s.sla_port, 2, 4),
            env=lambda: gunicorn_env(
                "sla_manager",
                "sla",
                SLA_RULES_FILE=str(prometheus.rules_file(s)),
                SLA_PROMETHEUS_RELOAD_URL=f"http://127.0.0.1:{s.prometheus_port}/-/reload",
            ),
            ready=lambda: health(s.sla_port),
        ),
        Component(
            name="etl_pipeline",
            ports=[s.etl_port],
            port_setting="STACK_ETL_PORT",
            # Any number of workers: runs, results and settings are in MySQL, and one process
            # (elected through MySQL) runs the periodic cycle.
            command=lambda: gunicorn("etl_pipeline.wsgi:application()", s.etl_port, 2, 4),
            env=lambda: gunicorn_env(
                "etl_pipeline", "etl", ETL_DISTRIBUTED=str(s.etl_workers > 0).lower()
            ),
            ready=lambda: health(s.etl_port),
        ),
        *(etl_worker(stack, service_env, index) for index in range(1, s.etl_workers + 1)),
    ]


def leftover_workers(stack: Stack) -> list[Component]:
    """ETL workers a former `up` started beyond today's STACK_ETL_WORKERS (their pid files are
    still there), so that `down` stops them too."""
    found = []
    for path in sorted(stack.settings.run.glob("etl_worker_*.pid")):
        index = path.stem.removeprefix("etl_worker_")
        if index.isdigit() and int(index) > stack.settings.etl_workers:
            found.append(etl_worker(stack, lambda *_args, **_kw: {}, int(index)))
    return found


def etl_worker(stack: Stack, service_env: Callable[..., dict[str, str]], index: int) -> Component:
    """ETL worker `index` (of STACK_ETL_WORKERS): no port; ready once it waits for work."""
    name = f"etl_worker_{index}"
    log = stack.settings.logs / f"{name}.log"
    return Component(
        name=name,
        ports=[],
        command=lambda: [sys.executable, "-m", "etl_pipeline.shard_worker"],
        env=lambda: service_env("etl_pipeline", "etl"),
        ready=lambda: log.exists() and "waiting for work" in log.read_text(errors="replace"),
    )
