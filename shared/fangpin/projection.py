"""Read models on PostgreSQL: tables written together with their tracking records.

A projection applies envelopes. It is fed either by an inbox (events of other
services, from JetStream) or by a :class:`LocalFollower` (the service's own
notification log). Either way one transaction holds the rows and the tracking
records, so a redelivered event changes nothing, and a projection can be rebuilt
from the start of the history into a fresh schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any

from psycopg import Connection, Cursor, sql
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from fangpin.contracts import EVENTS, Contract, Envelope
from fangpin.eventstore import ServiceApplication
from fangpin.inbox import Incoming, TrackingKey
from fangpin.relay import to_envelope

logger = logging.getLogger(__name__)


Pool = ConnectionPool[Connection[DictRow]]


def connect_pool(database_url: str, size: int = 5) -> Pool:
    pool = ConnectionPool(
        database_url,
        connection_class=Connection[DictRow],
        min_size=1,
        max_size=size,
        kwargs={"row_factory": dict_row},
        open=False,
    )
    pool.open(wait=True, timeout=30)
    return pool


class Projection(ABC):
    """Subclasses may put ``self.schema`` into SQL text: it is checked here."""

    def __init__(self, pool: Pool, schema: str):
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,50}", schema):
            raise ValueError(f"not a plain schema name: {schema!r}")
        self.pool = pool
        self.schema = schema

    def table(self, name: str) -> sql.Composed:
        return sql.SQL("{0}.{1}").format(
            sql.Identifier(self.schema), sql.Identifier(name)
        )

    def setup(self) -> None:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as curs:
            # Replicas starting together take turns with the DDL below.
            curs.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                (f"fangpin-setup-{self.schema}",),
            )
            curs.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(
                    sql.Identifier(self.schema)
                )
            )
            curs.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {0} (producer text NOT NULL, "
                    "notification_id bigint NOT NULL, "
                    "PRIMARY KEY (producer, notification_id))"
                ).format(self.table("tracking"))
            )
            self.create_tables(curs)

    @abstractmethod
    def create_tables(self, curs: Cursor[DictRow]) -> None: ...

    @abstractmethod
    def apply(self, curs: Cursor[DictRow], envelope: Envelope, data: Contract) -> None:
        """Change the read model for one event (called inside the transaction)."""

    def tracked(self, keys: Iterable[TrackingKey]) -> set[TrackingKey]:
        wanted = list(set(keys))
        if not wanted:
            return set()
        with self.pool.connection() as conn, conn.cursor() as curs:
            curs.execute(
                sql.SQL(
                    "SELECT producer, notification_id FROM {0} "
                    "WHERE (producer, notification_id) IN "
                    "(SELECT * FROM unnest(%s::text[], %s::bigint[]))"
                ).format(self.table("tracking")),
                ([key[0] for key in wanted], [key[1] for key in wanted]),
            )
            return {(row["producer"], row["notification_id"]) for row in curs}

    def process(self, messages: list[Incoming]) -> None:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as curs:
            curs.executemany(
                sql.SQL(
                    "INSERT INTO {0} (producer, notification_id) VALUES (%s, %s)"
                ).format(self.table("tracking")),
                [incoming.key for incoming in messages],
            )
            for incoming in messages:
                if incoming.envelope is not None:
                    self.apply(curs, incoming.envelope, incoming.data)

    def position(self, producer: str) -> int:
        with self.pool.connection() as conn, conn.cursor() as curs:
            curs.execute(
                sql.SQL(
                    "SELECT max(notification_id) AS position FROM {0} "
                    "WHERE producer = %s"
                ).format(self.table("tracking")),
                (producer,),
            )
            row = curs.fetchone()
            return int(row["position"] or 0) if row else 0


def incoming_from_log(
    app: ServiceApplication, start: int, limit: int
) -> tuple[list[Incoming], int]:
    """The service's own public events after ``start``, and the last id read."""
    notifications = app.recorder.select_notifications(
        start=start, limit=limit, inclusive_of_start=False
    )
    messages = []
    last = start
    for notification in notifications:
        last = notification.id
        public = to_envelope(app.service, app.mapper.to_domain_event(notification))
        if public is None:
            continue
        subject, envelope = public
        data = EVENTS[envelope.type].model.model_validate(envelope.data)
        messages.append(
            Incoming((app.service, notification.id), subject, envelope, data)
        )
    return messages, last


class LogFollower:
    """Follows the service's own notification log in the background: a batch at
    a time, woken at once by a commit and polling briefly when idle. A failure is
    logged and retried; it never ends the follower."""

    def __init__(self, batch_size: int = 500):
        self.batch_size = batch_size
        self.position = 0
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    def describe(self) -> str:
        """What follows the log, as the log of failures names it."""
        raise NotImplementedError

    def start_position(self) -> int:
        """The last notification id already taken in, read at start-up."""
        raise NotImplementedError

    def catch_up_once(self) -> int:
        """Take in the next batch; return how many notifications were read."""
        raise NotImplementedError

    async def run(self, stopping: asyncio.Event) -> None:
        self.position = await asyncio.to_thread(self.start_position)
        while not stopping.is_set():
            try:
                moved = await asyncio.to_thread(self.catch_up_once)
            except Exception:
                logger.exception("%s failed; retrying", self.describe())
                await asyncio.sleep(1.0)
                continue
            if moved == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.05)


class LocalFollower(LogFollower):
    """Keeps a projection of the service's own events up to date."""

    def __init__(
        self, app: ServiceApplication, projection: Projection, batch_size: int = 500
    ):
        super().__init__(batch_size)
        self.app = app
        self.projection = projection

    def describe(self) -> str:
        return f"{self.app.service} view"

    def start_position(self) -> int:
        return self.projection.position(self.app.service)

    def catch_up_once(self) -> int:
        messages, last = incoming_from_log(self.app, self.position, self.batch_size)
        if messages:
            fresh = self.projection.tracked([message.key for message in messages])
            self.projection.process([m for m in messages if m.key not in fresh])
        self.position = last
        return len(messages)


def rows(curs: Cursor[DictRow]) -> list[dict[str, Any]]:
    return [dict(row) for row in curs.fetchall()]
