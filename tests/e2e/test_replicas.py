"""Two replicas of the SLA manager and of the read API, as the stack runs them, on the real stack.

- Two SLA manager processes, two gunicorn workers each (four schedulers): one webhook per
  transition at the test's receiver, the periodic assessment run once per interval (by the
  elected leader), the same answers and gauges from both, and a standby that takes over when
  the leader's process is SIGKILLed.
- Two read API processes answer the same to the same requests.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import requests

from data_storage.consumer import write_batch
from data_storage.rows import Batch, map_message
from data_storage.samples import run_messages
from monitoring_core.db import Database
from monitoring_core.messages import SeriesRef
from monitoring_core.settings import MySQLSettings

pytestmark = pytest.mark.e2e

INTERVAL = 2.0  # SLA_ASSESSMENT_INTERVAL_SECONDS of the replicas
RUN = uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def receiver(alert_receiver) -> str:  # noqa: ANN001
    return f"{alert_receiver.base}/alerts"


def db_env(db: MySQLSettings) -> dict[str, str]:
    return {
        "MYSQL_HOST": db.host,
        "MYSQL_PORT": str(db.port),
        "MYSQL_DATABASE": db.database,
        "MYSQL_USER": db.user,
        "MYSQL_PASSWORD": db.password.get_secret_value(),
    }


SLA_APP = "sla_manager.wsgi:application()"


@pytest.fixture(scope="module")
def sla_env(stack_env, mysql_role, receiver) -> dict[str, str]:  # noqa: ANN001
    """Every SLA replica of this module: the sla role on this run's database, the receiver."""
    return {
        **db_env(mysql_role("sla")),
        "PROMETHEUS_URL": stack_env["PROMETHEUS_URL"],
        "SLA_ASSESSMENT_INTERVAL_SECONDS": str(INTERVAL),
        "SLA_WEBHOOK_URL": receiver,
        "SLA_WEBHOOK_BACKOFF_SECONDS": "0.1",
        "SLA_WEBHOOK_RESEND_INTERVAL_SECONDS": "1",
    }


@pytest.fixture(scope="module")
def sla_replicas(sla_env, serve) -> list[str]:  # noqa: ANN001
    return [serve(f"sla-{i}", sla_env, app=SLA_APP, workers=2) for i in (1, 2)]


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {os.environ['ADMIN_TOKEN']}"}


def assessed_at(reader: Database, sla_id: int) -> list[datetime]:
    """When each stored assessment of the SLA was made (MySQL, not any replica's memory)."""
    with reader.transaction() as cursor:
        cursor.execute(
            "SELECT assessed_at FROM sla_assessments WHERE sla_id = %s ORDER BY assessment_id",
            (sla_id,),
        )
        return [row["assessed_at"] for row in cursor.fetchall()]


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def same_from_both(urls: list[str], path: str, **params: str) -> tuple[Any, Any]:
    """The answers of two replicas to one request, taken while the stored state held still
    (the first replica asked before and after the second, and answered the same both times)."""
    for _ in range(20):
        before = requests.get(f"{urls[0]}{path}", params=params, timeout=30)
        other = requests.get(f"{urls[1]}{path}", params=params, timeout=30)
        after = requests.get(f"{urls[0]}{path}", params=params, timeout=30)
        assert before.status_code == other.status_code == 200, (before.text, other.text)
        if _decoded(before) == _decoded(after):
            return _decoded(before), _decoded(other)
    pytest.fail(f"{path} never held still for three requests")


def _decoded(response: requests.Response) -> Any:
    if response.headers["Content-Type"].startswith("application/json"):
        return response.json()
    # The SLA gauges (read from MySQL); the process' own metrics differ by nature.
    return sorted(line for line in response.text.splitlines() if line.startswith("sla_"))


def serving(port: int) -> list[int]:
    """The processes that hold the socket listening on ``port``: a gunicorn master and its
    workers (from /proc/net/tcp and each process' file descriptors)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":  # 0A: LISTEN
            inodes.add(f"socket:[{fields[9]}]")
    found = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) in inodes for fd in fd_dir.iterdir()):
                found.append(int(fd_dir.parent.name))
        except OSError:
            continue  # gone, or not ours
    return found


def test_the_leaders_replica_killed_a_standby_takes_over(
    sla_env,
    mysql_role,
    serve,  # noqa: ANN001
) -> None:
    # First in the module: the first replica is alone, so its first round takes the lead.
    reader = Database(mysql_role("reader"), "test-replicas")
    leader = serve("sla-leader", sla_env, app=SLA_APP)
    defined = requests.post(
        f"{leader}/SLA",
        json={"name": f"replicas-kill-{RUN}", "metrics": [{"metric": "cpuLoad", "min": 0}]},
        headers=admin(),
        timeout=30,
    )
    assert defined.status_code == 201, defined.text
    sla_id = defined.json()["id"]
    wait_for(lambda: assessed_at(reader, sla_id), 30, "the leader's first periodic round")
    standby = serve("sla-standby", sla_env, app=SLA_APP)
    pids = serving(int(leader.rsplit(":", 1)[1]))
    assert len(pids) == 2, pids  # the master and its one worker
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    killed_at = datetime.now(UTC).replace(tzinfo=None)
    # The killed worker's MySQL connection closes with it, and its lock with that; the
    # standby's next round (within INTERVAL) takes the lead and assesses.
    wait_for(
        lambda: [t for t in assessed_at(reader, sla_id) if t > killed_at],
        30,
        "an assessment by the standby",
    )
    took = time.monotonic() - killed
    assert took <= INTERVAL + 10, took  # one interval, and one assessment's time
    requests.delete(f"{standby}/SLA/{sla_id}", headers=admin(), timeout=10)


def test_two_sla_replicas_send_one_webhook_per_transition_and_answer_alike(
    sla_replicas: list[str],
    mysql_role: Callable[[str], MySQLSettings],
    alert_receiver,  # noqa: ANN001
) -> None:
    first, second = sla_replicas
    name = f"replicas-{RUN}"
    # cpuLoad is never below -1: the SLA is violated now and for its whole 12 h window, one
    # episode, one transition, whatever the number of assessments and replicas.
    defined = requests.post(
        f"{first}/SLA",
        json={"name": name, "metrics": [{"metric": "cpuLoad", "max": -1}]},
        headers=admin(),
        timeout=30,
    )
    assert defined.status_code == 201, defined.text
    sla_id = defined.json()["id"]
    reader = Database(mysql_role("reader"), "test-replicas")

    # Both replicas (and their workers) assess on demand at once, beside the periodic leader.
    def assess(url: str) -> int:
        return requests.post(
            f"{url}/assess_Violations", params={"sla": sla_id}, headers=admin(), timeout=60
        ).status_code

    statuses: list[int] = []
    threads = [
        threading.Thread(target=lambda u=url: statuses.append(assess(u)))
        for url in (first, second, first, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses.count(200) == 4, statuses

    def mine() -> list[dict]:
        return [a for a in alert_receiver.alerts if a["labels"].get("sla_id") == str(sla_id)]

    wait_for(mine, 30, "the violation's webhook")
    # Four on-demand assessments and the periodic ones, from two replicas of two workers.
    wait_for(lambda: len(assessed_at(reader, sla_id)) >= 8, 60, "periodic assessments")
    time.sleep(3)  # a late duplicate would arrive within the webhook's first attempt
    alerts = mine()
    assert [a["labels"]["alertname"] for a in alerts] == ["SLAViolation"], alerts

    # The periodic assessment, once per interval across the five schedulers (the standby of
    # the test before is one): one leader's rounds are stored at least INTERVAL apart (each
    # round waits INTERVAL after the last one ended, then queries, then stores); two
    # schedulers assessing would store some closer. A round covers every current SLA of this
    # run's database, so it may take longer than INTERVAL: wait for four.
    start = datetime.now(UTC).replace(tzinfo=None)

    def four_rounds() -> list[datetime] | None:
        found = [t for t in assessed_at(reader, sla_id) if t >= start]
        return found if len(found) >= 4 else None

    periodic = wait_for(four_rounds, 180, "four periodic assessments")
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(periodic)]
    assert min(gaps) >= INTERVAL - 0.05, gaps  # 50 ms: DATETIME(3) and two clocks' rounding

    # The same stored answers, from either replica.
    for path in ("/get_Violations", "/get_SLA_status", "/get_SLA_pred", "/get_Violations_Num"):
        one, other = same_from_both(sla_replicas, path, sla=str(sla_id))
        assert one == other, path
        assert one["slas"][0]["sla"]["id"] == sla_id
    one, other = same_from_both(sla_replicas, f"/SLA/{sla_id}")
    assert one == other and one["name"] == name
    gauges, gauges_other = same_from_both(sla_replicas, "/internal/metrics")
    assert gauges == gauges_other
    assert any(f'sla="{name}"' in line and "sla_value_in_range" in line for line in gauges)

    requests.delete(f"{first}/SLA/{sla_id}", headers=admin(), timeout=10)


METRIC = f"replica_cpu_{RUN}"


@pytest.fixture(scope="module")
def retrieval_replicas(mysql_role, serve) -> list[str]:  # noqa: ANN001
    """This test's own runs in MySQL (through the storage writer), and two read APIs."""
    refs = [SeriesRef.of(METRIC, {"job": "summary", "instance": str(i)}) for i in (1, 2, 3)]
    t0 = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
    batch = Batch()
    for i in range(2):
        for message in run_messages(f"replica-{RUN}-{i}", refs, t0 + timedelta(minutes=i)):
            batch.add(map_message(message))
    write_batch(Database(mysql_role("writer"), "test-writer"), batch, 1000)
    env = db_env(mysql_role("reader"))
    return [serve(f"retrieval-{i}", env, app="data_retrieval:create_app()") for i in (1, 2)]


@pytest.mark.parametrize(
    "path",
    [
        f"/metrics/metric/{METRIC}",
        f"/metrics/metric/{METRIC}?label.instance=2",
        f"/metrics/metadati/{METRIC}",
        f"/metrics/forecasting/{METRIC}",
        "/metrics?label.instance=2",  # every stored series of that label: this test's among them
    ],
)
def test_two_read_api_replicas_answer_the_same(retrieval_replicas: list[str], path: str) -> None:
    replicas = retrieval_replicas
    headers = {"Authorization": f"Bearer {os.environ['READ_TOKEN']}"}
    answers = [requests.get(f"{url}{path}", headers=headers, timeout=30) for url in replicas]
    assert answers[0].status_code == answers[1].status_code == 200, answers[0].text[:300]
    assert answers[0].json() == answers[1].json()
    assert METRIC in answers[0].text  # this test's own series, not an empty answer
