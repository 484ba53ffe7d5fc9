"""The inbox on real NATS and PostgreSQL: one effect per message, however often it
arrives, and poison messages parked with their reason while the rest flow on."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest

from casework.application import CaseworkApplication
from casework.domain import Case, HouseholdCases, household_cases_id
from fangpin.inbox import HEADER_REASON, Inbox
from fangpin.streams import ensure_streams
from tests.support import eventually, problem_envelope, publish_relayed, stream_messages

pytestmark = pytest.mark.integration
SUBJECT = "intake.report.problem"


@pytest.fixture
async def casework(settings, nc) -> AsyncIterator[tuple[CaseworkApplication, Inbox]]:
    await ensure_streams(nc.jetstream())
    app = CaseworkApplication(settings)
    inbox = Inbox(
        nc.jetstream, "casework", app, batch_size=50, max_attempts=3, ack_wait_seconds=2
    )
    inbox.consume("INTAKE", "intake.report.>")
    stopping = asyncio.Event()
    task = asyncio.create_task(inbox.run(inbox.subscriptions[0], stopping))
    yield app, inbox
    stopping.set()
    await asyncio.wait_for(task, 10)
    app.close()


def open_case(app: CaseworkApplication, household_id: uuid.UUID) -> Case | None:
    index = app.get_or_none(household_cases_id(household_id), HouseholdCases)
    if index is None or index.open_case_id is None:
        return None
    return app.get_or_none(index.open_case_id, Case)


async def test_redelivery_after_later_messages_has_no_second_effect(casework, nc):
    app, inbox = casework
    js = nc.jetstream()
    households = [uuid.uuid4() for _ in range(3)]
    first = problem_envelope(households[0]).model_dump_json().encode()
    await publish_relayed(js, SUBJECT, first, notification_id=1)
    for number, household in enumerate(households[1:], start=2):
        payload = problem_envelope(household).model_dump_json().encode()
        await publish_relayed(js, SUBJECT, payload, notification_id=number)
    # The first message again, after the later ones, under a new message id, as
    # when a lost stream is refilled from the event store.
    await publish_relayed(js, SUBJECT, first, notification_id=1)

    await eventually(lambda: inbox.processed == 4)
    cases = [open_case(app, household) for household in households]
    assert all(case is not None for case in cases)
    assert len(cases[0].signals) == 1  # type: ignore[union-attr]
    assert len({case.id for case in cases if case}) == 3


async def test_message_redelivered_after_a_lost_ack_has_one_effect(casework, nc):
    app, inbox = casework
    household = uuid.uuid4()
    acks_lost = 0
    real_ack = None

    # The process commits, then dies before acking: JetStream redelivers after
    # the ack wait, and the tracking record makes the second pass a no-op.
    async def lose_first_ack(consumer, batch):
        nonlocal acks_lost, real_ack
        if acks_lost == 0:
            acks_lost = len(batch)
            await asyncio.to_thread(inbox._process, [inbox.parse(m) for m in batch])
            return
        await real_ack(consumer, batch)

    real_ack = inbox.handle_batch
    inbox.handle_batch = lose_first_ack  # type: ignore[method-assign]
    payload = problem_envelope(household).model_dump_json().encode()
    await publish_relayed(nc.jetstream(), SUBJECT, payload, notification_id=7)

    await eventually(lambda: inbox.processed == 1, within=30)
    case = open_case(app, household)
    assert case is not None and len(case.signals) == 1
    assert acks_lost == 1
    assert app.recorder.max_notification_id() == 3  # index, opened, index set


async def test_poison_messages_land_in_dead_letter_stream_and_the_rest_flow_on(
    casework, nc, monkeypatch
):
    app, inbox = casework
    js = nc.jetstream()
    doomed = uuid.uuid4()
    original = app._signal

    def always_fails_for_one_household(unit, incoming):
        if incoming.data.household_id == doomed:
            raise RuntimeError("this handler cannot cope")
        original(unit, incoming)

    monkeypatch.setattr(app, "_signal", always_fails_for_one_household)

    healthy = [uuid.uuid4() for _ in range(5)]
    unknown_type = problem_envelope(uuid.uuid4()).model_dump(mode="json")
    unknown_type["type"] = "SomethingElse"
    bad_schema = problem_envelope(uuid.uuid4()).model_dump(mode="json")
    bad_schema["data"]["category"] = "weather"
    poison = {
        b"{not json": "body: not valid JSON",
        json.dumps(unknown_type).encode(): "type: unknown event type",
        json.dumps(bad_schema).encode(): "data.category",
        problem_envelope(doomed).model_dump_json().encode(): "handler failed 3 times",
    }
    number = 100
    for payload in list(poison) + [
        problem_envelope(h).model_dump_json().encode() for h in healthy
    ]:
        number += 1
        await publish_relayed(js, SUBJECT, payload, notification_id=number)

    await eventually(lambda: inbox.dead_lettered == 4, within=30)
    await eventually(lambda: all(open_case(app, h) for h in healthy))
    assert open_case(app, doomed) is None

    parked = await stream_messages(js, "DEADLETTER")
    reasons = {message.data: message.headers[HEADER_REASON] for message in parked}
    assert len(reasons) == 4
    for payload, expected in poison.items():
        assert expected in reasons[payload]
    assert "RuntimeError" in reasons[problem_envelope_key(poison)]


def problem_envelope_key(poison: dict[bytes, str]) -> bytes:
    return next(p for p, reason in poison.items() if reason.startswith("handler"))
