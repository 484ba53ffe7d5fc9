"""Assessment and feed status, judged with reporting's own parameters."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from reporting.assessment import (
    department_items,
    feed_status,
    months_between,
    summarise,
    town_items,
)
from reporting.parameters import (
    DEFAULT_LIMITS,
    TOWN_WEIGHTS,
    StepLimits,
    add_days,
    feed_deadline,
    month_bounds,
)

MONDAY = datetime(2026, 3, 2, 9, tzinfo=UTC)
PERIOD = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))


def test_working_days_skip_the_weekend():
    friday = MONDAY + timedelta(days=4)
    assert add_days(friday, 2, working_days=True) == friday + timedelta(days=4)
    assert add_days(friday, 2, working_days=False) == friday + timedelta(days=2)
    within = DEFAULT_LIMITS.within
    assert within("visit", friday, friday + timedelta(days=4))
    assert not within("visit", friday, friday + timedelta(days=4, seconds=1))


def test_a_step_is_judged_by_the_limit_and_calendar_in_force_when_it_ended():
    changed = MONDAY + timedelta(days=4)
    limits = StepLimits.from_events(
        [
            {
                "type": "TimeLimitChanged",
                "occurred_at": changed,
                "data": {
                    "step": "visit",
                    "days": 5,
                    "escalate_after": 8,
                    "working_days": True,
                },
            },
            {
                "type": "WorkCalendarChanged",
                "occurred_at": changed,
                # Wednesday and Thursday off.
                "data": {"holidays": ["2026-03-04", "2026-03-05"], "workdays": []},
            },
        ]
    )
    # Ended on Thursday, before the change: two working days, due Wednesday.
    thursday = MONDAY + timedelta(days=3)
    assert not limits.within("visit", MONDAY, thursday)
    # Ended after it: five working days without Wednesday and Thursday (Tuesday,
    # Friday, Monday, Tuesday, Wednesday), so due on the Wednesday after.
    assert limits.due_at("visit", MONDAY, changed) == MONDAY + timedelta(days=9)
    assert limits.within("visit", MONDAY, MONDAY + timedelta(days=9))
    assert not limits.within("visit", MONDAY, MONDAY + timedelta(days=9, seconds=1))
    # Steps without a change keep casework's defaults.
    assert limits.limit("decision", changed) == DEFAULT_LIMITS.limit(
        "decision", changed
    )


def test_a_month_and_its_feed_deadline_are_in_county_time():
    start, end = month_bounds("2026-03")
    assert start == datetime(2026, 2, 28, 16, tzinfo=UTC)
    assert end == datetime(2026, 3, 31, 16, tzinfo=UTC)
    # On time means in by the end of the 10th of the next month, county time.
    assert feed_deadline("2026-03") == datetime(2026, 4, 10, 16, tzinfo=UTC)
    assert feed_deadline("2026-12") == datetime(2027, 1, 10, 16, tzinfo=UTC)
    assert months_between("2025-11", "2026-02") == [
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
    ]


def case_row(
    opened: datetime, visited: datetime | None, steps: list[dict], **extra
) -> dict:
    return {
        "case_id": uuid.uuid4(),
        "household_id": uuid.uuid4(),
        "town_code": "510904101",
        "opened_at": opened,
        "first_visit_at": visited,
        "reentry": False,
        "decision": None,
        "steps": steps,
        **extra,
    }


def step(name: str, start: datetime, end: datetime | None, **flags) -> dict:
    return {
        "step": name,
        "started_at": start.isoformat(),
        "ended_at": end.isoformat() if end else None,
        "overdue": flags.get("overdue", False),
        "escalated": flags.get("escalated", False),
    }


def test_towns_are_judged_by_first_visits_decisions_and_escalations():
    visited_late = MONDAY + timedelta(days=3)
    decided = MONDAY + timedelta(days=20)
    on_time = case_row(
        MONDAY,
        MONDAY + timedelta(hours=5),
        [
            step("visit", MONDAY, MONDAY + timedelta(hours=5)),
            step("decision", decided - timedelta(days=2), decided),
            step("plan", decided, None),
        ],
        decision="confirmed",
        reentry=True,
    )
    late = case_row(
        MONDAY,
        visited_late,
        [
            step("visit", MONDAY, visited_late, overdue=True),
            step("notice", visited_late, None, overdue=True, escalated=True),
        ],
    )
    now = MONDAY + timedelta(days=25)
    items = town_items([on_time, late], *PERIOD, now)
    summary = summarise(items, TOWN_WEIGHTS, [])["town:510904101"]
    indicators = summary["indicators"]

    assert indicators["visits_on_time"] | {"rate": None} == {
        "count": 2,
        "met": 1,
        "missed": 1,
        "pending": 0,
        "rate": None,
    }
    assert indicators["decisions_on_time"]["met"] == 1
    assert indicators["escalated"]["count"] == 1
    assert indicators["overdue"]["count"] == 2
    assert indicators["reentries"]["count"] == 1
    assert indicators["hours_to_first_visit"]["median"] == (5 + 72) / 2
    assert 0 < summary["score"] < 100
    missed = [
        i for i in items if i.indicator == "visits_on_time" and i.outcome == "missed"
    ]
    assert [item.case_id for item in missed] == [late["case_id"]]
    assert missed[0].as_json()["timeline"] == f"/cases/{late['case_id']}/timeline"


def test_a_case_not_yet_due_for_its_visit_is_pending():
    items = town_items(
        [case_row(MONDAY, None, [step("visit", MONDAY, None)])],
        *PERIOD,
        MONDAY + timedelta(hours=1),
    )
    assert [(i.indicator, i.outcome) for i in items] == [("visits_on_time", "pending")]


def records(department: str, occurred_on: date, arrived: datetime, n: int = 1) -> list:
    return [
        {
            "department": department,
            "effective_at": datetime.combine(occurred_on, datetime.min.time(), UTC),
            "occurred_at": arrived,
            "household_id": uuid.uuid4(),
            "record_id": f"{department}-{occurred_on}-{k}",
            "kind": "hospital_settlement",
        }
        for k in range(n)
    ]


def test_a_late_march_batch_counts_for_march_and_marks_the_feed_late():
    march = records(
        "medical_insurance", date(2026, 3, 20), datetime(2026, 3, 21, tzinfo=UTC), 2
    )
    late = records(
        "medical_insurance", date(2026, 3, 25), datetime(2026, 4, 12, tzinfo=UTC)
    )
    rejected = [
        {
            "department": "health",
            "occurred_at": datetime(2026, 3, 5, tzinfo=UTC),
            "record_id": "H-1",
            "kind": "diagnosis",
            "reason": "no registered person matches",
        }
    ]
    now = datetime(2026, 4, 20, tzinfo=UTC)
    status = {
        (row["department"], row["month"]): row
        for row in feed_status(march + late, rejected, ["2026-03", "2026-04"], now)
    }
    assert status[("medical_insurance", "2026-03")] | {"deadline": None} == {
        "department": "medical_insurance",
        "month": "2026-03",
        "deadline": None,
        "status": "late",
        "matched": 3,
        "on_time": 2,
        "late": 1,
        "rejected": 0,
        "records": "/feeds/medical_insurance/2026-03",
    }
    assert status[("medical_insurance", "2026-04")]["status"] == "open"
    assert status[("health", "2026-03")]["status"] == "missing"
    assert status[("health", "2026-03")]["rejected"] == 1

    items = department_items(march + late, rejected, [], now)
    summary = summarise(items, {"records_on_time": 1.0}, [])
    assert summary["department:medical_insurance"]["score"] == round(100 * 2 / 3, 1)


def test_measures_are_on_time_when_granted_by_their_due_date():
    due = date(2026, 3, 31)
    assignment = {
        "department": "medical_insurance",
        "measure": "serious_illness_aid",
        "due_on": due,
        "household_id": uuid.uuid4(),
        "case_id": uuid.uuid4(),
    }
    now = datetime(2026, 5, 1, tzinfo=UTC)
    found = department_items(
        [],
        [],
        [
            {**assignment, "delivered_at": datetime(2026, 3, 31, 15, tzinfo=UTC)},
            {**assignment, "delivered_at": datetime(2026, 4, 2, tzinfo=UTC)},
            {**assignment, "delivered_at": None},
        ],
        now,
    )
    assert [item.outcome for item in found] == ["met", "missed", "missed"]
