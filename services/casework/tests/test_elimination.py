"""Risk elimination (风险消除): each exit condition, failing on its own."""

import uuid
from datetime import date, datetime, timedelta

import pytest

from casework.application import CaseworkApplication
from casework.domain import Case, HouseholdCases, household_cases_id
from casework.elimination import unmet_conditions
from casework.steps import Step

from .conftest import (
    DISTRICT,
    TOWN,
    open_case,
    registered,
    report,
    to_elimination_review,
)

LONG_AGO = timedelta(days=200)


def meta(user: str) -> dict:
    return {"actor": {"user_id": user, "role": "town", "area_code": "510904"}}


def confirmed_case() -> Case:
    case = Case(
        case_id=uuid.uuid4(),
        household_id=uuid.uuid4(),
        area_code="510904101201",
        town_code="510904101",
        signal_type="ProblemReported",
        signal_event_id=uuid.uuid4(),
        urgent=False,
        reentry=False,
        meta=meta("grid01"),
    )
    case.record_visit(True, "seen", meta("village01"))
    case.publish_notice(date(2026, 1, 1), date(2026, 1, 6), meta("village01"))
    case.complete_village_review(False, "none", date(2026, 1, 6), meta("village01"))
    case.town_check("checked", meta("town01"))
    case.confirm_target("low_income", "income below the line", meta("district01"))
    return case


def ready_household(
    today: date,
    poverty_status: str = "formerly_poor",
    income: float = 7200.0,
    recorded_before: timedelta = LONG_AGO,
) -> HouseholdCases:
    """By default every condition holds: income above the line on record for
    over six months, one measure received, labour capacity, no open risk."""
    household = HouseholdCases(household_id=uuid.uuid4())
    household.note_facts(poverty_status=poverty_status, no_labour_capacity=False)
    recorded = today - recorded_before
    household.note_income(
        year=recorded.year, per_capita=income, recorded_on=recorded.isoformat()
    )
    household.note_aid()
    return household


def unmet_kinds(case: Case, household: HouseholdCases, now: datetime) -> list[str]:
    return [item.split(":")[0] for item in unmet_conditions(case, household, now)]


@pytest.fixture
def case() -> Case:
    return confirmed_case()


@pytest.fixture
def now(case: Case) -> datetime:
    assert case.confirmed_at is not None
    return case.confirmed_at + LONG_AGO


def test_a_household_meeting_every_condition_may_exit(case, now):
    assert unmet_conditions(case, ready_household(now.date()), now) == []


def test_income_above_the_line_for_fewer_than_six_months_is_unmet(case, now):
    household = ready_household(now.date(), recorded_before=timedelta(days=90))

    assert unmet_kinds(case, household, now) == ["income"]


def test_a_fall_below_the_line_starts_the_six_months_again(case, now):
    household = ready_household(now.date())
    year = (now.date() - LONG_AGO).year
    fell = now.date() - timedelta(days=120)
    rose = now.date() - timedelta(days=30)
    household.note_income(year=year + 1, per_capita=4800.0, recorded_on=str(fell))
    household.note_income(year=year + 2, per_capita=7200.0, recorded_on=str(rose))

    assert unmet_kinds(case, household, now) == ["income"]


def test_income_still_below_the_line_is_unmet(case, now):
    household = ready_household(now.date(), income=4999.0)

    assert unmet_kinds(case, household, now) == ["income"]


def test_the_line_follows_the_households_poverty_status(case, now):
    formerly_poor = ready_household(now.date(), "formerly_poor", income=5500.0)
    never_poor = ready_household(now.date(), "never_poor", income=5500.0)

    assert unmet_kinds(case, formerly_poor, now) == []
    assert unmet_kinds(case, never_poor, now) == ["income"]


def test_no_measure_received_is_unmet(case, now):
    household = ready_household(now.date())
    household.measures_received = 0

    assert unmet_kinds(case, household, now) == ["measures"]


def test_fewer_than_six_months_in_monitoring_is_unmet(case):
    assert case.confirmed_at is not None
    soon = case.confirmed_at + timedelta(days=150)

    assert unmet_kinds(case, ready_household(soon.date()), soon) == ["months_monitored"]


@pytest.mark.parametrize("risk", ["expense_hardship", "safety_net"])
def test_an_open_expense_or_safety_net_risk_is_unmet(case, now, risk):
    household = ready_household(now.date())
    household.note_risk_types(types=[risk])

    assert unmet_kinds(case, household, now) == ["risks"]


def test_a_household_without_labour_capacity_is_unmet_alone(case, now):
    household = ready_household(now.date())
    household.note_facts(poverty_status="formerly_poor", no_labour_capacity=True)

    assert unmet_kinds(case, household, now) == ["no_labour_capacity"]


def test_a_household_without_labour_capacity_is_never_exited():
    """Every other condition holds, however long it waits: the review sends the
    case back to assistance, and the household stays under the safety net."""
    later = datetime.now().astimezone() + timedelta(days=800)
    app = CaseworkApplication(in_memory=True, clock=lambda: later)
    household_id = uuid.uuid4()
    app.process(
        [
            registered(household_id, 1, {"no_labour_capacity": True}),
            report(household_id, 2),
        ]
    )
    case = open_case(app, household_id)
    index = app.get_or_none(household_cases_id(household_id), HouseholdCases)
    recorded = (later - LONG_AGO).date()
    index.note_income(
        year=recorded.year, per_capita=9000.0, recorded_on=recorded.isoformat()
    )
    index.note_aid()
    app.save(index)
    to_elimination_review(app, case.id)

    unmet = app.review_elimination(case.id, "every condition checked", DISTRICT)

    assert [item.split(":")[0] for item in unmet] == ["no_labour_capacity"]
    reviewed = app.case(case.id, TOWN)
    assert not reviewed.exited and reviewed.step is Step.ASSISTANCE
