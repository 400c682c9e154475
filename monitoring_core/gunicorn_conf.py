"""The gunicorn settings every service's API runs with (`gunicorn -c
python:monitoring_core.gunicorn_conf ...`): prometheus_client's multiprocess mode.

Each gunicorn worker is its own process with its own metrics; a scrape of the service's port
reaches one of them, so with per-process metrics a counter would seem to reset whenever the
next scrape reached another worker, and a gauge set by the worker that ran a cycle would come
and go. In multiprocess mode each worker writes its metrics into files in
``PROMETHEUS_MULTIPROC_DIR`` and ``/internal/metrics`` adds up every worker's
(``monitoring_core.web.exposition``). The directory is chosen here, in the master, before
any worker imports prometheus_client (the mode is fixed at import), and emptied of the last
run's files; a worker that exits is marked dead, so its live gauges leave the sum.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

_directory = Path(
    os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="prometheus-workers-")
)
_directory.mkdir(parents=True, exist_ok=True)
for _leftover in _directory.glob("*.db"):  # a previous run's workers, by pid
    _leftover.unlink()
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_directory)


def child_exit(server: Any, worker: Any) -> None:  # gunicorn's hook, in the master
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, str(_directory))
