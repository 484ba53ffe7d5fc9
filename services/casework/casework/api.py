"""Casework's HTTP interface: the officials' queue and the cases."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from casework.application import CaseworkApplication
from casework.views import QueueView
from fangpin.auth import CurrentPrincipal
from fangpin.service import Runtime, runtime_of

router = APIRouter()


def casework(request: Request) -> CaseworkApplication:
    app = runtime_of(request).app
    assert isinstance(app, CaseworkApplication)
    return app


def queue_view(request: Request) -> QueueView:
    view: QueueView = request.app.state.queue_view
    return view


Casework = Annotated[CaseworkApplication, Depends(casework)]
Queue = Annotated[QueueView, Depends(queue_view)]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


class CaseOut(BaseModel):
    case_id: UUID
    household_id: UUID
    area_code: str
    town_code: str
    status: str
    urgent: bool
    signals: int


class QueueItem(CaseOut):
    opened_at: Any
    closed_at: Any = None


class QueueOut(BaseModel):
    total: int
    cases: list[QueueItem]


class CloseIn(BaseModel):
    verification: str = Field(
        min_length=1, max_length=2000, description="how the solution was verified"
    )


@router.get("/queue", response_model=QueueOut, tags=["queue"])
def my_queue(
    principal: CurrentPrincipal,
    view: Queue,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Open cases in your area, oldest first."""
    return view.queue(principal.area_code, limit, offset)


@router.get("/cases/{case_id}", response_model=CaseOut, tags=["cases"])
def get_case(case_id: UUID, principal: CurrentPrincipal, app: Casework) -> CaseOut:
    case = app.case(case_id, principal)
    return CaseOut(
        case_id=case.id,
        household_id=case.household_id,
        area_code=case.area_code,
        town_code=case.town_code,
        status=case.status,
        urgent=case.urgent,
        signals=len(case.signals),
    )


@router.post("/cases/{case_id}/close", status_code=204, tags=["cases"])
def close_case(
    case_id: UUID,
    form: CloseIn,
    principal: CurrentPrincipal,
    app: Casework,
    runtime: RuntimeDep,
) -> None:
    """Close a case once its problem is verified as solved."""
    app.close_case(case_id, form.verification, principal)
    runtime.committed()
