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


def grant_id(household_id: UUID, measure: str, period: str, number: int = 0) -> UUID:
    """One measure, one period, one household: asked twice, the same id. A grant
    after a stopped one for the same period is numbered, and its number comes from
    the household's ledger of the measure, so it too is the same when asked again.
    """
    if number == 0:
        return stable_id("grant", household_id, measure, period)
    return stable_id("grant", household_id, measure, period, number)


def months_of(period: str) -> frozenset[str]:
    """The months (YYYY-MM) a grant period covers: a year covers its twelve."""
    if len(period) == 4:
        return frozenset(f"{period}-{month:02d}" for month in range(1, 13))
    return frozenset({period})


def ledger_id(household_id: UUID, measure: str) -> UUID:
    return stable_id("grant-ledger", household_id, measure)


class GrantLedger(Aggregate):
    """One measure's grants to one household, whatever the case: the periods its
    live grants cover. Every grant and stop of the measure changes the ledger, so of
    two officials granting it at once only one gets past the version check; the
    other decides again on what the first did."""

    @staticmethod
    def create_id(household_id: UUID, measure: str) -> UUID:
        return ledger_id(household_id, measure)

    @event("LedgerOpened")
    def __init__(self, household_id: UUID, measure: str):
        self.household_id = household_id
        self.measure = measure
        # Grant id -> period, for the grants not stopped.
        self.live: dict[str, str] = {}
        # Period -> how many grants were ever entered for it.
        self.entered: dict[str, int] = {}

    def overlapping(self, period: str) -> str | None:
        """The period of a live grant sharing a month with ``period``, if any."""
        wanted = months_of(period)
        for granted in sorted(self.live.values()):
            if not wanted.isdisjoint(months_of(granted)):
                return granted
        return None

    def next_grant_id(self, period: str) -> UUID:
        return grant_id(
            self.household_id, self.measure, period, self.entered.get(period, 0)
        )

    @event("GrantEntered")
    def enter(self, grant_id: UUID, period: str) -> None:
        self.live[str(grant_id)] = period
        self.entered[period] = self.entered.get(period, 0) + 1

    @event("GrantWithdrawn")
    def withdraw(self, grant_id: UUID) -> None:
        self.live.pop(str(grant_id), None)


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
        # Until the district sets the amount, grants are counted but not capped,
        # so the amount it sets later cannot be below what was already granted.
        self.capped = False
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
        self.capped = True

    @event("BudgetCharged")
    def charge(self, grant_id: UUID, amount: Decimal) -> None:
        self.spent += amount
        self.charged[str(grant_id)] = amount

    @event("BudgetRefunded")
    def refund(self, grant_id: UUID, amount: Decimal) -> None:
        self.spent -= amount
        self.charged.pop(str(grant_id), None)
