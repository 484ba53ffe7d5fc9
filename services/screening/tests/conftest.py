"""A screening application in memory, and intake's messages to feed it."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import pytest

from fangpin.auth import Principal
from fangpin.contracts import (
    Actor,
    Contract,
    DepartmentRecordReceived,
    Envelope,
    HouseholdRegistered,
    HouseholdUpdated,
    IncomeRecorded,
    PovertyStatus,
    ProblemReported,
    Role,
)
from fangpin.inbox import Incoming
from screening.application import ScreeningApplication

TODAY = date(2026, 12, 1)
VILLAGE = "510904101201"
DISTRICT = Principal(user_id="district01", role=Role.DISTRICT, area_code="510904")
TOWN = Principal(user_id="town01", role=Role.TOWN, area_code="510904101")
OTHER_TOWN = Principal(user_id="town02", role=Role.TOWN, area_code="510904102")

KIND_DEPARTMENT = {
    "hospital_settlement": "medical_insurance",
    "insurance_status": "medical_insurance",
    "diagnosis": "health",
    "school_dropout": "education",
    "disability_certification": "disabled_persons",
    "disaster_loss": "emergency",
    "allowance_granted": "civil_affairs",
    "allowance_stopped": "civil_affairs",
    "traffic_accident": "traffic_police",
}


class Feed:
    """Builds intake's public events and hands them to screening's inbox handler."""

    def __init__(self, app: ScreeningApplication):
        self.app = app
        self.number = 0
        self.last_event_id: UUID | None = None

    def incoming(self, data: Contract, role: Role = Role.SYSTEM) -> Incoming:
        self.number += 1
        envelope = Envelope(
            event_id=uuid.uuid4(),
            type=type(data).__name__,
            occurred_at=datetime.now(UTC),
            producer="intake",
            actor=Actor(user_id="intake", role=role, area_code="510904"),
            household_id=getattr(data, "household_id", None),
            correlation_id=uuid.uuid4(),
            data=data.model_dump(mode="json"),
        )
        self.last_event_id = envelope.event_id
        return Incoming(("intake", self.number), "intake.x", envelope, data)

    def send(self, *data: Contract, role: Role = Role.SYSTEM) -> None:
        self.app.process([self.incoming(item, role) for item in data])

    def household(
        self,
        status: PovertyStatus = PovertyStatus.FORMERLY_POOR,
        facts: dict[str, Any] | None = None,
        member_count: int = 3,
        area_code: str = VILLAGE,
    ) -> UUID:
        household_id = uuid.uuid4()
        self.send(
            HouseholdRegistered(
                household_id=household_id,
                area_code=area_code,
                village_group="1",
                poverty_status=status,
                left_poverty_year=2019
                if status is PovertyStatus.FORMERLY_POOR
                else None,
                member_count=member_count,
                facts=facts or {},
            )
        )
        return household_id

    def update(
        self, household_id: UUID, facts: dict[str, Any], member_count: int = 3
    ) -> None:
        profile = self.app.store.load([household_id])[household_id]
        self.send(
            HouseholdUpdated(
                household_id=household_id,
                area_code=profile.area_code,
                village_group="1",
                poverty_status=profile.status,
                member_count=member_count,
                changed=["facts"],
                facts=facts,
            )
        )

    def income(
        self,
        household_id: UUID,
        per_capita: float,
        year: int = 2025,
        sources: dict[str, float] | None = None,
        recorded_on: date = TODAY,
    ) -> IncomeRecorded:
        return IncomeRecorded(
            household_id=household_id,
            area_code=VILLAGE,
            year=year,
            per_capita_net_income=str(per_capita),
            sources={name: str(value) for name, value in (sources or {}).items()},
            recorded_on=recorded_on,
        )

    def record(
        self,
        household_id: UUID,
        kind: str,
        facts: dict[str, Any],
        occurred_on: date = TODAY,
    ) -> DepartmentRecordReceived:
        self.number += 1
        return DepartmentRecordReceived(
            record_id=f"REC-{self.number}",
            department=KIND_DEPARTMENT[kind],
            kind=kind,
            household_id=household_id,
            area_code=VILLAGE,
            occurred_on=occurred_on,
            facts=facts,
        )

    def report(
        self, household_id: UUID, category: str = "illness", observed_on: date = TODAY
    ) -> ProblemReported:
        return ProblemReported(
            report_id=uuid.uuid4(),
            household_id=household_id,
            area_code=VILLAGE,
            village_group="1",
            category=category,
            observed_on=observed_on,
        )

    def events(self, household_id: UUID, name: str) -> list[Any]:
        return [
            event
            for event in self.app.events.get(household_id)
            if type(event).__name__ == name
        ]

    def flagged(self, household_id: UUID) -> list[str]:
        """Codes hit in the household's latest flag."""
        flags = self.events(household_id, "RiskFlagged")
        return [hit["code"] for hit in flags[-1].hits] if flags else []


@pytest.fixture
def app() -> ScreeningApplication:
    return ScreeningApplication(in_memory=True, today=lambda: TODAY)


@pytest.fixture
def feed(app: ScreeningApplication) -> Feed:
    return Feed(app)
