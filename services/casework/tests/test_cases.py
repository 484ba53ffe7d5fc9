import uuid
from datetime import UTC, date, datetime

import pytest

from casework.application import CaseworkApplication
from casework.domain import Case, CaseError, HouseholdCases, household_cases_id
from fangpin.auth import Principal
from fangpin.contracts import Actor, Envelope, ProblemReported, Role
from fangpin.inbox import Incoming
from fangpin.service import Conflict, Forbidden, NotFound

TOWN = Principal(user_id="town01", role=Role.TOWN, area_code="510904101")


def report(household_id, notification_id, category="illness") -> Incoming:
    data = ProblemReported(
        report_id=uuid.uuid4(),
        household_id=household_id,
        area_code="510904101201",
        village_group="1",
        category=category,
        observed_on=date(2026, 11, 30),
        urgent=category == "illness",
    )
    envelope = Envelope(
        event_id=uuid.uuid4(),
        type="ProblemReported",
        occurred_at=datetime.now(UTC),
        producer="intake",
        actor=Actor(user_id="grid01", role=Role.GRID_MONITOR, area_code="510904"),
        correlation_id=uuid.uuid4(),
        data=data.model_dump(mode="json"),
    )
    return Incoming(
        ("intake", notification_id), "intake.report.problem", envelope, data
    )


def open_case(app, household_id) -> Case:
    index = app.get_or_none(household_cases_id(household_id), HouseholdCases)
    return app.get_or_none(index.open_case_id, Case)


def test_a_second_signal_joins_the_open_case():
    app = CaseworkApplication(in_memory=True)
    household = uuid.uuid4()
    app.process([report(household, 1), report(household, 2, "income_drop")])
    case = open_case(app, household)
    assert len(case.signals) == 2
    assert case.town_code == "510904101" and case.urgent


def test_closing_needs_evidence_and_happens_once():
    app = CaseworkApplication(in_memory=True)
    household = uuid.uuid4()
    app.process([report(household, 1)])
    case = open_case(app, household)
    with pytest.raises(CaseError):
        case.close(verification="  ", verified_by="town01", meta={})
    app.close_case(case.id, "visited, bills paid", TOWN)
    with pytest.raises(Conflict):
        app.close_case(case.id, "again", TOWN)


def test_after_closure_a_new_signal_opens_a_new_case():
    app = CaseworkApplication(in_memory=True)
    household = uuid.uuid4()
    app.process([report(household, 1)])
    first = open_case(app, household)
    app.close_case(first.id, "verified", TOWN)
    app.process([report(household, 2)])
    assert open_case(app, household).id != first.id


def test_only_officials_of_the_area_close_cases():
    app = CaseworkApplication(in_memory=True)
    household = uuid.uuid4()
    app.process([report(household, 1)])
    case = open_case(app, household)
    other_town = Principal(user_id="town02", role=Role.TOWN, area_code="510904102")
    with pytest.raises(NotFound):
        app.close_case(case.id, "verified", other_town)
    village = Principal(user_id="v", role=Role.VILLAGE, area_code="510904101201")
    with pytest.raises(Forbidden):
        app.close_case(case.id, "verified", village)
