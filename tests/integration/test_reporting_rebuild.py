"""Reporting's tables rebuilt from the four streams equal the live ones, and a
rebuild swaps in while the live consumers keep going, without losing or doubling
anything that arrived meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

import psycopg
import pytest
from nats.js import JetStreamContext

from fangpin.contracts import EVENTS
from fangpin.inbox import Inbox, Incoming
from fangpin.projection import Pool, connect_pool
from fangpin.streams import ensure_streams
from reporting.main import build
from reporting.overview import When, overview
from reporting.rebuild import UPSTREAM, compare, rebuild
from reporting.synthetic import Events, county
from reporting.views import ReportingView
from tests.support import eventually, publish_relayed

pytestmark = pytest.mark.integration


@pytest.fixture
async def live(settings, nc) -> AsyncIterator[tuple[ReportingView, Inbox, Pool]]:
    """The reporting projection fed by its inbox, as the service runs it."""
    await ensure_streams(nc.jetstream())
    pool = connect_pool(settings.database_url)
    view = ReportingView(pool, "reporting")
    view.setup()
    inbox = Inbox(nc.jetstream, "reporting", view, batch_size=200)
    for stream, subject in UPSTREAM.items():
        inbox.consume(stream, subject)
    stopping = asyncio.Event()
    tasks = [
        asyncio.create_task(inbox.run(subscription, stopping))
        for subscription in inbox.subscriptions
    ]
    yield view, inbox, pool
    stopping.set()
    await asyncio.gather(*tasks)
    pool.close()


async def publish(js: JetStreamContext, messages: Iterable[Incoming]) -> int:
    """Publish as the relays do, many in flight at once."""
    pending = []
    for message in messages:
        assert message.envelope is not None
        pending.append(
            publish_relayed(
                js,
                EVENTS[message.envelope.type].subject,
                message.envelope.model_dump_json().encode(),
                notification_id=message.key[1],
                producer=message.key[0],
            )
        )
    for start in range(0, len(pending), 200):
        await asyncio.gather(*pending[start : start + 200])
    return len(pending)


def tracked(pool: Pool, schema: str = "reporting") -> int:
    with pool.connection() as conn:
        row = conn.execute(f"SELECT count(*) AS n FROM {schema}.tracking").fetchone()
        return int(row["n"]) if row else 0


def households(view: ReportingView) -> int:
    found = overview(view, "510904", None, When.of("2026-01", None, None))
    return int(found["total"]["figures"]["households"])


async def test_rebuilt_tables_equal_the_live_ones(settings, nc, live):
    view, _, pool = live
    js = nc.jetstream()
    events = Events()
    messages = [events.incoming(e) for e in county(120, 1000, seed=11)]
    # Streams are consumed independently: casework's and assistance's events
    # are published first, so they reach reporting before the registrations.
    late_first = sorted(messages, key=lambda m: m.key[0] == "intake")
    await publish(js, late_first)
    # A refilled stream repeats some messages under new message ids.
    await publish(js, messages[:50])

    await eventually(lambda: tracked(pool) == len(messages), within=60)
    report = await rebuild(settings, check=True, pool=pool)

    assert report.differences == {}
    assert report.messages == len(messages) + 50
    assert sum(r.unreadable + r.failed for r in report.streams.values()) == 0
    assert households(view) == 120


async def test_a_rebuild_swaps_in_while_the_live_consumers_keep_going(
    settings, nc, live
):
    view, inbox, pool = live
    js = nc.jetstream()
    events = Events()
    history = [events.incoming(e) for e in county(200, 1200, seed=5)]
    first, second = history[:700], history[700:]
    await publish(js, first)
    await eventually(lambda: tracked(pool) == len(first), within=60)
    for _ in range(6):
        # Often enough that the connections prepare the statement.
        households(view)

    async def keep_publishing() -> None:
        for start in range(0, len(second), 100):
            await publish(js, second[start : start + 100])
            await asyncio.sleep(0.05)

    publishing = asyncio.create_task(keep_publishing())
    report = await rebuild(settings, pool=pool, batch_size=150)
    await publishing
    assert report.swapped

    await eventually(lambda: tracked(pool) == len(history), within=60)
    assert households(view) == 200
    again = await rebuild(settings, check=True, pool=pool)
    assert again.differences == {}
    assert compare(pool, "reporting", "reporting") == {}


def test_tables_of_an_older_layout_are_rebuilt_when_the_service_starts(settings):
    # The first release kept only an events and a cases table, with no layout mark.
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA reporting")
        conn.execute(
            "CREATE TABLE reporting.events (event_id uuid PRIMARY KEY, type text)"
        )
        conn.execute(
            "CREATE TABLE reporting.tracking (producer text, notification_id bigint)"
        )
    http = build(settings)
    view: ReportingView = http.state.view
    try:
        assert view.layout_is_current()
        assert households(view) == 0
    finally:
        view.pool.close()
