"""Casework in memory: upstream messages as its inbox hands them over, and the
officials who take a case through its steps."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from casework.application import CaseworkApplication
from casework.domain import Case, HouseholdCases, household_cases_id
from fangpin.auth import Principal
from fangpin.contracts import (
    Actor,
    Contract,
    Envelope,
    HouseholdRegistered,
    IndicatorHit,
    ProblemReported,
    RiskFlagged,
    Role,
    TargetType,
)
from fangpin.inbox import Incoming

VILLAGE_CODE = "510904101201"
GRID = Principal(
    user_id="grid01", role=Role.GRID_MONITOR, area_code=VILLAGE_CODE, village_group="1"
)
VILLAGE = Principal(user_id="village01", role=Role.VILLAGE, area_code=VILLAGE_CODE)
TOWN = Principal(user_id="town01", role=Role.TOWN, area_code="510904101")
DISTRICT = Principal(user_id="district01", role=Role.DISTRICT, area_code="510904")


def incoming(
    producer: str, subject: str, number: int, kind: str, data: Contract
) -> Incoming:
    envelope = Envelope(
        event_id=uuid.uuid4(),
        type=kind,
        occurred_at=datetime.now(UTC),
        producer=producer,
        actor=Actor(user_id=producer, role=Role.SYSTEM, area_code="510904"),
        correlation_id=uuid.uuid4(),
        data=data.model_dump(mode="json"),
    )
    return Incoming((producer, number), subject, envelope, data)


def report(household_id: uuid.UUID, number: int, category: str = "illness") -> Incoming:
    data = ProblemReported(
        report_id=uuid.uuid4(),
        household_id=household_id,
        area_code=VILLAGE_CODE,
        village_group="1",
        category=category,
        observed_on=date(2026, 11, 30),
        urgent=category == "illness",
    )
    return incoming("intake", "intake.report.problem", number, "ProblemReported", data)


def flag(household_id: uuid.UUID, number: int, target_type: TargetType) -> Incoming:
    data = RiskFlagged(
        household_id=household_id,
        area_code=VILLAGE_CODE,
        hits=[
            IndicatorHit(
                code="R-MED-01",
                name_zh="医疗自付超线",
                name_en="Out-of-pocket medical costs above the line",
                values={"out_of_pocket": 16000.0},
                thresholds={"out_of_pocket_line": 10000.0},
            )
        ],
        target_type=target_type,
        catalogue_version=1,
        caused_by=[uuid.uuid4()],
    )
    return incoming("screening", "screening.risk.flagged", number, "RiskFlagged", data)


def registered(
    household_id: uuid.UUID, number: int, facts: dict[str, Any], **fields: Any
) -> Incoming:
    data = HouseholdRegistered(
        household_id=household_id,
        area_code=VILLAGE_CODE,
        village_group=fields.get("village_group", "1"),
        poverty_status=fields.get("poverty_status", "formerly_poor"),
        member_count=3,
        facts=facts,
        household_number=fields.get("household_number"),
    )
    return incoming(
        "intake", "intake.household.registered", number, "HouseholdRegistered", data
    )


def open_case(app: CaseworkApplication, household_id: uuid.UUID) -> Case:
    index = app.get_or_none(household_cases_id(household_id), HouseholdCases)
    assert index is not None and index.open_case_id is not None
    case = app.get_or_none(index.open_case_id, Case)
    assert case is not None
    return case


def to_decision(app: CaseworkApplication, case_id: uuid.UUID) -> None:
    """Visit with consent, a five-day notice, the village review, the town check."""
    starts = date(2026, 11, 1)
    ends = starts + timedelta(days=5)
    app.act(case_id, VILLAGE, lambda case, meta: case.record_visit(True, "seen", meta))
    app.act(
        case_id, VILLAGE, lambda case, meta: case.publish_notice(starts, ends, meta)
    )
    app.act(
        case_id,
        VILLAGE,
        lambda case, meta: case.complete_village_review(False, "none", ends, meta),
    )
    app.act(case_id, TOWN, lambda case, meta: case.town_check("checked", meta))


def to_plan(
    app: CaseworkApplication,
    case_id: uuid.UUID,
    target_type: TargetType = TargetType.EXPENSE_HARDSHIP,
) -> None:
    to_decision(app, case_id)
    app.act(
        case_id,
        DISTRICT,
        lambda case, meta: case.confirm_target(target_type.value, "found so", meta),
    )


def to_elimination_review(app: CaseworkApplication, case_id: uuid.UUID) -> None:
    """A confirmed expense-hardship target with a plan, up for the review."""
    to_plan(app, case_id)
    measures = [{"measure": "temporary_aid", "responsible_department": "civil"}]
    app.act(case_id, TOWN, lambda case, meta: case.draw_plan("cadre", measures, meta))
    app.act(case_id, TOWN, lambda case, meta: case.request_elimination("ok", meta))


def to_exit(app: CaseworkApplication, case_id: uuid.UUID) -> None:
    """Helped, reviewed and exited: the district's review records every
    condition as met."""
    to_elimination_review(app, case_id)
    app.act(
        case_id,
        DISTRICT,
        lambda case, meta: case.review_elimination([], "conditions hold", meta),
    )
