"""Casework in memory: upstream messages as its inbox hands them over, and the
officials who take a case through its steps; and casework's HTTP app on
PostgreSQL, built as the service builds it."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from casework.application import CaseworkApplication
from casework.domain import Case, HouseholdCases, household_cases_id
from casework.main import build
from casework.views import QueueView
from fangpin.auth import Principal, issue_token
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
from fangpin.projection import LocalFollower
from fangpin.settings import Settings, get_settings
from tests.servers import postgres_server
from tests.support import create_database

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


# --- casework's HTTP app on PostgreSQL --------------------------------------------


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if "DATABASE_URL" in os.environ:
        yield os.environ["DATABASE_URL"]
        return
    with postgres_server(tmp_path_factory.mktemp("pg")) as url:
        yield url


@pytest.fixture
def settings(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings for a fresh database of its own."""
    monkeypatch.setenv("DATABASE_URL", create_database(postgres_url))
    monkeypatch.setenv("FANGPIN_JWT_SECRET", secrets.token_urlsafe(32))
    get_settings.cache_clear()
    yield Settings()
    get_settings.cache_clear()


class Service:
    """Casework's HTTP app as ``casework.main.build`` makes it, run without its
    lifespan: no NATS, and the queue view follows the events when asked."""

    def __init__(self, http: FastAPI):
        self.http = http
        runtime = http.state.runtime
        assert isinstance(runtime.app, CaseworkApplication)
        self.app: CaseworkApplication = runtime.app
        self.view: QueueView = http.state.queue_view
        self.follower = next(
            found for found in runtime.followers if isinstance(found, LocalFollower)
        )
        self.client = TestClient(http)

    def catch_up(self) -> None:
        self.follower.catch_up_once()

    def call(self, who: Principal, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {issue_token(who)}"}
        return self.client.request(method, path, headers=headers, **kw)

    def close(self) -> None:
        self.view.pool.close()
        self.app.close()


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    running = Service(build(settings))
    yield running
    running.close()
