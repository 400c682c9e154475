"""Reads of the SLA manager's tables that another reader shares (the read API's dashboard).

The SLA manager owns these tables (sql/003_sla.sql); what both it and the read API read is
written here once, so that neither service imports the other.
"""

from __future__ import annotations

import json
from typing import Any


def read_latest_assessments(cursor: Any, sla_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The last stored assessment result of each SLA that has one, read with ``cursor`` (a
    dictionary cursor of the sla or the reader role)."""
    if not sla_ids:
        return {}
    marks = ", ".join(["%s"] * len(sla_ids))
    cursor.execute(
        "SELECT a.sla_id, a.result FROM sla_assessments a JOIN ("
        " SELECT sla_id, MAX(assessment_id) AS last FROM sla_assessments"
        f" WHERE sla_id IN ({marks}) GROUP BY sla_id"
        ") l ON l.last = a.assessment_id",
        tuple(sla_ids),
    )
    return {int(row["sla_id"]): json.loads(row["result"]) for row in cursor.fetchall()}
