"""Casework's events as assistance's inbox hands them over, and a grant form."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from assistance.application import AssistanceApplication, GrantIn
from fangpin.auth import Principal
from fangpin.contracts import (
    Actor,
    CaseClosed,
    CaseOpened,
    CaseStepEvent,
    Contract,
    Envelope,
    Role,
    TargetConfirmed,
    TargetExited,
)
from fangpin.inbox import Incoming

TOWN = Principal(user_id="town01", role=Role.TOWN, area_code="510904101")
DISTRICT = Principal(user_id="d", role=Role.DISTRICT, area_code="510904")
VILLAGE = "510904101201"


class Feed:
    """Casework's events, as assistance's inbox would hand them over."""

    def __init__(self, app: AssistanceApplication, household: UUID | None = None):
        self.app = app
        self.number = 0
        self.case_id = uuid.uuid4()
        self.household = household or uuid.uuid4()

    def send(self, data: Contract) -> None:
        self.number += 1
        envelope = Envelope(
            event_id=uuid.uuid4(),
            type=type(data).__name__,
            occurred_at=datetime.now(UTC),
            producer="casework",
            actor=Actor(user_id="casework", role=Role.SYSTEM, area_code="510904"),
            correlation_id=uuid.uuid4(),
            data=data.model_dump(mode="json"),
        )
        key = (f"casework-{self.case_id}", self.number)
        self.app.process([Incoming(key, "casework.case.x", envelope, data)])

    def step(
        self, kind: type[CaseStepEvent], step: str, next_step: str, **fields: Any
    ) -> None:
        self.send(
            kind(
                case_id=self.case_id,
                household_id=self.household,
                area_code=VILLAGE,
                step=step,
                next_step=next_step,
                **fields,
            )
        )

    def open(self, urgent: bool = False) -> Feed:
        self.send(
            CaseOpened(
                case_id=self.case_id,
                household_id=self.household,
                area_code=VILLAGE,
                town_code=VILLAGE[:9],
                signal_type="ProblemReported",
                signal_event_id=uuid.uuid4(),
                urgent=urgent,
            )
        )
        return self

    def confirm(self) -> Feed:
        self.step(
            TargetConfirmed,
            "decision",
            "plan",
            target_type="expense_hardship",
            reason="medical costs",
        )
        return self

    def exit(self) -> None:
        self.step(
            TargetExited,
            "elimination_review",
            "close",
            target_type="expense_hardship",
            months_monitored=6,
        )

    def close(self) -> None:
        self.send(
            CaseClosed(
                case_id=self.case_id,
                household_id=self.household,
                area_code=VILLAGE,
                verification="verified",
                verified_by="town01",
            )
        )


def grant(case_id: UUID, **changes: Any) -> GrantIn:
    values: dict[str, Any] = {
        "case_id": case_id,
        "measure": "temporary_aid",
        "quantity": Decimal("2000"),
        "period": "2026-12",
        "funding_source": "district",
    }
    values.update(changes)
    return GrantIn(**values)
