"""The identification and assistance procedure, step by step.

A case waits in one step at a time. Each step belongs to a level (village, town,
district); only officials of that level act on it, and its time limit runs from
the moment the case entered it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from fangpin.areas import COUNTY_TIME
from fangpin.contracts import Role


class Step(StrEnum):
    VISIT = "visit"  # home visit with the household's consent
    NOTICE = "notice"  # village review, publish the public notice
    NOTICE_PERIOD = "notice_period"  # the notice runs at least five days
    TOWN_CHECK = "town_check"
    DECISION = "decision"  # district: confirm a target, or reject
    PLAN = "plan"  # pair a cadre, draw the plan
    ASSISTANCE = "assistance"  # help is delivered, progress recorded
    ELIMINATION_REVIEW = "elimination_review"  # district: risk eliminated?
    CLOSURE = "closure"  # verify and close
    ENDED = "ended"


class Level(StrEnum):
    VILLAGE = "village"
    TOWN = "town"
    DISTRICT = "district"


LEVEL_OF_STEP = {
    Step.VISIT: Level.VILLAGE,
    Step.NOTICE: Level.VILLAGE,
    Step.NOTICE_PERIOD: Level.VILLAGE,
    Step.TOWN_CHECK: Level.TOWN,
    Step.DECISION: Level.DISTRICT,
    Step.PLAN: Level.TOWN,
    Step.ASSISTANCE: Level.TOWN,
    Step.ELIMINATION_REVIEW: Level.DISTRICT,
    Step.CLOSURE: Level.TOWN,
}

ROLES_OF_LEVEL = {
    Level.VILLAGE: (Role.VILLAGE, Role.GRID_MONITOR, Role.TOWN),
    Level.TOWN: (Role.TOWN,),
    Level.DISTRICT: (Role.DISTRICT,),
}

NEXT_LEVEL = {Level.VILLAGE: Level.TOWN, Level.TOWN: Level.DISTRICT}

MINIMUM_NOTICE_DAYS = 5


@dataclass(frozen=True)
class TimeLimit:
    """Days allowed in a step; past ``escalate_after`` the next level takes it."""

    days: int
    escalate_after: int
    working_days: bool = True


@dataclass(frozen=True)
class WorkCalendar:
    """Which days count as working days for the limits kept in working days.

    Monday to Friday, except the public holidays the district lists, plus the
    weekend days it lists as worked (the make-up days that come with a long
    holiday).
    """

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def is_working(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays


# Defaults after national practice: home check within 2 working days, a decision
# within about 20. The district changes them through the API.
DEFAULT_LIMITS = {
    Step.VISIT: TimeLimit(2, 4),
    Step.NOTICE: TimeLimit(3, 6),
    Step.NOTICE_PERIOD: TimeLimit(7, 10, working_days=False),
    Step.TOWN_CHECK: TimeLimit(3, 6),
    Step.DECISION: TimeLimit(5, 10),
    Step.PLAN: TimeLimit(10, 20),
    Step.ASSISTANCE: TimeLimit(365, 400, working_days=False),
    Step.ELIMINATION_REVIEW: TimeLimit(10, 20),
    Step.CLOSURE: TimeLimit(5, 10),
}


def add_days(
    start: datetime,
    days: int,
    working_days: bool,
    calendar: WorkCalendar | None = None,
) -> datetime:
    """The deadline: calendar days, or working days by the district's calendar
    (Monday to Friday when it has none), counted on the county's clock."""
    if not working_days:
        return start + timedelta(days=days)
    calendar = calendar or WorkCalendar()
    moment = start
    left = days
    while left > 0:
        moment += timedelta(days=1)
        if calendar.is_working(moment.astimezone(COUNTY_TIME).date()):
            left -= 1
    return moment


@dataclass(frozen=True)
class DeadlineRules:
    """The limits and the working calendar in force: together they date every
    open step's deadlines from the moment the step started."""

    limits: Mapping[Step, TimeLimit]
    calendar: WorkCalendar = WorkCalendar()
    _spans: dict[tuple[Step, date], tuple[timedelta, timedelta]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def deadlines(self, step: Step, started: datetime) -> tuple[datetime, datetime]:
        """When the step is due (the warning), and when it goes up a level."""
        # The county's clock keeps one offset all year, so how many days a limit
        # spans depends only on the county day the step started: counting once per
        # day keeps re-dating thousands of open steps quick.
        key = (step, started.astimezone(COUNTY_TIME).date())
        spans = self._spans.get(key)
        if spans is None:
            limit = self.limits[step]
            due = add_days(started, limit.days, limit.working_days, self.calendar)
            escalate = add_days(
                started, limit.escalate_after, limit.working_days, self.calendar
            )
            spans = (due - started, escalate - started)
            self._spans[key] = spans
        return started + spans[0], started + spans[1]

    def with_limit(self, step: Step, limit: TimeLimit) -> DeadlineRules:
        return replace(self, limits={**self.limits, step: limit})

    def with_calendar(self, calendar: WorkCalendar) -> DeadlineRules:
        return replace(self, calendar=calendar)
