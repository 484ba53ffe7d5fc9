"""The outbox relay publishes every stored public event exactly once, even when it
is killed between JetStream's acknowledgement and recording its position."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fangpin.relay import HEADER_NOTIFICATION_ID, OutboxRelay, to_envelope
from fangpin.streams import ensure_streams
from intake.application import HouseholdIn, IntakeApplication
from tests.support import DISTRICT, household_form, stream_messages

pytestmark = pytest.mark.integration
VICTIM = Path(__file__).with_name("relay_victim.py")


def stored_public_event_ids(app: IntakeApplication) -> list[str]:
    ids = []
    for notification in app.recorder.select_notifications(start=1, limit=10_000):
        public = to_envelope(app.service, app.mapper.to_domain_event(notification))
        if public is not None:
            ids.append(str(public[1].event_id))
    return ids


async def test_relay_killed_between_publish_and_position_publishes_each_event_once(
    settings, nc
):
    app = IntakeApplication(settings, pseudonym_key="k")
    for index in range(50):
        app.register_household(HouseholdIn(**household_form(index)), DISTRICT)
    await ensure_streams(nc.jetstream())

    # Three runs, each killed at a later batch: every kill leaves a published
    # batch whose position was never recorded.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for kill_at in (1, 2, 3):
        victim = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(VICTIM)],
            env={**env, "KILL_AT_SAVE": str(kill_at)},
            timeout=60,
        )
        assert victim.returncode == -9

    relay = OutboxRelay(app, nc.jetstream(), batch_size=20)
    relay.load_position()
    assert relay.position > 0, "the victims recorded some progress before dying"
    while await relay.run_once():
        pass

    messages = await stream_messages(nc.jetstream(), "INTAKE")
    published = [message.headers["Nats-Msg-Id"] for message in messages]
    stored = stored_public_event_ids(app)
    assert len(stored) == 50
    assert sorted(published) == sorted(stored), "each stored event exactly once"
    notification_ids = [int(m.headers[HEADER_NOTIFICATION_ID]) for m in messages]
    assert notification_ids == sorted(notification_ids), "published in stored order"
    assert relay.position == app.recorder.max_notification_id()
    app.close()


async def test_relay_keeps_personal_data_out_of_messages(settings, nc):
    app = IntakeApplication(settings, pseudonym_key="k")
    form = household_form(7)
    app.register_household(HouseholdIn(**form), DISTRICT)
    await ensure_streams(nc.jetstream())
    relay = OutboxRelay(app, nc.jetstream())
    while await relay.run_once():
        pass

    (message,) = await stream_messages(nc.jetstream(), "INTAKE")
    member = form["members"][0]
    assert member["id_number"].encode() not in message.data
    assert member["name"].encode() not in message.data
    assert b"member_count" in message.data
    app.close()
