"""A batch's unit of work saves its aggregates' new events with the tracking
records of its messages, in memory here; the PostgreSQL side is in
tests/integration/test_batch_recorder.py."""

import uuid

import pytest
from eventsourcing.domain import Aggregate, event

from fangpin.eventstore import ServiceApplication, UnitOfWork


class Ledger(Aggregate):
    @event("Opened")
    def __init__(self, owner: uuid.UUID):
        self.entries = 0

    @event("EntryAdded")
    def add_entry(self) -> None:
        self.entries += 1


def test_a_batch_saves_every_new_event_with_its_tracking_records():
    app = ServiceApplication(in_memory=True)
    first, second = Ledger(owner=uuid.uuid4()), Ledger(owner=uuid.uuid4())
    first.add_entry()
    unit = UnitOfWork(app)
    unit.add(first)
    unit.add(second)
    unit.track(("intake", 1))
    unit.track(("intake", 2))

    unit.commit()

    assert app.recorder.max_notification_id() == 3
    assert app.repository.get(first.id).version == 2
    assert app.repository.get(second.id).version == 1
    assert app.tracked([("intake", 1), ("intake", 2), ("intake", 3)]) == {
        ("intake", 1),
        ("intake", 2),
    }
    assert not first.pending_events and not second.pending_events


def test_an_aggregate_unchanged_by_the_batch_adds_nothing():
    app = ServiceApplication(in_memory=True)
    ledger = Ledger(owner=uuid.uuid4())
    app.save(ledger)
    unit = UnitOfWork(app)
    unit.add(app.repository.get(ledger.id))
    unit.track(("intake", 7))

    unit.commit()

    assert app.recorder.max_notification_id() == 1
    assert app.tracked([("intake", 7)]) == {("intake", 7)}


def test_a_cache_that_is_not_fast_forwarded_is_kept_current(
    monkeypatch: pytest.MonkeyPatch,
):
    # Only such a cache needs the saver to put the aggregates it saved.
    monkeypatch.setenv("AGGREGATE_CACHE_MAXSIZE", "100")
    monkeypatch.setenv("AGGREGATE_CACHE_FASTFORWARD", "n")
    app = ServiceApplication(in_memory=True)
    ledger = Ledger(owner=uuid.uuid4())
    unit = UnitOfWork(app)
    unit.add(ledger)

    unit.commit()

    assert app.repository.cache is not None
    assert app.repository.cache.get(ledger.id) is ledger
