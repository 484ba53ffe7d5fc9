import uuid

import pytest

from casework.application import CaseworkApplication
from casework.domain import CaseError, HouseholdCases, household_cases_id
from casework.steps import Step
from fangpin.auth import Principal
from fangpin.contracts import Role, TargetType
from fangpin.relay import to_envelope
from fangpin.service import Conflict, DomainError, Forbidden, NotFound

from .conftest import DISTRICT, TOWN, flag, open_case, report, to_decision, to_exit


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


# --- a new risk after the exit ---------------------------------------------------


def test_a_new_risk_after_the_exit_opens_a_reentry_case():
    app = CaseworkApplication(in_memory=True)
    household = uuid.uuid4()
    app.process([report(household, 1)])
    exited = open_case(app, household)
    to_exit(app, exited.id)
    assert app.case(exited.id, TOWN).exited

    # A flag arrives before the town has verified and closed the exited case.
    app.process([flag(household, 2, TargetType.EXPENSE_HARDSHIP)])

    reentry = open_case(app, household)
    assert reentry.id != exited.id
    assert reentry.reentry and reentry.step is Step.VISIT
    assert len(app.case(exited.id, TOWN).signals) == 1
    opened = next(iter(app.events.get(reentry.id)))
    published = to_envelope("casework", opened)
    assert published is not None and published[1].data["reentry"] is True

    # Closing the exited case leaves the re-entry case open for the household.
    app.close_case(exited.id, "visited: income stable, bills paid", TOWN)
    index = app.get_or_none(household_cases_id(household), HouseholdCases)
    assert index.exited_before and index.open_case_id == reentry.id
    app.process([report(household, 3, "income_drop")])
    assert len(open_case(app, household).signals) == 2


def test_a_signal_after_the_exited_case_closed_opens_a_reentry_case():
    app = CaseworkApplication(in_memory=True)
    household = uuid.uuid4()
    app.process([report(household, 1)])
    case = open_case(app, household)
    to_exit(app, case.id)
    app.close_case(case.id, "verified", TOWN)

    # After the closure the household is known to have exited before.
    app.process([report(household, 2)])

    assert open_case(app, household).reentry


def test_a_new_risk_after_a_rejection_opens_a_new_case():
    app = CaseworkApplication(in_memory=True)
    household = uuid.uuid4()
    app.process([report(household, 1)])
    rejected = open_case(app, household)
    to_decision(app, rejected.id)
    app.act(rejected.id, DISTRICT, lambda case, meta: case.reject("income ok", meta))

    app.process([flag(household, 2, TargetType.LOW_INCOME)])

    new = open_case(app, household)
    assert new.id != rejected.id and not new.reentry
    assert len(app.case(rejected.id, TOWN).signals) == 1


# --- closing ---------------------------------------------------------------------


def test_nobody_closes_a_case_waiting_on_the_districts_decision():
    app = CaseworkApplication(in_memory=True)
    household = uuid.uuid4()
    app.process([report(household, 1)])
    case = open_case(app, household)
    to_decision(app, case.id)

    with pytest.raises(Conflict, match="district's decision"):
        app.close_case(case.id, "solved already", TOWN)
    with pytest.raises(Conflict):
        app.close_case(case.id, "solved already", DISTRICT)

    app.act(case.id, DISTRICT, lambda case, meta: case.reject("income ok", meta))
    app.close_case(case.id, "household told of the decision", TOWN)
    assert app.case(case.id, TOWN).status == "closed"


# --- one household, one plan -----------------------------------------------------


def test_a_plan_refuses_a_measure_for_another_target_type():
    app = CaseworkApplication(in_memory=True)
    household = uuid.uuid4()
    app.process([report(household, 1)])
    case = open_case(app, household)
    to_decision(app, case.id)
    app.act(
        case.id,
        DISTRICT,
        lambda case, meta: case.confirm_target("low_income", "income low", meta),
    )
    measures = [
        {"measure": "wages_local", "responsible_department": "human_resources"},
        {"measure": "minimum_allowance", "responsible_department": "civil_affairs"},
    ]

    with pytest.raises(DomainError) as refused:
        app.act(
            case.id, TOWN, lambda case, meta: case.draw_plan("cadre", measures, meta)
        )

    assert refused.value.status_code == 422
    assert refused.value.field == "measures.1.measure"
    assert "minimum_allowance" in refused.value.reason
    assert "safety_net" in refused.value.reason
    assert app.case(case.id, TOWN).step is Step.PLAN
    app.act(
        case.id, TOWN, lambda case, meta: case.draw_plan("cadre", measures[:1], meta)
    )
    assert app.case(case.id, TOWN).plan["measures"] == measures[:1]
