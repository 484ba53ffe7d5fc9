"""Assistance's aggregates: what it knows of cases, and the grants made."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from fangpin.eventstore import stable_id


class CaseRef(Aggregate):
    """Assistance's own record of a case, kept from casework's events."""

    @staticmethod
    def create_id(case_id: UUID) -> UUID:
        return case_id

    @event("CaseNoted")
    def __init__(self, case_id: UUID, household_id: UUID, area_code: str):
        self.household_id = household_id
        self.area_code = area_code
        self.is_open = True

    @event("CaseEnded")
    def end(self) -> None:
        self.is_open = False


def grant_id(household_id: UUID, measure: str, period: str) -> UUID:
    """One measure, one period, one household: a second grant has the same id."""
    return stable_id("grant", household_id, measure, period)


class Grant(Aggregate):
    @staticmethod
    def create_id(grant_id: UUID) -> UUID:
        return grant_id

    @event("AidGranted")
    def __init__(
        self,
        grant_id: UUID,
        case_id: UUID,
        household_id: UUID,
        area_code: str,
        measure: str,
        quantity: Decimal,
        unit: str,
        period: str,
        funding_source: str,
        department: str,
        emergency: bool,
        meta: dict[str, Any],
    ):
        self.case_id = case_id
        self.measure = measure
        self.quantity = quantity
