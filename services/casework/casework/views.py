"""The officials' queues: open cases by level and area, oldest deadline first.

Each open step carries its exact deadlines (``due_at`` for the warning,
``escalate_at`` for the next level), dated by the district's limits and working
calendar. The view keeps its own copy of both from casework's events, so a change
re-dates the open steps in the transaction that records the view's position, and
a view rebuilt from the start of the history dates them the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow

from casework.steps import (
    DEFAULT_LIMITS,
    LEVEL_OF_STEP,
    NEXT_LEVEL,
    DeadlineRules,
    Level,
    Step,
    TimeLimit,
    WorkCalendar,
)
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
    TimeLimitChanged,
    WorkCalendarChanged,
)
from fangpin.projection import Pool, Projection, rows

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
    # Set for open steps only; a closed case has no deadline.
    "due_at": "timestamptz",
    "escalate_at": "timestamptz",
}


class QueueView(Projection):
    def __init__(self, pool: Pool, schema: str):
        super().__init__(pool, schema)
        self._rules: tuple[Cursor[DictRow], DeadlineRules] | None = None

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
        # The queue filters by level and area prefix and reads by deadline; the
        # deadline watch reads the steps not yet warned or not yet escalated.
        curs.execute(f"DROP INDEX IF EXISTS {self.schema}.cases_open_by_level")
        curs.execute(
            f"CREATE INDEX IF NOT EXISTS cases_open_by_due ON {self.schema}.cases "
            "(level, area_code text_pattern_ops, due_at) WHERE status = 'open'"
        )
        curs.execute(
            f"CREATE INDEX IF NOT EXISTS cases_to_warn ON {self.schema}.cases "
            "(due_at) WHERE status = 'open' AND NOT overdue"
        )
        curs.execute(
            f"CREATE INDEX IF NOT EXISTS cases_to_escalate ON {self.schema}.cases "
            "(escalate_at) WHERE status = 'open' AND NOT escalated"
        )
        curs.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {self.schema}.time_limits (
                step text PRIMARY KEY,
                days integer NOT NULL,
                escalate_after integer NOT NULL,
                working_days boolean NOT NULL
            )"""
        )
        curs.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {self.schema}.work_calendar (
                singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                holidays date[] NOT NULL,
                workdays date[] NOT NULL
            )"""
        )

    def prepare_deadlines(self, rules: DeadlineRules) -> int:
        """At start-up: take the application's limits and calendar for those the
        view has no record of yet, then date the open steps that have no deadline
        (rows written before the view kept them). Returns how many were dated.

        Seeding from the rules in force is safe even when the view lags behind or
        starts empty: every later change event carries the whole new value and
        re-dates the open steps it concerns, so the view ends where the events do.
        """
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as curs:
            curs.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                (f"fangpin-setup-{self.schema}",),
            )
            curs.executemany(
                f"INSERT INTO {self.schema}.time_limits "
                "(step, days, escalate_after, working_days) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (step) DO NOTHING",
                [
                    (step.value, limit.days, limit.escalate_after, limit.working_days)
                    for step, limit in rules.limits.items()
                ],
            )
            curs.execute(
                f"INSERT INTO {self.schema}.work_calendar (holidays, workdays) "
                "VALUES (%s, %s) ON CONFLICT (singleton) DO NOTHING",
                (sorted(rules.calendar.holidays), sorted(rules.calendar.workdays)),
            )
            return self._redate(
                curs, self._read_rules(curs), "c.due_at IS NULL", {}, missing=True
            )

    def apply(self, curs: Cursor[DictRow], envelope: Envelope, data: Contract) -> None:
        table = f"{self.schema}.cases"
        if isinstance(data, CaseOpened):
            due, escalate = self._rules_in(curs).deadlines(
                Step.VISIT, envelope.occurred_at
            )
            curs.execute(
                f"INSERT INTO {table} (case_id, household_id, area_code, town_code, "
                "urgent, status, signals, opened_at, step, level, step_seq, "
                "step_started_at, reentry, due_at, escalate_at) VALUES "
                "(%s, %s, %s, %s, %s, 'open', 1, %s, 'visit', 'village', 1, %s, %s, "
                "%s, %s)",
                (
                    data.case_id,
                    data.household_id,
                    data.area_code,
                    data.town_code,
                    data.urgent,
                    envelope.occurred_at,
                    envelope.occurred_at,
                    data.reentry,
                    due,
                    escalate,
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
            step = Step(data.next_step)
            due, escalate = self._rules_in(curs).deadlines(step, envelope.occurred_at)
            curs.execute(
                f"UPDATE {table} SET step = %s, level = %s, step_seq = step_seq + 1, "
                "step_started_at = %s, overdue = false, escalated = false, "
                "target_type = COALESCE(%s, target_type), due_at = %s, "
                "escalate_at = %s WHERE case_id = %s",
                (
                    step.value,
                    LEVEL_OF_STEP[step].value,
                    envelope.occurred_at,
                    data.target_type if isinstance(data, TargetConfirmed) else None,
                    due,
                    escalate,
                    data.case_id,
                ),
            )
        elif isinstance(data, CaseClosed):
            curs.execute(
                f"UPDATE {table} SET status = 'closed', closed_at = %s, "
                "step = 'ended', due_at = NULL, escalate_at = NULL WHERE case_id = %s",
                (envelope.occurred_at, data.case_id),
            )
        elif isinstance(data, TimeLimitChanged):
            self._change_limit(curs, data)
        elif isinstance(data, WorkCalendarChanged):
            self._change_calendar(curs, data)

    def queue(
        self,
        role: Role,
        area_prefix: str,
        filters: dict[str, Any],
        limit: int,
        offset: int,
    ) -> dict[str, Any]:
        """What waits on an official: their level's steps in their area, plus the
        lower level's steps escalated to them, the oldest deadline first."""
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
        with self.pool.connection() as conn, conn.cursor() as curs:
            curs.execute(
                f"SELECT c.step, count(*) AS n, count(*) FILTER (WHERE c.overdue) AS "
                f"overdue, count(*) FILTER (WHERE c.escalated) AS escalated "
                f"FROM {self.schema}.cases c WHERE {clause} GROUP BY c.step",
                params,
            )
            by_step = rows(curs)
            curs.execute(
                f"SELECT c.* FROM {self.schema}.cases c WHERE {clause} "
                "ORDER BY c.due_at, c.case_id LIMIT %(limit)s OFFSET %(offset)s",
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

    def deadline_candidates(self, now: datetime) -> list[dict[str, Any]]:
        """Open steps past their deadline and not yet warned, or past their
        escalation and not yet escalated."""
        with self.pool.connection() as conn, conn.cursor() as curs:
            curs.execute(
                f"SELECT c.case_id, c.step, c.step_seq, c.step_started_at "
                f"FROM {self.schema}.cases c WHERE c.status = 'open' AND ("
                "(NOT c.overdue AND c.due_at <= %(now)s) OR "
                "(NOT c.escalated AND c.escalate_at <= %(now)s))",
                {"now": now},
            )
            return rows(curs)

    def _read_rules(self, curs: Cursor[DictRow]) -> DeadlineRules:
        limits = dict(DEFAULT_LIMITS)
        curs.execute(
            f"SELECT step, days, escalate_after, working_days "
            f"FROM {self.schema}.time_limits"
        )
        for row in curs.fetchall():
            limits[Step(row["step"])] = TimeLimit(
                row["days"], row["escalate_after"], row["working_days"]
            )
        curs.execute(f"SELECT holidays, workdays FROM {self.schema}.work_calendar")
        found = curs.fetchone()
        calendar = (
            WorkCalendar(frozenset(found["holidays"]), frozenset(found["workdays"]))
            if found
            else WorkCalendar()
        )
        return DeadlineRules(limits, calendar)

    def _rules_in(self, curs: Cursor[DictRow]) -> DeadlineRules:
        """The rules as this transaction sees them, read once per transaction (its
        cursor stands for it) and kept up to date by the change events it applies."""
        if self._rules is None or self._rules[0] is not curs:
            self._rules = (curs, self._read_rules(curs))
        return self._rules[1]

    def _redate(
        self,
        curs: Cursor[DictRow],
        rules: DeadlineRules,
        condition: str,
        params: dict[str, Any],
        missing: bool = False,
    ) -> int:
        """Date the open steps that meet ``condition`` by ``rules``, writing only
        the rows whose deadlines move (a new holiday touches few); with
        ``missing``, leave alone a step the follower dated meanwhile. Returns how
        many rows were written."""
        table = f"{self.schema}.cases"
        curs.execute(
            f"SELECT c.case_id, c.step, c.step_started_at, c.due_at, c.escalate_at "
            f"FROM {table} c WHERE c.status = 'open' AND {condition}",
            params,
        )
        case_ids: list[UUID] = []
        due: list[datetime] = []
        escalate: list[datetime] = []
        for row in curs.fetchall():
            dates = rules.deadlines(Step(row["step"]), row["step_started_at"])
            if dates != (row["due_at"], row["escalate_at"]):
                case_ids.append(row["case_id"])
                due.append(dates[0])
                escalate.append(dates[1])
        if not case_ids:
            return 0
        curs.execute(
            f"UPDATE {table} c SET due_at = d.due_at, escalate_at = d.escalate_at "
            "FROM unnest(%s::uuid[], %s::timestamptz[], %s::timestamptz[]) "
            "AS d(case_id, due_at, escalate_at) WHERE c.case_id = d.case_id"
            + (" AND c.due_at IS NULL" if missing else ""),
            (case_ids, due, escalate),
        )
        return curs.rowcount

    def _change_limit(self, curs: Cursor[DictRow], data: TimeLimitChanged) -> None:
        step = Step(data.step)
        limit = TimeLimit(data.days, data.escalate_after, data.working_days)
        curs.execute(
            f"INSERT INTO {self.schema}.time_limits "
            "(step, days, escalate_after, working_days) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (step) DO UPDATE SET days = excluded.days, "
            "escalate_after = excluded.escalate_after, "
            "working_days = excluded.working_days",
            (step.value, limit.days, limit.escalate_after, limit.working_days),
        )
        rules = self._rules_in(curs).with_limit(step, limit)
        self._rules = (curs, rules)
        self._redate(curs, rules, "c.step = %(step)s", {"step": step.value})

    def _change_calendar(
        self, curs: Cursor[DictRow], data: WorkCalendarChanged
    ) -> None:
        calendar = WorkCalendar(frozenset(data.holidays), frozenset(data.workdays))
        curs.execute(
            f"INSERT INTO {self.schema}.work_calendar (holidays, workdays) "
            "VALUES (%s, %s) ON CONFLICT (singleton) DO UPDATE SET "
            "holidays = excluded.holidays, workdays = excluded.workdays",
            (sorted(calendar.holidays), sorted(calendar.workdays)),
        )
        rules = self._rules_in(curs).with_calendar(calendar)
        self._rules = (curs, rules)
        counted = [
            step.value for step, limit in rules.limits.items() if limit.working_days
        ]
        self._redate(curs, rules, "c.step = ANY(%(steps)s)", {"steps": counted})
