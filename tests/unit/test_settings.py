"""Settings: names that reach SQL text are plain identifiers; empty variables count as unset."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from monitoring_core.settings import DatabaseRoles, MySQLSettings, PrometheusSettings


@pytest.mark.parametrize("name", ["x'; DROP USER root; --", "a b", "", "x" * 33])
def test_account_names_are_plain(name):
    with pytest.raises(ValidationError):
        DatabaseRoles(writer_user=name)


@pytest.mark.parametrize("name", ["metrics`; DROP", "met-rics", ""])
def test_database_name_is_a_bare_identifier(name):
    with pytest.raises(ValidationError):
        MySQLSettings(database=name)


def test_an_empty_variable_is_the_default(monkeypatch):
    # Compose passes PROMETHEUS_SELECTOR through even when .env leaves it empty.
    monkeypatch.setenv("PROMETHEUS_SELECTOR", "")
    assert PrometheusSettings().selector == '{job="summary", instance="106"}'
