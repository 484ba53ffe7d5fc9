"""Risk elimination (风险消除): each exit condition, failing on its own."""

import uuid
from datetime import date, datetime, timedelta

import pytest

from casework.application import CaseworkApplication
from casework.domain import Case, HouseholdCases, IncomeLines, household_cases_id
from casework.elimination import IncomeLineTable, unmet_conditions
from casework.steps import Step
from fangpin.contracts import CataloguePublished, IncomeLine
from fangpin.inbox import Incoming

from .conftest import (
    DISTRICT,
    TOWN,
    incoming,
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


# --- the lines in force, from screening's catalogue ---------------------------------

FORMERLY_POOR_LINE = "income_line_formerly_poor"


def line(value: float, effective_from: date, parameter: str = FORMERLY_POOR_LINE):
    return {
        "parameter": parameter,
        "value": value,
        "effective_from": effective_from.isoformat(),
    }


def income_reason(unmet: list[str]) -> str:
    (reason,) = [item for item in unmet if item.startswith("income:")]
    return reason


def test_until_a_catalogue_is_seen_the_default_line_is_named(case, now):
    household = ready_household(now.date(), income=4999.0)

    reason = income_reason(unmet_conditions(case, household, now))

    assert "the line of 5,000 yuan (the default line" in reason


def test_a_published_higher_line_keeps_a_household_from_exiting(case, now):
    household = ready_household(now.date(), income=7200.0)
    lines = IncomeLineTable([line(7500, date(2020, 1, 1))], catalogue_version=2)

    assert unmet_conditions(case, household, now) == []
    reason = income_reason(unmet_conditions(case, household, now, lines))
    assert (
        "below the line of 7,500 yuan (income_line_formerly_poor from 2020-01-01, "
        "catalogue version 2)"
    ) in reason


def test_a_household_is_held_to_the_line_of_its_own_status(case, now):
    household = ready_household(now.date(), "formerly_poor", income=7200.0)
    never_poor_line = line(7500, date(2020, 1, 1), "income_line_never_poor")

    lines = IncomeLineTable([never_poor_line], catalogue_version=2)

    assert unmet_conditions(case, household, now, lines) == []


def test_a_line_raised_midway_holds_from_its_date_on(case, now):
    household = ready_household(now.date(), income=7200.0)
    raised_on = now.date() - timedelta(days=60)
    lines = IncomeLineTable(
        [line(5000, date(2020, 1, 1)), line(7500, raised_on)], catalogue_version=3
    )

    reason = income_reason(unmet_conditions(case, household, now, lines))

    assert f"7,500 yuan (income_line_formerly_poor from {raised_on}" in reason
    assert reason.endswith(f"on {raised_on}")


def test_each_month_is_judged_by_the_line_then_in_force(case, now):
    """7,200 a year was above the line of its months and 8,000 above the raised
    one: the household exits, though 7,200 is below today's line."""
    today = now.date()
    household = ready_household(today, income=7200.0)
    rose = today - timedelta(days=90)
    household.note_income(year=rose.year + 1, per_capita=8000.0, recorded_on=str(rose))
    lines = IncomeLineTable(
        [line(5000, date(2020, 1, 1)), line(7500, today - timedelta(days=60))],
        catalogue_version=3,
    )

    assert unmet_conditions(case, household, now, lines) == []


def test_a_line_lowered_midway_still_judges_the_months_before_by_the_old_one(case, now):
    today = now.date()
    household = ready_household(today, income=7200.0)
    lines = IncomeLineTable(
        [line(7500, date(2020, 1, 1)), line(7000, today - timedelta(days=60))],
        catalogue_version=3,
    )
    horizon = today - timedelta(days=180)

    reason = income_reason(unmet_conditions(case, household, now, lines))

    assert "7,500 yuan (income_line_formerly_poor from 2020-01-01" in reason
    assert reason.endswith(f"on {horizon}")


def catalogue(number: int, version: int, lines: list[dict]) -> Incoming:
    data = CataloguePublished(
        version=version,
        effective_from=date(2026, 12, 1),
        indicator_count=81,
        changes=[],
        income_lines=[IncomeLine.model_validate(item) for item in lines],
    )
    return incoming(
        "screening",
        "screening.catalogue.published",
        number,
        "CataloguePublished",
        data,
    )


def test_the_review_uses_the_line_screening_published():
    later = datetime.now().astimezone() + timedelta(days=800)
    app = CaseworkApplication(in_memory=True, clock=lambda: later)
    household_id = uuid.uuid4()
    raised = [line(5000, date(2020, 1, 1)), line(7500, date(2024, 1, 1))]
    app.process(
        [
            registered(household_id, 1, {}),
            report(household_id, 2),
            catalogue(3, 2, raised),
        ]
    )
    case = open_case(app, household_id)
    index = app.get_or_none(household_cases_id(household_id), HouseholdCases)
    recorded = (later - LONG_AGO).date()
    index.note_income(
        year=recorded.year, per_capita=7200.0, recorded_on=recorded.isoformat()
    )
    index.note_aid()
    app.save(index)
    to_elimination_review(app, case.id)

    unmet = app.review_elimination(case.id, "every condition checked", DISTRICT)

    assert [item.split(":")[0] for item in unmet] == ["income"]
    assert "7,500 yuan (income_line_formerly_poor from 2024-01-01" in unmet[0]
    assert app.case(case.id, TOWN).step is Step.ASSISTANCE


def test_a_version_seen_again_or_late_changes_nothing():
    app = CaseworkApplication(in_memory=True)
    first = [line(5000, date(2020, 1, 1))]
    raised = [*first, line(7500, date(2026, 7, 1))]
    app.process([catalogue(1, 1, first), catalogue(2, 2, raised)])
    # The same version republished, one that changes no line, and the first
    # version redelivered after the second.
    app.process([catalogue(3, 2, raised), catalogue(4, 3, raised)])
    app.process([catalogue(5, 1, first)])

    known = app.get_or_none(IncomeLines.ID, IncomeLines)
    assert known is not None and known.catalogue_version == 2
    names = [type(event).__name__ for event in app.events.get(IncomeLines.ID)]
    assert names == ["IncomeLinesStarted", "IncomeLinesNoted", "IncomeLinesNoted"]
    table = app.income_lines()
    assert table.line_on("formerly_poor", date(2026, 6, 30)).value == 5000
    assert table.line_on("formerly_poor", date(2026, 7, 1)).value == 7500
    assert table.line_on("never_poor", date(2026, 7, 1)).value == 6000


def test_a_catalogue_without_lines_keeps_the_lines_known():
    app = CaseworkApplication(in_memory=True)
    app.process([catalogue(1, 2, [line(7500, date(2020, 1, 1))])])
    app.process([catalogue(2, 3, [])])

    assert app.income_lines().line_on("formerly_poor", date(2026, 1, 1)).value == 7500
