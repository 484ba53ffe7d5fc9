"""Intake's aggregates: the household registry, grid reports and department records.

Personal data (names, ID numbers, phone, health, disability) lives only in these
events, which the event store keeps encrypted; the public contracts that leave the
service carry none of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from fangpin.eventstore import stable_id
from fangpin.idnumber import birth_date
from intake.registry import (
    HOUSEHOLD_FIELDS,
    Health,
    HouseholdData,
    IncomeData,
    Schooling,
    changed_fields,
    household_facts,
    sex_of,
)

# The reason of a department record that names nobody in the registry; every
# other rejection means the record itself is invalid.
NO_MATCH = "no registered person matches"


class Household(Aggregate):
    class HouseholdRegistered(Aggregate.Created):
        household_id: UUID
        area_code: str
        village_group: str
        poverty_status: str
        left_poverty_year: int | None
        member_count: int
        members: list[dict[str, Any]]
        phone: str | None
        meta: dict[str, Any]
        household_number: str | None
        housing_rating: str | None
        drinking_water_ok: bool | None
        facts: dict[str, Any]

        class_version = 2

        def __post_init__(self) -> None:
            # Code written against version 1 registers without facts; the
            # contract wants a mapping, even an empty one.
            if self.facts is None:
                object.__setattr__(self, "facts", {})

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 had no household number, housing, water or facts, and kept
            health as free text (anything written there was an illness)."""
            for name in ("household_number", "housing_rating", "drinking_water_ok"):
                state.setdefault(name, None)
            state.setdefault("facts", {})
            state["members"] = [_member_v2(member) for member in state["members"]]

    @staticmethod
    def create_id(household_id: UUID) -> UUID:
        return household_id

    @event(HouseholdRegistered)
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
        household_number: str | None = None,
        housing_rating: str | None = None,
        drinking_water_ok: bool | None = None,
        facts: dict[str, Any] | None = None,
    ):
        self.household_number = household_number
        self.area_code = area_code
        self.village_group = village_group
        self.poverty_status = poverty_status
        self.left_poverty_year = left_poverty_year
        self.members = members
        self.phone = phone
        self.housing_rating = housing_rating
        self.drinking_water_ok = drinking_water_ok
        self.facts = facts or {}
        self.incomes: dict[int, tuple[Decimal, dict[str, Decimal]]] = {}
        # Each surveyed fact's standing value and the date of the survey that gave it.
        self.survey: dict[str, dict[str, Any]] = {}

    @classmethod
    def register(cls, data: HouseholdData, on: date, meta: dict[str, Any]) -> Household:
        fields = data.registry_fields()
        members = data.member_records()
        return cls(
            household_id=data.household_id,
            member_count=len(members),
            members=members,
            facts=household_facts(
                members, fields["housing_rating"], fields["drinking_water_ok"], on
            ),
            meta=meta,
            **fields,
        )

    @property
    def member_count(self) -> int:
        return len(self.members)

    def registry_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in HOUSEHOLD_FIELDS}

    def revise(self, data: HouseholdData, on: date, meta: dict[str, Any]) -> list[str]:
        """Take a new version of the household; return what changed (maybe nothing)."""
        changed = changed_fields(self.registry_fields(), self.members, data)
        if not changed:
            return []
        fields = data.registry_fields()
        members = data.member_records()
        self.update(
            household_id=self.id,
            member_count=len(members),
            members=members,
            changed=changed,
            facts=household_facts(
                members, fields["housing_rating"], fields["drinking_water_ok"], on
            ),
            meta=meta,
            **fields,
        )
        return changed

    @event("HouseholdUpdated")
    def update(
        self,
        household_id: UUID,
        household_number: str | None,
        area_code: str,
        village_group: str,
        poverty_status: str,
        left_poverty_year: int | None,
        member_count: int,
        members: list[dict[str, Any]],
        phone: str | None,
        housing_rating: str | None,
        drinking_water_ok: bool | None,
        changed: list[str],
        facts: dict[str, Any],
        meta: dict[str, Any],
    ) -> None:
        self.household_number = household_number
        self.area_code = area_code
        self.village_group = village_group
        self.poverty_status = poverty_status
        self.left_poverty_year = left_poverty_year
        self.members = members
        self.phone = phone
        self.housing_rating = housing_rating
        self.drinking_water_ok = drinking_water_ok
        self.facts = facts

    def take_incomes(
        self, incomes: Iterable[IncomeData], on: date, meta: dict[str, Any]
    ) -> list[int]:
        """Record the years that are new or differ; return those years."""
        recorded = []
        for income in incomes:
            entry = (income.per_capita_net_income, dict(income.sources))
            if self.incomes.get(income.year) == entry:
                continue
            self.record_income(
                household_id=self.id,
                area_code=self.area_code,
                year=income.year,
                per_capita_net_income=income.per_capita_net_income,
                sources=dict(income.sources),
                recorded_on=on,
                meta=meta,
            )
            recorded.append(income.year)
        return recorded

    @event("IncomeRecorded")
    def record_income(
        self,
        household_id: UUID,
        area_code: str,
        year: int,
        per_capita_net_income: Decimal,
        sources: dict[str, Decimal],
        recorded_on: date,
        meta: dict[str, Any],
    ) -> None:
        self.incomes[year] = (per_capita_net_income, dict(sources))

    def take_survey(
        self, facts: dict[str, Any], surveyed_on: date, meta: dict[str, Any]
    ) -> list[str]:
        """Record a home visit's facts; return those a later survey already gave,
        whose values stand."""
        self.record_survey(
            household_id=self.id,
            area_code=self.area_code,
            village_group=self.village_group,
            surveyed_on=surveyed_on,
            facts=facts,
            meta=meta,
        )
        return sorted(
            name for name in facts if self.survey[name]["surveyed_on"] > surveyed_on
        )

    @event("HouseholdSurveyed")
    def record_survey(
        self,
        household_id: UUID,
        area_code: str,
        village_group: str,
        surveyed_on: date,
        facts: dict[str, Any],
        meta: dict[str, Any],
    ) -> None:
        for name, value in facts.items():
            standing = self.survey.get(name)
            # A survey of the same day as the standing one is the later word.
            if standing is None or standing["surveyed_on"] <= surveyed_on:
                self.survey[name] = {"value": value, "surveyed_on": surveyed_on}


def _member_v2(member: dict[str, Any]) -> dict[str, Any]:
    number = member["id_number"]
    return {
        **member,
        "relation": member.get("relation") or "head",
        "birth_date": birth_date(number).isoformat(),
        "sex": sex_of(number).value,
        "health": Health.CHRONIC.value if member.get("health") else "healthy",
        "schooling": Schooling.NOT_IN_SCHOOL.value,
    }


class PersonIndex(Aggregate):
    """Which household a person (named by a keyed hash of the ID number) belongs to;
    none after they left one, until they join another."""

    @staticmethod
    def create_id(pseudonym: str) -> UUID:
        return person_index_id(pseudonym)

    @event("PersonIndexed")
    def __init__(self, pseudonym: str, household_id: UUID, meta: dict[str, Any]):
        self.household_id: UUID | None = household_id

    @event("PersonJoined")
    def join(self, household_id: UUID, meta: dict[str, Any]) -> None:
        self.household_id = household_id

    @event("PersonLeft")
    def leave(self, household_id: UUID, meta: dict[str, Any]) -> None:
        self.household_id = None


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
    """A department record matched to a household; one per department and record
    id, however often it is sent."""

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
    """One rejected version of a department record. Kept apart from accepted
    records, so a corrected record may be sent again under the same id; the same
    version sent again is rejected once."""

    class RecordRejected(Aggregate.Created):
        record_id: str
        department: str
        kind: str
        version: str
        reason: str
        meta: dict[str, Any]

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 kept one rejection per record id, whatever its content."""
            state.setdefault("version", "")

    @staticmethod
    def create_id(department: str, record_id: str, version: str) -> UUID:
        return rejected_record_id(department, record_id, version)

    @event(RecordRejected)
    def __init__(
        self,
        record_id: str,
        department: str,
        kind: str,
        version: str,
        reason: str,
        meta: dict[str, Any],
    ):
        self.reason = reason


def rejected_record_id(department: str, record_id: str, version: str) -> UUID:
    return stable_id("rejected-record", department, record_id, version)
