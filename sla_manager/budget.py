"""Error budgets and burn rates of an SLA that has an objective (pure functions).

The vocabulary is the Google SRE workbook's, as Sloth and Pyrra use it. An SLA's objective
is the share of samples that must be in range (e.g. 99 %) over a rolling period (e.g. 28d);
each sample is one occurrence (OpenSLO's ``Occurrences`` budgeting method), good when in
range. Then, for a series and a window ``w`` that ends now:

- ``error_ratio``: the share of the window's present samples outside the range (Sloth's
  ``slo:sli_error:ratio_rate<w>``);
- ``burn_rate = error_ratio / (1 - objective)``: how fast the budget burns; 1 spends exactly
  the whole budget in one period (Sloth's ``slo:current_burn_rate:ratio`` for 5m);
- ``budget_consumed = seconds_outside / ((1 - objective) * period)``: the share of the
  period's whole error budget that the window's violations used (``seconds_outside`` as the
  assessment counts it, ``violations.py``), and ``budget_left = 1 - budget_consumed`` (negative
  once overspent; Sloth's ``slo:period_error_budget_remaining:ratio`` for the period);
- ``seconds_to_exhaustion = budget_left * period / burn_rate``: when the budget left would
  be gone if the window's rate went on (None when nothing burns, 0 once it is spent).

For the period itself these are the SLA's real budget; for a shorter window they answer
"how much of the period's budget did the last ``w`` use". The burn-rate windows 5m, 30m,
1h and 6h are the short and long windows of the workbook's multi-window alerts; the alert
factors follow from the share of the budget each pair may spend (``ALERT_WINDOWS``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from monitoring_core.json_values import ResultMixin, finite_or_none
from monitoring_core.web import BadRequest
from monitoring_core.windows import parse_duration

DEFAULT_PERIOD = "28d"  # Pyrra's default window; Sloth's is 30d
MAX_PERIOD_SECONDS = 366 * 86_400
# The period's figure is one subquery over the whole period: at most about this many steps
# (28 days at 1 minute), so that a long period does not load millions of samples each minute.
PERIOD_POINTS = 40_320
BURN_WINDOWS: tuple[tuple[str, int], ...] = (
    ("5m", 300),
    ("30m", 1_800),
    ("1h", 3_600),
    ("6h", 21_600),
)


@dataclass(frozen=True)
class AlertWindow:
    """One multi-window burn-rate alert: both windows burn faster than ``factor``.

    ``budget_percent`` is the share of the period's budget that the long window may spend
    before it alerts; the factor follows from the period (Sloth's AlertWindows: 2 % in 1h of
    30 days is a burn rate of 14.4).
    """

    severity: str
    short: str
    long: str
    budget_percent: float

    def factor(self, period_seconds: float) -> float:
        return (
            self.budget_percent / 100 * period_seconds / parse_duration(self.long).total_seconds()
        )


# The Google SRE workbook's recommended parameters (Sloth's google-28d/-30d windows).
ALERT_WINDOWS: tuple[AlertWindow, ...] = (
    AlertWindow("page", "5m", "1h", 2),
    AlertWindow("page", "30m", "6h", 5),
    AlertWindow("ticket", "2h", "1d", 10),
    AlertWindow("ticket", "6h", "3d", 10),
)


@dataclass(frozen=True)
class Objective:
    """An SLA's objective: ``percent`` of samples in range over a rolling ``period_seconds``."""

    percent: float
    period_seconds: int

    @property
    def ratio(self) -> float:
        return self.percent / 100

    @property
    def error_budget(self) -> float:
        """The share of samples that may be outside the range (Sloth's slo:error_budget:ratio);
        from the percent, so that 99 gives 0.01 and not 1 - 0.99 = 0.010000000000000009."""
        return (100 - self.percent) / 100

    @property
    def period(self) -> str:
        return format_duration(self.period_seconds)

    def to_dict(self) -> dict[str, Any]:
        return {"objective": self.percent, "period": self.period}


def format_duration(seconds: int) -> str:
    """Seconds as the shortest duration of one unit: 2419200 -> "28d", 5400 -> "90m"."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_objective(body: dict[str, Any], longest_window_seconds: float) -> Objective | None:
    """The optional ``objective`` (percent) and ``period`` of a POSTed SLA.

    Raises `BadRequest` for an objective outside (0, 100), a period that is not a duration,
    shorter than the longest assessment window or longer than a year, or a period without an
    objective.
    """
    objective = body.get("objective")
    period = body.get("period")
    if objective is None:
        if period is not None:
            raise BadRequest("'period' needs an 'objective' (the percent of samples in range)")
        return None
    if isinstance(objective, bool) or not isinstance(objective, int | float):
        raise BadRequest(
            f"'objective' must be a number (percent), got {json.dumps(objective)[:50]}"
        )
    try:
        percent = float(objective)
    except OverflowError:  # an integer of hundreds of digits
        percent = math.inf
    if not (math.isfinite(percent) and 0 < percent < 100):
        raise BadRequest(
            f"'objective' must be a percent strictly between 0 and 100, got {percent:g}: "
            "100 leaves no error budget and 0 has nothing to keep",
            objective=percent,
        )
    text = DEFAULT_PERIOD if period is None else period
    if not isinstance(text, str):
        raise BadRequest(f"'period' must be a duration like 28d, got {json.dumps(text)[:50]}")
    try:
        seconds = int(parse_duration(text).total_seconds())
    except ValueError as exc:
        raise BadRequest(f"'period': {exc}") from exc
    if seconds < longest_window_seconds:
        raise BadRequest(
            f"'period' ({text}) is shorter than the longest assessment window "
            f"({format_duration(int(longest_window_seconds))}): the budget could not hold "
            "what the windows count",
            period=text,
        )
    if seconds > MAX_PERIOD_SECONDS:
        raise BadRequest(f"'period' ({text}) is longer than 366d")
    return Objective(percent=percent, period_seconds=seconds)


@dataclass(frozen=True)
class WindowBudget(ResultMixin):
    """The error budget as seen from one window ending at the assessment's end."""

    samples: int
    samples_outside: int
    error_ratio: float | None
    burn_rate: float | None
    budget_consumed: float
    budget_left: float
    seconds_to_exhaustion: float | None


def window_budget(
    samples: int, samples_outside: int, seconds_outside: float, objective: Objective
) -> WindowBudget:
    """Budget figures of one window from its sample counts and the time its samples outside
    stand for (the assessment's ``seconds_outside``; see the module docstring)."""
    error_ratio = samples_outside / samples if samples else None
    burn = error_ratio / objective.error_budget if error_ratio is not None else None
    allowed_seconds = objective.error_budget * objective.period_seconds
    consumed = seconds_outside / allowed_seconds
    left = 1 - consumed
    if burn is None or burn == 0:
        exhaustion = None
    elif left <= 0:
        exhaustion = 0.0
    else:
        exhaustion = left * objective.period_seconds / burn
    return WindowBudget(
        samples=samples,
        samples_outside=samples_outside,
        error_ratio=finite_or_none(error_ratio),
        burn_rate=finite_or_none(burn),
        budget_consumed=consumed,
        budget_left=left,
        seconds_to_exhaustion=finite_or_none(exhaustion),
    )


def outside_promql(promql: str, low: float | None, high: float | None) -> str:
    """PromQL that is 1 where ``promql`` is outside [low, high] and 0 where it is inside.

    ``bool`` keeps every series (a filter would drop the in-range ones); NaN compares false,
    so a NaN sample counts as in range here (the assessment treats it as missing).
    """
    parts = []
    if low is not None:
        parts.append(f"({promql}) < bool {_number(low)}")
    if high is not None:
        parts.append(f"({promql}) > bool {_number(high)}")
    if not parts:
        raise ValueError("a range needs at least one bound")
    return " + ".join(f"({part})" for part in parts) if len(parts) > 1 else parts[0]


def _number(value: float) -> str:
    return repr(float(value))


def budget_report(
    objective: Objective,
    step_seconds: int,
    windows: Sequence[tuple[str, int, int, float]],
    burn_windows: Sequence[tuple[str, int, int, float]],
    period: tuple[int, int] | None,
    period_reason: str | None = None,
) -> dict[str, Any]:
    """The ``budget`` object of one assessed series.

    ``windows`` and ``burn_windows`` are ``(name, samples, samples_outside, seconds_outside)``;
    ``period`` is ``(samples, samples_outside)`` over the whole period from `period_queries`
    (each sample standing for `period_step`), or None with ``period_reason``.
    """
    report: dict[str, Any] = {
        "objective": objective.percent,
        "period": objective.period,
        "error_budget": objective.error_budget,
        "period_budget": None,
        "period_reason": period_reason,
        "windows": {
            name: window_budget(n, out, seconds, objective).to_dict()
            for name, n, out, seconds in windows
        },
        "burn_rates": {
            name: window_budget(n, out, seconds, objective).to_dict()
            for name, n, out, seconds in burn_windows
        },
        # The multi-window alerts the rules hold for this period, so that a reader (the
        # dashboard) highlights burn rates by the same factors without a copy of them.
        "alerts": [
            {
                "severity": alert.severity,
                "short": alert.short,
                "long": alert.long,
                "factor": alert.factor(objective.period_seconds),
            }
            for alert in ALERT_WINDOWS
        ],
    }
    if period is not None:
        samples, outside = period
        step = period_step(objective, step_seconds)
        figures = window_budget(samples, outside, outside * step, objective).to_dict()
        figures["coverage"] = min(1.0, samples * step / objective.period_seconds)
        report["period_budget"] = figures
    return report


def period_step(objective: Objective, step_seconds: int) -> int:
    """The subquery resolution of the period's figure: the step, or a multiple of it that
    keeps the subquery within ``PERIOD_POINTS`` steps (28d at 15 s: 60 s)."""
    return step_seconds * max(1, math.ceil(objective.period_seconds / PERIOD_POINTS / step_seconds))


def period_queries(
    promql: str, low: float | None, high: float | None, objective: Objective, step: int, at: float
) -> tuple[str, str]:
    """Instant queries for the samples and the samples outside over the whole period ending
    at ``at`` (Unix seconds), a subquery ``[period:resolution]`` on the assessment's grid
    (`period_step`: each sample then stands for that resolution)."""
    outside = outside_promql(promql, low, high)
    resolution = period_step(objective, step)
    window = f"[{format_duration(objective.period_seconds)}:{resolution}s] @ {at:.3f}"
    return f"count_over_time(({outside}){window})", f"sum_over_time(({outside}){window})"


def series_budget(
    windows: Sequence[Any],
    burn_windows: Sequence[Any],
    objective: Objective,
    step_seconds: int,
    period: tuple[int, int] | None,
    period_reason: str | None,
) -> dict[str, Any]:
    """The budget of one series from the `WindowViolations` of its assessment windows and of
    `BURN_WINDOWS` (both from ``violations.assess_windows`` on the same samples)."""

    def counts(found: Sequence[Any]) -> list[tuple[str, int, int, float]]:
        return [(w.window, w.samples, w.samples_outside, w.seconds_outside) for w in found]

    return budget_report(
        objective, step_seconds, counts(windows), counts(burn_windows), period, period_reason
    )
