"""Reporting's HTTP interface."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from fangpin.auth import CurrentPrincipal
from fangpin.contracts import Actor
from fangpin.service import NotFound
from reporting.views import ReportingView

router = APIRouter()


def reporting_view(request: Request) -> ReportingView:
    view: ReportingView = request.app.state.view
    return view


View = Annotated[ReportingView, Depends(reporting_view)]


class TownCases(BaseModel):
    town_code: str
    open: int
    closed: int


class TimelineEntry(BaseModel):
    event_id: UUID
    type: str
    producer: str
    occurred_at: datetime
    actor: Actor
    household_id: UUID | None
    case_id: UUID | None
    causation_id: UUID | None
    correlation_id: UUID
    data: dict[str, Any]


@router.get(
    "/overview/cases-by-town", response_model=list[TownCases], tags=["overview"]
)
def cases_by_town(principal: CurrentPrincipal, view: View) -> list[dict[str, Any]]:
    """Open and closed cases per town, within your area."""
    return view.cases_by_town(principal.area_code)


@router.get(
    "/cases/{case_id}/timeline", response_model=list[TimelineEntry], tags=["history"]
)
def case_timeline(
    case_id: UUID, principal: CurrentPrincipal, view: View
) -> list[dict[str, Any]]:
    """Every event of every service about this case, in order, with actor and cause."""
    area = view.case_area(case_id)
    if area is None or not principal.covers(area):
        raise NotFound("case not found in your area")
    return view.case_timeline(case_id)
