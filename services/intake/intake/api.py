"""Intake's HTTP interface."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from fangpin.auth import CurrentPrincipal, Principal
from fangpin.contracts import DEPARTMENTS, Role
from fangpin.idnumber import mask
from fangpin.inbox import Incoming, hash_key
from fangpin.service import Forbidden, NotFound, Runtime, runtime_of
from intake.application import (
    DepartmentRecordIn,
    HouseholdIn,
    IntakeApplication,
    ProblemIn,
)
from intake.domain import DepartmentRecord, RejectedRecord, department_record_id
from intake.domain import rejected_record_id as rejected_id

router = APIRouter()


def intake(request: Request) -> IntakeApplication:
    app = runtime_of(request).app
    assert isinstance(app, IntakeApplication)
    return app


Intake = Annotated[IntakeApplication, Depends(intake)]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


class Created(BaseModel):
    id: UUID


class MemberOut(BaseModel):
    name: str
    id_number_masked: str
    relation: str
    labour_capacity: str
    disability_grade: int | None


class HouseholdOut(BaseModel):
    household_id: UUID
    area_code: str
    village_group: str
    poverty_status: str
    left_poverty_year: int | None
    members: list[MemberOut]


@router.post("/households", status_code=201, response_model=Created, tags=["registry"])
def register_household(
    form: HouseholdIn, principal: CurrentPrincipal, app: Intake, runtime: RuntimeDep
) -> Created:
    """Register a household with its members (ID numbers are checked)."""
    household_id = app.register_household(form, principal)
    runtime.committed()
    return Created(id=household_id)


@router.get(
    "/households/{household_id}", response_model=HouseholdOut, tags=["registry"]
)
def get_household(
    household_id: UUID, principal: CurrentPrincipal, app: Intake
) -> HouseholdOut:
    household = app.household(household_id, principal)
    return HouseholdOut(
        household_id=household.id,
        area_code=household.area_code,
        village_group=household.village_group,
        poverty_status=household.poverty_status,
        left_poverty_year=household.left_poverty_year,
        members=[
            MemberOut(
                name=member["name"],
                id_number_masked=mask(member["id_number"]),
                relation=member["relation"],
                labour_capacity=member["labour_capacity"],
                disability_grade=member["disability_grade"],
            )
            for member in household.members
        ],
    )


@router.post("/reports", status_code=201, response_model=Created, tags=["grid reports"])
def report_problem(
    form: ProblemIn, principal: CurrentPrincipal, app: Intake, runtime: RuntimeDep
) -> Created:
    """A grid monitor reports a problem seen in a household of their own grid."""
    report_id = app.report_problem(form, principal)
    runtime.committed()
    return Created(id=report_id)


class RecordOutcome(BaseModel):
    record_id: str
    outcome: Literal["accepted", "rejected"]
    reason: str | None = None


class Upload(BaseModel):
    records: list[DepartmentRecordIn] = Field(min_length=1, max_length=10_000)


@router.post(
    "/departments/{department}/{kind}/records",
    response_model=list[RecordOutcome],
    tags=["department data"],
)
def upload_records(
    department: str,
    kind: str,
    upload: Upload,
    principal: CurrentPrincipal,
    app: Intake,
    runtime: RuntimeDep,
) -> list[RecordOutcome]:
    """A department without NATS sends the same records over HTTP."""
    _may_send_for(principal, department)
    subject = f"dept.{department}.{kind}"
    incoming = [
        Incoming(
            key=("upload", hash_key(f"{department}:{record.record_id}")),
            subject=subject,
            envelope=None,
            data=record,
        )
        for record in upload.records
    ]
    known = app.tracked([message.key for message in incoming])
    app.receive_records([message for message in incoming if message.key not in known])
    runtime.committed()
    return [_outcome(app, department, record) for record in upload.records]


def _may_send_for(principal: Principal, department: str) -> None:
    if department not in DEPARTMENTS:
        raise NotFound(f"unknown department {department!r}", "department")
    if principal.role is Role.DISTRICT:
        return
    if principal.role is not Role.DEPARTMENT or principal.department != department:
        raise Forbidden("you may only send records of your own department")


def _outcome(
    app: IntakeApplication, department: str, record: DepartmentRecordIn
) -> RecordOutcome:
    accepted_id = department_record_id(department, record.record_id)
    if app.get_or_none(accepted_id, DepartmentRecord) is not None:
        return RecordOutcome(record_id=record.record_id, outcome="accepted")
    rejected = app.get_or_none(
        rejected_id(department, record.record_id), RejectedRecord
    )
    reason = rejected.reason if rejected else "not processed"
    return RecordOutcome(record_id=record.record_id, outcome="rejected", reason=reason)
