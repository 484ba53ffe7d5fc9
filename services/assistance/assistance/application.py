"""Assistance: measures and grants against cases."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, Field

from assistance.domain import CaseRef, Grant, grant_id
from fangpin.measures import MEASURES
from fangpin.auth import Principal
from fangpin.contracts import CaseClosed, CaseOpened, Role
from fangpin.eventstore import Cause, ServiceApplication, UnitOfWork
from fangpin.inbox import Incoming
from fangpin.service import Conflict, DomainError, Forbidden, NotFound

GRANTING_ROLES = (Role.TOWN, Role.DISTRICT, Role.DEPARTMENT)


class GrantIn(BaseModel):
    case_id: UUID
    measure: str = Field(description="a code from GET /measures")
    quantity: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    period: str = Field(pattern=r"^\d{4}(-\d{2})?$", description="YYYY or YYYY-MM")
    funding_source: str = Field(min_length=1, max_length=100)
    emergency: bool = Field(
        default=False, description="green channel: help before the case is decided"
    )


class AssistanceApplication(ServiceApplication):
    service = "assistance"

    def process(self, messages: list[Incoming]) -> None:
        unit = UnitOfWork(self)
        for incoming in messages:
            unit.track(incoming.key)
            data = incoming.data
            if isinstance(data, CaseOpened):
                if unit.get(data.case_id, CaseRef) is None:
                    unit.add(
                        CaseRef(
                            case_id=data.case_id,
                            household_id=data.household_id,
                            area_code=data.area_code,
                        )
                    )
            elif isinstance(data, CaseClosed):
                case = unit.get(data.case_id, CaseRef)
                if case is not None and case.is_open:
                    case.end()
        unit.commit()

    def grant(self, form: GrantIn, principal: Principal) -> UUID:
        if principal.role not in GRANTING_ROLES:
            raise Forbidden("aid is granted by towns, departments and the district")
        measure = MEASURES.get(form.measure)
        if measure is None:
            raise DomainError(f"unknown measure {form.measure!r}", "measure")
        if principal.role is Role.DEPARTMENT and principal.department != (
            measure.department
        ):
            raise Forbidden("a department grants only the measures of its field")
        case = self.get_or_none(form.case_id, CaseRef)
        if case is None or not principal.covers(case.area_code):
            raise NotFound("case not known here (yet) in your area", "case_id")
        if not case.is_open and not form.emergency:
            raise Conflict("the case is closed; aid needs an open case", "case_id")
        new_id = grant_id(case.household_id, measure.code, form.period)
        if self.get_or_none(new_id, Grant) is not None:
            raise Conflict(
                "this measure was already granted to the household for this period",
                "period",
            )
        grant = Grant(
            grant_id=new_id,
            case_id=case.id,
            household_id=case.household_id,
            area_code=case.area_code,
            measure=measure.code,
            quantity=form.quantity,
            unit=measure.unit,
            period=form.period,
            funding_source=form.funding_source,
            department=measure.department,
            emergency=form.emergency,
            meta=Cause(principal.actor()).meta(
                household_id=case.household_id, case_id=case.id
            ),
        )
        self.save(grant)
        return new_id
