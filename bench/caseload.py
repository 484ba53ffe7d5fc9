"""Casework at county scale: events per second through casework, and how fast the
officials' queues answer with 100,000 open cases.

    .venv/bin/python bench/caseload.py [--cases 100000] [--nats-events 5000]
        [--calls 200] [--advance 1000] [--overdue 1000] [--keep]

One embedded PostgreSQL and one embedded NATS are started in a temporary folder.
The signals are grid monitors' problem reports (from intake) and risk flags (from
screening), spread over the demo district's six villages in three towns; one
household in ten gets a second signal later on, which joins its open case. Stored
events are compressed and encrypted, as in production.

1. raw JetStream: ``--nats-events`` of those envelopes published durably, with
   ``Nats-Msg-Id``, a window at a time as a relay sends them: the baseline;
2. through NATS: the same envelopes published to the INTAKE and SCREENING
   streams with the relays' headers, then casework started in this process as
   its main module builds it (inbox on both streams, its own relay, the queue
   view's follower, the deadline watch), timed until the inbox has processed
   every message and until every case shows in the queue view; on a fresh
   database;
3. load: ``--cases`` households' signals handed to casework's batch handler in
   batches of FANGPIN_BATCH_SIZE, as the inbox hands over each fetched batch
   (``tracked``, then ``process``), no NATS in between, into a fresh database;
   then the queue view catches up from the notification log as the service's
   follower does. The first ``--nats-events`` of the load give a handler-only
   rate to set beside step 2;
4. officials at work (set-up, timed but not a target): ``--advance`` cases are
   taken one to five steps on by the officials' commands (home visit, public
   notice, village review, town check, district decision), and the deadline
   watch warns and escalates ``--overdue`` cases with its clock set forward (the
   watch's own code on a sample: all of them would take too long);
5. queues: ``GET /queue`` through casework's HTTP app (routing, token check,
   validation, JSON), with real tokens for village01, town01 and district01,
   ``--calls`` calls each, then filtered variants; ``GET /health`` through the
   same app is the baseline and each p50 is also given as a multiple of it.

The machine may be shared: absolute times drift from run to run, the ratios to
baselines measured in the same run are what to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# This file shares its name with the casework service's package: Python puts this
# folder first on the path, where ``import casework`` would find this file.
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import nats  # noqa: E402
from benchkit import interrupted, percentile, rate, say  # noqa: E402
from eventsourcing.cryptography import AESCipher  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from nats.js import JetStreamContext  # noqa: E402

from casework.application import CaseworkApplication  # noqa: E402
from casework.domain import Case  # noqa: E402
from casework.main import build  # noqa: E402
from casework.views import QueueView  # noqa: E402
from fangpin.areas import DEMO_VILLAGES, county_of, town_of  # noqa: E402
from fangpin.auth import DEMO_USERS, Principal, issue_token  # noqa: E402
from fangpin.contracts import (  # noqa: E402
    EVENTS,
    URGENT_CATEGORIES,
    Actor,
    Envelope,
    ProblemCategory,
    Role,
)
from fangpin.embedded import start_nats, start_postgres  # noqa: E402
from fangpin.eventstore import system_actor  # noqa: E402
from fangpin.inbox import Incoming  # noqa: E402
from fangpin.projection import LocalFollower  # noqa: E402
from fangpin.relay import HEADER_NOTIFICATION_ID, HEADER_PRODUCER  # noqa: E402
from fangpin.settings import Settings, get_settings  # noqa: E402
from fangpin.streams import ensure_streams, stream_config  # noqa: E402
from tests.support import create_database  # noqa: E402

WINDOW = 500  # publishes in flight at once, as the relay sends a batch
VILLAGES = sorted(DEMO_VILLAGES)
CATEGORIES = [
    ProblemCategory.ILLNESS,
    ProblemCategory.INCOME_DROP,
    ProblemCategory.HOUSING,
    ProblemCategory.ACCIDENT,
    ProblemCategory.EMPLOYMENT,
]
# A second signal for a household comes this many households later, so it meets
# the open case in a later batch, loaded from the store.
LAG = 1000
STALL_SECONDS = 60.0
REPORT_EVERY = 30.0


class Stalled(RuntimeError):
    pass


# --- the signals ----------------------------------------------------------------


@dataclass
class Signals:
    """Reports and flags as the relays number them: per producer, from 1."""

    notification: dict[str, int] = field(default_factory=dict)

    def incoming(self, envelope: Envelope) -> Incoming:
        number = self.notification.get(envelope.producer, 0) + 1
        self.notification[envelope.producer] = number
        spec = EVENTS[envelope.type]
        data = spec.model.model_validate(envelope.data)
        return Incoming((envelope.producer, number), spec.subject, envelope, data)

    def report(self, household: uuid.UUID, village: str, index: int) -> Incoming:
        category = CATEGORIES[index % len(CATEGORIES)]
        grid = Actor(user_id="grid01", role=Role.GRID_MONITOR, area_code=village)
        data = {
            "report_id": str(uuid.uuid4()),
            "household_id": str(household),
            "area_code": village,
            "village_group": str(1 + index % 4),
            "category": category.value,
            "observed_on": date.today().isoformat(),
            "amount": "1200.00",
            "urgent": category in URGENT_CATEGORIES,
        }
        return self.incoming(envelope("ProblemReported", grid, household, data))

    def flag(self, household: uuid.UUID, village: str) -> Incoming:
        data = {
            "household_id": str(household),
            "area_code": village,
            "hits": [
                {
                    "code": "R-MED-01",
                    "name_zh": "医疗自付费用超过监测线",
                    "name_en": "Out-of-pocket medical cost above the line",
                    "values": {"out_of_pocket": 16000.0},
                    "thresholds": {"oop_line_low_income": 10000},
                }
            ],
            "target_type": "expense_hardship",
            "catalogue_version": 1,
            "caused_by": [str(uuid.uuid4())],
        }
        screening = system_actor("screening", village)
        return self.incoming(envelope("RiskFlagged", screening, household, data))


def envelope(
    kind: str, actor: Actor, household: uuid.UUID, data: dict[str, Any]
) -> Envelope:
    return Envelope(
        event_id=uuid.uuid4(),
        type=kind,
        occurred_at=datetime.now(UTC),
        producer=EVENTS[kind].producer,
        actor=actor,
        household_id=household,
        correlation_id=uuid.uuid4(),
        data=data,
    )


def signals(households: int) -> Iterator[Incoming]:
    """Three households in five are flagged first, the others reported first;
    one in ten later gets the other kind of signal, which joins its case."""
    maker = Signals()
    ids: list[uuid.UUID] = []
    for index in range(households):
        household = uuid.uuid4()
        ids.append(household)
        village = VILLAGES[index % len(VILLAGES)]
        if index % 5 < 3:
            yield maker.flag(household, village)
        else:
            yield maker.report(household, village, index)
        earlier = index - LAG
        if earlier >= 0 and earlier % 10 == 5:
            village = VILLAGES[earlier % len(VILLAGES)]
            if earlier % 5 < 3:
                yield maker.report(ids[earlier], village, earlier)
            else:
                yield maker.flag(ids[earlier], village)


def first_events(count: int) -> list[Incoming]:
    found = []
    for incoming in signals(count):
        found.append(incoming)
        if len(found) == count:
            break
    return found


# --- servers and settings -------------------------------------------------------


def casework_settings(nats_url: str, database_url: str) -> Settings:
    return Settings(
        NATS_URL=nats_url,
        DATABASE_URL=database_url,
        FANGPIN_CIPHER_KEY=AESCipher.create_key(num_bytes=32),
        FANGPIN_JWT_SECRET=os.environ["FANGPIN_JWT_SECRET"],
        FANGPIN_PSEUDONYM_KEY=secrets.token_urlsafe(32),
    )


def parts(http: FastAPI) -> tuple[CaseworkApplication, QueueView, LocalFollower]:
    """The application, queue view and view follower the service was built with."""
    runtime = http.state.runtime
    app = runtime.app
    assert isinstance(app, CaseworkApplication)
    follower = next(f for f in runtime.followers if isinstance(f, LocalFollower))
    return app, http.state.queue_view, follower


def count_cases(view: QueueView) -> int:
    with view.pool.connection() as conn:
        row = conn.execute(f"SELECT count(*) AS n FROM {view.schema}.cases").fetchone()
    return int(row["n"]) if row else 0


Message = tuple[str, bytes, dict[str, str]]


async def pipelined(js: JetStreamContext, messages: list[Message]) -> None:
    """Publish WINDOW at a time, each window awaited as a whole."""
    window = []
    for subject, payload, headers in messages:
        window.append(js.publish(subject, payload, headers=headers))
        if len(window) == WINDOW:
            await asyncio.gather(*window)
            window = []
    await asyncio.gather(*window)


def as_relayed(incoming: Incoming) -> Message:
    """Subject, body and headers, as the producer's relay publishes the event."""
    assert incoming.envelope is not None
    return (
        incoming.subject,
        incoming.envelope.model_dump_json().encode(),
        {
            "Nats-Msg-Id": str(incoming.envelope.event_id),
            HEADER_PRODUCER: incoming.key[0],
            HEADER_NOTIFICATION_ID: str(incoming.key[1]),
        },
    )


# --- 1. raw JetStream -----------------------------------------------------------


async def raw_jetstream(nats_url: str, events: list[Incoming]) -> dict[str, float]:
    """Durable publishes of the same bodies to a scratch stream set up like the
    real ones; every real publish carries a Nats-Msg-Id, so these do too."""
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream(timeout=60)
        config = dataclasses.replace(
            stream_config("INTAKE", 1), name="BENCH", subjects=["bench.>"]
        )
        await js.add_stream(config)
        messages = [
            ("bench.raw", body, {"Nats-Msg-Id": f"bench-{index}"})
            for index, (_, body, _) in enumerate(map(as_relayed, events))
        ]
        # An untimed window first: a fresh stream's first writes create its files.
        await pipelined(js, [("bench.warm", b"{}", {})] * WINDOW)
        began = time.perf_counter()
        await pipelined(js, messages)
        seconds = time.perf_counter() - began
        await js.delete_stream("BENCH")
    finally:
        await connection.drain()
    size = sum(len(body) for _, body, _ in messages) / max(1, len(messages))
    return {"per_s": rate(len(messages), seconds), "size": size}


# --- 2. through NATS ------------------------------------------------------------


class BatchRetries(logging.Handler):
    """Counts the inbox's batches that failed and were retried one message at a
    time, by the error's type (two consumers may write the same household)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.errors: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message, args = str(record.msg), record.args
        if message.startswith("%s: batch of") and isinstance(args, tuple) and args:
            self.errors[str(args[-1])] += 1


async def through_nats(settings: Settings, events: list[Incoming]) -> dict[str, Any]:
    """Publish first, then start casework and time how fast it drains the streams."""
    cases = len({getattr(incoming.data, "household_id", None) for incoming in events})
    connection = await nats.connect(settings.nats_url)
    try:
        js = connection.jetstream(timeout=60)
        await ensure_streams(js)
        began = time.perf_counter()
        await pipelined(js, [as_relayed(incoming) for incoming in events])
        publish_seconds = time.perf_counter() - began
    finally:
        await connection.drain()

    http = build(settings)
    _, view, _ = parts(http)
    runtime = http.state.runtime
    inbox = runtime.inbox
    retries = BatchRetries()
    logging.getLogger("fangpin.inbox").addHandler(retries)
    try:
        began = time.perf_counter()
        await runtime.start()
        processed_at: float | None = None
        visible_at: float | None = None
        last_move, last_seen = began, (-1, -1)
        while processed_at is None or visible_at is None:
            now = time.perf_counter()
            seen = (inbox.processed, await asyncio.to_thread(count_cases, view))
            if processed_at is None and seen[0] + inbox.dead_lettered >= len(events):
                processed_at = now
            if processed_at is not None and seen[1] >= cases:
                visible_at = now
            if seen != last_seen:
                last_move, last_seen = now, seen
            elif now - last_move > STALL_SECONDS:
                raise Stalled(
                    f"through NATS: {seen[0]} of {len(events)} processed, "
                    f"{seen[1]} of {cases} cases visible; no progress for "
                    f"{STALL_SECONDS:.0f} s"
                )
            await asyncio.sleep(0.02)
        assert processed_at is not None and visible_at is not None
    finally:
        await runtime.stop()
        view.pool.close()
        logging.getLogger("fangpin.inbox").removeHandler(retries)
    return {
        "retried": retries.errors,
        "publish_per_s": rate(len(events), publish_seconds),
        "processed_per_s": rate(len(events), processed_at - began),
        "visible_per_s": rate(cases, visible_at - began),
        "cases": cases,
        "dead_lettered": inbox.dead_lettered,
    }


# --- 3. load through the batch handler ------------------------------------------


def hand_over(app: CaseworkApplication, batch: list[Incoming]) -> float:
    """What the inbox does with a fetched batch; returns the seconds it took."""
    began = time.perf_counter()
    done = app.tracked([incoming.key for incoming in batch])
    app.process([incoming for incoming in batch if incoming.key not in done])
    return time.perf_counter() - began


def load(
    app: CaseworkApplication, households: int, batch: int, early: int
) -> dict[str, float]:
    pending: list[Incoming] = []
    handled = 0
    applying = 0.0
    early_rate = float("nan")
    began = time.monotonic()
    next_report = began + REPORT_EVERY
    for incoming in signals(households):
        pending.append(incoming)
        if len(pending) < batch:
            continue
        applying += hand_over(app, pending)
        handled += len(pending)
        pending = []
        if math.isnan(early_rate) and handled >= early:
            early_rate = rate(handled, applying)
        if time.monotonic() > next_report:
            next_report += REPORT_EVERY
            say(f"  … {handled:,} events, {rate(handled, applying):,.0f}/s handling")
    if pending:
        applying += hand_over(app, pending)
        handled += len(pending)
    if math.isnan(early_rate):
        early_rate = rate(handled, applying)
    total = time.monotonic() - began
    say(
        f"  {handled:,} events in {total:.0f} s, of which {applying:.0f} s in the "
        "handler (the rest is making the envelopes)"
    )
    return {
        "events": handled,
        "per_s": rate(handled, applying),
        "early_per_s": early_rate,
        "seconds": applying,
    }


def catch_up(app: CaseworkApplication, follower: LocalFollower) -> tuple[int, float]:
    """Run the view's follower until it has read the whole notification log."""
    last = app.recorder.max_notification_id() or 0
    start = follower.position
    began = time.perf_counter()
    while follower.position < last:
        follower.catch_up_once()
    return last - start, time.perf_counter() - began


# --- 4. officials at work -------------------------------------------------------

Command = Callable[[Case, dict[str, Any]], None]


def step_commands(today: date) -> list[tuple[Role, Command]]:
    """The first five steps, each with the level that takes it."""
    return [
        (Role.VILLAGE, lambda c, m: c.record_visit(True, "入户核实", m)),
        (
            Role.VILLAGE,
            lambda c, m: c.publish_notice(
                today - timedelta(days=7), today - timedelta(days=1), m
            ),
        ),
        (
            Role.VILLAGE,
            lambda c, m: c.complete_village_review(False, "无异议", today, m),
        ),
        (Role.TOWN, lambda c, m: c.town_check("核实无误", m)),
        (
            Role.DISTRICT,
            lambda c, m: c.confirm_target("expense_hardship", "符合条件", m),
        ),
    ]


def official(role: Role, area_code: str) -> Principal:
    scope = {
        Role.VILLAGE: area_code,
        Role.TOWN: town_of(area_code),
        Role.DISTRICT: county_of(area_code),
    }[role]
    return Principal(user_id=f"bench-{role.value}", role=role, area_code=scope)


def advance(app: CaseworkApplication, view: QueueView, count: int) -> int:
    """Take a sample of cases one to five steps on; returns the commands run."""
    with view.pool.connection() as conn:
        sample = conn.execute(
            f"SELECT case_id, area_code FROM {view.schema}.cases "
            "ORDER BY case_id LIMIT %s",
            (count,),
        ).fetchall()
    commands = step_commands(app.clock().date())
    done = 0
    for position, row in enumerate(sample):
        for role, command in commands[: 1 + position % len(commands)]:
            app.act(row["case_id"], official(role, row["area_code"]), command)
            done += 1
    return done


def watch_deadlines(app: CaseworkApplication, view: QueueView, count: int) -> None:
    """The deadline watch, its clock moved on, over a sample of the open steps:
    half four days on (overdue, some escalated), half thirty days on."""
    now = app.clock()
    later = now + timedelta(days=30)
    candidates = view.deadline_candidates(later)
    candidates.sort(key=lambda row: row["case_id"], reverse=True)
    half = count // 2
    app.watch_deadlines(candidates[:half], now + timedelta(days=4))
    app.watch_deadlines(candidates[half:count], later)


# --- 5. queues over HTTP --------------------------------------------------------


def timed(call: Callable[[], Any], times: int) -> list[float]:
    found = []
    for _ in range(times):
        began = time.perf_counter()
        call()
        found.append((time.perf_counter() - began) * 1000)
    return sorted(found)


@dataclass
class Latency:
    label: str
    p50: float
    p99: float
    calls: int
    total: int | None = None


def queues(http: FastAPI, calls: int) -> tuple[Latency, list[Latency]]:
    client = TestClient(http)  # not started: no NATS, the load is already in
    headers = {
        name: {"Authorization": f"Bearer {issue_token(DEMO_USERS[name])}"}
        for name in ("village01", "town01", "district01")
    }

    def health() -> None:
        assert client.get("/health").status_code == 200

    def queue(user: str, query: str) -> Callable[[], Any]:
        def call() -> Any:
            response = client.get(f"/queue{query}", headers=headers[user])
            assert response.status_code == 200, response.text
            return response.json()

        return call

    # A few untimed calls each: the first ones plan the statements.
    for _ in range(5):
        health()
    samples = timed(health, calls)
    baseline = Latency(
        "GET /health", percentile(samples, 0.5), percentile(samples, 0.99), calls
    )
    filtered = max(20, calls // 4)
    # A page from the middle of the village's queue, as paging through it would.
    middle = queue("village01", "?limit=1")()["total"] // 2
    variants = [
        ("village01", "", calls),
        ("town01", "", calls),
        ("district01", "", calls),
        ("village01", "?overdue=true", filtered),
        ("village01", "?step=notice", filtered),
        ("village01", "?urgent=true", filtered),
        ("village01", f"?offset={middle}", filtered),
        ("town01", "?escalated=true", filtered),
        ("town01", "?step=town_check", filtered),
        ("district01", "?step=decision", filtered),
    ]
    found = []
    for user, query, times in variants:
        call = queue(user, query)
        total = None
        for _ in range(3):
            total = call()["total"]
        samples = timed(call, times)
        found.append(
            Latency(
                f"{user} /queue{query}",
                percentile(samples, 0.5),
                percentile(samples, 0.99),
                times,
                total,
            )
        )
    return baseline, found


def queue_states(view: QueueView) -> list[tuple[str, str, int, int, int]]:
    with view.pool.connection() as conn:
        found = conn.execute(
            f"SELECT level, step, count(*) AS n, count(*) FILTER (WHERE overdue) "
            f"AS overdue, count(*) FILTER (WHERE escalated) AS escalated "
            f"FROM {view.schema}.cases WHERE status = 'open' "
            "GROUP BY level, step ORDER BY count(*) DESC"
        ).fetchall()
    return [
        (row["level"], row["step"], row["n"], row["overdue"], row["escalated"])
        for row in found
    ]


# --- running it -----------------------------------------------------------------


def run(args: argparse.Namespace, nats_url: str, server_url: str) -> None:
    say()
    say(f"1. raw JetStream publish, {args.nats_events:,} envelopes")
    events = first_events(args.nats_events)
    raw = asyncio.run(raw_jetstream(nats_url, events))
    say(f"  {raw['per_s']:,.0f} msg/s ({raw['size']:.0f} B each)")

    say()
    say(f"2. through NATS: {args.nats_events:,} reports and flags, casework started")
    settings = casework_settings(nats_url, create_database(server_url))
    hop = asyncio.run(through_nats(settings, events))
    say(f"  published at {hop['publish_per_s']:,.0f} msg/s before casework started")
    say(
        f"  inbox: {hop['processed_per_s']:,.0f} events/s; queue view: "
        f"{hop['visible_per_s']:,.0f} cases/s ({hop['cases']:,} cases, "
        f"{hop['dead_lettered']} dead-lettered)"
    )
    for error, batches in hop["retried"].items():
        say(f"  {batches} batch(es) failed with {error}, retried one message at a time")

    say()
    say(f"3. load {args.cases:,} households' signals through the batch handler")
    settings = casework_settings(nats_url, create_database(server_url))
    http = build(settings)
    app, view, follower = parts(http)
    try:
        loaded = load(app, args.cases, settings.batch_size, args.nats_events)
        read, seconds = catch_up(app, follower)
        cases = count_cases(view)
        say(
            f"  queue view caught up: {read:,} stored events read in {seconds:.0f} s "
            f"({rate(read, seconds):,.0f}/s), {cases:,} cases"
        )
        with view.pool.connection() as conn:
            # As autovacuum would after a load this size; the queries need the
            # statistics.
            conn.autocommit = True
            conn.execute(f"VACUUM ANALYZE {view.schema}.cases")
            conn.autocommit = False

        say()
        say(
            f"4. officials take {args.advance:,} cases on; the deadline watch sees "
            f"{args.overdue:,}"
        )
        began = time.perf_counter()
        commands = advance(app, view, args.advance)
        acting = time.perf_counter() - began
        began = time.perf_counter()
        watch_deadlines(app, view, args.overdue)
        watching = time.perf_counter() - began
        catch_up(app, follower)
        say(
            f"  {commands:,} commands in {acting:.0f} s "
            f"({rate(commands, acting):,.0f}/s); deadline watch over "
            f"{args.overdue:,} cases in {watching:.0f} s"
        )
        say(f"  {'level':<10}{'step':<15}{'open':>9}{'overdue':>9}{'escalated':>10}")
        for level, step, n, overdue, escalated in queue_states(view):
            say(f"  {level:<10}{step:<15}{n:>9,}{overdue:>9,}{escalated:>10,}")

        say()
        say(f"5. GET /queue over HTTP, {args.calls} calls each (filtered: fewer)")
        baseline, found = queues(http, args.calls)
    finally:
        app.close()
        view.pool.close()

    say()
    say(f"Summary ({os.cpu_count()} cores; batches of {settings.batch_size})")
    figures = [
        ("raw JetStream publish", f"{raw['per_s']:,.0f} msg/s", "baseline A"),
        (
            "through NATS, inbox",
            f"{hop['processed_per_s']:,.0f} events/s",
            f"{hop['processed_per_s'] / raw['per_s']:.2f} × A",
        ),
        (
            "through NATS, in the queue",
            f"{hop['visible_per_s']:,.0f} cases/s",
            f"{hop['visible_per_s'] / raw['per_s']:.2f} × A",
        ),
        (
            f"handler only, first {args.nats_events:,}",
            f"{loaded['early_per_s']:,.0f} events/s",
            f"{loaded['early_per_s'] / raw['per_s']:.2f} × A",
        ),
        (
            f"handler only, all {loaded['events']:,.0f}",
            f"{loaded['per_s']:,.0f} events/s",
            f"{loaded['per_s'] / raw['per_s']:.2f} × A",
        ),
        ("queue view catch-up", f"{rate(read, seconds):,.0f} events/s", ""),
    ]
    for name, value, note in figures:
        say(f"  {name:<34}{value:>18}   {note}".rstrip())
    say(
        f"  {baseline.label:<34}{baseline.p50:>9.2f} ms p50{baseline.p99:>9.2f} ms "
        "p99   baseline B"
    )
    for latency in found:
        say(
            f"  {latency.label:<34}{latency.p50:>9.1f} ms p50{latency.p99:>9.1f} ms "
            f"p99   {latency.p50 / baseline.p50:5.1f} × B   "
            f"({latency.total:,} waiting, {latency.calls} calls)"
        )
    say()
    say(f"command: {shlex.join(sys.orig_argv)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=100_000, help="open cases")
    parser.add_argument(
        "--nats-events",
        type=int,
        default=5000,
        help="events published to NATS in steps 1 and 2",
    )
    parser.add_argument("--calls", type=int, default=200, help="calls per queue")
    parser.add_argument(
        "--advance", type=int, default=1000, help="cases officials take on"
    )
    parser.add_argument(
        "--overdue", type=int, default=1000, help="cases the deadline watch sees"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, interrupted)

    folder = Path(tempfile.mkdtemp(prefix="fangpin-bench-casework-"))
    os.environ["FANGPIN_JWT_SECRET"] = secrets.token_urlsafe(32)
    get_settings.cache_clear()
    say(f"Casework benchmark in {folder}")
    say(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    try:
        with contextlib.ExitStack() as stack:
            postgres = start_postgres(folder)
            stack.callback(postgres.stop)
            nats_server = start_nats(folder / "nats", secrets.token_hex(32))
            stack.callback(nats_server.stop)
            run(args, nats_server.url, postgres.url)
    finally:
        if args.keep:
            say(f"data kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    say(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
