"""Every `curl` example in README.md, run against the running suite, so the README cannot drift.

The commands are taken from the README's fenced code blocks in order (a trailing backslash
continues a line), the default addresses (localhost:5000/5005/5002/5006) are replaced by the
stack's, and each runs in bash with curl's status code appended. An example must answer 2xx,
or the status a `# -> NNN` comment on the line before it names. `$SLA_ID` in an example is
the id the README's `POST /SLA` example answered (as the README says); the SLA is retired at
the end whatever happens. `$ADMIN_TOKEN` and `$READ_TOKEN` are the stack's (the README says
where they live).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
DEFAULT_HOSTS = {
    "5000": "ETL_URL",
    "5005": "RETRIEVAL_URL",
    "5002": "SLA_URL",
    "5006": "STORAGE_URL",
}
HOST = re.compile(r"(?:https?://)?(?:localhost|127\.0\.0\.1):(5000|5005|5002|5006)\b")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
EXPECT = re.compile(r"^#\s*->\s*([1-5][0-9][0-9])\b")
SEED_ROUTES = [
    "/metrics/1h",
    "/metrics/3h",
    "/metrics/12h",
    "/regen_data",
    "/all_data",
    "/forecasting",
    "/metrics/metric/",
    "/metrics/metadati/",
    "/metrics/forecasting/",
    "5005/metrics",
    "/SLA",
    "/assess_Violations",
    "/get_Violations",
    "/get_Violations_Num",
    "/get_SLA_status",
    "/get_SLA_pred",
    "/get_SLA_pred_status",
]


@dataclass(frozen=True)
class Example:
    command: str
    expected: int | None  # None: any 2xx


def extract_examples(text: str) -> list[Example]:
    """The curl commands of every fenced block, in order, with the status each must answer."""
    examples: list[Example] = []
    for block in FENCE.findall(text):
        expected: int | None = None
        lines = block.splitlines()
        index = 0
        while index < len(lines):
            line = lines[index].strip()
            index += 1
            marker = EXPECT.match(line)
            if marker:
                expected = int(marker.group(1))
                continue
            if not line.startswith("curl "):
                if line and not line.startswith("#"):
                    expected = None
                continue
            command = line
            while command.endswith("\\") and index < len(lines):
                command = command[:-1] + " " + lines[index].strip()
                index += 1
            examples.append(Example(command, expected))
            expected = None
    return examples


def test_readme_has_a_curl_example_for_every_seed_route() -> None:
    commands = " ".join(example.command for example in extract_examples(README.read_text()))
    missing = [route for route in SEED_ROUTES if route not in commands]
    assert not missing, f"README.md has no curl example for {missing}"


def test_every_readme_curl_example_answers_as_documented(stack_env: dict[str, str]) -> None:
    examples = extract_examples(README.read_text())
    assert examples, "no curl example found in README.md"
    tokens = {name: stack_env[name] for name in ("ADMIN_TOKEN", "READ_TOKEN")}
    env = {**os.environ, **tokens, "SLA_ID": "0"}
    failures: list[str] = []
    try:
        for example in examples:
            command = HOST.sub(lambda m: stack_env[DEFAULT_HOSTS[m.group(1)]], example.command)
            # Status code on a last line of its own; curl's own time limit bounds each example.
            run = f"{command} --max-time 60 -w '\\n%{{http_code}}'"
            result = subprocess.run(
                ["bash", "-c", run], env=env, capture_output=True, text=True, timeout=90
            )
            body, _, status_text = result.stdout.rpartition("\n")
            status = int(status_text) if status_text.isdigit() else 0
            ok = status == example.expected if example.expected else 200 <= status < 300
            if not ok:
                wanted = example.expected or "2xx"
                failures.append(f"{example.command}\n  -> {status} (wanted {wanted}): {body[:300]}")
            if "/SLA " in f"{command} " and "-X POST" in command and status == 201:
                env["SLA_ID"] = str(json.loads(body)["id"])
    finally:
        if env["SLA_ID"] != "0":
            requests.delete(
                f"{stack_env['SLA_URL']}/SLA/{env['SLA_ID']}",
                headers={"Authorization": f"Bearer {tokens['ADMIN_TOKEN']}"},
                timeout=10,
            )
    assert not failures, "README curl examples that did not answer as documented:\n" + "\n".join(
        failures
    )
