"""From a department record on NATS to a confirmed target, aid granted, the
risk-elimination review, the household's exit and the case's closure: intake,
screening, casework and assistance with their relays and inboxes, in this process,
on real NATS and PostgreSQL. Casework's clock is moved forward to pass the six
months an exit needs; on the way the district raises the income line in screening's
catalogue, and casework's review holds the household to it."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from eventsourcing.persistence import IntegrityError

from assistance.application import AssistanceApplication, GrantIn
from assistance.domain import CaseRef
from casework.application import CaseworkApplication
from casework.domain import Case, HouseholdCases, household_cases_id
from casework.steps import Step
from fangpin.auth import Principal
from fangpin.contracts import Actor, Envelope, Role
from fangpin.eventstore import Cause
from fangpin.inbox import Inbox
from fangpin.relay import OutboxRelay
from fangpin.service import Conflict, Forbidden
from fangpin.streams import ensure_streams
from intake.application import HouseholdIn, IntakeApplication
from intake.main import parse_department_record
from screening.application import ScreeningApplication
from tests.support import eventually, household_form, publish_relayed

pytestmark = pytest.mark.integration

VILLAGE = Principal(user_id="village01", role=Role.VILLAGE, area_code="510904101201")
TOWN = Principal(user_id="town01", role=Role.TOWN, area_code="510904101")
DISTRICT = Principal(user_id="district01", role=Role.DISTRICT, area_code="510904")


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def test_department_record_to_exit_and_closure(settings, nc):
    js = nc.jetstream()
    await ensure_streams(js)
    clock = Clock()
    intake = IntakeApplication(settings, pseudonym_key=settings.pseudonym_key)
    screening = ScreeningApplication(settings)
    casework = CaseworkApplication(settings, clock=clock)
    assistance = AssistanceApplication(settings)

    stopping = asyncio.Event()
    tasks = [
        asyncio.create_task(OutboxRelay(app, js).run(stopping))
        for app in (intake, screening, casework, assistance)
    ]
    wiring = [
        (intake, [("DEPT", "dept.>")]),
        (screening, [("INTAKE", "intake.>")]),
        (
            casework,
            [
                ("INTAKE", "intake.>"),
                ("SCREENING", "screening.risk.>"),
                (
                    "SCREENING",
                    "screening.catalogue.published",
                    "casework-screening-catalogue",
                ),
                ("ASSISTANCE", "assistance.aid.granted"),
            ],
        ),
        (assistance, [("CASEWORK", "casework.case.>")]),
    ]
    for app, subscriptions in wiring:
        inbox = Inbox(nc.jetstream, app.service, app, batch_size=100)
        if app is intake:
            inbox.parse = parse_department_record
        for stream, subject, *durable in subscriptions:
            inbox.consume(stream, subject, *durable)
        tasks += [
            asyncio.create_task(inbox.run(subscription, stopping))
            for subscription in inbox.subscriptions
        ]
    try:
        await walk_the_case(js, clock, intake, screening, casework, assistance)
    finally:
        stopping.set()
        await asyncio.gather(*tasks)
        for app in (intake, screening, casework, assistance):
            app.close()


async def walk_the_case(js, clock, intake, screening, casework, assistance):
    form = household_form(11)
    id_number = form["members"][0]["id_number"]
    household = intake.register_household(HouseholdIn(**form), DISTRICT)

    record = {
        "record_id": "MED-77",
        "id_number": id_number,
        "occurred_on": date.today().isoformat(),
        "facts": {
            "total_cost": 40000.0,
            "reimbursed": 24000.0,
            "out_of_pocket": 16000.0,
        },
    }
    await js.publish(
        "dept.medical_insurance.hospital_settlement", json.dumps(record).encode()
    )

    def open_case() -> Case | None:
        index = casework.get_or_none(household_cases_id(household), HouseholdCases)
        if index is None or index.open_case_id is None:
            return None
        return casework.get_or_none(index.open_case_id, Case)

    case = await eventually(open_case, within=30)
    assert case.signals and case.step is Step.VISIT

    # The identification steps, each by the right level.
    with pytest.raises(Forbidden):
        casework.act(
            case.id, DISTRICT, lambda c, m: c.confirm_target("low_income", "x", m)
        )
    casework.act(case.id, VILLAGE, lambda c, m: c.record_visit(True, "visited", m))
    with pytest.raises(Conflict):
        casework.act(case.id, VILLAGE, lambda c, m: c.record_visit(True, "again", m))
    starts = date.today()
    casework.act(
        case.id,
        VILLAGE,
        lambda c, m: c.publish_notice(starts, starts + timedelta(days=5), m),
    )
    clock.offset = timedelta(days=6)
    casework.act(
        case.id,
        VILLAGE,
        lambda c, m: c.complete_village_review(
            False, "no objection", starts + timedelta(days=6), m
        ),
    )

    # Two town officials check at once: one wins, the other loses the race.
    first, second = casework.case(case.id, TOWN), casework.case(case.id, TOWN)
    first.town_check("checked", Cause(TOWN.actor()).meta(case_id=case.id))
    second.town_check("checked", Cause(TOWN.actor()).meta(case_id=case.id))
    casework.save(first)
    with pytest.raises(IntegrityError):
        casework.save(second)

    casework.act(
        case.id,
        DISTRICT,
        lambda c, m: c.confirm_target("expense_hardship", "medical burden", m),
    )
    measures = [
        {
            "measure": "temporary_aid",
            "responsible_department": "civil_affairs",
            "due_on": (date.today() + timedelta(days=30)).isoformat(),
        }
    ]
    casework.act(case.id, TOWN, lambda c, m: c.draw_plan("cadre07", measures, m))

    def target_known() -> bool:
        ref = assistance.get_or_none(case.id, CaseRef)
        return ref is not None and ref.is_target

    await eventually(target_known)
    assistance.grant(
        GrantIn(
            case_id=case.id,
            measure="temporary_aid",
            quantity=Decimal("3000"),
            period=date.today().strftime("%Y-%m"),
            funding_source="district",
        ),
        TOWN,
    )

    # Income above the line on record for over six months, and the medical
    # risk resolved: as intake and screening would publish them.
    recorded = date.today() - timedelta(days=40)
    await publish_as(
        "intake",
        "intake.household.income",
        10_000_001,
        js,
        household,
        "IncomeRecorded",
        {
            "household_id": str(household),
            "area_code": form["area_code"],
            "year": recorded.year,
            "per_capita_net_income": "7200",
            "sources": {"wages": "5200", "policy_bonus": "2000"},
            "recorded_on": recorded.isoformat(),
        },
    )
    await publish_as(
        "screening",
        "screening.risk.cleared",
        10_000_002,
        js,
        household,
        "RiskCleared",
        {
            "household_id": str(household),
            "area_code": form["area_code"],
            "catalogue_version": 1,
            "cleared_codes": ["R-MED-01"],
        },
    )

    def household_ready() -> bool:
        index = casework.get_or_none(household_cases_id(household), HouseholdCases)
        return bool(
            index
            and index.measures_received == 1
            and index.income_by_year
            and not index.open_risk_types
        )

    await eventually(household_ready, within=30)

    casework.act(case.id, TOWN, lambda c, m: c.request_elimination("stable", m))
    unmet = casework.review_elimination(case.id, "too soon", DISTRICT)
    assert any(item.startswith("months_monitored") for item in unmet)
    assert casework.case(case.id, TOWN).step is Step.ASSISTANCE

    # The district raises the line for formerly poor households from a day within
    # the six months the review looks back on; casework learns it from the
    # catalogue screening publishes and judges those days by it.
    raised_from = date.today() + timedelta(days=100)
    line = "income_line_formerly_poor"
    draft = screening.open_draft(DISTRICT, "a higher line")
    screening.set_parameter(draft, line, raised_from, 8000, DISTRICT)
    screening.publish_draft(draft, DISTRICT)

    def line_raised() -> bool:
        in_force = casework.income_lines().line_on("formerly_poor", raised_from)
        return in_force.value == 8000

    await eventually(line_raised, within=30)
    clock.offset = timedelta(days=230)
    casework.act(case.id, TOWN, lambda c, m: c.request_elimination("stable", m))
    unmet = casework.review_elimination(case.id, "the line was raised", DISTRICT)
    assert [item.split(":")[0] for item in unmet] == ["income"]
    assert f"8,000 yuan ({line} from {raised_from.isoformat()}" in unmet[0]

    # The year's income, corrected above the raised line, lets the household exit.
    await publish_as(
        "intake",
        "intake.household.income",
        10_000_003,
        js,
        household,
        "IncomeRecorded",
        {
            "household_id": str(household),
            "area_code": form["area_code"],
            "year": recorded.year,
            "per_capita_net_income": "9000",
            "sources": {"wages": "7000", "policy_bonus": "2000"},
            "recorded_on": recorded.isoformat(),
        },
    )

    def income_corrected() -> bool:
        index = casework.get_or_none(household_cases_id(household), HouseholdCases)
        return index is not None and index.income_by_year[recorded.year] == 9000

    await eventually(income_corrected, within=30)
    casework.act(case.id, TOWN, lambda c, m: c.request_elimination("stable", m))
    assert casework.review_elimination(case.id, "conditions hold", DISTRICT) == []
    exited = casework.case(case.id, TOWN)
    assert exited.exited and exited.step is Step.CLOSURE

    casework.close_case(case.id, "visited: income stable, bills paid", TOWN)
    index = casework.get_or_none(household_cases_id(household), HouseholdCases)
    assert index is not None and index.exited_before and index.open_case_id is None
    names = [type(event).__name__ for event in casework.events.get(case.id)]
    assert names[-3:] == ["EliminationReviewed", "TargetExited", "CaseClosed"]


async def publish_as(producer, subject, number, js, household, kind, data):
    envelope = Envelope(
        event_id=uuid.uuid4(),
        type=kind,
        occurred_at=datetime.now(UTC),
        producer=producer,
        actor=Actor(user_id=producer, role=Role.SYSTEM, area_code="510904"),
        household_id=household,
        correlation_id=uuid.uuid4(),
        data=data,
    )
    payload = envelope.model_dump_json().encode()
    await publish_relayed(js, subject, payload, number, producer=producer)
