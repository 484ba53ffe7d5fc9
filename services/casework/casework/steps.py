"""The identification and assistance procedure, step by step.

A case waits in one step at a time. Each step belongs to a level (village, town,
district); only officials of that level act on it, and its time limit runs from
the moment the case entered it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

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
