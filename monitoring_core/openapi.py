"""Serve a service's OpenAPI document at GET /openapi.json and a plain HTML page at GET /docs.

Every service keeps its document as `openapi.yaml` beside its code; this is the one place that
loads it and renders it. The page is static HTML (no scripts, no CDN: the suite may run
without internet access).
"""

from __future__ import annotations

import html
import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from flask import Flask, Response, jsonify

from monitoring_core.auth import Access

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
STYLE = (
    "body{font-family:sans-serif;max-width:64em;margin:2em auto;padding:0 1em;line-height:1.4}"
    "code,pre{background:#f2f2f2;padding:0 .2em}pre{padding:.5em;overflow-x:auto}"
    "td,th{text-align:left;padding:.2em .6em;vertical-align:top}"
    "h2{border-top:1px solid #ccc;padding-top:.6em;font-size:1.1em}"
)


@cache
def load_document(path: Path) -> dict[str, Any]:
    """The OpenAPI document at `path` (YAML), read once per process."""
    document = yaml.safe_load(path.read_text())
    if not isinstance(document, dict) or "paths" not in document:
        raise ValueError(f"{path} is not an OpenAPI document")
    return document


def register_openapi(app: Flask, path: Path) -> None:
    """Add GET /openapi.json and GET /docs to `app`, serving the document at `path`."""
    document = load_document(path)  # read now: a broken document fails at start, not per request
    page = render_docs(document)

    # The API's description needs no token, even when reads are closed.
    @app.get("/openapi.json")
    @Access.public
    def _openapi() -> Response:
        return jsonify(document)

    @app.get("/docs")
    @Access.public
    def _docs() -> Response:
        return Response(page, mimetype="text/html")


def resolve(document: dict[str, Any], node: Any) -> Any:
    """Follow a local `$ref` ("#/components/...") to what it names."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def render_docs(document: dict[str, Any]) -> str:
    """A plain HTML page: every route with its parameters, body example and responses."""
    esc = html.escape
    info = document.get("info", {})
    title = esc(str(info.get("title", "API")))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{title}</title><style>{STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
        f"<p>{esc(str(info.get('description', '')))}</p>",
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a></p>",
    ]
    for path, operations in document["paths"].items():
        for method in HTTP_METHODS:
            if method in operations:
                parts.extend(_render_operation(document, method, path, operations[method]))
    parts.append("</body></html>")
    return "\n".join(parts)


def _render_operation(
    document: dict[str, Any], method: str, path: str, operation: dict[str, Any]
) -> list[str]:
    esc = html.escape
    anchor = esc(operation.get("operationId", f"{method}{path}"))
    out = [
        f"<h2 id='{anchor}'><code>{esc(method.upper())} {esc(path)}</code></h2>",
        f"<p>{esc(operation.get('summary', ''))}</p>",
    ]
    if operation.get("description"):
        out.append(f"<p>{esc(operation['description'])}</p>")
    params = [resolve(document, p) for p in operation.get("parameters", [])]
    if params:
        out.append("<table><tr><th>parameter</th><th>in</th><th>meaning</th></tr>")
        for p in params:
            required = " (required)" if p.get("required") else ""
            out.append(
                f"<tr><td><code>{esc(p['name'])}</code>{required}</td><td>{esc(p['in'])}</td>"
                f"<td>{esc(p.get('description', ''))}</td></tr>"
            )
        out.append("</table>")
    body = resolve(document, operation.get("requestBody"))
    if body:
        media = body.get("content", {}).get("application/json", {})
        example = media.get("example", resolve(document, media.get("schema", {})).get("example"))
        out.append(f"<p>Body (JSON): {esc(body.get('description', ''))}</p>")
        if example is not None:
            out.append(f"<pre>{esc(json.dumps(example, indent=2))}</pre>")
    out.append("<table><tr><th>status</th><th>answer</th></tr>")
    for status, response in operation.get("responses", {}).items():
        response = resolve(document, response)
        out.append(
            f"<tr><td>{esc(str(status))}</td><td>{esc(response.get('description', ''))}</td></tr>"
        )
    out.append("</table>")
    return out
