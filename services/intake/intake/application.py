"""Intake's commands: register households, take grid reports, match department
records to households."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, field_validator

from fangpin.auth import Principal
from fangpin.contracts import (
    DEPARTMENTS,
    URGENT_CATEGORIES,
    Contract,
    PovertyStatus,
    ProblemCategory,
    Role,
    VillageCode,
)
from fangpin.eventstore import Cause, ServiceApplication, UnitOfWork, system_actor
from fangpin.idnumber import normalise_id_number, pseudonym
from fangpin.inbox import Incoming, Rejected, TrackingKey
from fangpin.service import Conflict, Forbidden, NotFound
from intake.domain import (
    DepartmentRecord,
    Household,
    PersonIndex,
    ProblemReport,
    RejectedRecord,
    department_record_id,
    person_index_id,
    rejected_record_id,
)


class Member(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    id_number: str
    relation: str = Field(default="head", max_length=20)
    labour_capacity: str = Field(default="full", pattern="^(full|partial|none)$")
    disability_grade: int | None = Field(default=None, ge=1, le=4)
    health: str | None = Field(default=None, max_length=100)

    @field_validator("id_number")
    @classmethod
    def valid_id_number(cls, value: str) -> str:
        return normalise_id_number(value)


class HouseholdIn(BaseModel):
    household_id: UUID | None = None
    area_code: VillageCode
    village_group: str = Field(min_length=1, max_length=10)
    poverty_status: PovertyStatus
    left_poverty_year: int | None = Field(default=None, ge=2013, le=2030)
    phone: str | None = Field(default=None, pattern=r"^\d{11}$")
    members: list[Member] = Field(min_length=1)


class ProblemIn(BaseModel):
    household_id: UUID
    category: ProblemCategory
    description: str = Field(min_length=1, max_length=2000)
    observed_on: date
    amount: Decimal | None = Field(default=None, ge=0)


class DepartmentRecordIn(Contract):
    """What a department publishes on ``dept.<department>.<kind>``."""

    record_id: str = Field(min_length=1, max_length=100)
    id_number: str
    occurred_on: date
    facts: dict[str, float | int | bool | str] = Field(default_factory=dict)


class IntakeApplication(ServiceApplication):
    service = "intake"

    def __init__(self, *args: Any, pseudonym_key: str = "", **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not pseudonym_key and not kwargs.get("in_memory"):
            raise ValueError("intake needs a pseudonym key for ID numbers")
        self.pseudonym_key = pseudonym_key or "in-memory-unit-tests"

    def register_household(self, form: HouseholdIn, principal: Principal) -> UUID:
        if principal.role not in (Role.DISTRICT, Role.TOWN, Role.VILLAGE):
            raise Forbidden("only village, town and district officials register")
        if not principal.covers(form.area_code):
            raise Forbidden("the household's village is outside your area", "area_code")
        household_id = form.household_id or uuid.uuid4()
        if self.get_or_none(household_id, Household) is not None:
            raise Conflict("this household is already registered", "household_id")
        cause = Cause(principal.actor())
        meta = cause.meta(household_id=household_id)
        indexes = []
        for position, member in enumerate(form.members):
            person = pseudonym(member.id_number, self.pseudonym_key)
            if self.get_or_none(person_index_id(person), PersonIndex) is not None:
                # Reported, never merged: one person, one household.
                raise Conflict(
                    "this person already belongs to another household",
                    f"members.{position}.id_number",
                )
            indexes.append(
                PersonIndex(pseudonym=person, household_id=household_id, meta=meta)
            )
        household = Household(
            household_id=household_id,
            area_code=form.area_code,
            village_group=form.village_group,
            poverty_status=form.poverty_status.value,
            left_poverty_year=form.left_poverty_year,
            member_count=len(form.members),
            members=[member.model_dump() for member in form.members],
            phone=form.phone,
            meta=meta,
        )
        self.save(household, *indexes)
        return household_id

    def household(self, household_id: UUID, principal: Principal) -> Household:
        household = self.get_or_none(household_id, Household)
        if household is None or not principal.covers(
            household.area_code, household.village_group
        ):
            raise NotFound("household not found in your area")
        return household

    def report_problem(self, form: ProblemIn, principal: Principal) -> UUID:
        if principal.role not in (Role.GRID_MONITOR, Role.VILLAGE, Role.TOWN):
            raise Forbidden("problems are reported by grid monitors and officials")
        household = self.household(form.household_id, principal)
        if not principal.covers(household.area_code, household.village_group):
            raise Forbidden("this household is outside your grid", "household_id")
        report_id = uuid.uuid4()
        report = ProblemReport(
            report_id=report_id,
            household_id=household.id,
            area_code=household.area_code,
            village_group=household.village_group,
            category=form.category.value,
            observed_on=form.observed_on,
            amount=form.amount,
            urgent=form.category in URGENT_CATEGORIES,
            description=form.description,
            meta=Cause(principal.actor()).meta(household_id=household.id),
        )
        self.save(report)
        return report_id

    # --- department records (from NATS, or uploaded over HTTP) ------------------

    def receive_records(self, messages: Iterable[Incoming]) -> None:
        unit = UnitOfWork(self)
        for incoming in messages:
            department, kind = department_subject(incoming.subject)
            record = incoming.data
            assert isinstance(record, DepartmentRecordIn)
            self._receive(unit, department, kind, record, incoming.key)
        unit.commit()

    def _receive(
        self,
        unit: UnitOfWork,
        department: str,
        kind: str,
        record: DepartmentRecordIn,
        key: TrackingKey,
    ) -> None:
        unit.track(key)
        accepted_id = department_record_id(department, record.record_id)
        if unit.get(accepted_id, DepartmentRecord) is not None:
            return  # the same record sent again counts once
        try:
            number = normalise_id_number(record.id_number)
        except ValueError as error:
            self._reject(unit, department, kind, record, f"id_number: {error}")
            return
        index = unit.get(
            person_index_id(pseudonym(number, self.pseudonym_key)), PersonIndex
        )
        if index is None:
            self._reject(unit, department, kind, record, "no registered person matches")
            return
        household = unit.get(index.household_id, Household)
        assert household is not None
        actor = system_actor(self.service, household.area_code)
        unit.add(
            DepartmentRecord(
                record_id=record.record_id,
                department=department,
                kind=kind,
                household_id=household.id,
                area_code=household.area_code,
                occurred_on=record.occurred_on,
                facts=record.facts,
                meta=Cause(actor).meta(household_id=household.id),
            )
        )

    def _reject(
        self,
        unit: UnitOfWork,
        department: str,
        kind: str,
        record: DepartmentRecordIn,
        reason: str,
    ) -> None:
        rejected_id = rejected_record_id(department, record.record_id)
        if unit.get(rejected_id, RejectedRecord) is not None:
            return
        unit.add(
            RejectedRecord(
                department=department,
                record_id=record.record_id,
                kind=kind,
                reason=reason,
                meta=Cause(system_actor(self.service, "000000")).meta(),
            )
        )

    def tracked(self, keys: Iterable[TrackingKey]) -> set[TrackingKey]:
        return super().tracked(keys)

    def process(self, messages: list[Incoming]) -> None:
        self.receive_records(messages)


def department_subject(subject: str) -> tuple[str, str]:
    parts = subject.split(".")
    if len(parts) != 3 or parts[0] != "dept":
        raise Rejected(f"subject: expected dept.<department>.<kind>, got {subject!r}")
    department, kind = parts[1], parts[2]
    if department not in DEPARTMENTS:
        raise Rejected(f"subject: unknown department {department!r}")
    return department, kind
