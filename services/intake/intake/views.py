"""Intake's read model, from its own events: grid monitors' reports, and the data
comparison (数据比对) of department records by department and month."""

from __future__ import annotations

from typing import Any

from eventsourcing.utils import get_topic
from psycopg import Cursor
from psycopg.rows import DictRow

from fangpin.areas import COUNTY_TIME
from fangpin.contracts import (
    EVENTS,
    Contract,
    DepartmentRecordReceived,
    Envelope,
    ProblemReported,
    RecordRejected,
)
from fangpin.inbox import Incoming
from fangpin.projection import LocalFollower, Projection, rows
from fangpin.relay import to_envelope
from intake.domain import NO_MATCH, DepartmentRecord, ProblemReport, RejectedRecord

# Only these events feed the view; the registry's events (most of the log after
# an import) are never read, let alone decrypted, by the follower.
VIEW_TOPICS = tuple(
    get_topic(getattr(aggregate, name))
    for aggregate, name in (
        (ProblemReport, "ProblemReported"),
        (DepartmentRecord, "DepartmentRecordReceived"),
        (RejectedRecord, "RecordRejected"),
    )
)


class IntakeView(Projection):
    def create_tables(self, curs: Cursor[DictRow]) -> None:
        curs.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {self.schema}.reports (
                report_id uuid PRIMARY KEY,
                reporter text NOT NULL,
                household_id uuid NOT NULL,
                area_code text NOT NULL,
                village_group text NOT NULL,
                category text NOT NULL,
                observed_on date NOT NULL,
                amount numeric,
                urgent boolean NOT NULL,
                status text NOT NULL,
                reported_at timestamptz NOT NULL
            )"""
        )
        curs.execute(
            f"CREATE INDEX IF NOT EXISTS reports_by_reporter ON {self.schema}.reports "
            "(reporter, reported_at DESC)"
        )
        curs.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {self.schema}.department_records (
                event_id uuid PRIMARY KEY,
                department text NOT NULL,
                kind text NOT NULL,
                record_id text NOT NULL,
                outcome text NOT NULL,
                reason text,
                household_id uuid,
                arrived_at timestamptz NOT NULL,
                month text NOT NULL
            )"""
        )
        curs.execute(
            "CREATE INDEX IF NOT EXISTS department_records_by_month "
            f"ON {self.schema}.department_records (month, department)"
        )

    def apply(self, curs: Cursor[DictRow], envelope: Envelope, data: Contract) -> None:
        arrived = envelope.occurred_at
        month = arrived.astimezone(COUNTY_TIME).strftime("%Y-%m")
        if isinstance(data, ProblemReported):
            curs.execute(
                f"INSERT INTO {self.schema}.reports (report_id, reporter, "
                "household_id, area_code, village_group, category, observed_on, "
                "amount, urgent, status, reported_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'reported', %s) "
                "ON CONFLICT DO NOTHING",
                (
                    data.report_id,
                    envelope.actor.user_id,
                    data.household_id,
                    data.area_code,
                    data.village_group,
                    data.category.value,
                    data.observed_on,
                    data.amount,
                    data.urgent,
                    arrived,
                ),
            )
        elif isinstance(data, DepartmentRecordReceived | RecordRejected):
            if isinstance(data, DepartmentRecordReceived):
                outcome, reason, household = "matched", None, data.household_id
            else:
                outcome = "unmatched" if data.reason == NO_MATCH else "invalid"
                reason, household = data.reason, None
            curs.execute(
                f"INSERT INTO {self.schema}.department_records (event_id, "
                "department, kind, record_id, outcome, reason, household_id, "
                "arrived_at, month) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (
                    envelope.event_id,
                    data.department,
                    data.kind,
                    data.record_id,
                    outcome,
                    reason,
                    household,
                    arrived,
                    month,
                ),
            )

    def status(self, month: str, department: str | None = None) -> list[dict[str, Any]]:
        """Per department: records arrived in the month (county time), the first
        and last arrival, how many matched a household, matched nobody or were
        invalid, and how many households they touched."""
        only = "AND department = %s" if department else ""
        with self.pool.connection() as conn, conn.cursor() as curs:
            curs.execute(
                "SELECT department, count(*) AS records, "
                "min(arrived_at) AS first_arrival, max(arrived_at) AS last_arrival, "
                "count(*) FILTER (WHERE outcome = 'matched') AS matched, "
                "count(*) FILTER (WHERE outcome = 'unmatched') AS unmatched, "
                "count(*) FILTER (WHERE outcome = 'invalid') AS rejected, "
                "count(DISTINCT household_id) AS households_touched "
                f"FROM {self.schema}.department_records WHERE month = %s {only} "
                "GROUP BY department ORDER BY department",
                (month, department) if department else (month,),
            )
            return rows(curs)

    def rejected(
        self, department: str, month: str | None, limit: int, offset: int
    ) -> dict[str, Any]:
        condition = "department = %s AND outcome <> 'matched'"
        params: list[Any] = [department]
        if month:
            condition += " AND month = %s"
            params.append(month)
        with self.pool.connection() as conn, conn.cursor() as curs:
            curs.execute(
                f"SELECT count(*) AS total FROM {self.schema}.department_records "
                f"WHERE {condition}",
                params,
            )
            total = curs.fetchone()
            curs.execute(
                "SELECT record_id, kind, outcome, reason, arrived_at "
                f"FROM {self.schema}.department_records WHERE {condition} "
                "ORDER BY arrived_at DESC, record_id LIMIT %s OFFSET %s",
                [*params, limit, offset],
            )
            return {"total": total["total"] if total else 0, "records": rows(curs)}

    def reports(
        self,
        area_prefix: str,
        village_group: str | None,
        reporter: str | None,
        limit: int,
        offset: int,
    ) -> dict[str, Any]:
        condition = "area_code LIKE %s"
        params: list[Any] = [area_prefix + "%"]
        if village_group is not None:
            condition += " AND village_group = %s"
            params.append(village_group)
        if reporter is not None:
            condition += " AND reporter = %s"
            params.append(reporter)
        with self.pool.connection() as conn, conn.cursor() as curs:
            curs.execute(
                f"SELECT count(*) AS total FROM {self.schema}.reports "
                f"WHERE {condition}",
                params,
            )
            total = curs.fetchone()
            curs.execute(
                "SELECT report_id, household_id, area_code, village_group, "
                "category, observed_on, amount, urgent, status, reported_at "
                f"FROM {self.schema}.reports WHERE {condition} "
                "ORDER BY reported_at DESC LIMIT %s OFFSET %s",
                [*params, limit, offset],
            )
            return {"total": total["total"] if total else 0, "reports": rows(curs)}


class IntakeFollower(LocalFollower):
    """Follows intake's own log, reading only the events the view needs."""

    def catch_up_once(self) -> int:
        notifications = self.app.recorder.select_notifications(
            start=self.position,
            limit=self.batch_size,
            topics=VIEW_TOPICS,
            inclusive_of_start=False,
        )
        if not notifications:
            return 0
        messages = []
        for notification in notifications:
            event = self.app.mapper.to_domain_event(notification)
            public = to_envelope(self.app.service, event)
            if public is None:
                continue
            subject, envelope = public
            data = EVENTS[envelope.type].model.model_validate(envelope.data)
            messages.append(
                Incoming((self.app.service, notification.id), subject, envelope, data)
            )
        fresh = self.projection.tracked([message.key for message in messages])
        if any(message.key not in fresh for message in messages):
            self.projection.process([m for m in messages if m.key not in fresh])
        self.position = notifications[-1].id
        return len(notifications)
