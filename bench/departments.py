"""Department records from publish to flag: how fast hospital settlements become
risk flags, through intake and screening, next to the raw speed of JetStream.

    .venv/bin/python bench/departments.py [--households 4000] [--records 3000]
        [--paced 300] [--pace RECORDS_PER_S] [--keep]

One embedded NATS and one embedded PostgreSQL are started in a temporary folder;
intake and screening run as separate processes, as ``fangpin run`` starts them
(the other services are left out: they do not stand between a record and its
flag, and on a small machine they would only take CPU from the two that do).

1. set-up: ``--households`` formerly poor households of two members, with last
   year's income above the lines, spread over the demo district's villages, are
   saved through intake's registry batch (the path a registry import takes)
   while the services run; the bench waits until intake's relay has published
   them and screening has taken every one in;
2. raw JetStream: ``--records`` record-sized messages published durably to a
   scratch stream set up like DEPT, with ``Nats-Msg-Id``, a window at a time:
   the baseline;
3. records: ``--records`` hospital settlements (out of pocket 20,000 yuan, above
   the medical-cost indicators' lines), one per household, matched by the
   head's ID number, published to ``dept.medical_insurance.hospital_settlement``
   with ``Nats-Msg-Id`` as a department's feed does, a window at a time. Intake
   matches each to its household and publishes it on; screening screens the
   household and flags it; its relay puts the flag on the SCREENING stream. A
   flag counts when it carries a medical-cost hit for one of these households.
   Latency runs from the moment a record is handed to NATS to the flag's
   timestamp in the SCREENING stream; records/s is the record count over the
   time from the first publish to the last flag. With the whole batch sent at
   once, most of each record's latency is waiting behind the others;
4. paced: ``--paced`` more records, to households not used yet, sent one at a
   time at ``--pace`` a second (by default half the rate step 3 reached): the
   latency of a busy pipeline that keeps up, measured as in step 3.

The machine may be shared: absolute figures drift from run to run, the ratio to
the baseline measured in the same run is what to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import nats
from benchkit import WINDOW, interrupted, percentile, pipelined, rate, say
from eventsourcing.cryptography import AESCipher
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError

from fangpin.areas import (
    DEMO_VILLAGES,
    county_today,  # noqa: E402
)
from fangpin.auth import Principal
from fangpin.cli import Platform
from fangpin.contracts import PovertyStatus, Role
from fangpin.embedded import start_nats, start_postgres
from fangpin.idnumber import make_id_number
from fangpin.settings import Settings
from fangpin.streams import stream_config
from intake.application import HouseholdIn, IncomeIn, IntakeApplication, Member
from intake.domain import PersonIndex, person_index_id
from intake.registry import Relation

# The test helpers live beside the services, not in an installed package.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import create_database, free_port_block  # noqa: E402

RUNNING = ["intake", "screening"]
REGISTER_CHUNK = 250  # households per registry batch, as an import saves them
VILLAGES = sorted(DEMO_VILLAGES)
DEPT_SUBJECT = "dept.medical_insurance.hospital_settlement"
OUT_OF_POCKET = 20000.0
MEDICAL_CODES = ("R-MED-01", "R-MED-02")
STALL_SECONDS = 60.0
DISTRICT = Principal(user_id="bench", role=Role.DISTRICT, area_code="510904")


class Stalled(RuntimeError):
    pass


async def progress_until(
    what: str,
    progress: Callable[[], Awaitable[tuple[int, Any]]],
    target: int,
    interval: float = 0.1,
) -> None:
    """Poll until done >= target; give up when nothing moves for a while.

    ``progress`` returns (done, activity): activity is anything that changes
    while the work goes on upstream, so a long first stage is not a stall.
    """
    last: tuple[int, Any] | None = None
    last_move = time.perf_counter()
    while True:
        current = await progress()
        if current[0] >= target:
            return
        now = time.perf_counter()
        if current != last:
            last, last_move = current, now
        elif now - last_move > STALL_SECONDS:
            raise Stalled(
                f"{what}: {current[0]:,} of {target:,}, nothing moved for "
                f"{STALL_SECONDS:.0f} s"
            )
        await asyncio.sleep(interval)


# --- the county -------------------------------------------------------------------


def id_number(person: int) -> str:
    # make_id_number keeps three serial digits: every thousand people, the birth
    # day moves on by one.
    born = date(1975, 1, 1) + timedelta(days=person // 1000)
    return make_id_number("510904", born, person)


def household_form(index: int) -> HouseholdIn:
    """Two members, formerly poor, with last year's income well above the lines."""
    return HouseholdIn(
        area_code=VILLAGES[index % len(VILLAGES)],
        village_group=str(1 + index % 4),
        poverty_status=PovertyStatus.FORMERLY_POOR,
        left_poverty_year=2019,
        members=[
            Member(name=f"测试{index}", id_number=id_number(2 * index)),
            Member(
                name=f"测试{index}乙",
                id_number=id_number(2 * index + 1),
                relation=Relation.SPOUSE,
            ),
        ],
        incomes=[
            IncomeIn(
                year=county_today().year - 1,
                per_capita_net_income=Decimal("15000"),
            )
        ],
    )


def register(settings: Settings, count: int, saved: list[int]) -> None:
    """Through intake's registry batch; ``saved[0]`` counts the households stored."""
    app = IntakeApplication(settings, pseudonym_key=settings.pseudonym_key)
    try:
        for first in range(0, count, REGISTER_CHUNK):
            batch = [
                household_form(index).data()
                for index in range(first, min(count, first + REGISTER_CHUNK))
            ]
            results = app.save_households(batch, DISTRICT)
            refused = [r for r in results if r.outcome != "registered"]
            if refused:
                raise RuntimeError(f"{len(refused)} households were not registered")
            saved[0] = first + len(batch)
    finally:
        app.close()


def record(index: int, household: int) -> bytes:
    return json.dumps(
        {
            "record_id": f"BENCH-{index:07d}",
            "id_number": id_number(2 * household),
            # Yesterday: a settlement is sent after discharge, and a record dated
            # ahead of screening's own calendar day would not count yet.
            "occurred_on": (county_today() - timedelta(days=1)).isoformat(),
            "facts": {
                "total_cost": 50000.0,
                "reimbursed": 30000.0,
                "out_of_pocket": OUT_OF_POCKET,
                "inpatient_days": 12,
            },
        }
    ).encode()


# --- the services -----------------------------------------------------------------


def service_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "NATS_URL": settings.nats_url,
        "DATABASE_URL": settings.database_url,
        "FANGPIN_CIPHER_KEY": settings.cipher_key,
        "FANGPIN_JWT_SECRET": settings.jwt_secret,
        "FANGPIN_PSEUDONYM_KEY": settings.pseudonym_key,
        "FANGPIN_BATCH_SIZE": str(settings.batch_size),
    }


def start_services(folder: Path, settings: Settings) -> Platform:
    """Intake and screening as their own processes, as ``fangpin run`` starts
    them; the caller stops them."""
    platform = Platform(
        folder, free_port_block(len(RUNNING)), env=service_env(settings)
    )
    platform.env = platform.environment()
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    for name in RUNNING:
        platform.start_service(name)
    platform.wait_until_healthy({name: platform.urls[name] for name in RUNNING})
    return platform


async def health(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await client.get(f"{url}/health")
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


# --- 1. households ---------------------------------------------------------------


async def households(
    settings: Settings, platform: Platform, js: JetStreamContext, count: int
) -> dict[str, float]:
    saved = [0]
    began = time.perf_counter()
    storing = asyncio.create_task(asyncio.to_thread(register, settings, count, saved))

    async def stored() -> tuple[int, int]:
        if storing.done():
            storing.result()  # raises what stopped the registration
            return count, count
        return saved[0], saved[0]

    await progress_until("registering households", stored, count)
    registering = time.perf_counter() - began
    intake = platform.urls["intake"]
    screening = platform.urls["screening"]
    latest = await asyncio.to_thread(last_notification, settings)

    async with httpx.AsyncClient(timeout=10) as client:

        async def taken_in() -> tuple[int, Any]:
            relayed = (await health(client, intake))["relay_position"] or 0
            processed = (await health(client, screening))["processed"] or 0
            try:
                info = await js.consumer_info("INTAKE", "screening-intake")
                waiting = (info.num_pending or 0) + (info.num_ack_pending or 0)
            except NotFoundError:
                waiting = 1  # screening has not made its consumer yet
            done = relayed >= latest and waiting == 0
            return (1 if done else 0), (relayed, processed)

        await progress_until("households through screening", taken_in, 1)
    return {
        "register_per_s": rate(count, registering),
        "settled_per_s": rate(count, time.perf_counter() - began),
    }


def last_notification(settings: Settings) -> int:
    app = IntakeApplication(settings, pseudonym_key=settings.pseudonym_key)
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()


# --- 2. raw JetStream ------------------------------------------------------------


async def raw_jetstream(js: JetStreamContext, count: int) -> dict[str, float]:
    """Durable publishes of record-sized bodies to a scratch stream set up like
    DEPT; the department feed sets a Nats-Msg-Id, so these do too."""
    config = dataclasses.replace(
        stream_config("DEPT", 1), name="BENCH", subjects=["bench.>"]
    )
    await js.add_stream(config)
    bodies = [record(index, index) for index in range(count)]

    def publish(index: int) -> Callable[[], Awaitable[Any]]:
        return lambda: js.publish(
            "bench.raw", bodies[index], headers={"Nats-Msg-Id": f"bench-{index}"}
        )

    # An untimed window first: a fresh stream's first writes create its files.
    await pipelined(lambda: js.publish("bench.warm", b"{}") for _ in range(WINDOW))
    began = time.perf_counter()
    await pipelined(publish(index) for index in range(count))
    seconds = time.perf_counter() - began
    await js.delete_stream("BENCH")
    size = sum(len(body) for body in bodies) / max(1, count)
    return {"per_s": rate(count, seconds), "size": size}


# --- 3. records to flags ----------------------------------------------------------


@dataclasses.dataclass
class Flags:
    """Medical-cost flags as they reach the SCREENING stream, by household."""

    at: dict[UUID, float] = dataclasses.field(default_factory=dict)
    others: int = 0

    async def take(self, msg: Msg) -> None:
        document = json.loads(msg.data)
        codes = {hit["code"] for hit in document["data"]["hits"]}
        if codes.intersection(MEDICAL_CODES):
            household = UUID(document["household_id"])
            stored = msg.metadata.timestamp.timestamp()
            self.at.setdefault(household, stored)
        else:
            self.others += 1


async def records(
    settings: Settings,
    js: JetStreamContext,
    chosen: list[int],
    first_record: int,
    interval: float | None = None,
) -> dict[str, Any]:
    """One record for each chosen household, a window at a time, or one every
    ``interval`` seconds; returns the rate and latencies up to the flags."""
    count = len(chosen)
    # The bench knows each household's id from its registration.
    app = IntakeApplication(settings, pseudonym_key=settings.pseudonym_key)
    try:
        numbers = [id_number(2 * household) for household in chosen]
        ids = await asyncio.to_thread(household_ids, app, numbers)
    finally:
        app.close()
    sent: dict[UUID, float] = {}

    def publish(position: int) -> Callable[[], Awaitable[Any]]:
        household = ids[id_number(2 * chosen[position])]
        index = first_record + position
        body = record(index, chosen[position])

        async def send() -> None:
            # Latency runs from the moment the department hands the record over.
            sent[household] = time.time()
            await js.publish(
                DEPT_SUBJECT,
                body,
                headers={"Nats-Msg-Id": f"medical_insurance:BENCH-{index:07d}"},
            )

        return send

    flags = Flags()
    subscription = await js.subscribe(
        "screening.risk.flagged",
        cb=flags.take,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.NEW,
    )
    try:
        first = time.time()
        if interval is None:
            await pipelined(publish(position) for position in range(count))
        else:
            for position in range(count):
                await publish(position)()
                await asyncio.sleep(
                    max(0.0, first + interval * (position + 1) - time.time())
                )
        published = time.time() - first

        async def flagged() -> tuple[int, int]:
            matched = sum(1 for household in flags.at if household in sent)
            info = await js.consumer_info("DEPT", "intake-dept")
            return matched, info.ack_floor.stream_seq if info.ack_floor else 0

        await progress_until("records to flags", flagged, count)
    finally:
        await subscription.unsubscribe()
    latencies = sorted(flags.at[h] - sent[h] for h in sent if h in flags.at)
    last = max(flags.at[h] for h in sent)
    return {
        "publish_per_s": rate(count, published),
        "records_per_s": rate(count, last - first),
        "seconds": last - first,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "max": latencies[-1],
        "other_flags": flags.others,
    }


def household_ids(app: IntakeApplication, numbers: list[str]) -> dict[str, UUID]:
    """Each head's household, found as intake finds it: by the person index."""
    people = app.load_many(
        [person_index_id(app.pseudonym(number)) for number in numbers], PersonIndex
    )
    found = {}
    for number in numbers:
        index = people[person_index_id(app.pseudonym(number))]
        assert index.household_id is not None
        found[number] = index.household_id
    return found


# --- running it -------------------------------------------------------------------


async def run(
    args: argparse.Namespace,
    settings: Settings,
    platform: Platform,
    results: dict[str, Any],
) -> None:
    """Fills ``results`` as it goes, so a stall still leaves the earlier figures."""
    connection = await nats.connect(settings.nats_url)
    try:
        js = connection.jetstream(timeout=60)
        say()
        say(f"1. register {args.households:,} households while the services run")
        results["households"] = done = await households(
            settings, platform, js, args.households
        )
        say(
            f"  stored at {done['register_per_s']:,.0f} households/s; through "
            f"screening at {done['settled_per_s']:,.0f} households/s"
        )

        say()
        say(f"2. raw JetStream publish, {args.records:,} record-sized messages")
        results["raw"] = raw = await raw_jetstream(js, args.records)
        say(f"  {raw['per_s']:,.0f} msg/s ({raw['size']:.0f} B each)")

        say()
        say(f"3. {args.records:,} hospital settlements published, until flagged")
        results["records"] = found = await records(
            settings, js, list(range(args.records)), 0
        )
        say(
            f"  published at {found['publish_per_s']:,.0f} msg/s; all flagged "
            f"after {found['seconds']:.1f} s"
        )

        pace = args.pace or found["records_per_s"] / 2
        say()
        say(f"4. {args.paced:,} more, one at a time, {pace:,.0f} a second")
        chosen = list(range(args.records, args.records + args.paced))
        results["paced"] = paced = await records(
            settings, js, chosen, args.records, interval=1 / pace
        )
        results["pace"] = pace
        say(f"  all flagged after {paced['seconds']:.1f} s")
    finally:
        await connection.drain()


def latencies(found: dict[str, Any]) -> None:
    say(f"  {'  latency p50':<32}{found['p50'] * 1000:>14,.0f} ms")
    say(f"  {'  latency p99':<32}{found['p99'] * 1000:>14,.0f} ms")
    say(f"  {'  latency max':<32}{found['max'] * 1000:>14,.0f} ms")
    say(f"  {'  other flags seen meanwhile':<32}{found['other_flags']:>14,}")


def report(results: dict[str, Any]) -> None:
    raw = results.get("raw", {}).get("per_s")
    found = results.get("records", {})
    paced = results.get("paced", {})
    say()
    say(f"Summary ({os.cpu_count()} cores)")
    if raw:
        say(f"  {'raw JetStream publish':<32}{raw:>14,.0f} msg/s      baseline A")
    if raw and found:
        records_per_s = found["records_per_s"]
        say(
            f"  {'records, publish to flag':<32}{records_per_s:>14,.0f} records/s  "
            f"{records_per_s / raw:.3f} × A"
        )
        latencies(found)
    if paced:
        say(f"  {'paced, publish to flag':<32}{results['pace']:>14,.0f} records/s sent")
        latencies(paced)
    say()
    say(f"command: {shlex.join(sys.orig_argv)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--households", type=int, default=4000)
    parser.add_argument(
        "--records", type=int, default=3000, help="one per household at most"
    )
    parser.add_argument(
        "--paced", type=int, default=300, help="records sent one at a time after"
    )
    parser.add_argument(
        "--pace",
        type=float,
        default=None,
        help="records a second when paced (default: half the rate of step 3)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    args = parser.parse_args(argv)
    if args.records + args.paced > args.households:
        parser.error("--records and --paced take one household each")
    signal.signal(signal.SIGTERM, interrupted)

    folder = Path(tempfile.mkdtemp(prefix="fangpin-bench-departments-"))
    say(f"Department records benchmark in {folder}")
    say(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results: dict[str, Any] = {}
    failed = True
    try:
        with contextlib.ExitStack() as stack:
            postgres = start_postgres(folder)
            stack.callback(postgres.stop)
            nats_server = start_nats(folder / "nats", secrets.token_hex(32))
            stack.callback(nats_server.stop)
            settings = Settings(
                NATS_URL=nats_server.url,
                DATABASE_URL=create_database(postgres.url),
                FANGPIN_CIPHER_KEY=AESCipher.create_key(num_bytes=32),
                FANGPIN_JWT_SECRET=secrets.token_urlsafe(32),
                FANGPIN_PSEUDONYM_KEY=secrets.token_urlsafe(32),
            )
            began = time.perf_counter()
            platform = start_services(folder / "platform", settings)
            stack.callback(platform.stop)
            started = time.perf_counter() - began
            say(f"intake and screening healthy after {started:.1f} s")
            asyncio.run(run(args, settings, platform, results))
            failed = False
    except Stalled as error:
        say(f"STALLED {error}")
    finally:
        report(results)
        if failed or args.keep:
            say(f"data and service logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    say(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
