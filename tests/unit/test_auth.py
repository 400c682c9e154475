"""Who may call what, on a bare service app: scopes, 401/403, closed reads, the anonymous
/health, rate limits; and the token settings (files for Docker secrets, no secret in errors)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from monitoring_core.settings import AccessSettings
from monitoring_core.web import access_of, create_service_app

ADMIN = "admin-token-0123456789"
READ = "read-token-0123456789"


@pytest.fixture(autouse=True)
def no_tokens_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # tests/conftest.py exports the session's tokens; these tests give their own.
    for variable in ("ADMIN_TOKEN", "READ_TOKEN", "READS_REQUIRE_TOKEN", "WORK_RATE_LIMIT"):
        monkeypatch.delenv(variable, raising=False)


def build(**settings: object):  # noqa: ANN202
    access = AccessSettings(admin_token=ADMIN, read_token=READ, **settings)
    app = create_service_app(
        "svc",
        CollectorRegistry(),
        health=lambda: {"db": {"ok": False, "reason": "MySQL at db:3306: denied for 'sla'"}},
        access_settings=access,
    )
    guard = access_of(app)

    @app.get("/data")
    def data() -> dict:
        return {"data": 1}

    @app.post("/change")
    @guard.admin
    def change() -> dict:
        return {"changed": True}

    @app.post("/work")
    @guard.work
    def work() -> dict:
        return {"worked": True}

    app.testing = False
    return app.test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_admin_routes_answer_401_without_a_token_and_403_with_the_read_token() -> None:
    client = build()
    anonymous = client.post("/change")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="svc"'
    assert anonymous.json["error"] == "unauthorized"
    wrong = client.post("/change", headers=bearer("not-a-token-at-all"))
    assert wrong.status_code == 401 and "not one this service knows" in wrong.json["reason"]
    basic = client.post("/change", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert basic.status_code == 401
    forbidden = client.post("/change", headers=bearer(READ))
    assert forbidden.status_code == 403 and forbidden.json["error"] == "forbidden"
    assert client.post("/change", headers=bearer(ADMIN)).json == {"changed": True}


def test_reads_are_open_by_default_and_closed_with_one_setting() -> None:
    assert build().get("/data").status_code == 200
    closed = build(reads_require_token=True)
    assert closed.get("/data").status_code == 401
    assert closed.get("/data", headers=bearer(READ)).status_code == 200
    assert closed.get("/data", headers=bearer(ADMIN)).status_code == 200  # admin also reads
    # What never needs a token: health, the API's description.
    for path in ("/health", "/openapi.json", "/docs"):
        assert closed.get(path).status_code != 401, path
    assert closed.get("/internal/metrics").status_code == 401
    assert closed.post("/change", headers=bearer(READ)).status_code == 403


def test_anonymous_health_shows_ok_per_check_and_a_token_shows_why() -> None:
    client = build()
    anonymous = client.get("/health")
    assert anonymous.status_code == 503
    assert anonymous.json == {
        "service": "svc",
        "status": "degraded",
        "checks": {"db": {"ok": False}},
    }
    detailed = client.get("/health", headers=bearer(READ)).json
    assert "denied" in detailed["checks"]["db"]["reason"]
    assert "denied" not in client.get("/health", headers=bearer("wrong-token-0123456789")).text


def test_work_routes_are_rate_limited_per_client_with_retry_after() -> None:
    client = build(work_rate_limit="2/minute")
    # Refused callers use up no quota: the token is checked first.
    assert [client.post("/work").status_code for _ in range(3)] == [401, 401, 401]
    answers = [client.post("/work", headers=bearer(ADMIN)) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    limited = answers[-1]
    assert limited.json["error"] == "too_many_requests"
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    assert "Retry-After" not in answers[0].headers
    # Another client address has its own quota.
    other = client.post("/work", headers=bearer(ADMIN), environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200


def test_without_an_admin_token_every_admin_route_is_refused() -> None:
    app = create_service_app(
        "svc", CollectorRegistry(), access_settings=AccessSettings(read_token=READ)
    )

    @app.post("/change")
    @access_of(app).admin
    def change() -> dict:
        return {}

    client = app.test_client()
    assert client.post("/change", headers=bearer(READ)).status_code == 403
    assert client.post("/change", headers=bearer("")).status_code == 401


def test_tokens_come_from_files_for_docker_secrets(tmp_path: Path) -> None:
    secret = tmp_path / "admin_token"
    secret.write_text(ADMIN + "\n")
    assert AccessSettings(admin_token_file=secret).tokens() == {"admin": ADMIN}
    with pytest.raises(ValidationError, match="not both"):
        AccessSettings(admin_token=ADMIN, admin_token_file=secret)
    with pytest.raises(ValidationError, match="ADMIN_TOKEN_FILE"):
        AccessSettings(admin_token_file=tmp_path / "missing")


def test_a_short_token_is_refused_without_printing_it() -> None:
    with pytest.raises(ValidationError) as caught:
        AccessSettings(admin_token="short-secret")
    assert "shorter than 16" in str(caught.value)
    assert "short-secret" not in str(caught.value)
    with pytest.raises(ValidationError, match="WORK_RATE_LIMIT"):
        AccessSettings(work_rate_limit="lots")
