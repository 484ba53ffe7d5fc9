"""Assistance's read model: grants, assignments and budgets, for totals and the
departments' lists of what waits on them."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow

from fangpin.contracts import (
    AidGranted,
    AidStopped,
    BudgetSet,
    Contract,
    Envelope,
    MeasureAssigned,
)
from fangpin.projection import Projection, rows


class AssistanceView(Projection):
    def create_tables(self, curs: Cursor[DictRow]) -> None:
        curs.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {self.schema}.grants (
                grant_id uuid PRIMARY KEY,
                case_id uuid NOT NULL,
                household_id uuid NOT NULL,
                area_code text NOT NULL,
                measure text NOT NULL,
                quantity numeric NOT NULL,
                unit text NOT NULL,
                period text NOT NULL,
                funding_source text NOT NULL,
                department text NOT NULL,
                emergency boolean NOT NULL,
                granted_at timestamptz NOT NULL,
                stopped_at timestamptz
            )"""
        )
        curs.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {self.schema}.assignments (
                assignment_id uuid PRIMARY KEY,
                case_id uuid NOT NULL,
                household_id uuid NOT NULL,
                area_code text NOT NULL,
                measure text NOT NULL,
                department text NOT NULL,
                due_on date NOT NULL,
                assigned_at timestamptz NOT NULL,
                delivered_at timestamptz
            )"""
        )
        curs.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {self.schema}.budgets (
                funding_source text NOT NULL,
                year integer NOT NULL,
                amount numeric NOT NULL,
                PRIMARY KEY (funding_source, year)
            )"""
        )

    def apply(self, curs: Cursor[DictRow], envelope: Envelope, data: Contract) -> None:
        if isinstance(data, AidGranted):
            curs.execute(
                f"INSERT INTO {self.schema}.grants VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL) "
                "ON CONFLICT DO NOTHING",
                (
                    data.grant_id,
                    data.case_id,
                    data.household_id,
                    data.area_code,
                    data.measure,
                    data.quantity,
                    data.unit,
                    data.period,
                    data.funding_source,
                    data.department,
                    data.emergency,
                    envelope.occurred_at,
                ),
            )
            curs.execute(
                f"UPDATE {self.schema}.assignments SET delivered_at = %s "
                "WHERE case_id = %s AND measure = %s AND delivered_at IS NULL",
                (envelope.occurred_at, data.case_id, data.measure),
            )
        elif isinstance(data, AidStopped):
            curs.execute(
                f"UPDATE {self.schema}.grants SET stopped_at = %s WHERE grant_id = %s",
                (envelope.occurred_at, data.grant_id),
            )
        elif isinstance(data, MeasureAssigned):
            curs.execute(
                f"INSERT INTO {self.schema}.assignments VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, NULL) ON CONFLICT DO NOTHING",
                (
                    data.assignment_id,
                    data.case_id,
                    data.household_id,
                    data.area_code,
                    data.measure,
                    data.department,
                    data.due_on,
                    envelope.occurred_at,
                ),
            )
        elif isinstance(data, BudgetSet):
            curs.execute(
                f"INSERT INTO {self.schema}.budgets VALUES (%s, %s, %s) "
                "ON CONFLICT (funding_source, year) DO UPDATE SET amount = "
                "EXCLUDED.amount",
                (data.funding_source, data.year, data.amount),
            )

    def _query(self, statement: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self.pool.connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params)
            return rows(curs)

    def totals_by_measure(self, area_prefix: str) -> list[dict[str, Any]]:
        return self._query(
            f"SELECT measure, unit, count(DISTINCT household_id) AS households, "
            f"count(*) AS grants, sum(quantity) AS quantity "
            f"FROM {self.schema}.grants WHERE area_code LIKE %(area)s "
            "AND stopped_at IS NULL GROUP BY measure, unit ORDER BY measure",
            {"area": area_prefix + "%"},
        )

    def household_grants(self, household_id: Any) -> list[dict[str, Any]]:
        return self._query(
            f"SELECT * FROM {self.schema}.grants WHERE household_id = %(household)s "
            "ORDER BY granted_at",
            {"household": household_id},
        )

    def assignments(
        self, area_prefix: str, department: str | None, waiting_only: bool
    ) -> list[dict[str, Any]]:
        where = "area_code LIKE %(area)s"
        if department:
            where += " AND department = %(department)s"
        if waiting_only:
            where += " AND delivered_at IS NULL"
        return self._query(
            f"SELECT * FROM {self.schema}.assignments WHERE {where} "
            "ORDER BY due_on, assignment_id",
            {"area": area_prefix + "%", "department": department},
        )

    def budgets(self) -> list[dict[str, Any]]:
        return self._query(
            f"SELECT b.funding_source, b.year, b.amount, "
            "COALESCE(sum(g.quantity), 0) AS spent, "
            "b.amount - COALESCE(sum(g.quantity), 0) AS remaining "
            f"FROM {self.schema}.budgets b LEFT JOIN {self.schema}.grants g "
            "ON g.funding_source = b.funding_source AND g.unit = 'yuan' "
            "AND g.stopped_at IS NULL "
            "AND left(g.period, 4)::int = b.year "
            "GROUP BY b.funding_source, b.year, b.amount "
            "ORDER BY b.year, b.funding_source",
            {},
        )
