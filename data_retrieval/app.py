"""The read API: the seed's /metrics routes over MySQL, its OpenAPI document and docs."""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from flask import Flask, Response, jsonify, request
from prometheus_client import CollectorRegistry

from data_retrieval.params import check_metric, parse_query
from data_retrieval.queries import FORECASTS, METADATA, STATISTICS, Kind, Reader
from data_retrieval.settings import RetrievalSettings
from monitoring_core.db import Database
from monitoring_core.settings import MySQLSettings
from monitoring_core.web import check_dependency, create_service_app

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")
DATA_PARAMS = frozenset({"window", "run", "limit", "offset"})


@cache
def load_openapi() -> dict[str, Any]:
    """The OpenAPI 3 document (read once per process)."""
    return yaml.safe_load(OPENAPI_PATH.read_text())


def create_app(
    settings: RetrievalSettings | None = None, mysql: MySQLSettings | None = None
) -> Flask:
    """Build the app and its (lazy) pool as the read-only database role; no I/O happens here."""
    settings = settings or RetrievalSettings()
    db = Database(mysql or MySQLSettings(), "retrieval")
    reader = Reader(db)
    registry = CollectorRegistry()
    app = create_service_app(
        "data_retrieval", registry, health=lambda: {"database": check_dependency(db.ping)}
    )

    def query_of(allowed: frozenset[str]) -> Any:
        return parse_query(
            request.args.items(multi=True),
            allowed=allowed,
            default_limit=settings.history_default_limit,
            max_limit=settings.history_max_limit,
        )

    def read(kind: Kind, name: str, allowed: frozenset[str] = DATA_PARAMS) -> Response:
        check_metric(name)
        return jsonify(reader.read(kind, name, query_of(allowed)))

    @app.get("/metrics")
    def list_metrics() -> Response:
        return jsonify(reader.list_series(query_of(frozenset())))

    @app.get("/metrics/metric/<name>")
    def statistics(name: str) -> Response:
        return read(STATISTICS, name)

    @app.get("/metrics/metadati/<name>")
    @app.get("/metrics/metadata/<name>", endpoint="metadata_en")
    def metadata(name: str) -> Response:
        return read(METADATA, name)

    @app.get("/metrics/forecasting/<name>")
    def forecasting(name: str) -> Response:
        return read(FORECASTS, name, DATA_PARAMS | {"aggregate"})

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(load_openapi())

    @app.get("/docs")
    def docs() -> Response:
        return Response(render_docs(load_openapi()), mimetype="text/html")

    return app


def render_docs(spec: dict[str, Any]) -> str:
    """A plain HTML page listing every route of the document (no scripts, no CDN)."""
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(spec['info']['title'])}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "code{background:#eee;padding:0 .2em}td,th{text-align:left;padding:.2em .6em}</style>",
        f"</head><body><h1>{esc(spec['info']['title'])}</h1>",
        f"<p>{esc(spec['info'].get('description', ''))}</p>",
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a></p>",
    ]
    shared = spec.get("components", {}).get("parameters", {})
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            parts.append(f"<h2><code>{esc(method.upper())} {esc(path)}</code></h2>")
            parts.append(f"<p>{esc(op.get('summary', ''))}</p>")
            if op.get("description"):
                parts.append(f"<p>{esc(op['description'])}</p>")
            params = [shared[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p
                      for p in op.get("parameters", [])]  # fmt: skip
            if params:
                parts.append("<table><tr><th>parameter</th><th>in</th><th>meaning</th></tr>")
                for p in params:
                    parts.append(
                        f"<tr><td><code>{esc(p['name'])}</code></td><td>{esc(p['in'])}</td>"
                        f"<td>{esc(p.get('description', ''))}</td></tr>"
                    )
                parts.append("</table>")
            codes = ", ".join(str(code) for code in op.get("responses", {}))
            parts.append(f"<p>Responses: {esc(codes)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
