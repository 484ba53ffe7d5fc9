"""How fast screening re-screens a county, on a fresh embedded PostgreSQL.

    .venv/bin/python bench/rescreen.py [--households N] [--page 1000] [--keep]

1. load: N households go through screening's inbox handler in batches of 500, as
   intake's events would arrive: registration with registry facts, one or two
   years of income, and for some a department record or a grid report;
2. re-screen, nothing changed: every profile read a page at a time and screened
   against the catalogue in force (the pass after an income survey), first in one
   process, then on worker processes as the service runs it;
3. back-test a draft over the stored history;
4. re-screen after publishing that draft (the income lines move up), where many
   households gain or lose a flag and the changes are written.

Events are stored compressed and encrypted, as in production. Each rate is
extrapolated to a county of 300,000 households, from the wall time and, because
the machine may be shared, from the CPU time the phase used (PostgreSQL's own
processes not counted) with every core free.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from eventsourcing.cryptography import AESCipher

from fangpin.auth import Principal
from fangpin.contracts import (
    Actor,
    Contract,
    DepartmentRecordReceived,
    Envelope,
    HouseholdRegistered,
    IncomeRecorded,
    PovertyStatus,
    ProblemReported,
    Role,
)
from fangpin.embedded import start_postgres
from fangpin.inbox import Incoming
from fangpin.settings import Settings
from screening.application import ScreeningApplication
from screening.workers import run_rescreen

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import create_database  # noqa: E402

COUNTY = 300_000
BATCH = 500
VILLAGES = [
    f"510904{town:03d}{village:03d}"
    for town in range(101, 111)
    for village in range(201, 221)
]
DISTRICT = Principal(user_id="district01", role=Role.DISTRICT, area_code="510904")
ACTOR = Actor(user_id="intake", role=Role.SYSTEM, area_code="510904")
GRID = Actor(user_id="grid01", role=Role.GRID_MONITOR, area_code="510904")


def envelope(data: Contract, actor: Actor = ACTOR) -> Envelope:
    return Envelope(
        event_id=uuid.uuid4(),
        type=type(data).__name__,
        occurred_at=datetime.now(UTC),
        producer="intake",
        actor=actor,
        household_id=getattr(data, "household_id", None),
        correlation_id=uuid.uuid4(),
        data={},
    )


def household_events(rng: random.Random, today: date) -> list[tuple[Contract, Actor]]:
    """One household's history as intake would publish it."""
    household_id = uuid.UUID(int=rng.getrandbits(128))
    village = rng.choice(VILLAGES)
    members = rng.randint(1, 6)
    elderly = sum(rng.random() < 0.12 for _ in range(members))
    labour = max(0, members - elderly - rng.randint(0, 2))
    status = (
        PovertyStatus.FORMERLY_POOR if rng.random() < 0.6 else PovertyStatus.NEVER_POOR
    )
    facts: dict[str, float | int | bool | str] = {
        "member_count": members,
        "labour_capable_count": labour,
        "no_labour_capacity": labour == 0,
        "severe_disability_count": int(rng.random() < 0.04),
        "disabled_count": int(rng.random() < 0.08),
        "chronic_illness_count": int(rng.random() < 0.2),
        "serious_illness_count": int(rng.random() < 0.03),
        "elderly_count": elderly,
        "all_elderly": elderly == members,
        "compulsory_age_children": rng.randint(0, 2),
        "students_non_compulsory": rng.randint(0, 2),
        "housing_rating": rng.choices("ABCD", weights=[70, 27, 2, 1])[0],
        "drinking_water_ok": rng.random() > 0.01,
    }
    events: list[tuple[Contract, Actor]] = [
        (
            HouseholdRegistered(
                household_id=household_id,
                area_code=village,
                village_group=str(rng.randint(1, 8)),
                poverty_status=status,
                left_poverty_year=2019
                if status is PovertyStatus.FORMERLY_POOR
                else None,
                member_count=members,
                facts=facts,
            ),
            ACTOR,
        )
    ]
    base = rng.lognormvariate(9.6, 0.35)
    shares = [rng.random() for _ in range(6)]
    for year in (2024, 2025) if rng.random() < 0.5 else (2025,):
        per_capita = round(base * rng.uniform(0.9, 1.1), 2)
        total = per_capita * members
        sources = {
            name: round(total * share / sum(shares), 2)
            for name, share in zip(
                [
                    "land_rent",
                    "dividends",
                    "own_industry",
                    "wages",
                    "policy_bonus",
                    "transfers",
                ],
                shares,
                strict=True,
            )
        }
        events.append(
            (
                IncomeRecorded(
                    household_id=household_id,
                    area_code=village,
                    year=year,
                    per_capita_net_income=per_capita,
                    sources=sources,
                    recorded_on=date(year + 1, 1, 15),
                ),
                ACTOR,
            )
        )
    for kind, share, record_facts in (
        (
            "hospital_settlement",
            0.12,
            {
                "total_cost": 9000.0,
                "reimbursed": 6000.0,
                "out_of_pocket": round(rng.expovariate(1 / 6000), 2),
                "inpatient_days": rng.randint(0, 20),
            },
        ),
        ("disability_certification", 0.02, {"grade": rng.randint(1, 4)}),
        (
            "traffic_accident",
            0.01,
            {"severity": rng.choice(["injury", "disability", "death"])},
        ),
        ("allowance_granted", 0.03, {"scheme": "temporary_aid", "amount": 800.0}),
    ):
        if rng.random() < share:
            events.append(
                (
                    DepartmentRecordReceived(
                        record_id=f"{kind}-{uuid.uuid4().hex[:12]}",
                        department="bench",
                        kind=kind,
                        household_id=household_id,
                        area_code=village,
                        occurred_on=today,
                        facts=record_facts,
                    ),
                    ACTOR,
                )
            )
    if rng.random() < 0.02:
        events.append(
            (
                ProblemReported(
                    report_id=uuid.uuid4(),
                    household_id=household_id,
                    area_code=village,
                    village_group="1",
                    category=rng.choice(["illness", "housing", "income_drop"]),
                    observed_on=today,
                ),
                GRID,
            )
        )
    return events


def load(app: ScreeningApplication, households: int, seed: int) -> tuple[int, float]:
    """Feed the households through the inbox handler; returns messages and seconds."""
    rng = random.Random(seed)
    today = app.today()
    pending: list[Incoming] = []
    number = 0
    started = time.perf_counter()
    for index in range(households):
        # Registrations come first for every household of a batch, as intake
        # publishes them in registry order before the records that follow.
        for data, actor in household_events(rng, today):
            number += 1
            pending.append(
                Incoming(("bench", number), "intake.x", envelope(data, actor), data)
            )
        if len(pending) >= BATCH or index == households - 1:
            app.process(pending)
            pending = []
        if (index + 1) % 20_000 == 0:
            rate = (index + 1) / (time.perf_counter() - started)
            print(f"  loaded {index + 1:,} households ({rate:,.0f}/s)", flush=True)
    return number, time.perf_counter() - started


class Meter:
    """Wall time and CPU time (this process and its finished workers) of a phase.

    On a shared machine the wall time says how busy the neighbours were; the CPU
    time says what the work costs, and what it would take with the cores free.
    """

    def __enter__(self) -> Meter:
        self.wall = time.perf_counter()
        self.cpu = _cpu()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = _cpu() - self.cpu


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def report(
    label: str, households: int, meter: Meter, processes: int = 1, extra: str = ""
) -> None:
    rate = households / meter.wall
    busy = households / meter.cpu * min(processes, os.cpu_count() or 1)
    print(
        f"{label:<34} {households:>8,} households in {meter.wall:6.1f} s = "
        f"{rate:>6,.0f} households/s -> 300,000 in {COUNTY / rate / 60:5.1f} min; "
        f"CPU {meter.cpu * 1000 / households:5.2f} s per 1,000 -> 300,000 in "
        f"{COUNTY / busy / 60:4.1f} min with the cores free{extra}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=50_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--keep", action="store_true", help="keep the database folder")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="fangpin-rescreen-"))
    server = start_postgres(folder)
    try:
        settings = Settings(
            DATABASE_URL=create_database(server.url),
            FANGPIN_CIPHER_KEY=AESCipher.create_key(num_bytes=32),
            FANGPIN_DB_POOL_SIZE=4,
        )
        app = ScreeningApplication(settings)
        print(
            f"fresh database under {folder}; {args.households:,} households, "
            f"pages of {args.page}; {os.cpu_count()} cores, load average "
            f"{os.getloadavg()[0]:.1f} at the start",
            flush=True,
        )

        with Meter() as meter:
            messages, _ = load(app, args.households, args.seed)
        report(
            "load through the inbox handler",
            args.households,
            meter,
            extra=f" ({messages:,} messages)",
        )
        flagged = sum(1 for p in app.store.page(None, 5_000) if p.active)
        print(
            f"  {flagged / min(5_000, args.households):.1%} of a sample flagged",
            flush=True,
        )

        with Meter() as meter:
            job = app.run_job(app.start_rescreen(DISTRICT, "bench"), args.page)
        report("re-screen, unchanged, 1 process", job.done, meter)
        with Meter() as meter:
            job_id = app.start_rescreen(DISTRICT, "bench")
            job = run_rescreen(app, settings, job_id, args.workers, args.page)
        report(
            f"re-screen, unchanged, {args.workers} workers",
            job.done,
            meter,
            args.workers,
        )

        draft = app.open_draft(DISTRICT)
        new_year = date(app.today().year, 1, 1)
        app.set_parameter(draft, "income_line_formerly_poor", new_year, 6500, DISTRICT)
        app.set_parameter(draft, "income_line_never_poor", new_year, 7500, DISTRICT)
        with Meter() as meter:
            job = app.run_job(app.start_backtest(draft, DISTRICT), args.page)
        report(
            "back-test a draft, 1 process",
            job.done,
            meter,
            extra=f" ({job.changed:,} households in the findings)",
        )

        _, _, rescreen = app.publish_draft(draft, DISTRICT)
        with Meter() as meter:
            job = run_rescreen(app, settings, rescreen, args.workers, args.page)
        report(
            f"re-screen, new version, {args.workers} workers",
            job.done,
            meter,
            args.workers,
            f" ({job.changed:,} flagged or cleared)",
        )
        app.close()
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
