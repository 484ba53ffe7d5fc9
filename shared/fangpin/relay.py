"""The outbox relay: every stored public event reaches JetStream, exactly once.

It follows the service's notification log, publishes each event with
``Nats-Msg-Id`` set to the event's id and records how far it got only after
JetStream acknowledged the whole batch. A crash between the two re-publishes the
tail of the batch, and JetStream's duplicate window drops the copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification
from nats.js import JetStreamContext
from psycopg import sql

from fangpin.contracts import EVENTS, Actor, Envelope
from fangpin.eventstore import (
    BatchProcessRecorder,
    ServiceApplication,
    event_id,
    system_actor,
)

logger = logging.getLogger(__name__)

HEADER_PRODUCER = "Fangpin-Producer"
HEADER_NOTIFICATION_ID = "Fangpin-Notification-Id"
HEADER_EVENT_TYPE = "Fangpin-Event-Type"
_ENVELOPE_ATTRIBUTES = {"originator_id", "originator_version", "timestamp", "meta"}


def to_envelope(producer: str, domain_event: Any) -> tuple[str, Envelope] | None:
    """The public form of a stored domain event, or None if it stays inside.

    Only the fields its contract names leave the service: an aggregate may keep
    personal data in the same event, and that stays in the encrypted store.
    """
    spec = EVENTS.get(type(domain_event).__name__)
    if spec is None or spec.producer != producer:
        return None
    attributes = domain_event.__dict__
    public = {
        name: attributes[name]
        for name in spec.model.model_fields
        if name in attributes and name not in _ENVELOPE_ATTRIBUTES
    }
    data = spec.model.model_validate(public).model_dump(mode="json")
    meta = attributes.get("meta") or {}
    this_event = event_id(domain_event.originator_id, domain_event.originator_version)
    # A stored event is a fact: an incomplete meta must not hold up the outbox, so
    # the chain starts at the event itself and the service stands in as actor.
    actor = meta.get("actor") or system_actor(producer, "000000").model_dump()
    envelope = Envelope(
        event_id=this_event,
        type=spec.type,
        schema_version=spec.schema_version,
        occurred_at=domain_event.timestamp,
        producer=producer,
        actor=Actor.model_validate(actor),
        household_id=_uuid(meta.get("household_id")),
        case_id=_uuid(meta.get("case_id")),
        causation_id=_uuid(meta.get("causation_id")),
        correlation_id=_uuid(meta.get("correlation_id")) or this_event,
        data=data,
    )
    return spec.subject, envelope


def _uuid(value: str | None) -> UUID | None:
    return UUID(value) if value else None


class OutboxRelay:
    def __init__(
        self,
        app: ServiceApplication,
        js: JetStreamContext,
        batch_size: int = 500,
        idle_seconds: float = 0.05,
    ):
        self.app = app
        self.js = js
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.producer = app.service
        self.position = 0
        self._loaded = False
        self._wake = asyncio.Event()

    # The position lives beside the event store, in the service's own schema.
    def _position_table(self) -> sql.Composed:
        recorder = self.app.recorder
        assert isinstance(recorder, BatchProcessRecorder)
        return sql.SQL("{0}.relay_position").format(
            sql.Identifier(recorder.datastore.schema)
        )

    def load_position(self) -> int:
        recorder = self.app.recorder
        assert isinstance(recorder, BatchProcessRecorder)
        table = self._position_table()
        with recorder.datastore.transaction(commit=True) as curs:
            curs.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {0} "
                    "(relay text PRIMARY KEY, notification_id bigint NOT NULL)"
                ).format(table)
            )
            curs.execute(
                sql.SQL("SELECT notification_id FROM {0} WHERE relay = %s").format(
                    table
                ),
                (self.producer,),
            )
            row = curs.fetchone()
        self.position = int(row["notification_id"]) if row else 0
        self._loaded = True
        return self.position

    def save_position(self, notification_id: int) -> None:
        recorder = self.app.recorder
        assert isinstance(recorder, BatchProcessRecorder)
        with recorder.datastore.transaction(commit=True) as curs:
            curs.execute(
                sql.SQL(
                    "INSERT INTO {0} (relay, notification_id) VALUES (%s, %s) "
                    "ON CONFLICT (relay) DO UPDATE SET notification_id = "
                    "GREATEST({0}.notification_id, EXCLUDED.notification_id)"
                ).format(self._position_table()),
                (self.producer, notification_id),
            )
        self.position = notification_id

    def wake(self) -> None:
        """Called after a command commits, so its events leave without delay."""
        self._wake.set()

    def read_batch(self) -> list[Notification]:
        return list(
            self.app.recorder.select_notifications(
                start=self.position,
                limit=self.batch_size,
                inclusive_of_start=False,
            )
        )

    async def publish_batch(self, notifications: list[Notification]) -> int:
        """Publish, wait for every acknowledgement; return how many were public."""
        pending = []
        for notification in notifications:
            domain_event = self.app.mapper.to_domain_event(notification)
            public = to_envelope(self.producer, domain_event)
            if public is None:
                continue
            subject, envelope = public
            headers = {
                "Nats-Msg-Id": str(envelope.event_id),
                HEADER_PRODUCER: self.producer,
                HEADER_NOTIFICATION_ID: str(notification.id),
                HEADER_EVENT_TYPE: envelope.type,
            }
            payload = envelope.model_dump_json().encode()
            pending.append(self.js.publish(subject, payload, headers=headers))
        # Pipelined: all publishes are in flight together, each awaits its ack.
        await asyncio.gather(*pending)
        return len(pending)

    async def run_once(self) -> int:
        if not self._loaded:
            await asyncio.to_thread(self.load_position)
        notifications = await asyncio.to_thread(self.read_batch)
        if not notifications:
            return 0
        await self.publish_batch(notifications)
        await asyncio.to_thread(self.save_position, notifications[-1].id)
        return len(notifications)

    async def run(self, stopping: asyncio.Event) -> None:
        await asyncio.to_thread(self.load_position)
        logger.info(
            "relay %s starts after notification %s", self.producer, self.position
        )
        while not stopping.is_set():
            try:
                moved = await self.run_once()
            except Exception:
                # NATS or PostgreSQL away for a moment: the position did not move,
                # so the same batch is published again once they answer.
                logger.exception("relay %s failed; retrying", self.producer)
                await asyncio.sleep(1.0)
                continue
            if moved == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.idle_seconds)
