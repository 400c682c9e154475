"""The result schema against the message models: every column reads a field the messages have,
and every field a message carries is stored by some column (tests/integration/
test_results_schema.py compares the same declaration with the database)."""

from __future__ import annotations

import types
import typing

import pytest
from pydantic import BaseModel

from monitoring_core import messages
from monitoring_core.results_schema import RESULT_TABLES, ResultTable

# The payload model of each message kind.
PAYLOADS: dict[str, type[BaseModel]] = {
    typing.get_args(model.model_fields["kind"].annotation)[0]: model
    for model in typing.get_args(typing.get_args(messages.Payload)[0])
}


def _model_of(annotation: object) -> object:
    """The model inside `X | None` or `list[X]`, else the annotation itself."""
    while typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0]
    return annotation


def resolve(table: ResultTable, path: str) -> object:
    """The annotation of the message field at `path` (dotted, as in the schema)."""
    root, *rest = path.split(".")
    if root == "item":
        assert table.items is not None
        model: object = _model_of(resolve(table, table.items))
    else:
        rest = [root, *rest]
        model = messages.Message
    annotation: object = model
    for name in rest:
        model = _model_of(annotation)
        if model is messages.Message and name == "payload":
            annotation = PAYLOADS[table.kind] if table.kind else messages.Message
            continue
        assert isinstance(model, type) and issubclass(model, BaseModel), (path, model)
        assert name in model.model_fields, f"{table.name}: {path}: no field {name!r}"
        annotation = model.model_fields[name].annotation
    return annotation


@pytest.mark.parametrize("table", RESULT_TABLES, ids=lambda t: t.name)
def test_every_column_reads_a_field_of_its_messages(table: ResultTable) -> None:
    assert table.kind is None or table.kind in PAYLOADS
    for column in table.columns:
        if column.field is None:
            continue
        annotation = resolve(table, column.field)
        if column.form == "count":
            assert typing.get_origin(annotation) is list, column
        if column.form == "flag":
            assert bool in typing.get_args(annotation), column


def _leaf_fields(model: type[BaseModel], prefix: str) -> set[str]:
    """Every field of a payload that holds data, as dotted paths (nested models flattened)."""
    out = set()
    for name, info in model.model_fields.items():
        inner = _model_of(info.annotation)
        if name == "kind":
            continue
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            if typing.get_origin(info.annotation) is list:
                out |= {f"item.{f}" for f in inner.model_fields}
                out.add(f"{prefix}{name}")  # its items are rows, and their count a column
            else:
                out |= _leaf_fields(inner, f"{prefix}{name}.")
        else:
            out.add(f"{prefix}{name}")
    return out


@pytest.mark.parametrize("kind", sorted(set(PAYLOADS) - {"timing"}))
def test_every_field_a_message_carries_is_stored(kind: str) -> None:
    # Timings are a map of stage -> seconds, one row per entry (data_storage.rows).
    stored = {
        c.field for t in RESULT_TABLES if t.kind == kind for c in t.columns if c.field is not None
    }
    assert stored, f"no table stores {kind} messages"
    assert _leaf_fields(PAYLOADS[kind], "payload.") - stored == set()


def test_every_message_with_a_series_stores_the_series_as_it_is() -> None:
    series = {c.field for t in RESULT_TABLES if t.kind is None for c in t.columns}
    assert {f"series.{name}" for name in messages.SeriesRef.model_fields} <= series


def test_api_names_are_unique_per_table() -> None:
    for table in RESULT_TABLES:
        shown = [c.api for c in table.columns if c.api is not None]
        assert len(shown) == len(set(shown)), table.name
