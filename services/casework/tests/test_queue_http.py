"""Whose steps each official's queue lists, over HTTP on PostgreSQL: cases in two
towns and four villages, some late, some escalated to the next level."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from casework.application import CaseworkApplication
from casework.steps import Step
from fangpin.auth import Principal
from fangpin.contracts import ProblemReported, Role

from .conftest import Service, incoming, open_case

pytestmark = pytest.mark.integration

TOWN_A, TOWN_B = "510904101", "510904102"
A1, A2 = "510904101201", "510904101202"
B1, B2 = "510904102201", "510904102202"
NUMBERS = itertools.count(1)


def village_official(village: str) -> Principal:
    return Principal(
        user_id=f"village{village[-3:]}", role=Role.VILLAGE, area_code=village
    )


def town_official(town: str) -> Principal:
    return Principal(user_id=f"town{town[-3:]}", role=Role.TOWN, area_code=town)


DISTRICT = Principal(user_id="district01", role=Role.DISTRICT, area_code="510904")
GRID = Principal(
    user_id="grid01", role=Role.GRID_MONITOR, area_code=A1, village_group="1"
)
DEPARTMENT = Principal(
    user_id="medical01",
    role=Role.DEPARTMENT,
    area_code="510904",
    department="medical_insurance",
)
AUDITOR = Principal(user_id="auditor01", role=Role.AUDITOR, area_code="510904")


def opened(app: CaseworkApplication, village: str, urgent: bool = False) -> UUID:
    """A case a grid report has just opened in ``village``."""
    household = uuid.uuid4()
    data = ProblemReported(
        report_id=uuid.uuid4(),
        household_id=household,
        area_code=village,
        village_group="1",
        category="illness" if urgent else "income_drop",
        observed_on=date(2026, 11, 30),
        urgent=urgent,
    )
    number = next(NUMBERS)
    app.process(
        [incoming("intake", "intake.report.problem", number, "ProblemReported", data)]
    )
    return open_case(app, household).id


def brought_to(app: CaseworkApplication, case_id: UUID, step: Step) -> UUID:
    """The case taken through its steps by its own village and town officials
    until it waits in ``step``."""
    case = app.case(case_id, DISTRICT)
    village = village_official(case.area_code)
    town = town_official(case.town_code)
    starts = date(2026, 11, 2)
    ends = starts + timedelta(days=5)
    walk = [
        (Step.VISIT, village, lambda c, m: c.record_visit(True, "visited", m)),
        (Step.NOTICE, village, lambda c, m: c.publish_notice(starts, ends, m)),
        (
            Step.NOTICE_PERIOD,
            village,
            lambda c, m: c.complete_village_review(False, "none", ends, m),
        ),
        (Step.TOWN_CHECK, town, lambda c, m: c.town_check("checked", m)),
    ]
    for current, official, command in walk:
        if current is step:
            break
        app.act(case_id, official, command, current)
    assert app.case(case_id, DISTRICT).step is step
    return case_id


def made_late(service: Service, case_id: UUID, escalated: bool) -> None:
    """The deadline watch finds the step past its limit (and past its escalation,
    if ``escalated``)."""
    case = service.app.case(case_id, DISTRICT)
    due, escalate = service.app.deadline_rules().deadlines(
        case.step, case.step_started_at
    )
    now = escalate if escalated else due
    candidates = [
        row
        for row in service.view.deadline_candidates(now)
        if row["case_id"] == case_id
    ]
    assert service.app.watch_deadlines(candidates, now) == (1, int(escalated))


@dataclass
class Cases:
    a1_visit: UUID
    a1_notice: UUID
    a2_visit: UUID
    b1_visit: UUID
    b2_visit: UUID
    a1_town: UUID
    a2_town: UUID
    b1_town: UUID
    a1_decision: UUID
    b2_decision: UUID


@pytest.fixture
def cases(service: Service) -> Cases:
    app = service.app
    found = Cases(
        a1_visit=opened(app, A1, urgent=True),
        a1_notice=brought_to(app, opened(app, A1), Step.NOTICE),
        a2_visit=opened(app, A2),
        b1_visit=opened(app, B1),
        b2_visit=opened(app, B2),
        a1_town=brought_to(app, opened(app, A1), Step.TOWN_CHECK),
        a2_town=brought_to(app, opened(app, A2), Step.TOWN_CHECK),
        b1_town=brought_to(app, opened(app, B1), Step.TOWN_CHECK),
        a1_decision=brought_to(app, opened(app, A1), Step.DECISION),
        b2_decision=brought_to(app, opened(app, B2, urgent=True), Step.DECISION),
    )
    service.catch_up()
    made_late(service, found.a2_visit, escalated=True)
    made_late(service, found.b2_visit, escalated=False)
    made_late(service, found.a2_town, escalated=False)
    made_late(service, found.b1_town, escalated=True)
    service.catch_up()
    return found


def queue(service: Service, who: Principal, **filters: Any) -> dict[str, Any]:
    answer = service.call(who, "GET", "/queue", params=filters)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def listed(service: Service, who: Principal, **filters: Any) -> set[UUID]:
    return {UUID(row["case_id"]) for row in queue(service, who, **filters)["cases"]}


def test_each_level_sees_its_own_steps_in_its_own_area(service, cases):
    assert listed(service, village_official(A1)) == {cases.a1_visit, cases.a1_notice}
    assert listed(service, village_official(A2)) == {cases.a2_visit}
    assert listed(service, village_official(B1)) == {cases.b1_visit}
    assert listed(service, village_official(B2)) == {cases.b2_visit}
    assert listed(service, town_official(TOWN_A)) == {
        cases.a1_town,
        cases.a2_town,
        cases.a2_visit,
    }
    assert listed(service, town_official(TOWN_B)) == {cases.b1_town}
    assert listed(service, DISTRICT) == {
        cases.a1_decision,
        cases.b2_decision,
        cases.b1_town,
    }


def test_an_escalated_step_waits_also_at_the_next_level(service, cases):
    town_a = queue(service, town_official(TOWN_A))
    states = {UUID(row["case_id"]): row["state"] for row in town_a["cases"]}

    # The village's late home visit, in red in its town's queue and its own.
    assert states == {
        cases.a2_visit: "escalated",
        cases.a2_town: "overdue",
        cases.a1_town: "on_time",
    }
    assert (town_a["total"], town_a["overdue"], town_a["escalated"]) == (3, 2, 1)
    assert town_a["counts"] == {"visit": 1, "town_check": 2}
    village_a2 = queue(service, village_official(A2))
    assert (village_a2["total"], village_a2["escalated"]) == (1, 1)
    # The town's late check goes up to the district, which may then take it.
    district = queue(service, DISTRICT)
    assert district["counts"] == {"decision": 2, "town_check": 1}
    assert (district["overdue"], district["escalated"]) == (1, 1)
    check = {"summary": "checked by the district"}
    answer = service.call(
        DISTRICT, "POST", f"/cases/{cases.b1_town}/town-check", json=check
    )
    assert answer.status_code == 200, answer.text
    service.catch_up()
    assert cases.b1_town in listed(service, DISTRICT, step="decision")
    assert listed(service, town_official(TOWN_B)) == set()


def test_a_step_not_escalated_stays_at_its_own_level(service, cases):
    # B2's home visit is late but not escalated: its town does not see it yet.
    assert queue(service, village_official(B2))["cases"][0]["state"] == "overdue"
    assert cases.b2_visit not in listed(service, town_official(TOWN_B))
    answer = service.call(
        DISTRICT, "POST", f"/cases/{cases.a2_town}/town-check", json={"summary": "x"}
    )
    assert answer.status_code == 403
    assert "town level" in answer.json()["detail"]


def test_filters_narrow_the_list_and_the_counts(service, cases):
    town_a = town_official(TOWN_A)

    by_step = queue(service, DISTRICT, step="decision")
    assert {UUID(row["case_id"]) for row in by_step["cases"]} == {
        cases.a1_decision,
        cases.b2_decision,
    }
    assert (by_step["total"], by_step["counts"]) == (2, {"decision": 2})
    assert listed(service, DISTRICT, escalated=True) == {cases.b1_town}
    assert listed(service, DISTRICT, urgent=True) == {cases.b2_decision}
    assert listed(service, village_official(A1), urgent=True) == {cases.a1_visit}
    late = queue(service, town_a, overdue=True)
    assert {UUID(row["case_id"]) for row in late["cases"]} == {
        cases.a2_town,
        cases.a2_visit,
    }
    assert late["counts"] == {"visit": 1, "town_check": 1}
    assert listed(service, town_a, overdue=False) == {cases.a1_town}
    assert listed(service, town_a, step="visit") == {cases.a2_visit}
    assert listed(service, town_a, step="visit", escalated=False) == set()
    paged = queue(service, DISTRICT, limit=1, offset=1)
    assert (paged["total"], len(paged["cases"])) == (3, 1)


def test_an_area_narrows_the_queue_to_one_town_or_village(service, cases):
    town_a = town_official(TOWN_A)

    in_a1 = queue(service, town_a, area=A1)
    assert {UUID(row["case_id"]) for row in in_a1["cases"]} == {cases.a1_town}
    assert (in_a1["total"], in_a1["overdue"], in_a1["escalated"]) == (1, 0, 0)
    assert in_a1["counts"] == {"town_check": 1}
    in_a2 = queue(service, town_a, area=A2)
    assert (in_a2["total"], in_a2["overdue"], in_a2["escalated"]) == (2, 2, 1)
    in_town_b = queue(service, DISTRICT, area=TOWN_B)
    assert {UUID(row["case_id"]) for row in in_town_b["cases"]} == {
        cases.b1_town,
        cases.b2_decision,
    }
    assert in_town_b["counts"] == {"decision": 1, "town_check": 1}
    assert listed(service, DISTRICT, area=B2) == {cases.b2_decision}
    assert queue(service, DISTRICT, area=B2, step="town_check")["total"] == 0
    # One's own area is no narrowing at all.
    assert listed(service, town_a, area=TOWN_A) == listed(service, town_a)
    assert listed(service, village_official(A1), area=A1) == {
        cases.a1_visit,
        cases.a1_notice,
    }


@pytest.mark.parametrize(
    ("who", "area"),
    [
        (town_official(TOWN_A), B1),
        (town_official(TOWN_A), TOWN_B),
        (town_official(TOWN_A), "510904"),
        (village_official(A1), A2),
        (DISTRICT, "510905"),
    ],
)
def test_an_area_outside_ones_own_is_not_found(service, who, area):
    answer = service.call(who, "GET", "/queue", params={"area": area})

    assert answer.status_code == 404
    assert answer.json() == {"detail": "area not found in your area", "field": "area"}


@pytest.mark.parametrize("area", ["51090410", "5109041012011", "51090410120a", ""])
def test_a_malformed_area_is_refused_naming_the_field(service, area):
    answer = service.call(DISTRICT, "GET", "/queue", params={"area": area})

    assert answer.status_code == 422
    assert answer.json()["field"] == "area"
    assert "is not an area code" in answer.json()["detail"]


def test_a_grid_monitor_of_a_group_has_an_empty_queue(service, cases):
    for area in ({}, {"area": A1}):
        found = queue(service, GRID, **area)
        assert found == {
            "total": 0,
            "overdue": 0,
            "escalated": 0,
            "counts": {},
            "cases": [],
        }
    # Consistent with the cases: they open none, not even their village's.
    answer = service.call(GRID, "GET", f"/cases/{cases.a1_visit}")
    assert answer.status_code == 404
    assert service.call(GRID, "GET", "/queue", params={"area": A2}).status_code == 404
    # A monitor for the whole village (no group) sees its village steps.
    whole_village = GRID.model_copy(update={"village_group": None})
    assert listed(service, whole_village) == {cases.a1_visit, cases.a1_notice}


@pytest.mark.parametrize("who", [DEPARTMENT, AUDITOR])
def test_departments_and_auditors_have_no_queue(service, who):
    answer = service.call(who, "GET", "/queue")

    assert answer.status_code == 403
    assert "village, town and district officials" in answer.json()["detail"]


def test_the_queue_lists_the_earliest_deadline_first(service, cases):
    found = queue(service, DISTRICT)["cases"]
    due = [datetime.fromisoformat(row["due_at"]) for row in found]

    assert due == sorted(due)
    assert all(moment.tzinfo is not None for moment in due)
    # The town check (three working days) started before the decisions (five).
    assert found[0]["case_id"] == str(cases.b1_town)
