"""The Postman collection, run by newman against the running suite: every assertion must pass.

newman comes from the repository's node_modules (`npm ci`, pinned in package-lock.json, run
by `make test`). The collection's hosts are the environment file's, overridden with the
stack's actual URLs. Each request's test script states what it expects (status and the main
fields); the expected values come from the routes' documentation (docs/*.md, the OpenAPI
documents) and the demo data (series cpuLoad, cpuTemp, ... under instance="106").
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "postman" / "prometheus-sla-suite.postman_collection.json"
ENVIRONMENT = ROOT / "postman" / "local.postman_environment.json"
NEWMAN = ROOT / "node_modules" / ".bin" / "newman"
HOSTS = {"etl": "ETL_URL", "retrieval": "RETRIEVAL_URL", "sla": "SLA_URL", "storage": "STORAGE_URL"}
TOKENS = {"admin_token": "ADMIN_TOKEN", "read_token": "READ_TOKEN"}


def test_postman_collection_passes(stack_env: dict[str, str]) -> None:
    if not NEWMAN.exists():
        pytest.fail(f"{NEWMAN} is missing: run `npm ci` at the repository root (make test does)")
    overrides = [f"--env-var={name}={stack_env[key]}" for name, key in HOSTS.items()]
    # The stack's tokens into the collection's token variables (an env var takes precedence).
    overrides += [f"--env-var={name}={stack_env[key]}" for name, key in TOKENS.items()]
    command = [
        "npx", "--no-install", "newman", "run", str(COLLECTION),
        "--environment", str(ENVIRONMENT), *overrides,
        "--reporters", "cli", "--color", "off",
        "--timeout-request", "60000",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    summary = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, f"newman failed:\n{summary}"
    assert "AssertionError" not in result.stdout, summary
