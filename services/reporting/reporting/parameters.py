"""Reporting's parameters: the county's clock, the time limits steps are judged
by, the department feed deadline and the weights of the assessment score.

Reporting judges from events alone. The time limits start from casework's defaults
(home visit within 2 working days, a decision within about 20); when the district
changes a limit or its working calendar, casework publishes the change and
reporting judges each step by the limits and calendar in force when the step
ended (or now, for a step still open), as casework does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

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


@dataclass(frozen=True)
class WorkCalendar:
    """Weekdays that are public holidays, weekend days that are worked."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def is_working(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays


def add_days(
    start: datetime,
    days: int,
    working_days: bool,
    calendar: WorkCalendar | None = None,
) -> datetime:
    """A step's deadline: calendar days, or working days by the district's
    calendar, counted on the county's clock the way casework counts them."""
    if not working_days:
        return start + timedelta(days=days)
    calendar = calendar or WorkCalendar()
    moment = start
    left = days
    while left > 0:
        moment += timedelta(days=1)
        if calendar.is_working(moment.astimezone(COUNTY_TZ).date()):
            left -= 1
    return moment


@dataclass
class StepLimits:
    """The limits and calendars the district has had, each from when it changed.

    Built from casework's ``TimeLimitChanged`` and ``WorkCalendarChanged`` events;
    before any change, casework's defaults and Monday to Friday hold.
    """

    changes: dict[str, list[tuple[datetime, StepLimit]]] = field(default_factory=dict)
    calendars: list[tuple[datetime, WorkCalendar]] = field(default_factory=list)

    @classmethod
    def from_events(cls, rows: list[dict[str, Any]]) -> StepLimits:
        """``rows``: the change events (type, occurred_at, data), oldest first."""
        limits = cls()
        for row in rows:
            data = row["data"]
            if row["type"] == "TimeLimitChanged":
                limit = StepLimit(
                    int(data["days"]),
                    int(data["escalate_after"]),
                    bool(data["working_days"]),
                )
                limits.changes.setdefault(data["step"], []).append(
                    (row["occurred_at"], limit)
                )
            elif row["type"] == "WorkCalendarChanged":
                calendar = WorkCalendar(
                    frozenset(map(date.fromisoformat, data.get("holidays", []))),
                    frozenset(map(date.fromisoformat, data.get("workdays", []))),
                )
                limits.calendars.append((row["occurred_at"], calendar))
        return limits

    def limit(self, step: str, at: datetime) -> StepLimit | None:
        found = STEP_LIMITS.get(step)
        for changed_at, limit in self.changes.get(step, []):
            if changed_at <= at:
                found = limit
        return found

    def calendar(self, at: datetime) -> WorkCalendar:
        found = WorkCalendar()
        for changed_at, calendar in self.calendars:
            if changed_at <= at:
                found = calendar
        return found

    def due_at(self, step: str, started_at: datetime, at: datetime) -> datetime | None:
        """When the step was due, by the limit and calendar in force at ``at``."""
        limit = self.limit(step, at)
        if limit is None:
            return None
        return add_days(started_at, limit.days, limit.working_days, self.calendar(at))

    def within(self, step: str, started_at: datetime, ended_at: datetime) -> bool:
        """Whether a step ended within the limit in force when it ended."""
        due = self.due_at(step, started_at, ended_at)
        return due is None or ended_at <= due

    def current(self, now: datetime) -> dict[str, dict[str, Any]]:
        return {
            step: dict(self.limit(step, now).__dict__)  # type: ignore[union-attr]
            for step in STEP_LIMITS
        }


DEFAULT_LIMITS = StepLimits()


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


def parameters(
    limits: StepLimits = DEFAULT_LIMITS, now: datetime | None = None
) -> dict[str, object]:
    """Everything above as it stands now, for the API page that documents them."""
    now = now or datetime.now(UTC)
    calendar = limits.calendar(now)
    return {
        "county_timezone": "UTC+08:00",
        "step_limits": limits.current(now),
        "holidays": sorted(calendar.holidays),
        "workdays": sorted(calendar.workdays),
        "feed_deadline_day": FEED_DEADLINE_DAY,
        "town_weights": TOWN_WEIGHTS,
        "department_weights": DEPARTMENT_WEIGHTS,
    }
