"""Values as JSON: finite floats or null, plain types from numpy and dataclasses, ISO 8601 times.

Shared by the analytics results, the SLA manager and the read API; imports numpy, never
statsmodels or scipy, so the read side can use it without loading the analytics.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np


def iso_utc(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with its offset; a naive datetime is UTC (DATETIME columns are)."""
    if value is None:
        return None
    if value.tzinfo is None:  # what a read gives: the offset appended, no copy (a page has 300)
        return f"{value.isoformat()}+00:00"
    return value.astimezone(UTC).isoformat()


def finite_or_none(value: Any) -> float | None:
    """Return ``value`` as a plain float, or None when it is NaN, infinite or None."""
    if value is None:
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def floats_or_none(values: Any) -> tuple[float | None, ...]:
    """Convert an array to a tuple of plain floats with NaN/inf replaced by None."""
    arr = np.asarray(values, dtype=float)
    finite = np.isfinite(arr)
    if finite.all():
        return tuple(arr.tolist())
    return tuple(
        float(v) if ok else None for v, ok in zip(arr.tolist(), finite.tolist(), strict=True)
    )


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _clean_float(value: float) -> float | None:
    # ``v - v`` is 0.0 for finite floats and NaN for NaN and +/-inf.
    return value if value - value == 0.0 else None


def jsonable(value: Any) -> Any:
    """Recursively convert dataclasses, numpy scalars and datetimes to plain JSON types."""
    kind = type(value)
    if kind is float:
        return _clean_float(value)
    if value is None or kind is str or kind is bool or kind is int:
        return value
    if kind is tuple or kind is list:
        # Long tuples of plain floats (decompositions) dominate: no call per element.
        return [
            v if v is None or (type(v) is float and v - v == 0.0) else jsonable(v) for v in value
        ]
    if isinstance(value, ResultMixin) and kind.to_dict is not ResultMixin.to_dict:
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES.get(kind)
        if names is None:
            names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(value))
        return {name: jsonable(getattr(value, name)) for name in names}
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer | int):
        return int(value)
    if isinstance(value, np.floating | float):
        return finite_or_none(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [jsonable(v) for v in value]
    raise TypeError(f"cannot convert {type(value).__name__} to JSON")


class ResultMixin:
    """``to_dict()`` for frozen result dataclasses: plain floats/ints/lists/str/None only."""

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-friendly plain Python types (NaN/inf become None)."""
        out = jsonable(self)
        assert isinstance(out, dict)
        return out
