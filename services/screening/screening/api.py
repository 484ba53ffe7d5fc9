"""Screening's HTTP interface: a household's risk profile and the catalogue."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from fangpin.auth import CurrentPrincipal
from fangpin.service import NotFound, runtime_of
from screening.application import ScreeningApplication

router = APIRouter()


def screening(request: Request) -> ScreeningApplication:
    app = runtime_of(request).app
    assert isinstance(app, ScreeningApplication)
    return app


Screening = Annotated[ScreeningApplication, Depends(screening)]


class IndicatorOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    group: str
    applies_to: list[str]
    condition: str
    params: dict[str, float | int]
    target_type: str


class CatalogueOut(BaseModel):
    version: int
    indicators: list[IndicatorOut]


class ProfileOut(BaseModel):
    household_id: UUID
    area_code: str
    poverty_status: str
    active_indicators: list[str]
    records_screened: int
    catalogue_version: int


@router.get("/catalogue", response_model=CatalogueOut, tags=["indicators"])
def catalogue(_: CurrentPrincipal, app: Screening) -> CatalogueOut:
    return CatalogueOut(
        version=app.catalogue.version,
        indicators=[
            IndicatorOut(
                code=item.code,
                name_zh=item.name_zh,
                name_en=item.name_en,
                group=item.group,
                applies_to=sorted(status.value for status in item.applies_to),
                condition=item.condition,
                params=dict(item.params),
                target_type=item.target_type.value,
            )
            for item in app.catalogue.indicators
        ],
    )


@router.get("/households/{household_id}/risk", response_model=ProfileOut, tags=["risk"])
def risk_profile(
    household_id: UUID, principal: CurrentPrincipal, app: Screening
) -> dict[str, Any]:
    profile = app.profile(household_id)
    if not principal.covers(profile.area_code):
        raise NotFound("no risk profile for this household")
    return {
        "household_id": profile.id,
        "area_code": profile.area_code,
        "poverty_status": profile.poverty_status,
        "active_indicators": profile.active_codes,
        "records_screened": len(profile.records),
        "catalogue_version": app.catalogue.version,
    }
