"""HTTP exporter serving the demo series in the Prometheus text format 0.0.4."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from demo_exporter.series import SERIES, value_at

log = logging.getLogger("demo_exporter")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def render_metrics(t: float | None = None) -> str:
    """Exposition text (format 0.0.4) of every series at unix time ``t`` (default: now).

    A series that is in a gap at ``t`` is left out entirely (no HELP/TYPE/sample).
    """
    now = time.time() if t is None else t
    lines: list[str] = []
    for spec in SERIES:
        value = value_at(spec.name, now)
        if value is None:
            continue
        lines.append(f"# HELP {spec.name} {_escape_help(spec.help)}")
        lines.append(f"# TYPE {spec.name} gauge")
        lines.append(f"{spec.name} {value!r}")
    return "\n".join(lines) + "\n"


class _Handler(BaseHTTPRequestHandler):
    server_version = "demo-exporter/0.1"

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, render_metrics().encode(), CONTENT_TYPE)
        elif path == "/health":
            body = json.dumps({"status": "ok", "series": len(SERIES)}).encode()
            self._send(200, body, "application/json")
        else:
            self._send(404, b"not found; try /metrics or /health\n", "text/plain; charset=utf-8")

    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("%s - %s", self.address_string(), format % args)


def make_server(host: str = "127.0.0.1", port: int = 19101) -> ThreadingHTTPServer:
    """A bound (not yet serving) server; port 0 picks a free port."""
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    return server


def serve(host: str = "127.0.0.1", port: int = 19101) -> None:
    """Serve until SIGTERM or SIGINT, then close the socket and return."""
    server = make_server(host, port)
    bound_host, bound_port = server.server_address[:2]

    def _stop(signum: int, _frame: object) -> None:
        log.info("received signal %d, shutting down", signum)
        # shutdown() waits for serve_forever() to return: call it from another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("demo exporter listening on http://%s:%d/metrics", bound_host, bound_port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    log.info("demo exporter stopped")
