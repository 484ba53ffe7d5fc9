"""Assistance's aggregates: what it knows of cases, the measures assigned by plans,
the grants made and the budgets they draw on."""

from __future__ import annotations

from datetime import date
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
    def __init__(
        self, case_id: UUID, household_id: UUID, area_code: str, urgent: bool = False
    ):
        self.household_id = household_id
        self.area_code = area_code
        self.urgent = urgent
        self.is_open = True
        self.is_target = False

    @event("TargetNoted")
    def note_target(self, is_target: bool) -> None:
        self.is_target = is_target

    @event("CaseEnded")
    def end(self) -> None:
        self.is_open = False
        self.is_target = False


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
        self.household_id = household_id
        self.area_code = area_code
        self.measure = measure
        self.quantity = quantity
        self.unit = unit
        self.period = period
        self.funding_source = funding_source
        self.stopped = False

    @event("AidStopped")
    def stop(
        self,
        grant_id: UUID,
        case_id: UUID,
        household_id: UUID,
        area_code: str,
        measure: str,
        reason: str,
        meta: dict[str, Any],
    ) -> None:
        self.stopped = True


def assignment_id(case_id: UUID, measure: str) -> UUID:
    return stable_id("assignment", case_id, measure)


class Assignment(Aggregate):
    """A measure of a household's plan, waiting on its responsible department."""

    @staticmethod
    def create_id(assignment_id: UUID) -> UUID:
        return assignment_id

    @event("MeasureAssigned")
    def __init__(
        self,
        assignment_id: UUID,
        case_id: UUID,
        household_id: UUID,
        area_code: str,
        measure: str,
        department: str,
        due_on: date,
        meta: dict[str, Any],
    ):
        self.delivered = False

    @event("AssignmentDelivered")
    def deliver(self, grant_id: UUID) -> None:
        self.delivered = True


def budget_id(funding_source: str, year: int) -> UUID:
    return stable_id("budget", funding_source, year)


class Budget(Aggregate):
    """Money (yuan) a funding source makes available for a year."""

    @staticmethod
    def create_id(funding_source: str, year: int) -> UUID:
        return budget_id(funding_source, year)

    @event("BudgetOpened")
    def __init__(self, funding_source: str, year: int):
        self.funding_source = funding_source
        self.year = year
        self.amount = Decimal(0)
        self.spent = Decimal(0)
        # What each grant took, so a stopped grant gives back exactly that.
        self.charged: dict[str, Decimal] = {}

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.spent

    @event("BudgetSet")
    def set_amount(
        self, funding_source: str, year: int, amount: Decimal, meta: dict[str, Any]
    ) -> None:
        self.amount = amount

    @event("BudgetCharged")
    def charge(self, grant_id: UUID, amount: Decimal) -> None:
        self.spent += amount
        self.charged[str(grant_id)] = amount

    @event("BudgetRefunded")
    def refund(self, grant_id: UUID, amount: Decimal) -> None:
        self.spent -= amount
        self.charged.pop(str(grant_id), None)
