"""The SLA tables in MySQL: define (versioned), list, retire, and the stored assessments."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import mysql.connector
from werkzeug.exceptions import Conflict

from monitoring_core.db import Database
from monitoring_core.json_values import iso_utc
from monitoring_core.sla_tables import read_latest_assessments
from sla_manager.budget import Objective
from sla_manager.rules import SLADefinition, SLAMetric


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

    def save_assessment(
        self, sla_id: int, window_end: datetime, result: dict[str, Any], retention: timedelta
    ) -> None:
        now = _now()
        with self.db.transaction() as cursor:
            cursor.execute(
                "INSERT INTO sla_assessments (sla_id, assessed_at, window_end, result)"
                " VALUES (%s, %s, %s, %s)",
                (sla_id, now, _naive(window_end), json.dumps(result, allow_nan=False)),
            )
            cursor.execute(
                "DELETE FROM sla_assessments WHERE sla_id = %s AND assessed_at < %s",
                (sla_id, now - retention),
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


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return _utc(value) if value is not None else None
