"""The officials' queue: open cases by area, oldest first."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow

from fangpin.contracts import CaseClosed, CaseOpened, Contract, Envelope, SignalAttached
from fangpin.projection import Projection, rows


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
        curs.execute(
            f"CREATE INDEX IF NOT EXISTS cases_open_by_area ON {self.schema}.cases "
            "(area_code text_pattern_ops, opened_at) WHERE status = 'open'"
        )

    def apply(self, curs: Cursor[DictRow], envelope: Envelope, data: Contract) -> None:
        if isinstance(data, CaseOpened):
            curs.execute(
                f"INSERT INTO {self.schema}.cases (case_id, household_id, area_code, "
                "town_code, urgent, status, signals, opened_at) "
                "VALUES (%s, %s, %s, %s, %s, 'open', 1, %s)",
                (
                    data.case_id,
                    data.household_id,
                    data.area_code,
                    data.town_code,
                    data.urgent,
                    envelope.occurred_at,
                ),
            )
        elif isinstance(data, SignalAttached):
            curs.execute(
                f"UPDATE {self.schema}.cases SET signals = signals + 1 "
                "WHERE case_id = %s",
                (data.case_id,),
            )
        elif isinstance(data, CaseClosed):
            curs.execute(
                f"UPDATE {self.schema}.cases SET status = 'closed', closed_at = %s "
                "WHERE case_id = %s",
                (envelope.occurred_at, data.case_id),
            )

    def queue(self, area_prefix: str, limit: int, offset: int) -> dict[str, Any]:
        with self.pool.connection() as conn, conn.cursor() as curs:
            curs.execute(
                f"SELECT count(*) AS total FROM {self.schema}.cases "
                "WHERE status = 'open' AND area_code LIKE %s",
                (area_prefix + "%",),
            )
            total = curs.fetchone()
            curs.execute(
                f"SELECT * FROM {self.schema}.cases "
                "WHERE status = 'open' AND area_code LIKE %s "
                "ORDER BY opened_at LIMIT %s OFFSET %s",
                (area_prefix + "%", limit, offset),
            )
            return {"total": total["total"] if total else 0, "cases": rows(curs)}
