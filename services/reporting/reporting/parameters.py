"""Reporting's own parameters: the county's clock, the time limits steps are judged
by, the department feed deadline and the weights of the assessment score.

Reporting judges from events alone, so it keeps its own copy of these numbers
rather than asking casework. The time limits are casework's defaults (home visit
within 2 working days, a decision within about 20); when the district changes a
limit in casework, change it here too, or the assessment judges by the old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone

# China keeps one clock without daylight saving; months and days are the county's.
COUNTY_TZ = timezone(timedelta(hours=8), "UTC+08:00")


@dataclass(frozen=True)
class StepLimit:
    """Days allowed in a step; past ``escalate_after`` the next level takes it."""

    days: int
    escalate_after: int
    working_days: bool = True


STEP_LIMITS: dict[str, StepLimit] = {
    "visit": StepLimit(2, 4),
    "notice": StepLimit(3, 6),
    "notice_period": StepLimit(7, 10, working_days=False),
    "town_check": StepLimit(3, 6),
    "decision": StepLimit(5, 10),
    "plan": StepLimit(10, 20),
    "assistance": StepLimit(365, 400, working_days=False),
    "elimination_review": StepLimit(10, 20),
    "closure": StepLimit(5, 10),
}

# A department's records for a month are on time when the platform has them by the
# end of this day of the following month (county time).
FEED_DEADLINE_DAY = 10

# The assessment score is this weighted mean of the rates a town has (a rate with
# nothing to judge is left out and the weights of the rest are rescaled).
TOWN_WEIGHTS = {
    "visits_on_time": 0.3,
    "decisions_on_time": 0.3,
    "steps_on_time": 0.2,
    "not_escalated": 0.2,
}
DEPARTMENT_WEIGHTS = {"records_on_time": 0.6, "measures_on_time": 0.4}


def add_days(start: datetime, days: int, working_days: bool) -> datetime:
    """A step's deadline: calendar days, or working days (Monday to Friday),
    counted the way casework counts them."""
    if not working_days:
        return start + timedelta(days=days)
    moment = start
    left = days
    while left > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            left -= 1
    return moment


def within_limit(step: str, started_at: datetime, ended_at: datetime) -> bool:
    limit = STEP_LIMITS.get(step)
    if limit is None:
        return True
    return ended_at <= add_days(started_at, limit.days, limit.working_days)


def due_at(step: str, started_at: datetime) -> datetime | None:
    limit = STEP_LIMITS.get(step)
    if limit is None:
        return None
    return add_days(started_at, limit.days, limit.working_days)


def day_start(day: date) -> datetime:
    """The first moment of a county day, in UTC."""
    return datetime.combine(day, time(), COUNTY_TZ).astimezone(UTC)


def day_end(day: date) -> datetime:
    """The first moment after a county day: an exclusive upper bound."""
    return day_start(day + timedelta(days=1))


def county_day(moment: datetime) -> date:
    return moment.astimezone(COUNTY_TZ).date()


def parse_month(text: str) -> date:
    """``YYYY-MM`` to the first day of that month."""
    try:
        year, month = (int(part) for part in text.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise ValueError(f"{text!r} is not a month written YYYY-MM") from None


def month_of(moment: datetime) -> str:
    return county_day(moment).strftime("%Y-%m")


def next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def previous_month(first: date) -> date:
    return date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """A county month as a half-open range of UTC moments."""
    first = parse_month(month)
    return day_start(first), day_start(next_month(first))


def feed_deadline(month: str) -> datetime:
    """When a month's department records must be in (exclusive bound)."""
    following = next_month(parse_month(month))
    return day_end(following.replace(day=FEED_DEADLINE_DAY))


def parameters() -> dict[str, object]:
    """Everything above, for the API page that documents them."""
    return {
        "county_timezone": "UTC+08:00",
        "step_limits": {
            step: {
                "days": limit.days,
                "escalate_after": limit.escalate_after,
                "working_days": limit.working_days,
            }
            for step, limit in STEP_LIMITS.items()
        },
        "feed_deadline_day": FEED_DEADLINE_DAY,
        "town_weights": TOWN_WEIGHTS,
        "department_weights": DEPARTMENT_WEIGHTS,
    }
