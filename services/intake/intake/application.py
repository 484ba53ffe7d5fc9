"""Intake's commands: keep the household registry, take grid reports, match
department records to households."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from pydantic import BaseModel, Field, field_validator, model_validator

from fangpin import departments
from fangpin.areas import county_today
from fangpin.auth import Principal
from fangpin.contracts import (
    DEPARTMENTS,
    URGENT_CATEGORIES,
    Actor,
    Contract,
    PovertyStatus,
    ProblemCategory,
    Role,
    VillageCode,
)
from fangpin.eventstore import (
    Cause,
    ServiceApplication,
    UnitOfWork,
    system_actor,
)
from fangpin.idnumber import InvalidIdNumber, normalise_id_number, pseudonym
from fangpin.inbox import Incoming, Rejected, TrackingKey
from intake.domain import (
    NO_MATCH,
    DepartmentRecord,
    Household,
    PersonIndex,
    ProblemReport,
    RejectedRecord,
    department_record_id,
    person_index_id,
    rejected_record_id,
)
from intake.errors import (
    HouseholdExists,
    HouseholdNotFound,
    NotAllowed,
    NumberMismatch,
    OutsideArea,
    PersonInAnotherHousehold,
)
from intake.registry import (
    Health,
    HouseholdData,
    HousingRating,
    IncomeData,
    IncomeSource,
    LabourCapacity,
    MemberData,
    Relation,
    Schooling,
    amount,
    household_id_for,
)
from intake.survey import SURVEYORS, SurveyIn, check_survey

A = TypeVar("A", bound=Aggregate)
REGISTRARS = (Role.DISTRICT, Role.TOWN, Role.VILLAGE)


class Member(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    id_number: str
    relation: Relation = Relation.HEAD
    labour_capacity: LabourCapacity = LabourCapacity.FULL
    disability_grade: int | None = Field(default=None, ge=1, le=4)
    health: Health = Health.HEALTHY
    schooling: Schooling = Schooling.NOT_IN_SCHOOL

    @field_validator("id_number")
    @classmethod
    def valid_id_number(cls, value: str) -> str:
        return normalise_id_number(value)

    @field_validator("health", mode="before")
    @classmethod
    def unknown_health_is_healthy(cls, value: object) -> object:
        return Health.HEALTHY if value is None else value

    def data(self) -> MemberData:
        return MemberData(
            name=self.name.strip(),
            id_number=self.id_number,
            relation=self.relation,
            labour_capacity=self.labour_capacity,
            disability_grade=self.disability_grade,
            health=self.health,
            schooling=self.schooling,
        )


class IncomeIn(BaseModel):
    """Per-capita annual net income, and the household's annual income by source
    (yuan). Without the per-capita figure, the sources divided by the members."""

    year: int = Field(ge=2000, le=2100)
    per_capita_net_income: Decimal | None = None
    sources: dict[IncomeSource, Decimal] = Field(default_factory=dict)

    @model_validator(mode="after")
    def something_given(self) -> IncomeIn:
        if self.per_capita_net_income is None and not self.sources:
            raise ValueError("give per_capita_net_income or at least one source")
        return self

    def data(self, member_count: int) -> IncomeData:
        sources = {
            source.value: amount(value) for source, value in self.sources.items()
        }
        per_capita = (
            amount(self.per_capita_net_income)
            if self.per_capita_net_income is not None
            else amount(sum(sources.values(), Decimal(0)) / member_count)
        )
        return IncomeData(self.year, per_capita, sources)


class HouseholdIn(BaseModel):
    """A household with its members. With a household number (户编号) the
    household's id follows from it, as in a spreadsheet import."""

    household_id: UUID | None = None
    household_number: str | None = Field(default=None, min_length=1, max_length=40)
    area_code: VillageCode
    village_group: str = Field(min_length=1, max_length=10)
    poverty_status: PovertyStatus
    left_poverty_year: int | None = Field(default=None, ge=2013, le=2100)
    phone: str | None = Field(default=None, pattern=r"^\d{11}$")
    housing_rating: HousingRating | None = None
    drinking_water_ok: bool | None = None
    members: list[Member] = Field(min_length=1, max_length=30)
    incomes: list[IncomeIn] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def consistent(self) -> HouseholdIn:
        heads = sum(member.relation is Relation.HEAD for member in self.members)
        if heads != 1:
            raise ValueError(
                f"members: a household has exactly one head, this one has {heads}"
            )
        seen: dict[str, int] = {}
        for position, member in enumerate(self.members):
            if member.id_number in seen:
                raise ValueError(
                    f"members.{position}.id_number: the same person as "
                    f"members.{seen[member.id_number]}"
                )
            seen[member.id_number] = position
        check_poverty_years(self.poverty_status, self.left_poverty_year)
        years = [income.year for income in self.incomes]
        if len(set(years)) != len(years):
            raise ValueError("incomes: one entry per year")
        if self.household_number is not None:
            derived = household_id_for(self.area_code, self.household_number)
            if self.household_id not in (None, derived):
                raise ValueError(
                    "household_id: does not match the household number; "
                    "leave it out and the number names the household"
                )
            self.household_id = derived
        return self

    def data(self, household_id: UUID | None = None) -> HouseholdData:
        return HouseholdData(
            household_id=household_id or self.household_id or uuid.uuid4(),
            household_number=self.household_number,
            area_code=self.area_code,
            village_group=self.village_group.strip(),
            poverty_status=self.poverty_status,
            left_poverty_year=self.left_poverty_year,
            phone=self.phone,
            housing_rating=self.housing_rating,
            drinking_water_ok=self.drinking_water_ok,
            members=tuple(member.data() for member in self.members),
            incomes=tuple(income.data(len(self.members)) for income in self.incomes),
        )


def check_poverty_years(status: PovertyStatus, left_in: int | None) -> None:
    if status is PovertyStatus.FORMERLY_POOR and left_in is None:
        raise ValueError("left_poverty_year: needed for a formerly poor household")
    if status is PovertyStatus.NEVER_POOR and left_in is not None:
        raise ValueError("left_poverty_year: only a formerly poor household has one")
    if left_in is not None and left_in > county_today().year:
        raise ValueError("left_poverty_year: lies in the future")


class ProblemIn(BaseModel):
    household_id: UUID
    category: ProblemCategory
    description: str = Field(min_length=1, max_length=2000)
    observed_on: date
    amount: Decimal | None = Field(default=None, ge=0)


LONGEST_RECORD_ID = 100


class DepartmentRecordIn(Contract):
    """What a department publishes on ``dept.<department>.<kind>``."""

    record_id: str = Field(min_length=1, max_length=LONGEST_RECORD_ID)
    id_number: str
    occurred_on: date
    facts: dict[str, float | int | bool | str] = Field(default_factory=dict)


class UnreadableRecord(Contract):
    """A department's message that breaks the record schema but names its record
    id: it is rejected back to the department like any other bad record, rather
    than only parked where the department cannot see it."""

    record_id: str
    reason: str
    # The message as sent, kept in memory only: its keyed hash tells one version
    # of the record from another.
    content: str = Field(repr=False)


class SaveMode(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UPSERT = "upsert"


Outcome = Literal["registered", "updated", "unchanged", "rejected"]


@dataclass
class Saved:
    """What became of one household of a batch.

    ``conflicts`` are the positions of members who belong to another household;
    ``reason`` says why a household was rejected otherwise.
    """

    household_id: UUID
    outcome: Outcome = "unchanged"
    changed: list[str] = field(default_factory=list)
    income_years: list[int] = field(default_factory=list)
    conflicts: list[int] = field(default_factory=list)
    reason: Literal["exists", "not_found", "outside_area"] | None = None


@dataclass
class _Plan:
    data: HouseholdData
    old: Household | None
    # People by the id of their index: who joins (pseudonym, and position among
    # the members), who leaves (pseudonym).
    joining: dict[UUID, tuple[str, int]]
    leaving: dict[UUID, str]
    saved: Saved

    @property
    def rejected(self) -> bool:
        return self.saved.outcome == "rejected"


@dataclass(frozen=True)
class RecordResult:
    record_id: str
    outcome: Literal["accepted", "duplicate", "rejected"]
    reason: str | None = None


@dataclass
class _Checked:
    department: str
    kind: str
    record: DepartmentRecordIn
    version: str
    facts: dict[str, float | int | bool | str] | None = None
    person: str | None = None
    reason: str | None = None


class IntakeApplication(ServiceApplication):
    service = "intake"

    def __init__(self, *args: Any, pseudonym_key: str = "", **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not pseudonym_key and not kwargs.get("in_memory"):
            raise ValueError("intake needs a pseudonym key for ID numbers")
        self.pseudonym_key = pseudonym_key or "in-memory-unit-tests"

    def pseudonym(self, id_number: str) -> str:
        return pseudonym(id_number, self.pseudonym_key)

    # --- the household registry -------------------------------------------------

    def register_household(self, form: HouseholdIn, principal: Principal) -> UUID:
        (saved,) = self.save_households([form.data()], principal, mode=SaveMode.CREATE)
        _raise_for(saved)
        return saved.household_id

    def update_household(
        self, household_id: UUID, form: HouseholdIn, principal: Principal
    ) -> Saved:
        if form.household_id not in (None, household_id):
            raise NumberMismatch(
                "the household number names another household", "household_number"
            )
        (saved,) = self.save_households(
            [form.data(household_id)], principal, mode=SaveMode.UPDATE
        )
        _raise_for(saved)
        return saved

    def save_households(
        self,
        batch: Sequence[HouseholdData],
        principal: Principal,
        *,
        mode: SaveMode = SaveMode.UPSERT,
        on: date | None = None,
        correlation_id: UUID | None = None,
    ) -> list[Saved]:
        """Register new households and revise known ones, all in one transaction.

        A household whose members already belong to another household is
        rejected as a whole; a person moving between two households of the same
        batch is released by the one and joins the other.
        """
        if principal.role not in REGISTRARS:
            raise NotAllowed("only village, town and district officials register")
        on = on or county_today()
        cause = Cause(principal.actor(), correlation_id=correlation_id or uuid.uuid4())

        existing = self.load_many([data.household_id for data in batch], Household)
        plans = [
            self._plan(data, existing.get(data.household_id), principal, mode)
            for data in batch
        ]
        people = self.load_many(
            [
                index_id
                for plan in plans
                if not plan.rejected
                for index_id in [*plan.joining, *plan.leaving]
            ],
            PersonIndex,
        )
        _settle_conflicts(plans, people)

        changed: list[Aggregate] = []
        for plan in plans:
            if not plan.rejected:
                changed.extend(self._carry_out(plan, people, on, cause))
        if changed:
            self.save(*changed)
        return [plan.saved for plan in plans]

    def _plan(
        self,
        data: HouseholdData,
        old: Household | None,
        principal: Principal,
        mode: SaveMode,
    ) -> _Plan:
        saved = Saved(data.household_id)
        plan = _Plan(data, old, {}, {}, saved)
        if old is not None and mode is SaveMode.CREATE:
            saved.outcome, saved.reason = "rejected", "exists"
        elif old is None and mode is SaveMode.UPDATE:
            saved.outcome, saved.reason = "rejected", "not_found"
        elif not principal.covers(data.area_code) or (
            old is not None and not principal.covers(old.area_code)
        ):
            saved.outcome, saved.reason = "rejected", "outside_area"
        if plan.rejected:
            return plan
        before = {m["id_number"] for m in old.members} if old is not None else set()
        after = {member.id_number for member in data.members}
        for position, member in enumerate(data.members):
            if member.id_number not in before:
                person = self.pseudonym(member.id_number)
                plan.joining[person_index_id(person)] = (person, position)
        for number in before - after:
            person = self.pseudonym(number)
            plan.leaving[person_index_id(person)] = person
        return plan

    def _carry_out(
        self,
        plan: _Plan,
        people: dict[UUID, PersonIndex],
        on: date,
        cause: Cause,
    ) -> list[Aggregate]:
        data, saved = plan.data, plan.saved
        meta = cause.meta(household_id=data.household_id)
        if plan.old is None:
            household = Household.register(data, on, meta)
            saved.outcome = "registered"
        else:
            household = plan.old
            saved.changed = household.revise(data, on, meta)
            saved.outcome = "updated" if saved.changed else "unchanged"
        saved.income_years = household.take_incomes(data.incomes, on, meta)

        touched: list[Aggregate] = [household] if household.pending_events else []
        for index_id in plan.leaving:
            index = people.get(index_id)
            # Another household of the batch may have taken the person already.
            if index is not None and index.household_id == household.id:
                index.leave(household_id=household.id, meta=meta)
                touched.append(index)
        for index_id, (person, _) in plan.joining.items():
            index = people.get(index_id)
            if index is None:
                index = PersonIndex(
                    pseudonym=person, household_id=household.id, meta=meta
                )
                people[index_id] = index
            elif index.household_id != household.id:
                index.join(household_id=household.id, meta=meta)
            touched.append(index)
        return touched

    def household(self, household_id: UUID, principal: Principal) -> Household:
        household = self.get_or_none(household_id, Household)
        if household is None or not principal.covers(
            household.area_code, household.village_group
        ):
            raise HouseholdNotFound("household not found in your area")
        return household

    def load_many(self, ids: Iterable[UUID], kind: type[A]) -> dict[UUID, A]:
        """Those of these aggregates that exist, loaded in one query."""
        return {
            aggregate_id: aggregate
            for aggregate_id, aggregate in self.get_many(ids).items()
            if isinstance(aggregate, kind)
        }

    # --- grid reports -------------------------------------------------------------

    def report_problem(self, form: ProblemIn, principal: Principal) -> UUID:
        if principal.role not in (Role.GRID_MONITOR, Role.VILLAGE, Role.TOWN):
            raise NotAllowed("problems are reported by grid monitors and officials")
        household = self.household(form.household_id, principal)
        if not principal.covers(household.area_code, household.village_group):
            raise OutsideArea("this household is outside your grid", "household_id")
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

    # --- household surveys --------------------------------------------------------

    def survey_household(
        self, household_id: UUID, form: SurveyIn, principal: Principal
    ) -> list[str]:
        """Record a home visit's facts; return those a later survey already gave."""
        if principal.role not in SURVEYORS:
            raise NotAllowed("households are surveyed by grid monitors and officials")
        household = self.household(household_id, principal)
        facts = form.given()
        check_survey(facts, household.member_count)
        meta = Cause(principal.actor()).meta(household_id=household.id)
        superseded = household.take_survey(facts, form.surveyed_on, meta)
        self.save(household)
        return superseded

    # --- department records (from NATS, or uploaded over HTTP) ------------------

    def process(self, messages: list[Incoming]) -> None:
        """The inbox's batch: records and their tracking keys in one transaction."""
        self.receive_records(messages)

    def receive_records(self, messages: Iterable[Incoming]) -> list[RecordResult]:
        unit = UnitOfWork(self)
        batch = []
        unreadable: dict[int, RecordResult] = {}
        for position, incoming in enumerate(messages):
            department, kind = department_subject(incoming.subject)
            record = incoming.data
            unit.track(incoming.key)
            if isinstance(record, UnreadableRecord):
                unreadable[position] = self._reject_unreadable(
                    unit, department, kind, record
                )
                continue
            assert isinstance(record, DepartmentRecordIn)
            batch.append((department, kind, record))
        received = iter(self._receive(unit, batch, None))
        unit.commit()
        return [
            unreadable[position] if position in unreadable else next(received)
            for position in range(len(batch) + len(unreadable))
        ]

    def _reject_unreadable(
        self, unit: UnitOfWork, department: str, kind: str, record: UnreadableRecord
    ) -> RecordResult:
        version = self.pseudonym(record.content)[:32]
        rejected_id = rejected_record_id(department, record.record_id, version)
        if unit.get(rejected_id, RejectedRecord) is None:
            unit.add(
                RejectedRecord(
                    record_id=record.record_id,
                    department=department,
                    kind=kind,
                    version=version,
                    reason=record.reason,
                    meta=Cause(system_actor(self.service, "000000")).meta(),
                )
            )
        return RecordResult(record.record_id, "rejected", record.reason)

    def receive_upload(
        self,
        department: str,
        kind: str,
        records: Sequence[DepartmentRecordIn],
        principal: Principal,
    ) -> list[RecordResult]:
        """Records sent over HTTP: outcomes come back at once. Nothing is tracked:
        the record ids make a second upload harmless."""
        unit = UnitOfWork(self)
        batch = [(department, kind, record) for record in records]
        results = self._receive(unit, batch, principal.actor())
        unit.commit()
        return results

    def _receive(
        self,
        unit: UnitOfWork,
        batch: list[tuple[str, str, DepartmentRecordIn]],
        actor: Actor | None,
    ) -> list[RecordResult]:
        checked = [self._check(*item) for item in batch]
        accepted = self.load_many(
            [department_record_id(c.department, c.record.record_id) for c in checked],
            DepartmentRecord,
        )
        rejected = self.load_many(
            [
                rejected_record_id(c.department, c.record.record_id, c.version)
                for c in checked
            ],
            RejectedRecord,
        )
        people = self.load_many(
            [person_index_id(c.person) for c in checked if c.person], PersonIndex
        )
        households = self.load_many(
            [p.household_id for p in people.values() if p.household_id], Household
        )
        # Accepted and rejected records and households: their ids never collide.
        loaded: dict[UUID, Aggregate] = {**accepted, **rejected, **households}
        return [self._take(unit, item, loaded, people, actor) for item in checked]

    def _check(
        self, department: str, kind: str, record: DepartmentRecordIn
    ) -> _Checked:
        content = json.dumps(
            [kind, record.id_number.strip().upper(), str(record.occurred_on)]
            + [sorted(record.facts.items())],
            ensure_ascii=False,
        )
        # The same version of a record names the same rejection; a keyed hash,
        # because the content holds an ID number.
        checked = _Checked(department, kind, record, self.pseudonym(content)[:32])
        try:
            record_kind = departments.record_kind(department, kind)
            checked.facts = departments.check_facts(record_kind, record.facts)
            number = normalise_id_number(record.id_number)
        except departments.UnknownRecordKind as error:
            checked.reason = str(error)
        except departments.InvalidFacts as error:
            checked.reason = str(error)
        except InvalidIdNumber as error:
            checked.reason = f"id_number: {error}"
        else:
            checked.person = self.pseudonym(number)
        return checked

    def _take(
        self,
        unit: UnitOfWork,
        checked: _Checked,
        loaded: dict[UUID, Aggregate],
        people: dict[UUID, PersonIndex],
        actor: Actor | None,
    ) -> RecordResult:
        record, department = checked.record, checked.department
        accepted_id = department_record_id(department, record.record_id)
        if accepted_id in loaded:
            return RecordResult(record.record_id, "duplicate")
        holder = people.get(person_index_id(checked.person)) if checked.person else None
        if checked.reason is None and (holder is None or holder.household_id is None):
            checked.reason = NO_MATCH
        if checked.reason is not None:
            self._reject(unit, checked, loaded, actor)
            return RecordResult(record.record_id, "rejected", checked.reason)

        assert holder is not None and holder.household_id is not None
        household = loaded[holder.household_id]
        assert isinstance(household, Household) and checked.facts is not None
        actor = actor or system_actor(self.service, household.area_code)
        accepted = DepartmentRecord(
            record_id=record.record_id,
            department=department,
            kind=checked.kind,
            household_id=household.id,
            area_code=household.area_code,
            occurred_on=record.occurred_on,
            facts=checked.facts,
            meta=Cause(actor).meta(household_id=household.id),
        )
        unit.add(accepted)
        loaded[accepted.id] = accepted
        return RecordResult(record.record_id, "accepted")

    def _reject(
        self,
        unit: UnitOfWork,
        checked: _Checked,
        loaded: dict[UUID, Aggregate],
        actor: Actor | None,
    ) -> None:
        record_id = checked.record.record_id
        rejected_id = rejected_record_id(checked.department, record_id, checked.version)
        if rejected_id in loaded:
            return
        rejected = RejectedRecord(
            record_id=record_id,
            department=checked.department,
            kind=checked.kind,
            version=checked.version,
            reason=checked.reason or "",
            meta=Cause(actor or system_actor(self.service, "000000")).meta(),
        )
        unit.add(rejected)
        loaded[rejected.id] = rejected

    def tracked(self, keys: Iterable[TrackingKey]) -> set[TrackingKey]:
        return super().tracked(keys)


def _settle_conflicts(plans: list[_Plan], people: dict[UUID, PersonIndex]) -> None:
    """Reject each household that takes in someone who stays in another one.

    A person may move between two households of the batch only if the one they
    leave is saved too, so the check repeats until no further household falls.
    """
    while True:
        releasing = {
            index_id: plan.data.household_id
            for plan in plans
            if not plan.rejected
            for index_id in plan.leaving
        }
        claimed: set[UUID] = set()
        fell = False
        for plan in plans:
            if plan.rejected:
                continue
            conflicts = []
            for index_id, (_, position) in plan.joining.items():
                index = people.get(index_id)
                holder = index.household_id if index else None
                free = holder in (None, plan.data.household_id)
                if index_id in claimed or not (
                    free or releasing.get(index_id) == holder
                ):
                    conflicts.append(position)
            if conflicts:
                plan.saved.outcome = "rejected"
                plan.saved.conflicts = sorted(conflicts)
                fell = True
            else:
                claimed.update(plan.joining)
        if not fell:
            return


def _raise_for(saved: Saved) -> None:
    if saved.reason == "exists":
        raise HouseholdExists("this household is already registered", "household_id")
    if saved.reason == "not_found":
        raise HouseholdNotFound("household not found in your area")
    if saved.reason == "outside_area":
        raise OutsideArea("the household's village is outside your area", "area_code")
    if saved.conflicts:
        raise PersonInAnotherHousehold(
            "this person already belongs to another household",
            f"members.{saved.conflicts[0]}.id_number",
        )


def department_subject(subject: str) -> tuple[str, str]:
    parts = subject.split(".")
    if len(parts) != 3 or parts[0] != "dept":
        raise Rejected(f"subject: expected dept.<department>.<kind>, got {subject!r}")
    department, kind = parts[1], parts[2]
    if department not in DEPARTMENTS:
        raise Rejected(f"subject: unknown department {department!r}")
    return department, kind
