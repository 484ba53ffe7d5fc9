"""Screening on real NATS and PostgreSQL: a department record published by intake
becomes a RiskFlagged event in screening's store and on its stream, and so does a
household survey posted to intake's API; re-screening and back-testing page
through the stored profiles."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fangpin.auth import Principal, issue_token
from fangpin.contracts import (
    Actor,
    Contract,
    DepartmentRecordReceived,
    Envelope,
    HouseholdRegistered,
    IncomeRecorded,
    PovertyStatus,
    RiskFlagged,
    Role,
)
from fangpin.inbox import Inbox, Incoming
from fangpin.relay import HEADER_EVENT_TYPE, OutboxRelay
from fangpin.streams import ensure_streams
from intake.main import build as build_intake
from screening.application import ScreeningApplication
from screening.domain import RiskProfile
from screening.workers import run_rescreen
from tests.support import (
    eventually,
    household_form,
    publish_relayed,
    stream_messages,
)

pytestmark = pytest.mark.integration
VILLAGE = "510904101201"
DISTRICT = Principal(user_id="district01", role=Role.DISTRICT, area_code="510904")
GRID = Principal(
    user_id="grid01", role=Role.GRID_MONITOR, area_code=VILLAGE, village_group="1"
)


def envelope(data: Contract) -> Envelope:
    return Envelope(
        event_id=uuid.uuid4(),
        type=type(data).__name__,
        occurred_at=datetime.now(UTC),
        producer="intake",
        actor=Actor(user_id="intake", role=Role.SYSTEM, area_code="510904"),
        household_id=getattr(data, "household_id", None),
        correlation_id=uuid.uuid4(),
        data=data.model_dump(mode="json"),
    )


def registered(household_id: uuid.UUID) -> HouseholdRegistered:
    return HouseholdRegistered(
        household_id=household_id,
        area_code=VILLAGE,
        village_group="1",
        poverty_status=PovertyStatus.FORMERLY_POOR,
        left_poverty_year=2019,
        member_count=3,
        facts={"labour_capable_count": 2, "housing_rating": "B"},
    )


@pytest.fixture
async def screening(settings, nc) -> AsyncIterator[tuple[ScreeningApplication, Inbox]]:
    await ensure_streams(nc.jetstream())
    app = ScreeningApplication(settings)
    inbox = Inbox(nc.jetstream, "screening", app, batch_size=50, ack_wait_seconds=2)
    inbox.consume("INTAKE", "intake.>")
    relay = OutboxRelay(app, nc.jetstream(), batch_size=50)
    stopping = asyncio.Event()
    tasks = [
        asyncio.create_task(inbox.run(inbox.subscriptions[0], stopping)),
        asyncio.create_task(relay.run(stopping)),
    ]
    yield app, inbox
    stopping.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    app.close()


async def published(js: Any, event_type: str) -> list[Any]:
    return [
        message
        for message in await stream_messages(js, "SCREENING")
        if message.headers.get(HEADER_EVENT_TYPE) == event_type
    ]


async def test_a_department_record_on_nats_becomes_a_published_risk_flag(screening, nc):
    app, inbox = screening
    js = nc.jetstream()
    household = uuid.uuid4()
    registration = envelope(registered(household))
    record = envelope(
        DepartmentRecordReceived(
            record_id="MED-2026-000042",
            department="medical_insurance",
            kind="hospital_settlement",
            household_id=household,
            area_code=VILLAGE,
            occurred_on=date.today(),
            facts={
                "total_cost": 52000.0,
                "reimbursed": 36000.0,
                "out_of_pocket": 16000.0,
            },
        )
    )
    await publish_relayed(
        js, "intake.household.registered", registration.model_dump_json().encode(), 1
    )
    payload = record.model_dump_json().encode()
    await publish_relayed(js, "intake.department.record", payload, 2)

    (message,) = await eventually(lambda: published(js, "RiskFlagged"))
    flagged = Envelope.model_validate_json(message.data)
    assert message.headers["Nats-Msg-Id"] == str(flagged.event_id)
    assert flagged.causation_id == record.event_id
    assert flagged.correlation_id == record.correlation_id
    data = RiskFlagged.model_validate(flagged.data)
    assert [hit.code for hit in data.hits] == ["R-MED-01", "R-MED-02"]
    assert data.hits[0].values == {"out_of_pocket": 16000.0}
    assert data.hits[0].thresholds == {"oop_line_low_income": 10000}
    assert data.caused_by == [record.event_id]
    assert data.catalogue_version == 1

    # The same record again, as after a lost ack: no second flag.
    await publish_relayed(js, "intake.department.record", payload, 2)
    await eventually(lambda: inbox.processed == 3)
    profile = app.get_or_none(household, RiskProfile)
    assert profile is not None and len(profile.records) == 1
    assert len(await published(js, "RiskFlagged")) == 1
    assert len(await published(js, "CataloguePublished")) == 1


@pytest.fixture
def intake(settings) -> Iterator[TestClient]:
    """Intake's HTTP service with its relay, publishing to the same NATS."""
    with TestClient(build_intake(settings)) as running:
        yield running


def bearer(principal: Principal) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(principal)}"}


async def test_a_survey_posted_to_intake_becomes_a_published_risk_flag(
    intake, screening, nc
):
    app, _ = screening
    js = nc.jetstream()
    form = household_form(21)
    registered = intake.post("/households", json=form, headers=bearer(DISTRICT))
    assert registered.status_code == 201, registered.text
    household = uuid.UUID(registered.json()["id"])

    # The grid monitor's home visit finds the main earner dead and nobody in work.
    visit = {
        "surveyed_on": date.today().isoformat(),
        "main_earner_died": True,
        "employed_count": 0,
        "household_debt": 48000.0,
    }
    answer = intake.post(
        f"/households/{household}/survey", json=visit, headers=bearer(GRID)
    )
    assert answer.status_code == 201, answer.text

    async def surveyed() -> list[Any]:
        return [
            message
            for message in await stream_messages(js, "INTAKE")
            if message.headers.get(HEADER_EVENT_TYPE) == "HouseholdSurveyed"
        ]

    (survey_message,) = await eventually(surveyed)
    survey = Envelope.model_validate_json(survey_message.data)
    assert survey_message.subject == "intake.household.surveyed"
    assert survey.actor.user_id == "grid01"
    assert survey.data["facts"] == {
        "main_earner_died": True,
        "household_debt": 48000.0,
        "employed_count": 0,
    }

    async def flagged_by_survey() -> list[RiskFlagged]:
        found = []
        for message in await published(js, "RiskFlagged"):
            envelope = Envelope.model_validate_json(message.data)
            if envelope.causation_id == survey.event_id:
                found.append(RiskFlagged.model_validate(envelope.data))
        return found

    (flag,) = await eventually(flagged_by_survey)
    hits = {hit.code: hit for hit in flag.hits}
    assert {"R-FAM-01", "R-EMP-03"} <= set(hits)
    assert hits["R-FAM-01"].values == {"main_earner_died": True}
    assert hits["R-EMP-03"].values == {"employed_count": 0, "labour_capable_count": 1}
    assert survey.event_id in flag.caused_by
    profile = app.get_or_none(household, RiskProfile)
    assert profile is not None and len(profile.surveys) == 1


def incoming(data: Contract, number: int) -> Incoming:
    return Incoming(("intake", number), "intake.x", envelope(data), data)


async def test_rescreening_and_backtesting_page_through_stored_profiles(settings):
    app = ScreeningApplication(settings)
    households = sorted(uuid.uuid4() for _ in range(25))
    app.process([incoming(registered(h), n) for n, h in enumerate(households, 1)])
    incomes = [
        IncomeRecorded(
            household_id=h,
            area_code=VILLAGE,
            year=2025,
            per_capita_net_income=4800 if n % 5 == 0 else 5600,
            recorded_on=date.today(),
        )
        for n, h in enumerate(households)
    ]
    app.process([incoming(data, 100 + n) for n, data in enumerate(incomes)])
    flagged = [h for h in households if app.get_or_none(h, RiskProfile).active]
    assert len(flagged) == 5

    draft = app.open_draft(DISTRICT)
    app.set_parameter(
        draft, "income_line_formerly_poor", date(2020, 1, 1), 6000, DISTRICT
    )
    backtest = app.start_backtest(draft, DISTRICT)
    app.run_job(backtest, page_size=7)
    report = app.backtest_report(draft, backtest, DISTRICT, limit=100, offset=0)
    assert report["summary"]["flagged_by_draft"] == 25
    assert report["summary"]["flagged_by_current"] == 5
    assert app.current_catalogue().version == 1

    # Published, the draft is re-screened on worker processes, as the service does.
    _, _, rescreen = app.publish_draft(draft, DISTRICT)
    job = run_rescreen(app, settings, rescreen, workers=2, page_size=7)
    assert (job.status, job.done, job.total, job.changed) == ("finished", 25, 25, 20)
    profiles = app.store.load(households)
    assert all(p.active.keys() == {"R-INC-01"} for p in profiles.values())
    app.close()
