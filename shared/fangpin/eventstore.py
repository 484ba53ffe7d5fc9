"""Each service's own event store, on the ``eventsourcing`` library.

Two additions to the library's process recorder:

* ``trackings``: many tracking records written in the same transaction as the new
  events, so a whole batch of upstream messages commits (or fails) at once;
* tracking is one row per upstream message (multi-row tracking), so deduplication
  does not depend on the order in which messages arrive.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    project_aggregate,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    ProcessRecorder,
    StoredEvent,
    Tracking,
    Transcoding,
)
from eventsourcing.popo import POPOProcessRecorder
from eventsourcing.postgres import PostgresProcessRecorder
from psycopg import sql

from fangpin.contracts import Actor, Envelope, Role
from fangpin.settings import Settings, postgres_env

NAMESPACE = UUID("6f0d6f3e-5b5e-4f63-9a55-2f1d1c1f0a01")
A = TypeVar("A", bound=Aggregate)


def stable_id(*parts: object) -> UUID:
    """A deterministic id, so the same input always names the same aggregate."""
    return uuid.uuid5(NAMESPACE, "|".join(str(part) for part in parts))


def event_id(originator_id: UUID, originator_version: int) -> UUID:
    """The id of a stored event: the same on every re-publication."""
    return stable_id("event", originator_id, originator_version)


@dataclass(frozen=True)
class Cause:
    """Who asked for a change and which chain of events it belongs to."""

    actor: Actor
    correlation_id: UUID = field(default_factory=uuid.uuid4)
    causation_id: UUID | None = None

    def meta(
        self, *, household_id: UUID | None = None, case_id: UUID | None = None
    ) -> dict[str, Any]:
        """The envelope fields stored on every domain event."""
        return {
            "actor": self.actor.model_dump(mode="json"),
            "correlation_id": str(self.correlation_id),
            "causation_id": str(self.causation_id) if self.causation_id else None,
            "household_id": str(household_id) if household_id else None,
            "case_id": str(case_id) if case_id else None,
            "recorded_at": datetime.now(UTC).isoformat(),
        }

    @classmethod
    def following(cls, envelope: Envelope, service: str, area_code: str) -> Cause:
        """A service's own reaction to an upstream event: same chain, caused by it."""
        return cls(
            system_actor(service, area_code),
            correlation_id=envelope.correlation_id,
            causation_id=envelope.event_id,
        )


def system_actor(service: str, area_code: str) -> Actor:
    return Actor(user_id=service, role=Role.SYSTEM, area_code=area_code[:6])


def _trackings(kwargs: dict[str, Any]) -> list[Tracking]:
    """The tracking records a save carries: a batch's, and the library's own."""
    found: list[Tracking] = list(kwargs.get("trackings") or [])
    if kwargs.get("tracking") is not None:
        found.append(kwargs["tracking"])
    return found


# Above this many bytes of event state, one INSERT's parameter is big enough for
# psycopg's pipeline mode to stall for good (seen at ~0.5 MB, with both the Python
# and the C implementation): such saves go without the pipeline.
PIPELINE_LIMIT_BYTES = 128 * 1024


class BatchProcessRecorder(PostgresProcessRecorder):
    """Writes the tracking records of a whole batch with its events."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        size = sum(len(stored.state) for stored in stored_events)
        if size <= PIPELINE_LIMIT_BYTES:
            return super().insert_events(stored_events, **kwargs)
        with self.datastore.transaction(commit=True) as curs:
            self._insert_events(curs, stored_events, **kwargs)
            self._insert_stored_events(curs, stored_events, **kwargs)
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

    def _insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        trackings = _trackings(kwargs)
        if trackings:
            # One statement for the whole batch: a row each, as the library's
            # multi-row tracking keeps them, so a message seen before still
            # fails the batch on the primary key.
            self._check_has_multi_row_tracking_table(curs)
            curs.execute(
                self._insert_trackings_statement(),
                (
                    [tracking.application_name for tracking in trackings],
                    [tracking.notification_id for tracking in trackings],
                ),
            )
        super()._insert_events(curs, stored_events, **{"tracking": None})

    def _insert_stored_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        # The library sends the rows as one array of a composite type, which
        # psycopg quotes and escapes field by field in Python: a fifth of a
        # batch's time. Four plain arrays in binary (the %b placeholders) cost
        # almost nothing to send; the rows, their order and the table lock that
        # keeps notification ids in commit order are the library's.
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(
            self._insert_rows_statement(),
            (
                [stored.originator_id for stored in stored_events],
                [stored.originator_version for stored in stored_events],
                [stored.topic for stored in stored_events],
                [stored.state for stored in stored_events],
            ),
        )

    def _insert_rows_statement(self) -> sql.Composed:
        return sql.SQL(
            "INSERT INTO {0}.{1} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{2}[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(
            sql.Identifier(self.datastore.schema),
            sql.Identifier(self.events_table_name),
            sql.Identifier(self.datastore.originator_id_type),
        )

    def _insert_trackings_statement(self) -> sql.Composed:
        return sql.SQL(
            "INSERT INTO {0}.{1} (application_name, notification_id) "
            "SELECT * FROM unnest(%b::text[], %b::bigint[])"
        ).format(
            sql.Identifier(self.datastore.schema),
            sql.Identifier(self.tracking_table_name),
        )

    def select_many(self, originator_ids: Iterable[UUID]) -> list[StoredEvent]:
        """Every stored event of many aggregates in one query, in version order:
        a batch loads its aggregates at once instead of one query each."""
        query = sql.SQL(
            "SELECT originator_id, originator_version, topic, state FROM {0}.{1} "
            "WHERE originator_id = ANY(%b::{2}[]) "
            "ORDER BY originator_id, originator_version"
        ).format(
            sql.Identifier(self.datastore.schema),
            sql.Identifier(self.events_table_name),
            sql.Identifier(self.datastore.originator_id_type),
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(query, (list(originator_ids),))
            return [
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]

    def tracked(self, keys: Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
        """Which of these upstream messages have already been processed."""
        wanted = list(set(keys))
        if not wanted:
            return set()
        query = sql.SQL(
            "SELECT application_name, notification_id FROM {0}.{1} "
            "WHERE (application_name, notification_id) IN "
            "(SELECT * FROM unnest(%b::text[], %b::bigint[]))"
        ).format(
            sql.Identifier(self.datastore.schema),
            sql.Identifier(self.tracking_table_name),
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(query, ([k[0] for k in wanted], [k[1] for k in wanted]))
            return {
                (row["application_name"], row["notification_id"])
                for row in curs.fetchall()
            }


class InMemoryBatchProcessRecorder(POPOProcessRecorder):
    """The same contract in memory, for unit tests only."""

    def _assert_uniqueness(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        super()._assert_uniqueness(stored_events)
        for tracking in _trackings(kwargs):
            if tracking.notification_id in self._tracking_ids(tracking):
                raise IntegrityError(f"already tracked: {tracking}")

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._update_table(stored_events)
        for tracking in _trackings(kwargs):
            self._tracked.setdefault(tracking.application_name, set()).add(
                tracking.notification_id
            )
        return notification_ids

    def _tracking_ids(self, tracking: Tracking) -> set[int]:
        return self._tracked.get(tracking.application_name, set())

    @property
    def _tracked(self) -> dict[str, set[int]]:
        if not hasattr(self, "_tracked_ids"):
            self._tracked_ids: dict[str, set[int]] = {}
        return self._tracked_ids

    def tracked(self, keys: Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
        return {key for key in keys if key[1] in self._tracked.get(key[0], set())}


@contextlib.contextmanager
def setup_lock(database_url: str, name: str) -> Iterator[None]:
    """Serialise start-up DDL between replicas starting at the same moment:
    ``CREATE ... IF NOT EXISTS`` is not safe against a concurrent twin."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (name,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name,))


def create_schema(database_url: str, schema: str) -> None:
    """Each service keeps its events in a database schema of its own."""
    statement = sql.SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(
        sql.Identifier(schema)
    )
    # Another replica may create it at the same moment.
    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        contextlib.suppress(psycopg.errors.UniqueViolation),
    ):
        conn.execute(statement)


class DateAsISO(Transcoding):
    """Calendar dates (a day observed, a record's date) as ISO strings."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class ServiceApplication(Application[UUID]):
    """A service's event-sourced application, on PostgreSQL (or in memory for unit
    tests), with its stored event state compressed and encrypted (AES-GCM)."""

    service = "service"

    def __init__(self, settings: Settings | None = None, in_memory: bool = False):
        env: dict[str, str] = {
            "SINGLE_ROW_TRACKING": "no",
            "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
        }
        if in_memory:
            env["PERSISTENCE_MODULE"] = "eventsourcing.popo"
        else:
            assert settings is not None
            env.update(postgres_env(settings.database_url, self.service))
            env["POSTGRES_POOL_SIZE"] = str(settings.pool_size)
            env["POSTGRES_MAX_OVERFLOW"] = str(settings.pool_size)
            env["POSTGRES_LOCK_TIMEOUT"] = "5"
            env["PROCESS_RECORDER_TOPIC"] = "fangpin.eventstore:BatchProcessRecorder"
        if settings is not None and settings.cipher_key:
            env["CIPHER_TOPIC"] = "eventsourcing.cryptography:AESCipher"
            env["CIPHER_KEY"] = settings.cipher_key
        self._in_memory = in_memory
        if in_memory:
            super().__init__(env)
            return
        assert settings is not None
        with setup_lock(settings.database_url, f"fangpin-setup-{self.service}"):
            create_schema(settings.database_url, self.service)
            super().__init__(env)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def construct_recorder(self) -> ProcessRecorder:
        if self._in_memory:
            return InMemoryBatchProcessRecorder()
        recorder = self.factory.process_recorder()
        assert isinstance(recorder, BatchProcessRecorder)
        return recorder

    def tracked(self, keys: Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
        recorder = self.recorder
        assert isinstance(recorder, BatchProcessRecorder | InMemoryBatchProcessRecorder)
        return recorder.tracked(keys)

    def get_many(self, aggregate_ids: Iterable[UUID]) -> dict[UUID, Aggregate]:
        """The aggregates that exist among ``aggregate_ids``, loaded together."""
        recorder = self.recorder
        wanted = list(set(aggregate_ids))
        if not isinstance(recorder, BatchProcessRecorder):
            found = (self.get_or_none(id_, Aggregate) for id_ in wanted)
            return {aggregate.id: aggregate for aggregate in found if aggregate}
        events: dict[UUID, list[Any]] = defaultdict(list)
        for stored in recorder.select_many(wanted):
            domain_event = self.mapper.to_domain_event(stored)
            events[domain_event.originator_id].append(domain_event)
        aggregates: dict[UUID, Aggregate] = {}
        for aggregate_id, history in events.items():
            aggregate = project_aggregate(None, history)
            if aggregate is not None:
                aggregates[aggregate_id] = aggregate
        return aggregates

    def get_or_none(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        assert isinstance(aggregate, kind)
        return aggregate


class UnitOfWork:
    """Aggregates loaded and changed while processing one batch of messages.

    A later message in the batch sees what an earlier one changed; everything is
    saved with the batch's tracking records in one transaction.
    """

    def __init__(self, app: ServiceApplication):
        self.app = app
        self.aggregates: dict[UUID, Aggregate] = {}
        self.absent: set[UUID] = set()
        self.trackings: list[Tracking] = []

    def preload(self, aggregate_ids: Iterable[UUID]) -> None:
        """Load, in one query, the aggregates the batch is about to need."""
        missing = {id_ for id_ in aggregate_ids if id_ not in self.aggregates}
        missing -= self.absent
        if not missing:
            return
        found = self.app.get_many(missing)
        self.aggregates.update(found)
        self.absent |= missing - found.keys()

    def get(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        if aggregate_id in self.absent:
            return None
        if aggregate_id in self.aggregates:
            found = self.aggregates[aggregate_id]
            assert isinstance(found, kind)
            return found
        aggregate: A | None = self.app.get_or_none(aggregate_id, kind)
        if aggregate is not None:
            self.aggregates[aggregate_id] = aggregate
        return aggregate

    def add(self, aggregate: Aggregate) -> None:
        self.aggregates[aggregate.id] = aggregate
        self.absent.discard(aggregate.id)

    def track(self, key: tuple[str, int]) -> None:
        self.trackings.append(Tracking(application_name=key[0], notification_id=key[1]))

    def commit(self) -> None:
        app = self.app
        if app.repository.cache is not None or app.snapshots is not None:
            # Only the library's save keeps a cache and snapshots up to date.
            app.save(*self.aggregates.values(), trackings=self.trackings)
            return
        # The library's save first matches every object it is given against
        # its runtime-checkable protocols, which on Python 3.11 takes longer
        # than storing the object's events; these are known to be aggregates.
        events = [
            event
            for aggregate in self.aggregates.values()
            for event in aggregate.collect_events()
        ]
        app.events.put(events, trackings=self.trackings)
