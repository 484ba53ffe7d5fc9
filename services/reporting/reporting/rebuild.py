"""Rebuild reporting's tables from the start of every stream while the old tables
keep serving, then swap them in.

    fangpin-reporting rebuild             build, swap, replay the tail
    fangpin-reporting rebuild --check     build beside the live tables and compare
    python -m reporting.rebuild [--check]

1. A fresh schema is filled by reading the four streams from their first message
   with ephemeral consumers (no acks, nothing left behind on the server), up to
   the last message each held when the rebuild began.
2. In one transaction, holding the lock the live consumers take for each batch,
   the live schema is renamed away, the fresh one takes its name and the old one
   is dropped. Queries name tables by schema, so the service reads and writes the
   new tables from its next statement on.
3. The messages that arrived during the build are read and applied to the new
   tables. The live consumers may apply some of them too: tracking records make
   the second application a no-op.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from psycopg import sql

from fangpin.contracts import ContractError
from fangpin.eventstore import setup_lock
from fangpin.inbox import Incoming, Rejected, parse_event
from fangpin.projection import Pool, connect_pool
from fangpin.settings import Settings, get_settings
from reporting.views import ReportingView

logger = logging.getLogger(__name__)

UPSTREAM = {
    "INTAKE": "intake.>",
    "SCREENING": "screening.>",
    "CASEWORK": "casework.>",
    "ASSISTANCE": "assistance.>",
}
# Compared after a rebuild (``meta`` holds the tables' generation, new each time).
TABLES = (
    "tracking",
    "events",
    "causes",
    "households",
    "cases",
    "area_figures",
    "month_figures",
)
FETCH_TIMEOUT = 5.0


@dataclass
class Replay:
    """How far one stream was read, and what came of it."""

    position: int = 0
    applied: int = 0
    unreadable: int = 0
    failed: int = 0


@dataclass
class RebuildReport:
    schema: str
    streams: dict[str, Replay] = field(default_factory=dict)
    build_seconds: float = 0.0
    swap_seconds: float = 0.0
    tail_seconds: float = 0.0
    swapped: bool = False
    differences: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def messages(self) -> int:
        return sum(replay.applied for replay in self.streams.values())

    def lines(self) -> list[str]:
        found = [f"schema {self.schema}: {self.messages} messages"]
        for stream, replay in self.streams.items():
            found.append(
                f"  {stream:<11} up to {replay.position}: {replay.applied} applied, "
                f"{replay.unreadable} unreadable, {replay.failed} failed"
            )
        found.append(f"  build {self.build_seconds:.1f} s")
        if self.swapped:
            found.append(
                f"  swap {self.swap_seconds:.3f} s, tail {self.tail_seconds:.1f} s"
            )
        for table, (live_only, rebuilt_only) in self.differences.items():
            found.append(
                f"  {table}: {live_only} rows only live, {rebuilt_only} only rebuilt"
            )
        return found


def apply_batch(view: ReportingView, messages: list[Incoming], replay: Replay) -> None:
    """Apply a batch; if it fails, one message at a time, so one message that
    cannot be applied (the live inbox parked it too) does not stop the rebuild."""
    try:
        view.process(messages)
        replay.applied += len(messages)
        return
    except Exception:
        logger.warning(
            "a batch failed; applying its %d messages one by one", len(messages)
        )
    for message in messages:
        try:
            view.process([message])
            replay.applied += 1
        except Exception as error:
            replay.failed += 1
            logger.warning(
                "message %s/%s not applied (%s)",
                message.key[0],
                message.key[1],
                type(error).__name__,
            )


async def replay_stream(
    js: JetStreamContext,
    stream: str,
    subject: str,
    replay: Replay,
    apply: Callable[[list[Incoming]], None],
    batch_size: int,
) -> None:
    """Read a stream after ``replay.position`` up to its last message now."""
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return
    last = info.state.last_seq
    if last <= replay.position:
        return
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE
        if replay.position
        else DeliverPolicy.ALL,
        opt_start_seq=replay.position + 1 if replay.position else None,
        ack_policy=AckPolicy.NONE,
        filter_subject=subject,
        inactive_threshold=120.0,
        mem_storage=True,
        num_replicas=1,
    )
    pull = await js.pull_subscribe(subject, stream=stream, config=config)
    applying: asyncio.Task[None] | None = None
    try:
        while replay.position < last:
            try:
                batch = await pull.fetch(batch_size, timeout=FETCH_TIMEOUT)
            except TimeoutError:
                # Nothing more for this filter although the stream's last
                # message lies further on: it was not ours to read.
                break
            parsed = []
            for msg in batch:
                replay.position = msg.metadata.sequence.stream
                try:
                    parsed.append(parse_event(msg))
                except (ContractError, Rejected):
                    replay.unreadable += 1
            # The next fetch overlaps with applying this batch.
            if applying is not None:
                await applying
            applying = asyncio.create_task(
                asyncio.to_thread(apply, parsed) if parsed else _nothing()
            )
            if batch and batch[-1].metadata.num_pending == 0:
                break
        if applying is not None:
            await applying
    finally:
        await pull.unsubscribe()


async def _nothing() -> None:
    return None


def drop_schema(pool: Pool, schema: str) -> None:
    with pool.connection() as conn:
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(sql.Identifier(schema))
        )


def swap(pool: Pool, live: str, fresh: str) -> None:
    """Put the fresh schema in the live one's place, between two live batches."""
    retired = f"{live}_retired"
    with pool.connection() as conn, conn.transaction(), conn.cursor() as curs:
        curs.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))",
            (f"fangpin-reporting-apply-{live}",),
        )
        curs.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(sql.Identifier(retired))
        )
        curs.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (live,))
        if curs.fetchone() is not None:
            curs.execute(
                sql.SQL("ALTER SCHEMA {0} RENAME TO {1}").format(
                    sql.Identifier(live), sql.Identifier(retired)
                )
            )
        curs.execute(
            sql.SQL("ALTER SCHEMA {0} RENAME TO {1}").format(
                sql.Identifier(fresh), sql.Identifier(live)
            )
        )
        # Dropping the old tables also makes every prepared statement that named
        # them plan again, against the new ones.
        curs.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(sql.Identifier(retired))
        )


def compare(pool: Pool, left: str, right: str) -> dict[str, tuple[int, int]]:
    """Rows each table has in one schema and not the other (none when equal)."""
    found = {}
    with pool.connection() as conn, conn.cursor() as curs:
        for table in TABLES:
            counts = []
            for first, second in ((left, right), (right, left)):
                curs.execute(
                    sql.SQL(
                        "SELECT count(*) AS n FROM "
                        "(SELECT * FROM {0}.{2} EXCEPT ALL SELECT * FROM {1}.{2}) d"
                    ).format(
                        sql.Identifier(first),
                        sql.Identifier(second),
                        sql.Identifier(table),
                    )
                )
                row = curs.fetchone()
                assert row is not None
                counts.append(int(row["n"]))
            if any(counts):
                found[table] = (counts[0], counts[1])
    return found


async def rebuild(
    settings: Settings,
    schema: str = "reporting",
    check: bool = False,
    batch_size: int = 2000,
    pool: Pool | None = None,
    only_if_outdated: bool = False,
) -> RebuildReport:
    """Rebuild ``schema`` from the streams (``check``: build beside it, compare,
    and leave the live tables as they are; ``only_if_outdated``: unless another
    replica brought them up to date while this one waited its turn)."""
    own_pool = pool is None
    pool = pool or connect_pool(settings.database_url, size=3)
    report = RebuildReport(schema, {stream: Replay() for stream in UPSTREAM})
    try:
        # One rebuild of a schema at a time: they would share the fresh schema.
        with setup_lock(settings.database_url, f"fangpin-reporting-rebuild-{schema}"):
            if only_if_outdated and ReportingView(pool, schema).layout_is_current():
                return report
            await _rebuild(settings, schema, check, batch_size, pool, report)
        return report
    finally:
        if own_pool:
            pool.close()


async def _rebuild(
    settings: Settings,
    schema: str,
    check: bool,
    batch_size: int,
    pool: Pool,
    report: RebuildReport,
) -> None:
    fresh = f"{schema}_rebuild"
    nc = await nats.connect(settings.nats_url, name="reporting-rebuild")
    try:
        js = nc.jetstream(timeout=30)
        drop_schema(pool, fresh)
        view = ReportingView(pool, fresh)
        view.setup()

        started = time.monotonic()
        for stream, subject in UPSTREAM.items():
            replay = report.streams[stream]
            await replay_stream(
                js,
                stream,
                subject,
                replay,
                lambda batch, r=replay: apply_batch(view, batch, r),  # type: ignore[misc]
                batch_size,
            )
            logger.info("rebuild: %s read up to %d", stream, replay.position)
        report.build_seconds = time.monotonic() - started

        if check:
            report.differences = compare(pool, schema, fresh)
            drop_schema(pool, fresh)
            return

        started = time.monotonic()
        swap(pool, schema, fresh)
        report.swap_seconds = time.monotonic() - started
        report.swapped = True

        started = time.monotonic()
        live = ReportingView(pool, schema)
        for stream, subject in UPSTREAM.items():
            replay = report.streams[stream]
            await replay_stream(
                js,
                stream,
                subject,
                replay,
                lambda batch, r=replay: apply_batch(live, batch, r),  # type: ignore[misc]
                batch_size,
            )
        report.tail_seconds = time.monotonic() - started
    finally:
        await nc.drain()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fangpin-reporting rebuild",
        description="Rebuild reporting's tables from the streams while they serve.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check",
        action="store_true",
        help="build beside the live tables, report any difference, swap nothing",
    )
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--schema", default="reporting")


def run(args: Any) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    report = asyncio.run(
        rebuild(
            get_settings(),
            schema=args.schema,
            check=args.check,
            batch_size=args.batch_size,
        )
    )
    for line in report.lines():
        print(line)
    return 1 if report.differences else 0


if __name__ == "__main__":
    sys.exit(main())
