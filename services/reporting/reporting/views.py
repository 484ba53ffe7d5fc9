"""Reporting's read models: every event in one timeline, and case counts by town."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from fangpin.contracts import CaseClosed, CaseOpened, Contract, Envelope
from fangpin.projection import Projection, rows


class ReportingView(Projection):
    def create_tables(self, curs: Cursor[DictRow]) -> None:
        curs.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {self.schema}.events (
                event_id uuid PRIMARY KEY,
                type text NOT NULL,
                producer text NOT NULL,
                occurred_at timestamptz NOT NULL,
                actor jsonb NOT NULL,
                household_id uuid,
                case_id uuid,
                causation_id uuid,
                correlation_id uuid NOT NULL,
                data jsonb NOT NULL
            )"""
        )
        for column in ("household_id", "case_id", "causation_id"):
            curs.execute(
                f"CREATE INDEX IF NOT EXISTS events_{column} "
                f"ON {self.schema}.events ({column})"
            )
        curs.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {self.schema}.cases (
                case_id uuid PRIMARY KEY,
                household_id uuid NOT NULL,
                area_code text NOT NULL,
                town_code text NOT NULL,
                status text NOT NULL,
                opened_at timestamptz NOT NULL,
                closed_at timestamptz
            )"""
        )

    def apply(self, curs: Cursor[DictRow], envelope: Envelope, data: Contract) -> None:
        curs.execute(
            f"INSERT INTO {self.schema}.events (event_id, type, producer, "
            "occurred_at, actor, household_id, case_id, causation_id, "
            "correlation_id, data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (event_id) DO NOTHING",
            (
                envelope.event_id,
                envelope.type,
                envelope.producer,
                envelope.occurred_at,
                Jsonb(envelope.actor.model_dump(mode="json")),
                envelope.household_id,
                envelope.case_id,
                envelope.causation_id,
                envelope.correlation_id,
                Jsonb(envelope.data),
            ),
        )
        if isinstance(data, CaseOpened):
            curs.execute(
                f"INSERT INTO {self.schema}.cases (case_id, household_id, area_code, "
                "town_code, status, opened_at) VALUES (%s, %s, %s, %s, 'open', %s) "
                "ON CONFLICT (case_id) DO NOTHING",
                (
                    data.case_id,
                    data.household_id,
                    data.area_code,
                    data.town_code,
                    envelope.occurred_at,
                ),
            )
        elif isinstance(data, CaseClosed):
            curs.execute(
                f"UPDATE {self.schema}.cases SET status = 'closed', closed_at = %s "
                "WHERE case_id = %s",
                (envelope.occurred_at, data.case_id),
            )

    def cases_by_town(self, area_prefix: str) -> list[dict[str, Any]]:
        with self.pool.connection() as conn, conn.cursor() as curs:
            curs.execute(
                f"SELECT town_code, "
                "count(*) FILTER (WHERE status = 'open') AS open, "
                "count(*) FILTER (WHERE status = 'closed') AS closed "
                f"FROM {self.schema}.cases WHERE area_code LIKE %s "
                "GROUP BY town_code ORDER BY town_code",
                (area_prefix + "%",),
            )
            return rows(curs)

    def case_area(self, case_id: UUID) -> str | None:
        with self.pool.connection() as conn, conn.cursor() as curs:
            curs.execute(
                f"SELECT area_code FROM {self.schema}.cases WHERE case_id = %s",
                (case_id,),
            )
            row = curs.fetchone()
            return str(row["area_code"]) if row else None

    def case_timeline(self, case_id: UUID) -> list[dict[str, Any]]:
        """The case's events and, following causation back, what caused them."""
        with self.pool.connection() as conn, conn.cursor() as curs:
            curs.execute(
                f"""
                WITH RECURSIVE chain AS (
                    SELECT * FROM {self.schema}.events WHERE case_id = %s
                    UNION
                    SELECT e.* FROM {self.schema}.events e
                    JOIN chain c ON e.event_id = c.causation_id
                )
                SELECT event_id, type, producer, occurred_at, actor, household_id,
                       case_id, causation_id, correlation_id, data
                FROM chain ORDER BY occurred_at, event_id
                """,
                (case_id,),
            )
            return rows(curs)
