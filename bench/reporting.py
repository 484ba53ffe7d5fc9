"""Reporting at county scale: the overview's latency with a county's history loaded,
how fast the projection catches up, and how long a rebuild from the streams takes.

    .venv/bin/python bench/reporting.py [--households 300000] [--events 1000000]
        [--calls 300] [--rebuild-events 100000] [--batch 2000]

One embedded PostgreSQL and one embedded NATS are started in a temporary folder.

1. load: a made-up county (``reporting.synthetic.county``) goes straight into a
   fresh database through the projection, a batch at a time, as the inbox hands
   batches over (no NATS in between): the projection's catch-up rate;
2. overview: ``GET /overview`` through the HTTP app (routing, sign-in check,
   validation and JSON included), for the district, a town and a village, many
   calls each: p50 and p99; the same for a ledger, a drill-down and an overview
   as of a past date, fewer calls;
3. rebuild: ``--rebuild-events`` events are published to the four streams, as the
   relays publish them, and ``reporting.rebuild`` builds a fresh schema from them
   and swaps it in. Publishing a million durable messages alone takes minutes on
   a two-core machine, so the rebuild is timed on fewer and the time for a
   million is extrapolated linearly (printed as such).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

# This file shares its name with the reporting service's package: Python puts
# this folder first on the path, where ``import reporting`` would find this file.
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import nats  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from fangpin.auth import DEMO_USERS, issue_token  # noqa: E402
from fangpin.contracts import EVENTS  # noqa: E402
from fangpin.embedded import start_nats, start_postgres  # noqa: E402
from fangpin.projection import connect_pool  # noqa: E402
from fangpin.relay import HEADER_NOTIFICATION_ID, HEADER_PRODUCER  # noqa: E402
from fangpin.service import Runtime, create_http_app  # noqa: E402
from fangpin.settings import Settings, get_settings  # noqa: E402
from fangpin.streams import ensure_streams  # noqa: E402
from reporting.api import router  # noqa: E402
from reporting.parameters import month_bounds, month_of  # noqa: E402
from reporting.rebuild import rebuild  # noqa: E402
from reporting.synthetic import Events, county  # noqa: E402
from reporting.views import ReportingView  # noqa: E402
from tests.support import create_database  # noqa: E402

TARGET_MS = 200.0
WINDOW = 500  # publishes in flight at once, as the relay sends a batch
MILLION = 1_000_000


def interrupted(*_: object) -> None:
    # A plain SIGTERM (from timeout, say) would skip stopping the servers.
    raise KeyboardInterrupt


def say(text: str = "") -> None:
    print(text, flush=True)


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest rank: the smallest sample with this fraction at or below it."""
    if not ordered:
        return float("nan")
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def load(view: ReportingView, households: int, events: int, batch: int) -> float:
    """Feed the county through the projection; returns events per second."""
    maker = Events(validate=False)
    pending = []
    done = 0
    applying = 0.0
    started = time.monotonic()
    next_report = started + 30
    for envelope in county(households, events):
        pending.append(maker.incoming(envelope))
        if len(pending) < batch:
            continue
        began = time.monotonic()
        view.process(pending)
        applying += time.monotonic() - began
        done += len(pending)
        pending = []
        if time.monotonic() > next_report:
            next_report += 30
            say(f"  … {done:,} events, {done / applying:,.0f}/s applying")
    if pending:
        began = time.monotonic()
        view.process(pending)
        applying += time.monotonic() - began
        done += len(pending)
    total = time.monotonic() - started
    say(
        f"  {done:,} events in {total:.0f} s, of which {applying:.0f} s applying "
        "(the rest is making the events up)"
    )
    return done / applying


def timed(call: Callable[[], Any], times: int) -> list[float]:
    found = []
    for _ in range(times):
        began = time.perf_counter()
        call()
        found.append((time.perf_counter() - began) * 1000)
    return sorted(found)


def latency(label: str, samples: list[float]) -> tuple[float, float]:
    p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
    say(f"  {label:<38} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   ({len(samples)} calls)")
    return p50, p99


def http_app(settings: Settings, view: ReportingView) -> TestClient:
    """Reporting's HTTP app without its consumers (the load is already in)."""
    runtime = Runtime("reporting", settings, handler=view)
    http = create_http_app(runtime, "reporting", "bench", [router])
    http.state.view = view
    return TestClient(http)


async def publish_county(settings: Settings, households: int, events: int) -> int:
    """Publish a county's events to the four streams as the relays do."""
    connection = await nats.connect(settings.nats_url)
    js = connection.jetstream(timeout=60)
    await ensure_streams(js)
    maker = Events(validate=False)
    window = []
    published = 0
    for envelope in county(households, events, seed=11):
        message = maker.incoming(envelope)
        window.append(
            js.publish(
                EVENTS[envelope.type].subject,
                envelope.model_dump_json().encode(),
                headers={
                    "Nats-Msg-Id": str(envelope.event_id),
                    HEADER_PRODUCER: message.key[0],
                    HEADER_NOTIFICATION_ID: str(message.key[1]),
                },
            )
        )
        if len(window) == WINDOW:
            await asyncio.gather(*window)
            published += len(window)
            window = []
    await asyncio.gather(*window)
    published += len(window)
    await connection.drain()
    return published


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=300_000)
    parser.add_argument("--events", type=int, default=MILLION)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rebuild-events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, interrupted)

    folder = Path(tempfile.mkdtemp(prefix="fangpin-bench-reporting-"))
    postgres = start_postgres(folder)
    nats_server = start_nats(folder / "nats", secrets.token_hex(32))
    os.environ["FANGPIN_JWT_SECRET"] = secrets.token_urlsafe(32)
    get_settings.cache_clear()
    settings = Settings(
        NATS_URL=nats_server.url,
        DATABASE_URL=create_database(postgres.url),
        FANGPIN_JWT_SECRET=os.environ["FANGPIN_JWT_SECRET"],
    )
    say(f"Reporting benchmark in {folder}")
    say(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    try:
        pool = connect_pool(settings.database_url, size=4)
        view = ReportingView(pool, "reporting")
        view.setup()

        say()
        say(f"1. load {args.households:,} households, {args.events:,} events")
        catch_up = load(view, args.households, args.events, args.batch)
        with pool.connection() as conn:
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE")
            count = conn.execute("SELECT count(*) AS n FROM reporting.events")
            stored = count.fetchone()
            conn.autocommit = False
        say(f"  stored events: {stored['n'] if stored else 0:,}")
        say(f"  projection catch-up: {catch_up:,.0f} events/s")

        say()
        say("2. overview and friends over HTTP")
        client = http_app(settings, view)
        district = {"Authorization": f"Bearer {issue_token(DEMO_USERS['district01'])}"}

        def get(path: str) -> Callable[[], Any]:
            def call() -> None:
                response = client.get(path, headers=district)
                assert response.status_code == 200, response.text

            return call

        # The month most targets were confirmed in, so the month figures count.
        with pool.connection() as conn:
            busiest = conn.execute(
                "SELECT effective_at FROM reporting.events "
                "WHERE type = 'TargetConfirmed' ORDER BY effective_at LIMIT 1"
            ).fetchone()
        month = month_of(busiest["effective_at"]) if busiest else "2026-01"
        last_day = (month_bounds(month)[1] - timedelta(days=1)).date()
        county_rows = client.get(f"/overview?month={month}", headers=district).json()
        town = county_rows["rows"][0]["area_code"]
        town_rows = client.get(f"/overview?area={town}", headers=district).json()
        village = town_rows["rows"][0]["area_code"]
        groups = client.get(f"/overview?area={village}", headers=district).json()
        say(
            f"  month {month}: {len(county_rows['rows'])} towns, "
            f"{len(town_rows['rows'])} villages in {town}, "
            f"{len(groups['rows'])} village groups in {village}"
        )
        results = {
            "district": latency(
                "GET /overview (the district)",
                timed(get(f"/overview?month={month}"), args.calls),
            ),
            "town": latency(
                "GET /overview?area=<town>",
                timed(get(f"/overview?area={town}&month={month}"), args.calls),
            ),
            "village": latency(
                "GET /overview?area=<village>",
                timed(get(f"/overview?area={village}&month={month}"), args.calls),
            ),
        }
        latency(
            "GET /ledger (the district, every group)",
            timed(get(f"/ledger?month={month}"), 10),
        )
        latency(
            "GET /figures/targets (first 100)",
            timed(get("/figures/targets?limit=100"), 20),
        )
        latency(
            f"GET /figures/month.confirmed?month={month}",
            timed(get(f"/figures/month.confirmed?month={month}"), 20),
        )
        latency(
            "GET /overview?area=<village>&as_of=…",
            timed(get(f"/overview?area={village}&as_of={last_day}"), 5),
        )
        latency(
            "GET /overview?area=<town>&as_of=…",
            timed(get(f"/overview?area={town}&as_of={last_day}"), 3),
        )
        worst = max(p99 for _, p99 in results.values())
        verdict = "under" if worst < TARGET_MS else "OVER"
        say(f"  worst overview p99 {worst:.1f} ms: {verdict} {TARGET_MS:.0f} ms")
        pool.close()

        say()
        say(f"3. rebuild from the streams ({args.rebuild_events:,} events)")
        rebuild_db = create_database(postgres.url)
        rebuild_settings = Settings(NATS_URL=nats_server.url, DATABASE_URL=rebuild_db)
        began = time.monotonic()
        households = max(1, args.rebuild_events * args.households // args.events)
        published = asyncio.run(
            publish_county(rebuild_settings, households, args.rebuild_events)
        )
        say(f"  published {published:,} events in {time.monotonic() - began:.0f} s")
        report = asyncio.run(rebuild(rebuild_settings, batch_size=args.batch))
        for line in report.lines():
            say(f"  {line}")
        seconds = report.build_seconds + report.swap_seconds + report.tail_seconds
        say(
            f"  rebuild: {report.messages:,} events in {seconds:.1f} s "
            f"({report.messages / seconds:,.0f} events/s)"
        )
        say(
            f"  extrapolated to {MILLION:,} events: "
            f"{seconds * MILLION / max(1, report.messages) / 60:.1f} min "
            "(linear; not measured)"
        )
        say()
        say(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        return 0
    finally:
        nats_server.stop()
        postgres.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
