"""Intake's event store recorder: the shared batch recorder, writing without
psycopg's pipeline mode.

psycopg's pure-Python implementation (the one installed here) can stop sending a
large pipelined statement half way, when the socket's buffer is full, and then
wait for results the server cannot send before it has the whole statement: both
sides wait forever. A registry import saves a thousand and more events at once,
so intake sends the few statements of a transaction one after the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.utils import retry

from fangpin.eventstore import BatchProcessRecorder


class IntakeRecorder(BatchProcessRecorder):
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as curs,
        ):
            # Tracking records first, as the library does, then the events.
            self._insert_events(curs, stored_events, **kwargs)
            if not stored_events:
                return None
            self._insert_stored_events(curs, stored_events, **kwargs)
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
