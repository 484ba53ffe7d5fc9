"""Intake's aggregates: the household registry, grid reports and department records.

Personal data (names, ID numbers, phone, health, disability) lives only in these
events, which the event store keeps encrypted; the public contracts that leave the
service carry none of it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from fangpin.eventstore import stable_id


class Household(Aggregate):
    @staticmethod
    def create_id(household_id: UUID) -> UUID:
        return household_id

    @event("HouseholdRegistered")
    def __init__(
        self,
        household_id: UUID,
        area_code: str,
        village_group: str,
        poverty_status: str,
        left_poverty_year: int | None,
        member_count: int,
        members: list[dict[str, Any]],
        phone: str | None,
        meta: dict[str, Any],
    ):
        self.area_code = area_code
        self.village_group = village_group
        self.poverty_status = poverty_status
        self.left_poverty_year = left_poverty_year
        self.members = members
        self.phone = phone

    @property
    def member_count(self) -> int:
        return len(self.members)


class PersonIndex(Aggregate):
    """Which household a person (named by a keyed hash of the ID number) belongs to."""

    @staticmethod
    def create_id(pseudonym: str) -> UUID:
        return person_index_id(pseudonym)

    @event("PersonIndexed")
    def __init__(self, pseudonym: str, household_id: UUID, meta: dict[str, Any]):
        self.household_id = household_id


def person_index_id(pseudonym: str) -> UUID:
    return stable_id("person", pseudonym)


class ProblemReport(Aggregate):
    @staticmethod
    def create_id(report_id: UUID) -> UUID:
        return report_id

    @event("ProblemReported")
    def __init__(
        self,
        report_id: UUID,
        household_id: UUID,
        area_code: str,
        village_group: str,
        category: str,
        observed_on: date,
        amount: Decimal | None,
        urgent: bool,
        description: str,
        meta: dict[str, Any],
    ):
        self.household_id = household_id
        self.category = category
        self.description = description


def department_record_id(department: str, record_id: str) -> UUID:
    return stable_id("department-record", department, record_id)


class DepartmentRecord(Aggregate):
    """One department record as received: matched to a household, or rejected."""

    @staticmethod
    def create_id(department: str, record_id: str) -> UUID:
        return department_record_id(department, record_id)

    @event("DepartmentRecordReceived")
    def __init__(
        self,
        record_id: str,
        department: str,
        kind: str,
        household_id: UUID,
        area_code: str,
        occurred_on: date,
        facts: dict[str, Any],
        meta: dict[str, Any],
    ):
        self.household_id: UUID | None = household_id
        self.accepted = True


class RejectedRecord(Aggregate):
    """Kept apart from accepted records: a corrected record may be sent again."""

    @staticmethod
    def create_id(department: str, record_id: str) -> UUID:
        return rejected_record_id(department, record_id)

    @event("RecordRejected")
    def __init__(
        self,
        record_id: str,
        department: str,
        kind: str,
        reason: str,
        meta: dict[str, Any],
    ):
        self.reason = reason


def rejected_record_id(department: str, record_id: str) -> UUID:
    return stable_id("rejected-record", department, record_id)
