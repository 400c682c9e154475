"""The four OpenAPI documents: valid, complete (every route of each app), served as they are.

No I/O: each app is built with settings that start no thread and a pool or client that is
never used; the storage app gets a stand-in for its consumer service (the boundary).
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import schemathesis
from flask import Flask
from prometheus_client import CollectorRegistry

from data_retrieval import create_app as create_retrieval
from data_storage.app import create_app as create_storage
from etl_pipeline import create_app as create_etl
from etl_pipeline.bootstrap import bootstrap as bootstrap_etl
from etl_pipeline.settings import ETLSettings
from monitoring_core.openapi import load_document, render_docs, resolve
from monitoring_core.settings import AccessSettings, KafkaSettings
from sla_manager import create_app as create_sla
from sla_manager.bootstrap import bootstrap as bootstrap_sla
from sla_manager.settings import SLASettings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["etl_pipeline", "data_retrieval", "sla_manager", "data_storage"]
SHARED_PATHS = {"/health", "/internal/metrics", "/openapi.json", "/docs"}


def build_app(service: str) -> Flask:
    if service == "etl_pipeline":
        return create_etl(
            bootstrap_etl(
                ETLSettings(scheduler_enabled=False),
                kafka_settings=KafkaSettings(bootstrap_servers="127.0.0.1:1"),
            )
        )
    if service == "data_retrieval":
        return create_retrieval()
    if service == "sla_manager":
        return create_sla(bootstrap_sla(SLASettings(assessment_interval_seconds=0)))
    stand_in = SimpleNamespace(registry=CollectorRegistry(), access_settings=AccessSettings())
    return create_storage(stand_in)  # type: ignore[arg-type]


def document(service: str) -> dict[str, Any]:
    return load_document(ROOT / service / "openapi.yaml")


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def null_keys(node: Any, where: str = "") -> list[str]:
    """Keys whose value is null: in YAML flow style an unquoted comma makes one (a typo)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if value is None and key not in ("example", "default"):
                found.append(f"{where}/{key}")
            found += null_keys(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += null_keys(value, f"{where}/{index}")
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_document_is_valid_openapi_3(service: str) -> None:
    spec = document(service)
    assert spec["openapi"].startswith("3.0")
    assert spec["info"]["title"] == service
    schemathesis.openapi.from_dict(spec).validate()  # the OpenAPI 3.0 meta-schema
    assert null_keys(spec) == []


@pytest.mark.parametrize("service", SERVICES)
def test_document_describes_every_route_and_method_of_the_app(service: str) -> None:
    app = build_app(service)
    routes = {
        (method.lower(), re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    documented = {(method, path) for method, path, _ in operations(document(service))}
    assert routes == documented
    assert SHARED_PATHS <= {path for _, path in documented}


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_has_a_summary_a_unique_id_and_documented_answers(service: str) -> None:
    spec = document(service)
    ids = [op["operationId"] for _, _, op in operations(spec)]
    assert len(ids) == len(set(ids))
    for method, path, op in operations(spec):
        where = f"{method.upper()} {path}"
        assert op.get("summary"), where
        statuses = set(op["responses"])
        assert statuses & {"200", "201"}, where
        for status, response in op["responses"].items():
            content = resolve(spec, response)["content"]
            # Every error a route answers is a JSON {"error", "reason", ...} object (but /health's
            # 503 is its health report, and 414 is the HTTP server's own page).
            if status.startswith(("4", "5")) and status != "414" and path != "/health":
                schema = resolve(spec, content["application/json"]["schema"])
                parts = [resolve(spec, part) for part in schema.get("allOf", [schema])]
                assert any({"error", "reason"} <= set(p.get("required", [])) for p in parts), (
                    f"{where} {status}"
                )
    metrics_op = spec["paths"]["/internal/metrics"]["get"]
    assert set(metrics_op["responses"]["200"]["content"]) == {"text/plain"}


@pytest.mark.parametrize("service", SERVICES)
def test_app_serves_its_document_and_a_docs_page_without_remote_assets(service: str) -> None:
    client = build_app(service).test_client()
    served = client.get("/openapi.json")
    assert served.status_code == 200
    assert served.get_json() == document(service)
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    for path in document(service)["paths"]:
        assert path.replace("<", "&lt;").replace(">", "&gt;") in text, path
    assert "<script" not in text
    assert not re.search(r"(src|href)=['\"]?https?:", text)  # no CDN: the suite may be offline


def test_docs_page_shows_parameters_body_example_and_statuses() -> None:
    page = render_docs(document("sla_manager"))
    assert "<code>POST /SLA</code>" in page
    assert "openapi-example" in page  # the request body's example
    assert "<td>404</td>" in page
    assert "<code>sla</code>" in page  # a query parameter, resolved from components
