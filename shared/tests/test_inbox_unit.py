"""The inbox's deduplication, with the in-memory store (no servers)."""

import uuid
from datetime import UTC, date, datetime

from casework.application import CaseworkApplication
from fangpin.contracts import Actor, Envelope, ProblemReported, Role
from fangpin.inbox import Inbox, Incoming


def incoming(household_id: uuid.UUID, notification_id: int) -> Incoming:
    data = ProblemReported(
        report_id=uuid.uuid4(),
        household_id=household_id,
        area_code="510904101201",
        village_group="1",
        category="illness",
        observed_on=date(2026, 11, 30),
    )
    envelope = Envelope(
        event_id=uuid.uuid4(),
        type="ProblemReported",
        occurred_at=datetime.now(UTC),
        producer="intake",
        actor=Actor(user_id="grid01", role=Role.GRID_MONITOR, area_code="510904"),
        correlation_id=uuid.uuid4(),
        data=data.model_dump(mode="json"),
    )
    return Incoming(
        ("intake", notification_id), "intake.report.problem", envelope, data
    )


def test_a_message_seen_before_has_no_second_effect():
    app = CaseworkApplication(in_memory=True)
    inbox = Inbox(lambda: None, "casework", app)  # type: ignore[arg-type, return-value]
    household = uuid.uuid4()
    first = incoming(household, 1)

    inbox._process([first])
    stored = app.recorder.max_notification_id()
    inbox._process([first, incoming(uuid.uuid4(), 2), first])

    assert app.recorder.max_notification_id() == stored + 3  # one new case only
    assert app.tracked([("intake", 1), ("intake", 2), ("intake", 3)]) == {
        ("intake", 1),
        ("intake", 2),
    }
