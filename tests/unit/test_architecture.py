"""The architecture the tree promises: services meet only through Kafka and MySQL, and the
read API stays light (no statsmodels or scipy behind it)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVICES = {"etl_pipeline", "data_storage", "data_retrieval", "sla_manager"}


def test_no_service_imports_another_and_the_library_imports_none() -> None:
    # import-linter's contracts in pyproject.toml, on the import graph of the whole tree.
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache", "--no-logo"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_the_contracts_cover_every_service() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = {c["id"]: c for c in config["contracts"]}
    assert set(contracts["services"]["modules"]) == SERVICES
    assert set(contracts["library"]["forbidden_modules"]) == SERVICES
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")}
    assert SERVICES <= packages  # a renamed service would leave the contract behind


def test_the_read_api_loads_neither_statsmodels_nor_scipy() -> None:
    # A fresh interpreter: this test process has long imported the analytics.
    code = (
        "import sys, data_retrieval, data_retrieval.app, data_retrieval.dashboard\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'statsmodels', 'scipy',"
        " 'sla_manager', 'etl_pipeline', 'data_storage'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
