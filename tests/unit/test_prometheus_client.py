"""Prometheus client errors: whose fault, said without credentials (fake server at the boundary)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from monitoring_core.prometheus import (
    PrometheusClient,
    PrometheusQueryError,
    PrometheusUnavailable,
)
from monitoring_core.settings import PrometheusSettings

ANSWERS = {
    "/api/v1/query": (200, "text/html", b"<html>proxy login</html>"),
    "/api/v1/series": (400, "application/json", b'{"status":"error","error":"bad match[]"}'),
}


class FakePrometheus(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        status, kind, body = ANSWERS.get(self.path.split("?")[0], (502, "text/plain", b"bad gw"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def client() -> Iterator[PrometheusClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    yield PrometheusClient(PrometheusSettings(url=f"http://admin:s3cret@127.0.0.1:{port}"))
    server.shutdown()
    server.server_close()


def test_a_non_json_answer_is_unavailable_not_a_crash(client):
    with pytest.raises(PrometheusUnavailable, match="malformed answer") as caught:
        client.query("up")
    assert "s3cret" not in str(caught.value)


def test_a_rejected_selector_is_the_callers_fault(client):
    end = datetime.now(UTC)
    with pytest.raises(PrometheusQueryError, match="bad match"):
        client.series_labels("{", end - timedelta(hours=1), end)


def test_an_unreachable_server_is_logged_by_address_and_the_error_names_none(caplog):
    # The error reaches API answers and run summaries: no address there; the log has it,
    # without the credentials the URL carries.
    client = PrometheusClient(PrometheusSettings(url="http://admin:s3cret@127.0.0.1:1/p?t=x"))
    with caplog.at_level("WARNING", logger="monitoring_core.prometheus"):
        with pytest.raises(PrometheusUnavailable) as caught:
            client.query("up")
    assert str(caught.value) == "Prometheus: not reachable (ConnectionError)"
    assert "Prometheus at http://127.0.0.1:1/... not reachable" in caplog.text
    assert "s3cret" not in caplog.text and "t=x" not in caplog.text
