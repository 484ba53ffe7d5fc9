"""How fast events move through Fangpin, next to the raw speed of its servers.

    .venv/bin/python bench/pipeline.py [--events N] [--households H]
                                       [--batch-size B] [--keep]

One embedded NATS and one embedded PostgreSQL are started in a temporary folder and
used by every phase, so each pipeline figure can be divided by a baseline measured
on the same servers shortly before (the baselines are taken again right before the
full slice). On shared machines the absolute numbers drift from run to run; the
ratios are what to compare.

1. raw JetStream: durable publishes of envelope-sized messages, pipelined;
2. raw PostgreSQL: batched inserts and single-row commits;
3. single hop: the casework inbox turning pre-published reports into cases;
4. full slice: department records through intake, screening and casework, each
   service a separate process, until the cases show in the officials' queue.

A phase that stops making progress is reported as stalled, with the PostgreSQL
sessions that wait on their client, and the phases that finished are still shown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
import psycopg
from benchkit import WINDOW, interrupted, percentile, pipelined, rate, say
from eventsourcing.utils import get_topic
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from casework.application import CaseworkApplication
from casework.domain import Case, HouseholdCases, household_cases_id
from fangpin.cli import SERVICES, Platform
from fangpin.contracts import Actor, Role
from fangpin.embedded import EmbeddedNats, EmbeddedPostgres, start_nats, start_postgres
from fangpin.eventstore import Cause
from fangpin.idnumber import make_id_number, pseudonym
from fangpin.inbox import Inbox
from fangpin.relay import HEADER_NOTIFICATION_ID, HEADER_PRODUCER
from fangpin.settings import Settings
from fangpin.streams import STREAM_SUBJECTS, ensure_streams, stream_config
from intake.application import IntakeApplication, Member
from intake.domain import Household, PersonIndex

# The test helpers live beside the services, not in an installed package.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import create_database, problem_envelope  # noqa: E402

PG_BATCH = 1000
PG_SINGLE_ROWS = 1000
# Households per save when registering. A save sends all its events as one
# parameter; past a few hundred kB psycopg's pure-Python pipeline can hang
# (see waiting_on_client), and this is set-up, not what is measured.
REGISTER_CHUNK = 100
VILLAGE = "510904101201"
DEPT_SUBJECT = "dept.medical_insurance.hospital_settlement"
OUT_OF_POCKET = 20000  # above R-MED-01's line of 10000
PHASE_TIMEOUT = 600.0  # a backstop only: the stall watch usually ends it
STALL_SECONDS = 30.0  # no progress at all for this long: the phase is stuck
SAMPLE_SECONDS = 0.5
CASE_OPENED = get_topic(Case.CaseOpened)
HOUSEHOLD_CASES = get_topic(HouseholdCases.HouseholdCasesStarted)
# The library names an application's table after its class, in the service schema.
CASEWORK_EVENTS = f"casework.{CaseworkApplication.name.lower()}_events"


class Stalled(RuntimeError):
    pass


class NoWaitExecutor(ThreadPoolExecutor):
    """asyncio.run joins its executor's threads on the way out; one stuck in the
    database driver would then keep the bench from ever printing its report."""

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=False, cancel_futures=cancel_futures)


# --- small helpers -----------------------------------------------------------------


def free_port_block(size: int) -> int:
    """Platform wants consecutive ports, one per service."""
    for base in range(24100, 60000, 41):
        try:
            for port in range(base, base + size):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free block of ports")


def cipher_key() -> str:
    from eventsourcing.cryptography import AESCipher

    return AESCipher.create_key(num_bytes=32)


def bench_settings(nats_url: str, database_url: str, batch_size: int) -> Settings:
    values = {
        "NATS_URL": nats_url,
        "DATABASE_URL": database_url,
        "FANGPIN_CIPHER_KEY": cipher_key(),
        "FANGPIN_JWT_SECRET": secrets.token_urlsafe(32),
        "FANGPIN_PSEUDONYM_KEY": secrets.token_urlsafe(32),
        "FANGPIN_BATCH_SIZE": str(batch_size),
    }
    return Settings(**values)


def settings_env(settings: Settings) -> dict[str, str]:
    return {
        "NATS_URL": settings.nats_url,
        "DATABASE_URL": settings.database_url,
        "FANGPIN_CIPHER_KEY": settings.cipher_key,
        "FANGPIN_JWT_SECRET": settings.jwt_secret,
        "FANGPIN_PSEUDONYM_KEY": settings.pseudonym_key,
        "FANGPIN_BATCH_SIZE": str(settings.batch_size),
        "FANGPIN_DEV_ISSUER": "1",
    }


# --- stalls ------------------------------------------------------------------------


def waiting_on_client(
    database_url: str, older_than: float = 5.0
) -> list[tuple[int, float, str]]:
    """Sessions of this database stuck mid-statement, waiting for their client.

    A statement that is still 'active' while the server waits to read from the
    client means the client stopped sending half-way: it will never finish.
    """
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid, extract(epoch FROM now() - state_change)::float8, query "
            "FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'active' AND wait_event = 'ClientRead' "
            "AND now() - state_change > make_interval(secs => %s)",
            (older_than,),
        ).fetchall()
    return [(pid, seconds, " ".join(query.split())) for pid, seconds, query in rows]


def describe_stuck(stuck: list[tuple[int, float, str]]) -> str:
    if not stuck:
        return "no PostgreSQL session is waiting on its client"
    lines = ["PostgreSQL sessions waiting on their client mid-statement:"]
    for pid, seconds, query in stuck:
        schema = re.search(r'INTO "(\w+)"', query)
        owner = schema.group(1) if schema else "?"
        lines.append(f"    pid {pid} ({owner}) for {seconds:.0f}s: {query[:90]}")
    return "\n".join(lines)


def end_sessions(database_url: str, pids: list[int]) -> None:
    """Free the threads blocked on those sessions, so processes can stop."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def release(database_url: str, done: Callable[[], bool], within=60.0) -> None:
    """End stuck sessions until our own worker is through.

    The library retries a failed insert, which may hang the same way again, so
    one termination is not always enough.
    """
    deadline = time.perf_counter() + within
    while not done() and time.perf_counter() < deadline:
        with contextlib.suppress(psycopg.Error):
            stuck = await asyncio.to_thread(waiting_on_client, database_url, 1.0)
            await asyncio.to_thread(
                end_sessions, database_url, [p for p, _, _ in stuck]
            )
        await asyncio.sleep(0.5)


async def wait_for(
    what: str,
    progress: Callable[[], Awaitable[tuple[int, int]]],
    target: int,
    database_url: str,
    interval: float = 0.05,
) -> None:
    """Poll until done >= target; raise Stalled if nothing moves for a while.

    ``progress`` returns (done, activity): activity is any counter that moves
    while the pipeline works, so a long upstream stage is not taken for a stall.
    """
    started = last_move = time.perf_counter()
    last: tuple[int, int] | None = None
    while True:
        current = await progress()
        if current[0] >= target:
            return
        now = time.perf_counter()
        if current != last:
            last, last_move = current, now
        stuck_for = now - last_move
        if stuck_for > STALL_SECONDS or now - started > PHASE_TIMEOUT:
            stuck = await asyncio.to_thread(waiting_on_client, database_url)
            with contextlib.suppress(psycopg.Error):
                await asyncio.to_thread(
                    end_sessions, database_url, [pid for pid, _, _ in stuck]
                )
            why = (
                f"no progress for {stuck_for:.0f}s"
                if stuck_for > STALL_SECONDS
                else "timed out, still moving"
            )
            raise Stalled(
                f"{what}: {current[0]} of {target} after {now - started:.0f}s, "
                f"{why}\n  {describe_stuck(stuck)}"
            )
        await asyncio.sleep(interval)


# --- CPU time per process, from /proc ------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces; the fields after it are plain numbers.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int, with_reaped_children: bool = False) -> float:
    fields = _stat(pid)
    if fields is None:
        return 0.0
    # utime, stime (and for children already reaped cutime, cstime).
    used = int(fields[11]) + int(fields[12])
    if with_reaped_children:
        used += int(fields[13]) + int(fields[14])
    return used / TICKS


def children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


def process_tree_cpu(root: int) -> float:
    """PostgreSQL: the postmaster, its live backends and those already gone."""
    return cpu_seconds(root, with_reaped_children=True) + sum(
        cpu_seconds(child) for child in children(root)
    )


async def table_activity(conn: psycopg.AsyncConnection[Any]) -> dict[str, list[int]]:
    """Per schema: table scans (reads by index or not) and rows inserted."""
    async with conn.cursor() as curs:
        await curs.execute(
            "SELECT schemaname, sum(coalesce(idx_scan, 0) + coalesce(seq_scan, 0)),"
            " sum(n_tup_ins) FROM pg_stat_user_tables GROUP BY schemaname"
        )
        rows = await curs.fetchall()
    return {schema: [int(scans), int(inserted)] for schema, scans, inserted in rows}


def cpu_snapshot(pids: dict[str, int], trees: dict[str, int]) -> dict[str, float]:
    snapshot = {name: cpu_seconds(pid) for name, pid in pids.items()}
    snapshot.update({name: process_tree_cpu(pid) for name, pid in trees.items()})
    return snapshot


# --- 1. raw JetStream ----------------------------------------------------------------


async def raw_jetstream(js: JetStreamContext, count: int) -> dict[str, float]:
    """Durable publishes to a scratch stream configured like the real ones."""
    config = dataclasses.replace(
        stream_config("INTAKE", 1), name="BENCH", subjects=["bench.>"]
    )
    await js.add_stream(config)
    payloads = [
        problem_envelope(uuid.uuid4()).model_dump_json().encode() for _ in range(count)
    ]
    size = sum(len(p) for p in payloads) / count

    # Every real publish carries a Nats-Msg-Id, so the baseline pays for the
    # duplicate check too.
    def publish(index: int) -> Callable[[], Awaitable[Any]]:
        return lambda: js.publish(
            "bench.raw", payloads[index], headers={"Nats-Msg-Id": f"bench-{index}"}
        )

    # One untimed window first: a fresh stream's first writes create its files.
    await pipelined(
        lambda: js.publish("bench.warm", payloads[0]) for _ in range(WINDOW)
    )
    started = time.perf_counter()
    await pipelined(publish(i) for i in range(count))
    seconds = time.perf_counter() - started
    await js.delete_stream("BENCH")
    return {"msgs_per_s": rate(count, seconds), "seconds": seconds, "size": size}


# --- 2. raw PostgreSQL ---------------------------------------------------------------


def raw_postgres(database_url: str, rows: int) -> dict[str, float]:
    """Rows shaped like stored events: id, version, topic and a ~600 byte state."""
    state = os.urandom(600)
    topic = "bench.domain:Thing.Happened"
    insert = (
        "INSERT INTO bench_events (originator_id, originator_version, topic, "
        "state) VALUES (%s, %s, %s, %s)"
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE bench_events (originator_id uuid NOT NULL, "
            "originator_version int NOT NULL, topic text NOT NULL, "
            "state bytea NOT NULL, notification_id bigserial PRIMARY KEY, "
            "UNIQUE (originator_id, originator_version))"
        )
        started = time.perf_counter()
        for first in range(0, rows, PG_BATCH):
            batch = [
                (uuid.uuid4(), 1, topic, state)
                for _ in range(min(PG_BATCH, rows - first))
            ]
            with conn.transaction(), conn.cursor() as curs:
                curs.executemany(insert, batch)
        batched = time.perf_counter() - started

        started = time.perf_counter()
        for _ in range(PG_SINGLE_ROWS):
            conn.execute(insert, (uuid.uuid4(), 1, topic, state))
        single = time.perf_counter() - started
    return {
        "batched_rows_per_s": rate(rows, batched),
        "commits_per_s": rate(PG_SINGLE_ROWS, single),
    }


# --- 3. single hop: reports to cases -------------------------------------------------


async def single_hop(
    nc: Client, nats_url: str, server_url: str, count: int, batch_size: int
) -> dict[str, Any]:
    js = nc.jetstream()
    await ensure_streams(js)
    households = [uuid.uuid4() for _ in range(count)]
    payloads = [
        problem_envelope(household).model_dump_json().encode()
        for household in households
    ]

    # As intake's relay would: producer and notification id name each message.
    def publish(index: int) -> Callable[[], Awaitable[Any]]:
        return lambda: js.publish(
            "intake.report.problem",
            payloads[index],
            headers={
                "Nats-Msg-Id": str(uuid.uuid4()),
                HEADER_PRODUCER: "intake",
                HEADER_NOTIFICATION_ID: str(index + 1),
            },
        )

    started = time.perf_counter()
    await pipelined(publish(i) for i in range(count))
    prefill = time.perf_counter() - started

    database_url = create_database(server_url)
    app = CaseworkApplication(bench_settings(nats_url, database_url, batch_size))
    inbox = Inbox(nc.jetstream, "casework", app, batch_size=batch_size)
    inbox.consume("INTAKE", "intake.report.>")
    stopping = asyncio.Event()
    task: asyncio.Task[None] | None = None

    async def progress() -> tuple[int, int]:
        assert task is not None
        if task.done():
            task.result()  # raises whatever stopped the inbox
        return inbox.processed, inbox.dead_lettered

    try:
        started = time.perf_counter()
        task = asyncio.create_task(inbox.run(inbox.subscriptions[0], stopping))
        await wait_for("single hop", progress, count, database_url, interval=0.005)
        seconds = time.perf_counter() - started
        counted = await asyncio.to_thread(count_cases, database_url)
        sampled = await asyncio.to_thread(read_back, app, households)
    finally:
        stopping.set()
        if task is not None:
            await release(database_url, task.done)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
        app.close()
    return {
        "events_per_s": rate(count, seconds),
        "prefill_per_s": rate(count, prefill),
        "dead_lettered": inbox.dead_lettered,
        "read_back": sampled,
        **counted,
    }


def count_cases(database_url: str) -> dict[str, int]:
    """Topics are stored in clear beside the encrypted state, so SQL can count."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE topic = %s), "
            f"count(*) FILTER (WHERE topic = %s) FROM {CASEWORK_EVENTS}",
            (CASE_OPENED, HOUSEHOLD_CASES),
        ).fetchone()
    assert row is not None
    return {"cases": int(row[0]), "case_households": int(row[1])}


def read_back(app: CaseworkApplication, households: list[uuid.UUID]) -> tuple[int, int]:
    """Some households' open cases, loaded through the application as a reader."""
    chosen = households[:: max(1, len(households) // 20)]
    found = 0
    for household in chosen:
        index = app.get_or_none(household_cases_id(household), HouseholdCases)
        if index and index.open_case_id and app.get_or_none(index.open_case_id, Case):
            found += 1
    return found, len(chosen)


# --- 4. full slice -------------------------------------------------------------------


def id_number(index: int) -> str:
    # make_id_number keeps three serial digits, so the birth day carries the rest.
    return make_id_number("510904", date(1950, 1, 1) + timedelta(index // 1000), index)


def register_households(
    settings: Settings, households: list[uuid.UUID], saved: list[int]
) -> None:
    """Straight into intake's store, as registrations over HTTP would leave them.

    ``saved[0]`` counts the households stored so far, for the stall watch.
    """
    app = IntakeApplication(settings, pseudonym_key=settings.pseudonym_key)
    actor = Actor(user_id="bench", role=Role.DISTRICT, area_code="510904")
    try:
        for first in range(0, len(households), REGISTER_CHUNK):
            batch: list[Household | PersonIndex] = []
            last = min(first + REGISTER_CHUNK, len(households))
            for index in range(first, last):
                household_id = households[index]
                meta = Cause(actor).meta(household_id=household_id)
                member = Member(name=f"测试{index}", id_number=id_number(index))
                batch.append(
                    Household(
                        household_id=household_id,
                        area_code=VILLAGE,
                        village_group="1",
                        poverty_status="formerly_poor",
                        left_poverty_year=2019,
                        member_count=1,
                        members=[member.model_dump()],
                        phone=None,
                        meta=meta,
                    )
                )
                batch.append(
                    PersonIndex(
                        pseudonym=pseudonym(member.id_number, settings.pseudonym_key),
                        household_id=household_id,
                        meta=meta,
                    )
                )
            app.save(*batch)
            saved[0] = last
    finally:
        app.close()


async def health(client: httpx.AsyncClient, urls: dict[str, str]) -> dict[str, Any]:
    answers = await asyncio.gather(
        *(client.get(f"{url}/health") for url in urls.values()),
        return_exceptions=True,
    )
    found: dict[str, Any] = {}
    for name, answer in zip(urls, answers, strict=True):
        if isinstance(answer, httpx.Response) and answer.status_code == 200:
            found[name] = answer.json()
    return found


async def consumers(js: JetStreamContext) -> list[Any]:
    """Every durable consumer on the server, whichever service made it."""
    found = []
    for stream in STREAM_SUBJECTS:
        with contextlib.suppress(NotFoundError):
            found += await js.consumers_info(stream)
    return found


def waiting(info: Any) -> int:
    return (info.num_pending or 0) + (info.num_ack_pending or 0)


def acked(infos: list[Any]) -> int:
    return sum(info.ack_floor.stream_seq for info in infos if info.ack_floor)


@dataclasses.dataclass
class Sampler:
    """Backlogs of the platform's consumers and of casework's queue view."""

    js: JetStreamContext
    conn: psycopg.AsyncConnection[Any]
    started: float
    backlog: dict[str, list[tuple[float, int]]] = dataclasses.field(
        default_factory=dict
    )
    acked: int = 0
    visible: int = 0

    async def sample(self) -> None:
        at = time.time() - self.started
        infos = await consumers(self.js)
        for info in infos:
            name = f"{info.name} ({info.stream_name})"
            self.backlog.setdefault(name, []).append((at, waiting(info)))
        self.acked = acked(infos)
        # Cases stored by casework but not yet in the officials' queue.
        async with self.conn.cursor() as curs:
            await curs.execute(
                f"SELECT (SELECT count(*) FROM {CASEWORK_EVENTS} WHERE topic = %s), "
                "(SELECT count(*) FROM casework_view.cases)",
                (CASE_OPENED,),
            )
            row = await curs.fetchone()
        assert row is not None
        self.visible = int(row[1])
        self.backlog.setdefault("casework queue view", []).append(
            (at, int(row[0]) - self.visible)
        )

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            with contextlib.suppress(Exception):
                await self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), SAMPLE_SECONDS)

    def summary(self) -> list[tuple[str, int, float]]:
        """Per consumer: its largest backlog and the last time it had one."""
        rows = []
        for name, samples in self.backlog.items():
            peak = max(count for _, count in samples)
            busy = [at for at, count in samples if count > 0]
            rows.append((name, peak, max(busy) if busy else 0.0))
        return rows


async def full_slice(
    data_dir: Path,
    nats_url: str,
    server_url: str,
    args: argparse.Namespace,
    stack: contextlib.ExitStack,
    servers: dict[str, int],
    result: dict[str, Any],
) -> None:
    """Fills ``result`` as it goes, so a stall still leaves the earlier figures."""
    database_url = create_database(server_url)
    settings = bench_settings(nats_url, database_url, args.batch_size)
    platform = Platform(
        data_dir / "platform",
        free_port_block(len(SERVICES)),
        env={**os.environ, **settings_env(settings)},
    )
    stack.callback(platform.stop)
    started = time.perf_counter()
    await asyncio.to_thread(platform.start)
    say(f"  five services healthy after {time.perf_counter() - started:.1f}s")

    nc = await nats.connect(nats_url)
    client = httpx.AsyncClient(timeout=10)
    try:
        js = nc.jetstream(timeout=30)
        # Registered while the services run, so intake's relay and the inboxes
        # downstream work alongside the writes.
        households = [uuid.uuid4() for _ in range(args.households)]
        saved = [0]
        started = time.perf_counter()
        storing = asyncio.create_task(
            asyncio.to_thread(register_households, settings, households, saved)
        )

        async def stored() -> tuple[int, int]:
            if storing.done():
                storing.result()  # raises what stopped the registration
                return args.households, 0
            return saved[0], 0

        try:
            await wait_for("storing households", stored, args.households, database_url)
        finally:
            await release(database_url, storing.done)
        registering = time.perf_counter() - started
        result["register_per_s"] = rate(args.households, registering)

        async def settled() -> tuple[int, int]:
            screened = (await health(client, platform.urls)).get("screening", {})
            infos = await consumers(js)
            done = screened.get("processed") or 0
            # Done only once every consumer on the server has caught up too.
            if any(waiting(info) for info in infos):
                done = min(done, args.households - 1)
            return done, acked(infos)

        await wait_for(
            "households downstream", settled, args.households, database_url, 0.1
        )
        seconds = time.perf_counter() - started
        result["settled_per_s"] = rate(args.households, seconds)
        say(
            f"  {args.households} households stored in {registering:.1f}s, "
            f"relayed and taken in by every consumer after {seconds:.1f}s"
        )
        # The machine may be busier now than at the start: measure the baselines
        # again, on the same servers, right before the phase they are set against.
        result["js"] = await raw_jetstream(js, args.events)
        result["pg"] = await asyncio.to_thread(
            raw_postgres, create_database(server_url), args.events
        )
        say(
            f"  baselines again: {result['js']['msgs_per_s']:,.0f} msg/s, "
            f"{result['pg']['batched_rows_per_s']:,.0f} rows/s, "
            f"{result['pg']['commits_per_s']:,.0f} commits/s"
        )
        before = await health(client, platform.urls)
        await department_records(
            js, platform, database_url, households[: args.events], servers, result
        )
        after = await health(client, platform.urls)
        result["processed"] = {
            name: after[name]["processed"] - before[name]["processed"]
            for name in after
            if name in before and after[name]["processed"] is not None
        }
        result["dead_lettered"] = sum(
            answer.get("dead_lettered") or 0 for answer in after.values()
        )
    finally:
        await client.aclose()
        await nc.drain()


async def department_records(
    js: JetStreamContext,
    platform: Platform,
    database_url: str,
    households: list[uuid.UUID],
    servers: dict[str, int],
    result: dict[str, Any],
) -> None:
    count = len(households)
    today = date.today().isoformat()
    sent: dict[uuid.UUID, float] = {}

    def publish(index: int) -> Callable[[], Awaitable[Any]]:
        record = json.dumps(
            {
                "record_id": f"BENCH-{index:07d}",
                "id_number": id_number(index),
                "occurred_on": today,
                "facts": {
                    "total_cost": 50000.0,
                    "reimbursed": 30000.0,
                    "out_of_pocket": OUT_OF_POCKET,
                },
            }
        ).encode()

        async def send() -> None:
            # Latency runs from the moment the department hands the record over.
            sent[households[index]] = time.time()
            await js.publish(
                DEPT_SUBJECT,
                record,
                headers={"Nats-Msg-Id": f"medical_insurance:BENCH-{index:07d}"},
            )

        return send

    pids = {name: process.pid for name, process in platform.processes.items()}
    pids["bench"] = os.getpid()
    pids["nats-server"] = servers["nats-server"]
    trees = {"postgres": servers["postgres"]}
    cpu_before = cpu_snapshot(pids, trees)

    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    tables_before = await table_activity(conn)
    stopping = asyncio.Event()
    sampling: asyncio.Task[None] | None = None
    first = time.time()
    try:
        sampler = Sampler(js, conn, first)
        sampling = asyncio.create_task(sampler.run(stopping))
        await pipelined(publish(i) for i in range(count))
        result["publish_per_s"] = rate(count, time.time() - first)

        async def progress() -> tuple[int, int]:
            return sampler.visible, sampler.acked

        await wait_for("full slice", progress, count, database_url, 0.1)
        async with conn.cursor() as curs:
            await curs.execute(
                "SELECT household_id, extract(epoch FROM projected_at)::float8 "
                "FROM casework_view.cases"
            )
            rows = await curs.fetchall()
    finally:
        wall = time.time() - first
        stopping.set()
        if sampling is not None:
            await sampling
            result["backlog"] = sampler.summary()
        cpu_after = cpu_snapshot(pids, trees)
        result["cpu"] = {
            name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after
        }
        result["wall"] = wall
        with contextlib.suppress(psycopg.Error):
            # Backends report their counts about once a second.
            await asyncio.sleep(1.5)
            tables_after = await table_activity(conn)
            result["tables"] = {
                schema: [
                    a - b
                    for a, b in zip(
                        after, tables_before.get(schema, [0, 0]), strict=True
                    )
                ]
                for schema, after in tables_after.items()
            }
        await conn.close()

    latencies = sorted(
        projected - sent[household]
        for household, projected in rows
        if household in sent
    )
    last = max(projected for _, projected in rows)
    result.update(
        records_per_s=rate(count, last - first),
        cases=len(rows),
        unmatched=sum(1 for household, _ in rows if household not in sent),
        p50=percentile(latencies, 0.50),
        p95=percentile(latencies, 0.95),
        p99=percentile(latencies, 0.99),
        max=latencies[-1],
    )


# --- running it all ------------------------------------------------------------------


async def run_all(
    args: argparse.Namespace,
    data_dir: Path,
    nats_server: EmbeddedNats,
    postgres: EmbeddedPostgres,
    stack: contextlib.ExitStack,
    results: dict[str, Any],
) -> None:
    asyncio.get_running_loop().set_default_executor(NoWaitExecutor())
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream(timeout=30)
        say(f"1. raw JetStream publish, {args.events} messages, windows of {WINDOW}")
        results["js"] = js_result = await raw_jetstream(js, args.events)
        say(f"  {js_result['msgs_per_s']:,.0f} msg/s ({js_result['size']:.0f} B each)")

        say(f"2. raw PostgreSQL, {args.events} rows in batches, {PG_SINGLE_ROWS} alone")
        results["pg"] = pg = await asyncio.to_thread(
            raw_postgres, create_database(postgres.url), args.events
        )
        say(
            f"  {pg['batched_rows_per_s']:,.0f} rows/s batched, "
            f"{pg['commits_per_s']:,.0f} commits/s single-row"
        )

        say(f"3. single hop: casework inbox, batches of {args.batch_size}")
        try:
            results["hop"] = hop = await single_hop(
                nc, nats_server.url, postgres.url, args.events, args.batch_size
            )
            say(f"  {hop['events_per_s']:,.0f} events/s, {hop['cases']} cases stored")
        except Stalled as error:
            results["errors"].append(str(error))
            say(f"  STALLED {error}")
        # The slice starts from empty streams: the reports above are not its input.
        for name in STREAM_SUBJECTS:
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(name)
    finally:
        await nc.drain()

    say(
        f"4. full slice: {args.households} households, {args.events} department "
        "records, five service processes"
    )
    servers = {
        "nats-server": nats_server.process.pid,
        "postgres": postgres.server.get_pid(),
    }
    results["slice"] = {}
    try:
        await full_slice(
            data_dir,
            nats_server.url,
            postgres.url,
            args,
            stack,
            servers,
            results["slice"],
        )
    except Stalled as error:
        results["errors"].append(str(error))
        say(f"  STALLED {error}")


def figure(value: float | None, unit: str, scale: float = 1.0) -> str:
    return "-" if value is None else f"{value * scale:,.0f} {unit}"


def ratio(value: float | None, base: float | None, label: str, digits: int = 2) -> str:
    if value is None or not base:
        return ""
    return f"{value / base:.{digits}f} × {label}"


def report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    js = results.get("js", {})
    pg = results.get("pg", {})
    hop = results.get("hop", {})
    cut = results.get("slice", {})
    raw = js.get("msgs_per_s")
    batched, commits = pg.get("batched_rows_per_s"), pg.get("commits_per_s")
    hop_rate, cut_rate = hop.get("events_per_s"), cut.get("records_per_s")
    raw_again = cut.get("js", {}).get("msgs_per_s")
    batched_again = cut.get("pg", {}).get("batched_rows_per_s")
    commits_again = cut.get("pg", {}).get("commits_per_s")

    if cut.get("cpu"):
        wall = cut["wall"]
        cores = os.cpu_count() or 1
        say()
        say("Full slice, department-record phase: backlogs (pending + unacked)")
        say(f"  {'consumer (stream)':<34}{'peak':>8}{'last non-zero at':>19}")
        for name, peak, busy in sorted(cut.get("backlog", []), key=lambda r: -r[2]):
            say(f"  {name:<34}{peak:>8,}{busy:>18.1f}s")
        say(f"  {'process':<34}{'CPU s':>8}{'of one core':>19}")
        for name, used in sorted(cut["cpu"].items(), key=lambda item: -item[1]):
            say(f"  {name:<34}{used:>8.1f}{used / wall:>19.0%}")
        total = sum(cut["cpu"].values())
        say(
            f"  {'all':<34}{total:>8.1f}{total / wall:>19.0%}"
            f"  = {total / (wall * cores):.0%} of {cores} cores over {wall:.1f}s"
        )
        if "processed" in cut:
            say(f"  inbox messages processed: {cut['processed']}")
        if cut.get("tables"):
            say("  PostgreSQL per department record, by schema (pg_stat_user_tables):")
            for schema, (scans, inserted) in sorted(cut["tables"].items()):
                say(
                    f"    {schema:<16}{scans / args.events:>7.1f} table reads"
                    f"{inserted / args.events:>7.1f} rows inserted"
                )

    target = ""
    if hop_rate and raw:
        met = "met" if hop_rate >= 0.8 * raw else "NOT met"
        target = f"  (target 0.80: {met})"
    checks = []
    if hop:
        ok = hop["cases"] == args.events and hop["case_households"] == args.events
        checks.append(
            (
                "  cases stored / expected",
                f"{hop['cases']} / {args.events}",
                "ok" if ok else "MISMATCH",
            )
        )
        found, chosen = hop["read_back"]
        checks.append(
            (
                "  read back through the app",
                f"{found} / {chosen}",
                "ok" if found == chosen else "MISSING",
            )
        )
    lines = [
        ("raw JetStream publish", figure(raw, "msg/s"), "baseline 1"),
        ("raw PG batched insert", figure(batched, "rows/s"), "baseline 2a"),
        ("raw PG single-row commit", figure(commits, "commits/s"), "baseline 2b"),
        (
            "single hop (casework inbox)",
            figure(hop_rate, "events/s"),
            ratio(hop_rate, raw, "1") + target,
        ),
        *checks,
        ("household registration", figure(cut.get("register_per_s"), "hh/s"), ""),
        (
            "registration, all consumers",
            figure(cut.get("settled_per_s"), "hh/s"),
            ratio(cut.get("settled_per_s"), raw, "1"),
        ),
        ("raw JetStream, before slice", figure(raw_again, "msg/s"), "baseline 1'"),
        (
            "raw PG batched, before slice",
            figure(batched_again, "rows/s"),
            "baseline 2a'",
        ),
        (
            "raw PG commits, before slice",
            figure(commits_again, "commits/s"),
            "baseline 2b'",
        ),
        ("dept records published", figure(cut.get("publish_per_s"), "msg/s"), ""),
        (
            "full slice end to end",
            figure(cut_rate, "records/s"),
            ", ".join(
                part
                for part in (
                    ratio(cut_rate, raw_again, "1'", 3),
                    ratio(cut_rate, batched_again, "2a'", 4),
                    ratio(cut_rate, commits_again, "2b'", 3),
                )
                if part
            ),
        ),
    ]
    if "cases" in cut:
        ok = cut["cases"] == args.events and not cut["unmatched"]
        lines += [
            (
                "  cases visible / expected",
                f"{cut['cases']} / {args.events}",
                "ok" if ok else "MISMATCH",
            ),
            ("  latency p50", figure(cut["p50"], "ms", 1000), ""),
            ("  latency p95", figure(cut["p95"], "ms", 1000), ""),
            ("  latency p99", figure(cut["p99"], "ms", 1000), ""),
            ("  latency max", figure(cut["max"], "ms", 1000), ""),
        ]
    if "dead_lettered" in cut:
        lines.append(("  dead-lettered, all services", str(cut["dead_lettered"]), ""))
    say()
    say(f"Summary (batches of {args.batch_size}, windows of {WINDOW})")
    for name, value, note in lines:
        say(f"  {name:<30}{value:>20}   {note}".rstrip())
    for error in results["errors"]:
        say(f"  STALLED {error}")
    say()
    say(f"command: {shlex.join(sys.orig_argv)}")
    load = " ".join(f"{x:.2f}" for x in results["load"])
    say(f"machine: {os.cpu_count()} cores, load average at start {load}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--households", type=int, default=None)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=Settings().batch_size,
        help="inbox batch of the single hop and of the services (FANGPIN_BATCH_SIZE)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    args = parser.parse_args(argv)
    args.households = args.households or args.events
    if args.households < args.events:
        parser.error("--households must be at least --events: one record each")

    signal.signal(signal.SIGTERM, interrupted)
    data_dir = Path(tempfile.mkdtemp(prefix="fangpin-bench-"))
    results: dict[str, Any] = {"errors": [], "load": os.getloadavg()}
    failed = True
    try:
        with contextlib.ExitStack() as stack:
            nats_server = start_nats(data_dir / "nats", secrets.token_hex(32))
            stack.callback(nats_server.stop)
            postgres = start_postgres(data_dir)
            stack.callback(postgres.stop)
            say(f"servers up in {data_dir}")
            # Closing the stack stops the services first, then the servers.
            asyncio.run(run_all(args, data_dir, nats_server, postgres, stack, results))
            failed = bool(results["errors"])
    except BaseException:
        traceback.print_exc()
    finally:
        report(args, results)
        if failed or args.keep:
            say(f"data and service logs kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    code = 1 if failed else 0
    if stuck_threads():
        # Still blocked in the driver: the interpreter would wait for it forever.
        say("a worker thread is still stuck; leaving without waiting for it")
        sys.stdout.flush()
        os._exit(code)
    return code


def stuck_threads(grace: float = 5.0) -> list[threading.Thread]:
    deadline = time.monotonic() + grace
    others = [
        thread
        for thread in threading.enumerate()
        if thread is not threading.main_thread() and not thread.daemon
    ]
    for thread in others:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [thread for thread in others if thread.is_alive()]


if __name__ == "__main__":
    sys.exit(main())
