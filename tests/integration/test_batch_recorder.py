"""The service event store's recorder on real PostgreSQL. It writes a batch's
events and tracking rows with statements of its own rather than the library's, so
these check what the library promises of them: conflicts raise and write nothing,
notification ids come back in insert order, and concurrent writers never
interleave their ids (a follower would skip an event that commits late)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking

from fangpin.eventstore import BatchProcessRecorder, ServiceApplication
from fangpin.settings import Settings

pytestmark = pytest.mark.integration


def stored(originator_id: uuid.UUID, version: int, state: bytes) -> StoredEvent:
    return StoredEvent(
        originator_id=originator_id,
        originator_version=version,
        topic="tests:Thing.Happened",
        state=state,
    )


def trackings(*ids: int) -> list[Tracking]:
    return [Tracking(application_name="intake", notification_id=n) for n in ids]


class TestBatchProcessRecorder:
    """Each test a fresh database and the recorder a service would use there."""

    database_url: str
    apps: list[ServiceApplication]

    @pytest.fixture(autouse=True)
    def fresh_database(self, database_url: str) -> Iterator[None]:
        self.database_url = database_url
        self.apps = []
        yield
        for app in self.apps:
            app.close()

    def create_recorder(self) -> BatchProcessRecorder:
        app = ServiceApplication(Settings(DATABASE_URL=self.database_url))
        self.apps.append(app)
        recorder = app.recorder
        assert isinstance(recorder, BatchProcessRecorder)
        return recorder

    def test_a_batch_stores_every_event_and_tracking_row_in_order(self) -> None:
        recorder = self.create_recorder()
        first, second = uuid.uuid4(), uuid.uuid4()
        events = [
            stored(first, 1, b"\x00\\x'\""),
            stored(second, 1, b""),
            stored(first, 2, bytes(range(256))),
        ]

        ids = recorder.insert_events(events, trackings=trackings(5, 2**62))

        assert ids is not None and list(ids) == sorted(ids) and len(ids) == 3
        notifications = recorder.select_notifications(start=None, limit=10)
        assert [n.id for n in notifications] == list(ids)
        assert [
            (n.originator_id, n.originator_version, n.state) for n in notifications
        ] == [
            (event.originator_id, event.originator_version, event.state)
            for event in events
        ]
        assert recorder.tracked([("intake", 5), ("intake", 2**62), ("intake", 6)]) == {
            ("intake", 5),
            ("intake", 2**62),
        }

    def test_a_message_tracked_before_fails_the_whole_batch(self) -> None:
        recorder = self.create_recorder()
        recorder.insert_events([stored(uuid.uuid4(), 1, b"a")], trackings=trackings(1))

        with pytest.raises(IntegrityError):
            recorder.insert_events(
                [stored(uuid.uuid4(), 1, b"b")], trackings=trackings(2, 1)
            )

        assert len(recorder.select_notifications(start=None, limit=10)) == 1
        assert recorder.tracked([("intake", 1), ("intake", 2)]) == {("intake", 1)}

    def test_a_large_batch_goes_without_the_pipeline_and_keeps_its_order(self) -> None:
        recorder = self.create_recorder()
        events = [stored(uuid.uuid4(), 1, bytes([n % 256]) * 2000) for n in range(300)]

        ids = recorder.insert_events(events, trackings=trackings(*range(1, 301)))

        assert ids is not None and len(ids) == 300 and list(ids) == sorted(ids)
        notifications = recorder.select_notifications(start=None, limit=400)
        assert [n.originator_id for n in notifications] == [
            event.originator_id for event in events
        ]

    def test_loading_many_aggregates_at_once_finds_each_and_skips_the_absent(
        self,
    ) -> None:
        recorder = self.create_recorder()
        first, second = uuid.uuid4(), uuid.uuid4()
        recorder.insert_events([stored(first, 1, b"a"), stored(first, 2, b"b")])
        recorder.insert_events([stored(second, 1, b"c")])

        found = recorder.select_many([first, second, uuid.uuid4()])

        assert sorted((e.originator_id, e.originator_version) for e in found) == sorted(
            [(first, 1), (first, 2), (second, 1)]
        )
        assert recorder.select_many([]) == []
        assert recorder.tracked([]) == set()

    def test_concurrent_batches_never_interleave_their_notification_ids(
        self,
    ) -> None:
        recorder = self.create_recorder()
        start = threading.Barrier(2)
        errors: list[Exception] = []
        batches = [
            [stored(uuid.uuid4(), 1, b"x" * 100) for _ in range(500)] for _ in range(2)
        ]

        def insert(events: list[StoredEvent]) -> None:
            try:
                start.wait()
                recorder.insert_events(events)
            except Exception as error:  # reported below, in the test's thread
                errors.append(error)

        threads = [threading.Thread(target=insert, args=(b,)) for b in batches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert errors == []
        notifications = recorder.select_notifications(start=None, limit=2000)
        owner = {e.originator_id: n for n, batch in enumerate(batches) for e in batch}
        order = [owner[n.originator_id] for n in notifications]
        assert len(order) == 1000
        assert order in ([0] * 500 + [1] * 500, [1] * 500 + [0] * 500)
