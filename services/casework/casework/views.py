"""The officials' queues: open cases by level and area, oldest deadline first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow

from casework.steps import LEVEL_OF_STEP, NEXT_LEVEL, Level, Step, TimeLimit
from fangpin.contracts import (
    CaseClosed,
    CaseEscalated,
    CaseOpened,
    CaseOverdue,
    CaseStepEvent,
    Contract,
    Envelope,
    Role,
    SignalAttached,
    TargetConfirmed,
)
from fangpin.projection import Projection, rows

LEVEL_OF_ROLE = {
    Role.GRID_MONITOR: Level.VILLAGE,
    Role.VILLAGE: Level.VILLAGE,
    Role.TOWN: Level.TOWN,
    Role.DISTRICT: Level.DISTRICT,
}
COLUMNS = {
    "step": "text NOT NULL DEFAULT 'visit'",
    "level": "text NOT NULL DEFAULT 'village'",
    "step_seq": "integer NOT NULL DEFAULT 1",
    "step_started_at": "timestamptz",
    "overdue": "boolean NOT NULL DEFAULT false",
    "escalated": "boolean NOT NULL DEFAULT false",
    "target_type": "text",
    "reentry": "boolean NOT NULL DEFAULT false",
}


class QueueView(Projection):
    def create_tables(self, curs: Cursor[DictRow]) -> None:
        curs.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {self.schema}.cases (
                case_id uuid PRIMARY KEY,
                household_id uuid NOT NULL,
                area_code text NOT NULL,
                town_code text NOT NULL,
                urgent boolean NOT NULL,
                status text NOT NULL,
                signals integer NOT NULL,
                opened_at timestamptz NOT NULL,
                closed_at timestamptz,
                projected_at timestamptz NOT NULL DEFAULT clock_timestamp()
            )"""
        )
        for column, definition in COLUMNS.items():
            curs.execute(
                f"ALTER TABLE {self.schema}.cases "
                f"ADD COLUMN IF NOT EXISTS {column} {definition}"
            )
        curs.execute(
            f"CREATE INDEX IF NOT EXISTS cases_open_by_level ON {self.schema}.cases "
            "(level, area_code text_pattern_ops, step_started_at) "
            "WHERE status = 'open'"
        )

    def apply(self, curs: Cursor[DictRow], envelope: Envelope, data: Contract) -> None:
        table = f"{self.schema}.cases"
        if isinstance(data, CaseOpened):
            curs.execute(
                f"INSERT INTO {table} (case_id, household_id, area_code, town_code, "
                "urgent, status, signals, opened_at, step, level, step_seq, "
                "step_started_at, reentry) VALUES "
                "(%s, %s, %s, %s, %s, 'open', 1, %s, 'visit', 'village', 1, %s, %s)",
                (
                    data.case_id,
                    data.household_id,
                    data.area_code,
                    data.town_code,
                    data.urgent,
                    envelope.occurred_at,
                    envelope.occurred_at,
                    data.reentry,
                ),
            )
        elif isinstance(data, SignalAttached):
            curs.execute(
                f"UPDATE {table} SET signals = signals + 1 WHERE case_id = %s",
                (data.case_id,),
            )
        elif isinstance(data, CaseOverdue):
            curs.execute(
                f"UPDATE {table} SET overdue = true WHERE case_id = %s",
                (data.case_id,),
            )
        elif isinstance(data, CaseEscalated):
            curs.execute(
                f"UPDATE {table} SET escalated = true WHERE case_id = %s",
                (data.case_id,),
            )
        elif isinstance(data, CaseStepEvent) and data.next_step != data.step:
            level = LEVEL_OF_STEP[Step(data.next_step)]
            curs.execute(
                f"UPDATE {table} SET step = %s, level = %s, step_seq = step_seq + 1, "
                "step_started_at = %s, overdue = false, escalated = false, "
                "target_type = COALESCE(%s, target_type) WHERE case_id = %s",
                (
                    data.next_step,
                    level.value,
                    envelope.occurred_at,
                    data.target_type if isinstance(data, TargetConfirmed) else None,
                    data.case_id,
                ),
            )
        elif isinstance(data, CaseClosed):
            curs.execute(
                f"UPDATE {table} SET status = 'closed', closed_at = %s, "
                "step = 'ended' WHERE case_id = %s",
                (envelope.occurred_at, data.case_id),
            )

    def queue(
        self,
        role: Role,
        area_prefix: str,
        limits: dict[Step, TimeLimit],
        filters: dict[str, Any],
        limit: int,
        offset: int,
    ) -> dict[str, Any]:
        """What waits on an official: their level's steps in their area, plus the
        lower level's steps escalated to them."""
        level = LEVEL_OF_ROLE.get(role)
        if level is None:
            return {"total": 0, "counts": {}, "overdue": 0, "escalated": 0, "cases": []}
        lower = [low.value for low, high in NEXT_LEVEL.items() if high is level]
        where = [
            "c.status = 'open'",
            "c.area_code LIKE %(area)s",
            "(c.level = %(level)s OR (c.escalated AND c.level = ANY(%(lower)s)))",
        ]
        params: dict[str, Any] = {
            "area": area_prefix + "%",
            "level": level.value,
            "lower": lower,
        }
        for name in ("step", "overdue", "escalated", "urgent"):
            if filters.get(name) is not None:
                where.append(f"c.{name} = %({name})s")
                params[name] = filters[name]
        clause = " AND ".join(where)
        days = ", ".join(
            f"('{step.value}', {limit.days})" for step, limit in limits.items()
        )
        with self.pool.connection() as conn, conn.cursor() as curs:
            curs.execute(
                f"SELECT c.step, count(*) AS n, count(*) FILTER (WHERE c.overdue) AS "
                f"overdue, count(*) FILTER (WHERE c.escalated) AS escalated "
                f"FROM {self.schema}.cases c WHERE {clause} GROUP BY c.step",
                params,
            )
            by_step = rows(curs)
            # Oldest deadline first; working days are ordered as calendar days,
            # the exact deadline of each case on the page is computed after.
            curs.execute(
                f"SELECT c.* FROM {self.schema}.cases c "
                f"JOIN (VALUES {days}) AS l(step, days) ON l.step = c.step "
                f"WHERE {clause} ORDER BY c.step_started_at + l.days * "
                "interval '1 day', c.case_id LIMIT %(limit)s OFFSET %(offset)s",
                {**params, "limit": limit, "offset": offset},
            )
            cases = rows(curs)
        return {
            "total": sum(row["n"] for row in by_step),
            "counts": {row["step"]: row["n"] for row in by_step},
            "overdue": sum(row["overdue"] for row in by_step),
            "escalated": sum(row["escalated"] for row in by_step),
            "cases": cases,
        }

    def deadline_candidates(
        self, limits: dict[Step, TimeLimit], now: datetime
    ) -> list[dict[str, Any]]:
        """Open steps that may be past a limit: calendar days are a lower bound of
        working days, so nothing due is missed; the exact check follows."""
        values = ", ".join(
            f"('{step.value}', {limit.days}, {limit.escalate_after})"
            for step, limit in limits.items()
        )
        with self.pool.connection() as conn, conn.cursor() as curs:
            curs.execute(
                f"SELECT c.case_id, c.step, c.step_seq, c.step_started_at "
                f"FROM {self.schema}.cases c "
                f"JOIN (VALUES {values}) AS l(step, days, escalate) "
                "ON l.step = c.step WHERE c.status = 'open' AND ("
                "(NOT c.overdue AND c.step_started_at + l.days * interval '1 day' "
                "<= %(now)s) OR (NOT c.escalated AND c.step_started_at + "
                "l.escalate * interval '1 day' <= %(now)s))",
                {"now": now},
            )
            return rows(curs)
