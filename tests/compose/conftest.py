"""The compose stack that `python -m stack compose-test` brought up, as its env file says.

These tests run only under that harness (it passes COMPOSE_TEST_ENV_FILE and the private
engine's DOCKER_HOST); they reach the stack only through the ports published on 127.0.0.1.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stack.compose import Compose, read_env_file, service_urls


@pytest.fixture(scope="session")
def compose_env() -> dict[str, str]:
    path = os.environ.get("COMPOSE_TEST_ENV_FILE")
    if not path:
        pytest.fail("run these through `python -m stack compose-test` (make compose-test)")
    return read_env_file(Path(path))


@pytest.fixture(scope="session")
def urls(compose_env: dict[str, str]) -> dict[str, str]:
    return service_urls(compose_env)


@pytest.fixture(scope="session")
def compose() -> Compose:
    return Compose(dict(os.environ), Path(os.environ["COMPOSE_TEST_ENV_FILE"]))


@pytest.fixture(scope="session")
def admin(compose_env: dict[str, str]) -> dict[str, str]:
    """The headers of a caller holding the admin token of the stack's .env."""
    return {"Authorization": f"Bearer {compose_env['ADMIN_TOKEN']}"}
