"""Backfill history as OpenMetrics text for ``promtool tsdb create-blocks-from openmetrics``.

``python -m demo_exporter.backfill --hours 13 --out FILE``
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from demo_exporter.series import SERIES, SLOT_SECONDS, values_between

DEFAULT_LABELS: Mapping[str, str] = {"job": "summary", "instance": "106"}


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _format_ts(ts: float) -> str:
    return str(int(ts)) if float(ts).is_integer() else repr(float(ts))


def _render(start: float, end: float, step: float, labels: Mapping[str, str]) -> tuple[str, int]:
    label_text = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels.items())
    suffix = "{" + label_text + "}" if label_text else ""
    lines: list[str] = []
    samples = 0
    for spec in SERIES:
        timestamps, values = values_between(spec.name, start, end, step)
        keep = ~np.isnan(values)
        samples += int(keep.sum())
        prefix = spec.name + suffix + " "
        lines.append(f"# TYPE {spec.name} gauge")
        lines.extend(
            prefix + repr(v) + " " + _format_ts(ts)
            for ts, v in zip(timestamps[keep].tolist(), values[keep].tolist(), strict=True)
        )
    lines.append("# EOF")
    return "\n".join(lines) + "\n", samples


def render_openmetrics(
    start: float,
    end: float,
    step: float = SLOT_SECONDS,
    labels: Mapping[str, str] = DEFAULT_LABELS,
) -> str:
    """OpenMetrics text of every series on the ``step`` grid in [start, end], gaps absent."""
    return _render(start, end, step, labels)[0]


def write_openmetrics(
    path: str | Path,
    start: float,
    end: float,
    step: float = SLOT_SECONDS,
    labels: Mapping[str, str] = DEFAULT_LABELS,
) -> int:
    """Write the OpenMetrics backfill file; returns the number of samples written."""
    text, samples = _render(start, end, step, labels)
    Path(path).write_text(text, encoding="utf-8")
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo_exporter.backfill", description=__doc__)
    parser.add_argument("--hours", type=float, default=13.0, help="history length (default 13)")
    parser.add_argument("--out", required=True, help="OpenMetrics file to write")
    parser.add_argument("--step", type=float, default=SLOT_SECONDS, help="seconds (default 15)")
    parser.add_argument("--end", type=float, default=None, help="unix time (default: now)")
    parser.add_argument("--job", default=DEFAULT_LABELS["job"])
    parser.add_argument("--instance", default=DEFAULT_LABELS["instance"])
    args = parser.parse_args(argv)
    if args.hours <= 0 or args.step <= 0:
        parser.error("--hours and --step must be positive")
    end_raw = time.time() if args.end is None else args.end
    end = math.floor(end_raw / args.step) * args.step
    start = end - args.hours * 3600.0
    n = write_openmetrics(
        args.out, start, end, args.step, {"job": args.job, "instance": args.instance}
    )
    print(f"wrote {n} samples ({start:.0f}..{end:.0f}) to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
