"""Shared helpers for analytics results: reason codes, finite samples, quiet numpy."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import numpy as np

# Machine-friendly reason codes shared by every result.  A result whose value
# is None always carries one of these in its ``reason`` field.
EMPTY = "empty"
TOO_FEW_SAMPLES = "too_few_samples"
CONSTANT_SERIES = "constant_series"
GAPS = "gaps"
NO_SEASON = "no_season"
TOO_SHORT = "too_short"
NON_FINITE = "non_finite"
# Values still given, computed on a copy with spikes replaced (see ``robust.hampel``).
OUTLIERS = "outliers"
DEGENERATE = "degenerate_regression"


def finite_values(values: Any) -> tuple[np.ndarray, int]:
    """Return the finite samples of ``values`` as float64 and the number dropped."""
    arr = np.asarray(values, dtype=float).ravel()
    mask = np.isfinite(arr)
    if mask.all():
        return arr, 0
    return arr[mask], int(arr.size - mask.sum())


_P = ParamSpec("_P")
_R = TypeVar("_R")


def quiet_numpy(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``func`` with numpy floating-point warnings off.

    Overflow or underflow on extreme data must not warn (pytest turns warnings into
    errors, and operators do not want log noise): the functions check their results
    for NaN/inf and return a reason instead.
    """

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with np.errstate(all="ignore"):
            return func(*args, **kwargs)

    return wrapper
