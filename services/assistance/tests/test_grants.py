import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from assistance.application import AssistanceApplication, GrantIn
from fangpin.auth import Principal
from fangpin.contracts import Actor, CaseClosed, CaseOpened, Envelope, Role
from fangpin.inbox import Incoming
from fangpin.service import Conflict, Forbidden, NotFound

TOWN = Principal(user_id="town01", role=Role.TOWN, area_code="510904101")
VILLAGE = "510904101201"


def wrap(data, number):
    envelope = Envelope(
        event_id=uuid.uuid4(),
        type=type(data).__name__,
        occurred_at=datetime.now(UTC),
        producer="casework",
        actor=Actor(user_id="casework", role=Role.SYSTEM, area_code="510904"),
        correlation_id=uuid.uuid4(),
        data=data.model_dump(mode="json"),
    )
    return Incoming(("casework", number), "casework.case.x", envelope, data)


def opened_case(app) -> uuid.UUID:
    case_id, household = uuid.uuid4(), uuid.uuid4()
    app.process(
        [
            wrap(
                CaseOpened(
                    case_id=case_id,
                    household_id=household,
                    area_code=VILLAGE,
                    town_code=VILLAGE[:9],
                    signal_type="ProblemReported",
                    signal_event_id=uuid.uuid4(),
                ),
                1,
            )
        ]
    )
    return case_id


def grant(case_id, **changes) -> GrantIn:
    values = {
        "case_id": case_id,
        "measure": "temporary_aid",
        "quantity": Decimal("2000"),
        "period": "2026-12",
        "funding_source": "district",
    }
    values.update(changes)
    return GrantIn(**values)


def test_the_same_measure_for_the_same_period_is_granted_once():
    app = AssistanceApplication(in_memory=True)
    case_id = opened_case(app)
    app.grant(grant(case_id), TOWN)
    with pytest.raises(Conflict, match="already granted"):
        app.grant(grant(case_id, quantity=Decimal("10")), TOWN)
    app.grant(grant(case_id, period="2027-01"), TOWN)


def test_a_closed_case_gets_aid_only_as_emergency_help():
    app = AssistanceApplication(in_memory=True)
    case_id = opened_case(app)
    case = app.get_or_none(case_id, object)  # type: ignore[type-var]
    closed = CaseClosed(
        case_id=case_id,
        household_id=case.household_id,
        area_code=VILLAGE,
        verification="verified",
        verified_by="town01",
    )
    app.process([wrap(closed, 2)])
    with pytest.raises(Conflict, match="closed"):
        app.grant(grant(case_id), TOWN)
    app.grant(grant(case_id, emergency=True), TOWN)


def test_departments_grant_only_their_own_measures_and_areas_are_enforced():
    app = AssistanceApplication(in_memory=True)
    case_id = opened_case(app)
    medical = Principal(
        user_id="m", role=Role.DEPARTMENT, area_code="510904", department="health"
    )
    with pytest.raises(Forbidden):
        app.grant(grant(case_id), medical)
    elsewhere = Principal(user_id="t2", role=Role.TOWN, area_code="510904102")
    with pytest.raises(NotFound):
        app.grant(grant(case_id), elsewhere)
