"""Leader election on the real MariaDB: one leader per role, and a standby takes over when the
leader releases, loses its connection, or its process is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

from monitoring_core.leader import Leadership

HOLDER = """
import sys, time
from monitoring_core.leader import Leadership
from monitoring_core.settings import MySQLSettings
leader = Leadership(MySQLSettings(), sys.argv[1])  # MYSQL_* from the environment
assert leader.lead()
print("leading", flush=True)
time.sleep(600)
"""


def test_one_leader_and_a_standby_that_takes_over_on_release(mysql_role) -> None:
    role = f"test-{uuid.uuid4().hex[:8]}"
    first, second = Leadership(mysql_role("sla"), role), Leadership(mysql_role("sla"), role)
    try:
        assert first.lead()
        assert not second.lead()
        assert first.lead(), "leading again keeps the lock"
        first.release()
        assert second.lead()
        assert not first.lead()
    finally:
        first.release()
        second.release()


def test_a_role_is_elected_apart_from_another(mysql_role) -> None:
    one = Leadership(mysql_role("sla"), f"test-{uuid.uuid4().hex[:8]}")
    other = Leadership(mysql_role("sla"), f"test-{uuid.uuid4().hex[:8]}")
    try:
        assert one.lead() and other.lead()
    finally:
        one.release()
        other.release()


def test_a_killed_leader_is_replaced_at_the_standbys_next_call(mysql_role) -> None:
    role = f"test-{uuid.uuid4().hex[:8]}"
    settings = mysql_role("sla")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, role],
        stdout=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": os.getcwd(),
            "MYSQL_HOST": settings.host,
            "MYSQL_PORT": str(settings.port),
            "MYSQL_DATABASE": settings.database,
            "MYSQL_USER": settings.user,
            "MYSQL_PASSWORD": settings.password.get_secret_value(),
        },
    )
    standby = Leadership(settings, role)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "leading"
        assert not standby.lead()
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        killed = time.monotonic()
        while not standby.lead():
            assert time.monotonic() - killed < 5, "the standby did not take over within 5 s"
            time.sleep(0.05)
    finally:
        holder.kill()
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
        standby.release()
