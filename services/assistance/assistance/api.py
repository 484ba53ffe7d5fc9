"""Assistance's HTTP interface: measures, assignments, grants, totals, budgets."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from assistance.application import AssistanceApplication, BudgetIn, GrantIn
from assistance.views import AssistanceView
from fangpin.auth import CurrentPrincipal
from fangpin.contracts import Role
from fangpin.measures import MEASURES
from fangpin.service import RetryLostRace, Runtime, runtime_of

router = APIRouter(route_class=RetryLostRace)


def assistance(request: Request) -> AssistanceApplication:
    app = runtime_of(request).app
    assert isinstance(app, AssistanceApplication)
    return app


def assistance_view(request: Request) -> AssistanceView:
    view: AssistanceView = request.app.state.view
    return view


Assistance = Annotated[AssistanceApplication, Depends(assistance)]
View = Annotated[AssistanceView, Depends(assistance_view)]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


class MeasureOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    target_type: str
    department: str
    unit: str


class Created(BaseModel):
    id: UUID


@router.get("/measures", response_model=list[MeasureOut], tags=["measures"])
def measures(_: CurrentPrincipal) -> list[MeasureOut]:
    """The catalogue of measures by target type, with department and unit."""
    return [
        MeasureOut(
            code=item.code,
            name_zh=item.name_zh,
            name_en=item.name_en,
            target_type=item.target_type.value,
            department=item.department,
            unit=item.unit,
        )
        for item in MEASURES.values()
    ]


@router.post("/grants", status_code=201, response_model=Created, tags=["grants"])
def grant(
    form: GrantIn, principal: CurrentPrincipal, app: Assistance, runtime: RuntimeDep
) -> Created:
    """Grant a measure to a case's household; a month is covered once per measure
    (a year's grant covers its months) until the grant covering it is stopped."""
    new_id = app.grant(form, principal)
    runtime.committed()
    return Created(id=new_id)


class StopIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/grants/{grant_id}/stop", status_code=204, tags=["grants"])
def stop_grant(
    grant_id: UUID,
    form: StopIn,
    principal: CurrentPrincipal,
    app: Assistance,
    runtime: RuntimeDep,
) -> None:
    app.stop_grant(grant_id, form.reason, principal)
    runtime.committed()


class GrantOut(BaseModel):
    grant_id: UUID
    case_id: UUID
    measure: str
    quantity: Decimal
    unit: str
    period: str
    funding_source: str
    department: str
    emergency: bool
    granted_at: datetime
    stopped_at: datetime | None


class HouseholdGrants(BaseModel):
    grants: list[GrantOut]
    totals: dict[str, Decimal] = Field(
        description="per measure, in its unit, stopped grants left out"
    )


@router.get(
    "/households/{household_id}/grants", response_model=HouseholdGrants, tags=["grants"]
)
def household_grants(
    household_id: UUID, principal: CurrentPrincipal, view: View
) -> dict[str, Any]:
    found = [
        row
        for row in view.household_grants(household_id)
        if principal.covers(row["area_code"])
    ]
    totals: dict[str, Decimal] = {}
    for row in found:
        if row["stopped_at"] is not None:
            continue  # withdrawn aid counts for nothing
        totals[row["measure"]] = (
            totals.get(row["measure"], Decimal(0)) + row["quantity"]
        )
    return {"grants": found, "totals": totals}


class MeasureTotal(BaseModel):
    measure: str
    unit: str
    households: int
    grants: int
    quantity: Decimal


@router.get("/totals", response_model=list[MeasureTotal], tags=["grants"])
def totals(principal: CurrentPrincipal, view: View) -> list[dict[str, Any]]:
    """Per measure in your area: households reached, grants and the quantity."""
    return view.totals_by_measure(principal.area_code)


class AssignmentOut(BaseModel):
    assignment_id: UUID
    case_id: UUID
    household_id: UUID
    area_code: str
    measure: str
    department: str
    due_on: date
    assigned_at: datetime
    delivered_at: datetime | None


@router.get("/assignments", response_model=list[AssignmentOut], tags=["measures"])
def assignments(
    principal: CurrentPrincipal, view: View, waiting_only: bool = True
) -> list[dict[str, Any]]:
    """Measures of the plans; a department sees those in its field."""
    department = principal.department if principal.role is Role.DEPARTMENT else None
    return view.assignments(principal.area_code, department, waiting_only)


class BudgetOut(BaseModel):
    funding_source: str
    year: int
    amount: Decimal
    spent: Decimal
    remaining: Decimal


@router.put("/budgets", response_model=BudgetOut, tags=["budgets"])
def set_budget(
    form: BudgetIn, principal: CurrentPrincipal, app: Assistance, runtime: RuntimeDep
) -> BudgetOut:
    budget = app.set_budget(form, principal)
    runtime.committed()
    return BudgetOut(
        funding_source=budget.funding_source,
        year=budget.year,
        amount=budget.amount,
        spent=budget.spent,
        remaining=budget.remaining,
    )


@router.get("/budgets", response_model=list[BudgetOut], tags=["budgets"])
def budgets(_: CurrentPrincipal, view: View) -> list[dict[str, Any]]:
    """Each funding source's budget per year, with what was granted and remains."""
    return view.budgets()
