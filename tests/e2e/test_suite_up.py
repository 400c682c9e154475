"""`make up` leaves the four services answering, each on its own health route."""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("service", ["ETL", "RETRIEVAL", "SLA", "STORAGE"])
def test_service_is_healthy(stack_env, service):
    url = f"{stack_env[f'{service}_URL']}/health"
    try:
        response = requests.get(url, timeout=10)
    except requests.ConnectionError:
        pytest.fail(f"{service.lower()} is not answering on {url}: start it with `make up`")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize("service", ["ETL", "RETRIEVAL", "SLA", "STORAGE"])
def test_service_exposes_its_own_metrics(stack_env, service):
    response = requests.get(f"{stack_env[f'{service}_URL']}/internal/metrics", timeout=10)
    assert response.status_code == 200
    assert "# TYPE" in response.text
