"""The inbox's deduplication and its answers to failures, with the in-memory store
and stand-in messages (no servers)."""

import uuid
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from eventsourcing import persistence

from casework.application import CaseworkApplication
from fangpin.contracts import Actor, Envelope, ProblemReported, Role
from fangpin.inbox import RACE_PATIENCE, Inbox, Incoming


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


class Delivery:
    """A fetched message as the inbox sees it: how often it was delivered, and
    what the inbox answered."""

    def __init__(self, delivered: int):
        self.metadata = SimpleNamespace(
            num_delivered=delivered,
            sequence=SimpleNamespace(stream=7),
            stream="INTAKE",
        )
        self.answers: list[str] = []

    async def ack(self) -> None:
        self.answers.append("ack")

    async def nak(self, delay: float | None = None) -> None:
        self.answers.append("nak")


class Failing:
    """A handler whose every batch fails with the given error."""

    def __init__(self, error: Exception):
        self.error = error

    def tracked(self, keys: object) -> set[tuple[str, int]]:
        return set()

    def process(self, messages: object) -> None:
        raise self.error


def no_nats() -> Any:
    """These tests reach no server: parking is replaced where it matters."""
    return None


def inbox_failing_with(error: Exception) -> tuple[Inbox, list[str]]:
    parked: list[str] = []
    inbox = Inbox(no_nats, "casework", Failing(error), max_attempts=5)

    async def dead_letter(consumer: str, msg: object, reason: str) -> None:
        parked.append(reason)

    inbox.dead_letter = dead_letter  # type: ignore[method-assign]
    return inbox, parked


async def answer(inbox: Inbox, delivered: int) -> list[str]:
    msg = Delivery(delivered)
    fetched: Any = [(msg, incoming(uuid.uuid4(), 1))]
    await inbox._one_by_one("casework-intake", fetched)
    return msg.answers


@pytest.mark.parametrize(
    "error",
    [
        psycopg.OperationalError("server closed the connection"),
        persistence.OperationalError("connection refused"),
        persistence.InterfaceError("pool closed"),
        TimeoutError(),
    ],
)
async def test_a_database_away_never_parks_a_message(error: Exception) -> None:
    inbox, parked = inbox_failing_with(error)

    assert await answer(inbox, delivered=1) == ["nak"]
    assert await answer(inbox, delivered=500) == ["nak"]
    assert parked == []


async def test_a_failing_message_is_parked_after_its_attempts_with_the_reason():
    inbox, parked = inbox_failing_with(KeyError("household_id"))

    assert await answer(inbox, delivered=4) == ["nak"]
    assert parked == []
    assert await answer(inbox, delivered=5) == []
    assert parked == ["handler failed 5 times, last with KeyError"]


async def test_a_lost_race_is_retried_longer_but_not_for_ever():
    inbox, parked = inbox_failing_with(persistence.IntegrityError("version taken"))

    assert await answer(inbox, delivered=5) == ["nak"]
    assert await answer(inbox, delivered=5 * RACE_PATIENCE - 1) == ["nak"]
    assert parked == []
    assert await answer(inbox, delivered=5 * RACE_PATIENCE) == []
    assert parked == [
        f"handler failed {5 * RACE_PATIENCE} times, last with IntegrityError"
    ]


async def test_a_batch_that_cannot_even_be_parked_is_handed_back_not_fatal():
    inbox, _ = inbox_failing_with(KeyError("household_id"))

    async def nats_away(consumer: str, msg: object, reason: str) -> None:
        raise ConnectionError("nats: connection closed")

    inbox.dead_letter = nats_away  # type: ignore[method-assign]
    msg = Delivery(delivered=5)
    handled = incoming(uuid.uuid4(), 1)
    inbox.parse = lambda _msg: handled  # type: ignore[method-assign, assignment]

    await inbox._handle_or_wait("casework-intake", [msg])  # type: ignore[list-item]

    assert msg.answers == ["nak"]
