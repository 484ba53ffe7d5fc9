"""Reading many risk profiles at once.

The library reads one aggregate per query; a county-wide pass would make hundreds
of thousands of round trips. Here a page of profiles, or every profile a batch of
messages touches, is read with one query and rebuilt from its events in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from psycopg import sql

from fangpin.eventstore import BatchProcessRecorder, ServiceApplication
from screening.domain import RiskProfile, ScreeningJob

OPENED_TOPIC = get_topic(RiskProfile.ProfileOpened)  # type: ignore[attr-defined]
JOB_STARTED = get_topic(ScreeningJob.JobStarted)  # type: ignore[attr-defined]
JOB_ENDED = [
    get_topic(ScreeningJob.JobFinished),  # type: ignore[attr-defined]
    get_topic(ScreeningJob.JobFailed),  # type: ignore[attr-defined]
]
FIRST = UUID(int=0)


class ProfileStore:
    def __init__(self, app: ServiceApplication):
        self.app = app
        recorder = app.recorder
        self._postgres = isinstance(recorder, BatchProcessRecorder)

    def _table(self) -> sql.Composed:
        recorder = self.app.recorder
        assert isinstance(recorder, BatchProcessRecorder)
        return sql.SQL("{0}.{1}").format(
            sql.Identifier(recorder.datastore.schema),
            sql.Identifier(recorder.events_table_name),
        )

    def _query(self, statement: sql.Composed, params: Sequence[Any]) -> list[Any]:
        recorder = self.app.recorder
        assert isinstance(recorder, BatchProcessRecorder)
        with recorder.datastore.transaction(commit=False) as curs:
            curs.execute(statement, params)
            return list(curs.fetchall())

    def count(self) -> int:
        if not self._postgres:
            return len(self._opened_ids())
        rows = self._query(
            sql.SQL(
                "SELECT count(*) AS n FROM {0} "
                "WHERE originator_version = 1 AND topic = %s"
            ).format(self._table()),
            (OPENED_TOPIC,),
        )
        return int(rows[0]["n"])

    def histories(self, after: UUID | None, limit: int) -> list[tuple[UUID, list[Any]]]:
        """The next page of profiles after ``after``, in id order, as domain events."""
        if not self._postgres:
            ids = [i for i in self._opened_ids() if i > (after or FIRST)][:limit]
            return [(i, list(self.app.events.get(i))) for i in ids]
        rows = self._query(
            sql.SQL(
                "SELECT originator_id, originator_version, topic, state FROM {0} "
                "WHERE originator_id IN (SELECT originator_id FROM {0} "
                "WHERE originator_version = 1 AND topic = %s AND originator_id > %s "
                "ORDER BY originator_id LIMIT %s) "
                "ORDER BY originator_id, originator_version"
            ).format(self._table()),
            (OPENED_TOPIC, after or FIRST, limit),
        )
        return self._grouped(rows)

    def page_ids(self, after: UUID | None, limit: int) -> list[UUID]:
        """The ids of the next page of profiles, without reading them."""
        if not self._postgres:
            return [i for i in self._opened_ids() if i > (after or FIRST)][:limit]
        rows = self._query(
            sql.SQL(
                "SELECT originator_id FROM {0} WHERE originator_version = 1 "
                "AND topic = %s AND originator_id > %s "
                "ORDER BY originator_id LIMIT %s"
            ).format(self._table()),
            (OPENED_TOPIC, after or FIRST, limit),
        )
        return [row["originator_id"] for row in rows]

    def page(self, after: UUID | None, limit: int) -> list[RiskProfile]:
        return [_rebuild(events) for _, events in self.histories(after, limit)]

    def load(self, ids: Iterable[UUID]) -> dict[UUID, RiskProfile]:
        """The profiles that exist among these ids."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        if not self._postgres:
            found = {}
            for household_id in wanted:
                profile = self.app.get_or_none(household_id, RiskProfile)
                if profile is not None:
                    found[household_id] = profile
            return found
        rows = self._query(
            sql.SQL(
                "SELECT originator_id, originator_version, topic, state FROM {0} "
                "WHERE originator_id = ANY(%s) "
                "ORDER BY originator_id, originator_version"
            ).format(self._table()),
            (wanted,),
        )
        return {
            household_id: _rebuild(events)
            for household_id, events in self._grouped(rows)
            if events and events[0].__class__.__name__ == "ProfileOpened"
        }

    def unfinished_jobs(self) -> list[UUID]:
        """Jobs that were started and have neither finished nor failed."""
        if not self._postgres:
            started, ended = set(), set()
            for n in self.app.recorder.select_notifications(start=1, limit=100_000):
                if n.topic == JOB_STARTED:
                    started.add(UUID(str(n.originator_id)))
                elif n.topic in JOB_ENDED:
                    ended.add(UUID(str(n.originator_id)))
            return sorted(started - ended)
        rows = self._query(
            sql.SQL(
                "SELECT originator_id FROM {0} WHERE topic = %s AND originator_id "
                "NOT IN (SELECT originator_id FROM {0} WHERE topic = ANY(%s))"
            ).format(self._table()),
            (JOB_STARTED, JOB_ENDED),
        )
        return [row["originator_id"] for row in rows]

    def _grouped(self, rows: list[Any]) -> list[tuple[UUID, list[Any]]]:
        mapper = self.app.mapper
        grouped: dict[UUID, list[Any]] = {}
        for row in rows:
            stored = StoredEvent(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
            grouped.setdefault(row["originator_id"], []).append(
                mapper.to_domain_event(stored)
            )
        return list(grouped.items())

    def _opened_ids(self) -> list[UUID]:
        """Every profile id, for the in-memory store of the unit tests."""
        found: list[UUID] = []
        start = 1
        while True:
            page = self.app.recorder.select_notifications(start=start, limit=1000)
            if not page:
                break
            found.extend(
                UUID(str(n.originator_id))
                for n in page
                if n.topic == OPENED_TOPIC and n.originator_version == 1
            )
            start = page[-1].id + 1
        return sorted(found)


def _rebuild(events: list[Any]) -> RiskProfile:
    # The library's projector checks a runtime protocol on every event, which
    # costs more than applying it; these events are known to be RiskProfile's.
    profile = None
    for event in events:
        profile = event.mutate(profile)
    assert isinstance(profile, RiskProfile)
    return profile
