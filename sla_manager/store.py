"""The SLA tables in MySQL: define (versioned), list, retire, the stored assessments, and the
webhook alerts each assessment claims (shared by every replica and gunicorn worker)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import mysql.connector
from werkzeug.exceptions import Conflict

from monitoring_core.db import Database
from monitoring_core.json_values import iso_utc
from monitoring_core.sla_tables import read_latest_assessments
from sla_manager.budget import Objective
from sla_manager.rules import SLADefinition, SLAMetric

if TYPE_CHECKING:
    from sla_manager.webhook import Transition

log = logging.getLogger(__name__)
# previous assessments by SLA id, new results -> the alerts they raise (webhook.find_transitions)
FindTransitions = Callable[[dict[int, dict[str, Any]], list[dict[str, Any]]], list["Transition"]]


@dataclass(frozen=True)
class ClaimedAlerts:
    """Alert rows this process won and must send; `SLAStore.mark_sent(ids)` once delivered."""

    ids: list[int] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class StoredSLA:
    sla_id: int
    name: str
    version: int
    created_at: datetime
    retired_at: datetime | None
    metrics: tuple[SLAMetric, ...]
    objective: Objective | None = None
    horizon_minutes: int | None = None  # None: the SLA manager's default

    @property
    def current(self) -> bool:
        return self.retired_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.sla_id,
            "name": self.name,
            "version": self.version,
            "current": self.current,
            "created_at": iso_utc(self.created_at),
            "retired_at": iso_utc(self.retired_at),
            "metrics": [metric.to_dict() for metric in self.metrics],
            "objective": self.objective.percent if self.objective else None,
            "period": self.objective.period if self.objective else None,
            "horizon_minutes": self.horizon_minutes,
        }

    @property
    def definition(self) -> SLADefinition:
        return SLADefinition(self.name, self.metrics, self.objective, self.horizon_minutes)


class SLAStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def define(self, definition: SLADefinition, max_current: int) -> StoredSLA:
        """Store a new version of the SLA named ``definition.name``; retire the current one.

        A new name when ``max_current`` SLAs are current raises `Conflict` (409).
        """
        now = _now()
        try:
            with self.db.transaction() as cursor:
                # Locks the current SLAs' index range: two new names at once are counted one
                # after the other, so the cap holds under concurrent POSTs.
                cursor.execute(
                    "SELECT current_name FROM slas WHERE current_name IS NOT NULL FOR UPDATE"
                )
                current = {row["current_name"] for row in cursor.fetchall()}
                if definition.name not in current and len(current) >= max_current:
                    raise Conflict(
                        f"{len(current)} SLAs are current, the most allowed (SLA_MAX_CURRENT); "
                        "retire one (DELETE /SLA/<id>) or redefine an existing name"
                    )
                # Locks the name's rows so that two concurrent POSTs get consecutive versions.
                cursor.execute(
                    "SELECT COALESCE(MAX(version), 0) AS v FROM slas WHERE name = %s FOR UPDATE",
                    (definition.name,),
                )
                version = int(cursor.fetchone()["v"]) + 1
                cursor.execute(
                    "UPDATE slas SET retired_at = %s, current_name = NULL WHERE current_name = %s",
                    (now, definition.name),
                )
                objective = definition.objective
                cursor.execute(
                    "INSERT INTO slas (name, version, current_name, created_at,"
                    " objective_percent, period_seconds, horizon_minutes)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (
                        definition.name,
                        version,
                        definition.name,
                        now,
                        objective.percent if objective else None,
                        objective.period_seconds if objective else None,
                        definition.horizon_minutes,
                    ),
                )
                sla_id = int(cursor.lastrowid)
                cursor.executemany(
                    "INSERT INTO sla_metrics (sla_id, position, name, metric, labels, expression,"
                    " promql, min_value, max_value) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        (
                            sla_id,
                            position,
                            m.name,
                            m.metric,
                            json.dumps(m.labels) if m.metric is not None else None,
                            m.expression,
                            m.promql,
                            m.min,
                            m.max,
                        )
                        for position, m in enumerate(definition.metrics)
                    ],
                )
        except mysql.connector.IntegrityError as exc:
            # Two first definitions of one name at once: the unique key stops one (a deadlock
            # between them answers 503 "try again" from Database.transaction).
            raise Conflict(f"SLA {definition.name!r} was redefined concurrently; retry") from exc
        return StoredSLA(
            sla_id,
            definition.name,
            version,
            _utc(now),
            None,
            definition.metrics,
            objective,
            definition.horizon_minutes,
        )

    def current(self) -> list[StoredSLA]:
        return self._load("WHERE s.retired_at IS NULL", ())

    def get(self, sla_id: int) -> StoredSLA | None:
        found = self._load("WHERE s.sla_id = %s", (sla_id,))
        return found[0] if found else None

    def retire(self, sla_id: int) -> StoredSLA | None:
        """Retire one SLA; None when the id is unknown. Retiring twice keeps the first time."""
        with self.db.transaction() as cursor:
            cursor.execute(
                "UPDATE slas SET retired_at = %s, current_name = NULL"
                " WHERE sla_id = %s AND retired_at IS NULL",
                (_now(), sla_id),
            )
        return self.get(sla_id)

    def _load(self, where: str, params: tuple[Any, ...]) -> list[StoredSLA]:
        # `where` is one of the constants above; values always go in as parameters.
        with self.db.transaction() as cursor:
            cursor.execute(
                "SELECT s.sla_id, s.name, s.version, s.created_at, s.retired_at,"
                " s.objective_percent, s.period_seconds, s.horizon_minutes, m.position,"
                " m.name AS metric_name, m.metric, m.labels, m.expression, m.promql,"
                " m.min_value, m.max_value"
                f" FROM slas s JOIN sla_metrics m ON m.sla_id = s.sla_id {where}"
                " ORDER BY s.sla_id, m.position",
                params,
            )
            rows = cursor.fetchall()
        slas: dict[int, dict[str, Any]] = {}
        for row in rows:
            sla = slas.setdefault(row["sla_id"], {"row": row, "metrics": []})
            sla["metrics"].append(
                SLAMetric(
                    name=row["metric_name"],
                    promql=row["promql"],
                    min=row["min_value"],
                    max=row["max_value"],
                    metric=row["metric"],
                    labels=json.loads(row["labels"]) if row["labels"] else {},
                    expression=row["expression"],
                )
            )
        return [
            StoredSLA(
                sla_id=int(item["row"]["sla_id"]),
                name=item["row"]["name"],
                version=int(item["row"]["version"]),
                created_at=_utc(item["row"]["created_at"]),
                retired_at=_utc_or_none(item["row"]["retired_at"]),
                metrics=tuple(item["metrics"]),
                objective=_objective(item["row"]),
                horizon_minutes=item["row"]["horizon_minutes"],
            )
            for item in slas.values()
        ]

    def save_assessments(
        self,
        window_end: datetime,
        results: list[dict[str, Any]],
        retention: timedelta,
        find_transitions: FindTransitions | None = None,
        lease: timedelta = timedelta(minutes=5),
    ) -> ClaimedAlerts:
        """Store one assessment row per result and claim the alerts they raise, in one
        transaction; answer the alerts this call won.

        The SLAs' rows are locked first (FOR UPDATE, in id order, so two assessments never
        deadlock each other), so the assessments of one SLA are stored one after another
        across every replica and worker, each compared with the one truly before it; read
        committed, so that read sees what the lock's last holder committed. A result older
        than the stored one (a slow assessment finishing late) is stored but raises nothing.
        Each transition is then inserted under its unique key: the first insert wins, and a
        later one (another replica that saw the same change) leaves the row as it was.
        """
        ids = sorted({int(result["sla"]["id"]) for result in results})
        if not ids:
            return ClaimedAlerts()
        now, claim = _now(), uuid.uuid4().hex
        marks = ", ".join(["%s"] * len(ids))
        with self.db.transaction() as cursor:
            # Before the transaction's first statement: it applies to this transaction only.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            cursor.execute(
                f"SELECT sla_id FROM slas WHERE sla_id IN ({marks}) ORDER BY sla_id FOR UPDATE",
                tuple(ids),
            )
            cursor.fetchall()
            previous = read_latest_assessments(cursor, ids)
            for result in results:
                sla_id = int(result["sla"]["id"])
                cursor.execute(
                    "INSERT INTO sla_assessments (sla_id, assessed_at, window_end, result)"
                    " VALUES (%s, %s, %s, %s)",
                    (sla_id, now, _naive(window_end), json.dumps(result, allow_nan=False)),
                )
            cursor.execute(
                f"DELETE FROM sla_assessments WHERE sla_id IN ({marks}) AND assessed_at < %s",
                (*ids, now - retention),
            )
            if find_transitions is None:
                return ClaimedAlerts()
            cursor.execute(
                f"DELETE FROM sla_alerts WHERE sla_id IN ({marks}) AND created_at < %s",
                (*ids, now - retention),
            )
            current = [
                result
                for result in results
                if int(result["sla"]["id"]) not in previous
                or _instant(previous[int(result["sla"]["id"])]["window_end"]) <= window_end
            ]
            for transition in find_transitions(previous, current):
                cursor.execute(
                    "INSERT INTO sla_alerts (sla_id, transition, created_at, alert, claim,"
                    " lease_until) VALUES (%s, %s, %s, %s, %s, %s)"
                    " ON DUPLICATE KEY UPDATE alert_id = alert_id",
                    (
                        transition.sla_id,
                        transition.key,
                        now,
                        json.dumps(transition.alert, allow_nan=False),
                        claim,
                        now + lease,
                    ),
                )
            return self._claimed(cursor, claim)

    def claim_unsent(self, limit: int, lease: timedelta) -> ClaimedAlerts:
        """Claim up to ``limit`` alerts whose sender gave up, died or is past its lease: each
        row's UPDATE is won by one caller only."""
        now, claim = _now(), uuid.uuid4().hex
        with self.db.transaction() as cursor:
            cursor.execute(
                "UPDATE sla_alerts SET claim = %s, lease_until = %s, attempts = attempts + 1"
                " WHERE sent_at IS NULL AND lease_until < %s ORDER BY alert_id LIMIT %s",
                (claim, now + lease, now, limit),
            )
            return self._claimed(cursor, claim)

    @staticmethod
    def _claimed(cursor: Any, claim: str) -> ClaimedAlerts:
        cursor.execute(
            "SELECT alert_id, alert FROM sla_alerts WHERE claim = %s AND sent_at IS NULL"
            " ORDER BY alert_id",
            (claim,),
        )
        rows = cursor.fetchall()
        return ClaimedAlerts(
            [int(row["alert_id"]) for row in rows], [json.loads(row["alert"]) for row in rows]
        )

    def mark_sent(self, alert_ids: list[int]) -> None:
        if not alert_ids:
            return
        marks = ", ".join(["%s"] * len(alert_ids))
        with self.db.transaction() as cursor:
            cursor.execute(
                f"UPDATE sla_alerts SET sent_at = %s WHERE alert_id IN ({marks})",
                (_now(), *alert_ids),
            )

    def latest_assessments(self, sla_ids: list[int]) -> dict[int, dict[str, Any]]:
        """The last stored assessment result of each SLA that has one."""
        if not sla_ids:
            return {}
        with self.db.transaction() as cursor:
            return read_latest_assessments(cursor, sla_ids)

    def check(self) -> None:
        """The health probe: the connection works and the tables exist and are readable."""
        with self.db.transaction() as cursor:
            cursor.execute("SELECT COUNT(*) AS n FROM slas WHERE retired_at IS NULL")
            cursor.fetchall()


def _objective(row: dict[str, Any]) -> Objective | None:
    if row["objective_percent"] is None:
        return None
    return Objective(float(row["objective_percent"]), int(row["period_seconds"]))


def _now() -> datetime:
    # Stored as naive UTC (DATETIME has no zone; the session runs at +00:00), in milliseconds.
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return _utc(value) if value is not None else None
