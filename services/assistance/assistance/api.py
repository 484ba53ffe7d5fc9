"""Assistance's HTTP interface: the catalogue of measures and grants."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from assistance.application import AssistanceApplication, GrantIn
from fangpin.measures import MEASURES
from fangpin.auth import CurrentPrincipal
from fangpin.service import Runtime, runtime_of

router = APIRouter()


def assistance(request: Request) -> AssistanceApplication:
    app = runtime_of(request).app
    assert isinstance(app, AssistanceApplication)
    return app


Assistance = Annotated[AssistanceApplication, Depends(assistance)]
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
    """Grant a measure to a case's household (once per measure and period)."""
    new_id = app.grant(form, principal)
    runtime.committed()
    return Created(id=new_id)
