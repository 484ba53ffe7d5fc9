"""Casework: opens cases from reports and flags, and sees them to closure."""

from __future__ import annotations

import uuid
from uuid import UUID

from casework.domain import Case, CaseError, HouseholdCases, household_cases_id
from fangpin.areas import town_of
from fangpin.auth import Principal
from fangpin.contracts import ProblemReported, RiskFlagged, Role
from fangpin.eventstore import Cause, ServiceApplication, UnitOfWork
from fangpin.inbox import Incoming
from fangpin.service import Conflict, Forbidden, NotFound

CLOSING_ROLES = (Role.TOWN, Role.DISTRICT)


class CaseworkApplication(ServiceApplication):
    service = "casework"

    def process(self, messages: list[Incoming]) -> None:
        unit = UnitOfWork(self)
        for incoming in messages:
            unit.track(incoming.key)
            if isinstance(incoming.data, ProblemReported | RiskFlagged):
                self._signal(unit, incoming)
        unit.commit()

    def _signal(self, unit: UnitOfWork, incoming: Incoming) -> None:
        """A report or a flag opens a case, or joins the household's open one."""
        data = incoming.data
        envelope = incoming.envelope
        assert isinstance(data, ProblemReported | RiskFlagged) and envelope
        household_id = data.household_id
        index = unit.get(household_cases_id(household_id), HouseholdCases)
        if index is None:
            index = HouseholdCases(household_id=household_id)
            unit.add(index)
        cause = Cause.following(envelope, self.service, data.area_code)
        if index.open_case_id is not None:
            case = unit.get(index.open_case_id, Case)
            assert case is not None
            case.attach(
                signal_type=envelope.type,
                signal_event_id=envelope.event_id,
                meta=cause.meta(household_id=household_id, case_id=case.id),
            )
            return
        case_id = uuid.uuid4()
        case = Case(
            case_id=case_id,
            household_id=household_id,
            area_code=data.area_code,
            town_code=town_of(data.area_code),
            signal_type=envelope.type,
            signal_event_id=envelope.event_id,
            urgent=isinstance(data, ProblemReported) and data.urgent,
            meta=cause.meta(household_id=household_id, case_id=case_id),
        )
        unit.add(case)
        index.set_open(case_id=case_id)

    def case(self, case_id: UUID, principal: Principal) -> Case:
        case = self.get_or_none(case_id, Case)
        if case is None or not principal.covers(case.area_code):
            raise NotFound("case not found in your area")
        return case

    def close_case(
        self, case_id: UUID, verification: str, principal: Principal
    ) -> None:
        if principal.role not in CLOSING_ROLES:
            raise Forbidden("cases are closed by town or district officials")
        case = self.case(case_id, principal)
        cause = Cause(principal.actor())
        try:
            case.close(
                verification=verification,
                verified_by=principal.user_id,
                meta=cause.meta(household_id=case.household_id, case_id=case.id),
            )
        except CaseError as error:
            raise Conflict(str(error)) from None
        index = self.get_or_none(household_cases_id(case.household_id), HouseholdCases)
        assert index is not None
        if index.open_case_id == case.id:
            index.set_open(case_id=None)
        self.save(case, index)
