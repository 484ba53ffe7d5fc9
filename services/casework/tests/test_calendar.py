"""The district's working calendar: holidays off, worked weekend days on."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from casework.application import CaseworkApplication
from casework.domain import Case
from casework.steps import WorkCalendar, add_days
from fangpin.areas import COUNTY_TIME
from fangpin.auth import Principal
from fangpin.contracts import Role
from fangpin.eventstore import Cause, system_actor
from fangpin.service import DomainError, Forbidden

DISTRICT = Principal(user_id="district01", role=Role.DISTRICT, area_code="510904")
TOWN = Principal(user_id="town01", role=Role.TOWN, area_code="510904101")

# A long National Day holiday, with the Sunday before it worked instead.
NATIONAL_DAY = [date(2026, 10, 1) + timedelta(days=n) for n in range(7)]
MAKE_UP_SUNDAY = date(2026, 9, 27)


def county_time(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=COUNTY_TIME)


def test_holidays_do_not_count_and_worked_weekend_days_do():
    calendar = WorkCalendar(frozenset(NATIONAL_DAY), frozenset({MAKE_UP_SUNDAY}))
    friday = county_time(date(2026, 9, 25))

    # Sunday 27th (worked), Monday 28th, Tuesday 29th.
    assert add_days(friday, 3, True, calendar) == county_time(date(2026, 9, 29))
    # Then Wednesday 30th, and nothing until Thursday 8 October.
    assert add_days(friday, 5, True, calendar) == county_time(date(2026, 10, 8))
    # Without the district's calendar: Monday to Friday only.
    assert add_days(friday, 5, True) == county_time(date(2026, 10, 2))
    # Calendar days ignore every calendar.
    assert add_days(friday, 5, False, calendar) == county_time(date(2026, 9, 30))


def test_days_are_counted_on_the_county_clock():
    # 17:00 UTC on Friday is already Saturday 01:00 in the county.
    late_friday = datetime(2026, 9, 25, 17, tzinfo=UTC)

    due = add_days(late_friday, 1, True)

    assert due.astimezone(COUNTY_TIME).date() == date(2026, 9, 28)


def test_the_district_sets_the_calendar_and_it_is_kept():
    app = CaseworkApplication(in_memory=True)

    app.change_calendar(NATIONAL_DAY, [MAKE_UP_SUNDAY], DISTRICT)

    calendar = app.time_limits().calendar
    assert calendar.holidays == frozenset(NATIONAL_DAY)
    assert calendar.workdays == frozenset({MAKE_UP_SUNDAY})


def test_only_the_district_sets_the_calendar():
    app = CaseworkApplication(in_memory=True)

    with pytest.raises(Forbidden):
        app.change_calendar(NATIONAL_DAY, [], TOWN)

    assert app.time_limits().calendar == WorkCalendar()


@pytest.mark.parametrize(
    ("holidays", "workdays", "reason"),
    [
        ([date(2026, 10, 1)], [date(2026, 10, 1)], "both as a holiday and as worked"),
        ([], [date(2026, 9, 28)], "is a weekday"),
    ],
)
def test_a_contradictory_calendar_is_refused_with_the_field(holidays, workdays, reason):
    app = CaseworkApplication(in_memory=True)

    with pytest.raises(DomainError, match=reason) as refused:
        app.change_calendar(holidays, workdays, DISTRICT)

    assert refused.value.field == "workdays"
    assert app.time_limits().calendar == WorkCalendar()


def new_visit(app: CaseworkApplication) -> Case:
    """A case that has just entered the home-visit step."""
    household = uuid.uuid4()
    meta = Cause(system_actor("casework", "510904101201")).meta(household_id=household)
    case = Case(
        case_id=uuid.uuid4(),
        household_id=household,
        area_code="510904101201",
        town_code="510904101",
        signal_type="ProblemReported",
        signal_event_id=uuid.uuid4(),
        urgent=False,
        reentry=False,
        meta=meta,
    )
    app.save(case)
    return case


def candidate(case: Case) -> dict:
    return {
        "case_id": case.id,
        "step": case.step.value,
        "step_seq": case.step_seq,
        "step_started_at": case.step_started_at,
    }


def test_a_visit_due_during_a_holiday_waits_until_after_it():
    app = CaseworkApplication(in_memory=True)
    case = new_visit(app)
    started = case.step_started_at
    first_day = started.astimezone(COUNTY_TIME).date()
    holiday = [first_day + timedelta(days=n) for n in range(1, 11)]
    app.change_calendar(holiday, [], DISTRICT)

    # Five days on, a Monday-to-Friday count would be past its two working days.
    five_days_on = started + timedelta(days=5)
    assert add_days(started, 2, True) < five_days_on
    assert app.watch_deadlines([candidate(case)], five_days_on) == (0, 0)

    # The two working days are the two after the holiday, whatever the weekday.
    after_holiday = started + timedelta(days=15)
    warned, _ = app.watch_deadlines([candidate(case)], after_holiday)
    assert warned == 1
