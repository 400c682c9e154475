"""Settings: names that reach SQL text are plain identifiers; empty variables count as unset."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from monitoring_core.db import main as db_main
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


def test_the_placeholder_passwords_of_env_example_are_refused():
    placeholders = [
        line.split("=", 1)[1]
        for line in (Path(__file__).resolve().parents[2] / ".env.example").read_text().splitlines()
        if "_PASSWORD=" in line
    ]
    assert placeholders
    for password in placeholders:
        with pytest.raises(ValidationError, match="placeholder of .env.example"):
            MySQLSettings(password=password)
    assert MySQLSettings(password="it's\\mine").password.get_secret_value() == "it's\\mine"


def test_the_migration_step_says_why_in_one_line(monkeypatch, capsys):
    monkeypatch.setenv("MYSQL_PASSWORD", "change-me-migrator")
    assert db_main(["migrate"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "placeholder of .env.example" in line
