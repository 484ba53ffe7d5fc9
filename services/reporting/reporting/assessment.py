"""Assessment of towns and departments (量化考核), and departments' feed status,
judged from events alone with reporting's own parameters.

Every indicator is computed as a list of items (one per case, step or record),
each marked ``met``, ``missed`` or ``pending``; the scores are counts of those
items, so the same list answers "which cases are behind this score".
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from fangpin.contracts import DEPARTMENTS
from reporting.parameters import (
    DEFAULT_LIMITS,
    DEPARTMENT_WEIGHTS,
    TOWN_WEIGHTS,
    StepLimits,
    day_end,
    day_start,
    feed_deadline,
    month_bounds,
    month_of,
    next_month,
    parse_month,
)
from reporting.views import ReportingView

MET, MISSED, PENDING = "met", "missed", "pending"
COUNTED = "counted"

TOWN_INDICATORS = {
    "visits_on_time": ("首次入户及时率", "first home visit within its limit"),
    "decisions_on_time": ("审定及时率", "decision within its limit"),
    "steps_on_time": ("环节办结及时率", "steps completed within their limits"),
    "not_escalated": ("未升级率", "steps not escalated"),
    "overdue": ("超时环节", "steps that passed their limit"),
    "escalated": ("升级环节", "steps escalated to the next level"),
    "reentries": ("返贫再纳入", "cases of households that had left monitoring"),
    "hours_to_first_visit": ("首次入户用时（小时）", "hours from case to first visit"),
}
DEPARTMENT_INDICATORS = {
    "records_on_time": ("数据推送及时率", "records in by the deadline"),
    "measures_on_time": ("措施落实及时率", "assigned measures delivered by due date"),
    "records": ("推送记录", "records matched to households"),
    "rejected": ("退回记录", "records rejected"),
}


@dataclass(frozen=True)
class Item:
    subject: str  # "town:<code>" or "department:<name>"
    indicator: str
    outcome: str
    household_id: UUID | None = None
    case_id: UUID | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        links: dict[str, Any] = {}
        if self.household_id:
            links["history"] = f"/households/{self.household_id}/history"
        if self.case_id:
            links["timeline"] = f"/cases/{self.case_id}/timeline"
        return {
            "subject": self.subject,
            "indicator": self.indicator,
            "outcome": self.outcome,
            "household_id": self.household_id,
            "case_id": self.case_id,
            **self.detail,
            **links,
        }


def _parse(moment: Any) -> datetime | None:
    if moment is None or isinstance(moment, datetime):
        return moment
    return datetime.fromisoformat(moment)


def town_items(
    cases: Iterable[dict[str, Any]],
    start: datetime,
    end: datetime,
    now: datetime,
    limits: StepLimits = DEFAULT_LIMITS,
) -> list[Item]:
    """What each town did with its cases in [start, end), each step judged by the
    limits in force when it ended (or now, while it is open)."""
    items: list[Item] = []
    for case in cases:
        subject = f"town:{case['town_code']}"
        ids = {"household_id": case["household_id"], "case_id": case["case_id"]}
        opened = case["opened_at"]
        if start <= opened < end:
            items += _first_visit(subject, ids, case, now, limits)
            if case["reentry"]:
                items.append(Item(subject, "reentries", COUNTED, **ids))
        for record in case["steps"]:
            items += _step_items(subject, ids, case, record, (start, end), now, limits)
    return items


def _first_visit(
    subject: str,
    ids: dict[str, Any],
    case: dict[str, Any],
    now: datetime,
    limits: StepLimits,
) -> list[Item]:
    opened = case["opened_at"]
    visited = case["first_visit_at"]
    due = limits.due_at("visit", opened, visited or now)
    assert due is not None
    if visited is None:
        outcome = MISSED if now >= due else PENDING
        return [Item(subject, "visits_on_time", outcome, **ids, detail={"due_at": due})]
    hours = round((visited - opened).total_seconds() / 3600, 1)
    detail = {"due_at": due, "visited_at": visited, "hours": hours}
    return [
        Item(
            subject,
            "visits_on_time",
            MET if visited <= due else MISSED,
            **ids,
            detail=detail,
        ),
        Item(subject, "hours_to_first_visit", COUNTED, **ids, detail=detail),
    ]


def _step_items(
    subject: str,
    ids: dict[str, Any],
    case: dict[str, Any],
    record: dict[str, Any],
    period: tuple[datetime, datetime],
    now: datetime,
    limits: StepLimits,
) -> list[Item]:
    start, end = period
    step = record["step"]
    started = _parse(record["started_at"])
    ended = _parse(record["ended_at"])
    assert started is not None
    due = limits.due_at(step, started, ended or now)
    if due is None:
        return []
    detail = {"step": step, "started_at": started, "ended_at": ended, "due_at": due}
    items = []
    # A step belongs to the period it ended in; an open step, to every period it
    # is open in, once its limit has passed.
    if ended is not None and start <= ended < end:
        on_time = ended <= due
        outcome = MET if on_time else MISSED
        items.append(Item(subject, "steps_on_time", outcome, **ids, detail=detail))
        if step == "decision" and case["decision"]:
            items.append(
                Item(subject, "decisions_on_time", outcome, **ids, detail=detail)
            )
    elif ended is None and started < end and now >= due:
        items.append(Item(subject, "steps_on_time", MISSED, **ids, detail=detail))
    else:
        return []
    escalated = bool(record["escalated"])
    items.append(
        Item(
            subject, "not_escalated", MISSED if escalated else MET, **ids, detail=detail
        )
    )
    if record["overdue"]:
        items.append(Item(subject, "overdue", COUNTED, **ids, detail=detail))
    if escalated:
        items.append(Item(subject, "escalated", COUNTED, **ids, detail=detail))
    return items


def department_items(
    records: Iterable[dict[str, Any]],
    rejected: Iterable[dict[str, Any]],
    assignments: Iterable[dict[str, Any]],
    now: datetime,
) -> list[Item]:
    items: list[Item] = []
    for record in records:
        subject = f"department:{record['department']}"
        month = month_of(record["effective_at"])
        deadline = feed_deadline(month)
        detail = {
            "record_id": record["record_id"],
            "kind": record["kind"],
            "month": month,
            "arrived_at": record["occurred_at"],
            "deadline": deadline,
        }
        outcome = MET if record["occurred_at"] < deadline else MISSED
        ids = {"household_id": record["household_id"]}
        items.append(Item(subject, "records_on_time", outcome, **ids, detail=detail))
        items.append(Item(subject, "records", COUNTED, **ids, detail=detail))
    for record in rejected:
        detail = {
            "record_id": record["record_id"],
            "kind": record["kind"],
            "reason": record["reason"],
            "arrived_at": record["occurred_at"],
        }
        subject = f"department:{record['department']}"
        items.append(Item(subject, "rejected", COUNTED, detail=detail))
    for assignment in assignments:
        subject = f"department:{assignment['department']}"
        due = day_end(assignment["due_on"])
        delivered = assignment["delivered_at"]
        if delivered is not None:
            outcome = MET if delivered < due else MISSED
        else:
            outcome = MISSED if now >= due else PENDING
        detail = {
            "measure": assignment["measure"],
            "due_on": assignment["due_on"],
            "delivered_at": delivered,
        }
        items.append(
            Item(
                subject,
                "measures_on_time",
                outcome,
                household_id=assignment["household_id"],
                case_id=assignment["case_id"],
                detail=detail,
            )
        )
    return items


def summarise(
    items: Iterable[Item], weights: dict[str, float], subjects: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Per subject and indicator: the counts, the rate and the score."""
    grouped: dict[str, dict[str, list[Item]]] = defaultdict(lambda: defaultdict(list))
    for item in items:
        grouped[item.subject][item.indicator].append(item)
    summary: dict[str, dict[str, Any]] = {}
    for subject in sorted(set(subjects) | set(grouped)):
        indicators: dict[str, Any] = {}
        for indicator, found in grouped[subject].items():
            outcomes: dict[str, int] = defaultdict(int)
            for item in found:
                outcomes[item.outcome] += 1
            judged = outcomes[MET] + outcomes[MISSED]
            entry: dict[str, Any] = {
                "count": len(found),
                "met": outcomes[MET],
                "missed": outcomes[MISSED],
                "pending": outcomes[PENDING],
                "rate": round(outcomes[MET] / judged, 4) if judged else None,
            }
            if indicator == "hours_to_first_visit":
                entry["median"] = statistics.median(
                    item.detail["hours"] for item in found
                )
            indicators[indicator] = entry
        summary[subject] = {
            "indicators": indicators,
            "score": score(indicators, weights),
        }
    return summary


def score(indicators: dict[str, Any], weights: dict[str, float]) -> float | None:
    rated = [
        (weight, indicators[name]["rate"])
        for name, weight in weights.items()
        if name in indicators and indicators[name]["rate"] is not None
    ]
    total = sum(weight for weight, _ in rated)
    if not total:
        return None
    return round(100 * sum(weight * rate for weight, rate in rated) / total, 1)


# --- department feeds --------------------------------------------------------------


def months_between(first: str, last: str) -> list[str]:
    month = parse_month(first)
    end = parse_month(last)
    found = []
    while month <= end:
        found.append(month.strftime("%Y-%m"))
        month = next_month(month)
    return found


def feed_status(
    records: Iterable[dict[str, Any]],
    rejected: Iterable[dict[str, Any]],
    months: list[str],
    now: datetime,
    departments: Iterable[str] = DEPARTMENTS,
) -> list[dict[str, Any]]:
    """Per department and month: matched records (by the month they are about),
    on time or late, and rejected records (by the month they came in)."""
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: {"matched": 0, "on_time": 0, "late": 0, "rejected": 0}
    )
    for record in records:
        month = month_of(record["effective_at"])
        entry = counts[(record["department"], month)]
        entry["matched"] += 1
        late = record["occurred_at"] >= feed_deadline(month)
        entry["late" if late else "on_time"] += 1
    for record in rejected:
        counts[(record["department"], month_of(record["occurred_at"]))]["rejected"] += 1
    names = sorted(set(departments) | {department for department, _ in counts})
    found = []
    for department in names:
        for month in months:
            entry = counts.get((department, month)) or {
                "matched": 0,
                "on_time": 0,
                "late": 0,
                "rejected": 0,
            }
            deadline = feed_deadline(month)
            if entry["late"]:
                status = "late"
            elif entry["matched"]:
                status = "on_time"
            elif now < deadline:
                status = "open"
            else:
                status = "missing"
            found.append(
                {
                    "department": department,
                    "month": month,
                    "deadline": deadline,
                    "status": status,
                    **entry,
                    "records": f"/feeds/{department}/{month}",
                }
            )
    return found


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return day_start(start), day_end(end)


def months_of_period(start: date, end: date) -> tuple[datetime, datetime]:
    """The whole months a period touches, for feeds judged month by month."""
    first = month_bounds(start.strftime("%Y-%m"))[0]
    last = month_bounds(end.strftime("%Y-%m"))[1]
    return first, last


# --- reading the view ---------------------------------------------------------------


@dataclass(frozen=True)
class Assessment:
    items: list[Item]
    towns: set[str]
    departments: set[str]

    def summary(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Towns' and departments' indicators and scores."""
        towns = summarise(
            [i for i in self.items if i.subject.startswith("town:")],
            TOWN_WEIGHTS,
            self.towns,
        )
        departments = summarise(
            [i for i in self.items if i.subject.startswith("department:")],
            DEPARTMENT_WEIGHTS,
            self.departments,
        )
        return towns, departments


def assess(
    view: ReportingView,
    area: str,
    start: date,
    end: date,
    now: datetime,
    department: str | None = None,
) -> Assessment:
    """Everything judged in the area over [start, end] (days, county time):
    towns always, departments when the area is a whole county; ``department``
    narrows it to that department alone."""
    begin, finish = period_bounds(start, end)
    towns = town_items(
        view.cases_for_assessment(area, begin, finish),
        begin,
        finish,
        now,
        StepLimits.from_events(view.limit_changes()),
    )
    town_subjects = {item.subject for item in towns}
    if len(area) == 9:
        town_subjects.add(f"town:{area}")
    departments: list[Item] = []
    if len(area) == 6:
        first, last = months_of_period(start, end)
        departments = department_items(
            view.department_records(area, begin, finish),
            view.rejected_records(first, last),
            view.assignments_due(area, begin, finish),
            now,
        )
    department_subjects = {item.subject for item in departments}
    if department is not None:
        own = f"department:{department}"
        return Assessment(
            [item for item in departments if item.subject == own], set(), {own}
        )
    return Assessment(towns + departments, town_subjects, department_subjects)


def feeds(
    view: ReportingView, area: str, first: str, last: str, now: datetime
) -> list[dict[str, Any]]:
    """Feed status per department and month from ``first`` to ``last``."""
    months = months_between(first, last)
    begin, finish = month_bounds(first)[0], month_bounds(last)[1]
    # Rejected records name no household, hence no area: a county's office sees them.
    rejected = view.rejected_records(begin, finish) if len(area) == 6 else []
    return feed_status(
        view.department_records(area, begin, finish), rejected, months, now
    )


def feed_records(
    view: ReportingView,
    area: str,
    department: str,
    month: str,
    outcome: str | None,
) -> list[dict[str, Any]]:
    """The records behind one department's month: on time, late or rejected."""
    begin, finish = month_bounds(month)
    deadline = feed_deadline(month)
    found: list[dict[str, Any]] = []
    if outcome != "rejected":
        for row in view.department_records(area, begin, finish):
            if row["department"] != department:
                continue
            judged = "late" if row["occurred_at"] >= deadline else "on_time"
            if outcome in (None, judged):
                found.append(
                    {
                        "record_id": row["record_id"],
                        "kind": row["kind"],
                        "outcome": judged,
                        "arrived_at": row["occurred_at"],
                        "household_id": row["household_id"],
                        "history": f"/households/{row['household_id']}/history",
                    }
                )
    if outcome in (None, "rejected") and len(area) == 6:
        for row in view.rejected_records(begin, finish):
            if row["department"] == department:
                found.append(
                    {
                        "record_id": row["record_id"],
                        "kind": row["kind"],
                        "outcome": "rejected",
                        "arrived_at": row["occurred_at"],
                        "reason": row["reason"],
                    }
                )
    return found
