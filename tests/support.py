"""Helpers shared by the integration and end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from nats.js import JetStreamContext

from fangpin.auth import Principal
from fangpin.cli import SERVICES, WEB_PORT_OFFSET, Platform
from fangpin.contracts import Actor, Envelope, Role
from fangpin.idnumber import make_id_number
from fangpin.relay import HEADER_NOTIFICATION_ID, HEADER_PRODUCER
from tests.servers import nats_server


def free_port_block(size: int) -> int:
    """A block of free ports, looked for from a random start: other suites may be
    looking at the same time."""
    chance = random.Random()
    for _ in range(200):
        base = chance.randrange(20000, 60000)
        try:
            for port in range(base, base + size):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free block of ports")


@contextmanager
def running_platform(
    postgres_url: str, data: Path, web: bool = False, **settings: str
) -> Iterator[Platform]:
    """The services as separate processes (and the web process if asked), on a
    NATS server and a database of their own; everything stops afterwards."""
    with nats_server(data / "nats") as nats_url:
        env = {
            **os.environ,
            "NATS_URL": nats_url,
            "DATABASE_URL": create_database(postgres_url),
            "FANGPIN_DEV_ISSUER": "1",
            **settings,
        }
        size = len(SERVICES) + (1 if web else 0)
        base = free_port_block(size) - (WEB_PORT_OFFSET if web else 0)
        platform = Platform(data, base, env=env, web=web)
        try:
            platform.start()
            yield platform
        finally:
            platform.stop()


def create_database(server_url: str) -> str:
    """A fresh, empty database on the test server; returns its URL."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base, _, query = server_url.partition("?")
    root = base.rsplit("/", 1)[0]
    return f"{root}/{name}" + (f"?{query}" if query else "")


DISTRICT = Principal(user_id="district01", role=Role.DISTRICT, area_code="510904")
VILLAGE = "510904101201"


def household_form(index: int, village: str = VILLAGE) -> dict[str, Any]:
    born = date(1960 + index % 40, 1 + index % 12, 1 + index % 28)
    return {
        "household_id": str(uuid.uuid4()),
        "area_code": village,
        "village_group": "1",
        "poverty_status": "formerly_poor",
        "left_poverty_year": 2019,
        "members": [
            {
                "name": f"测试{index}",
                "id_number": make_id_number("510904", born, index),
                "relation": "head",
            }
        ],
    }


def problem_envelope(
    household_id: UUID, area_code: str = VILLAGE, **data: Any
) -> Envelope:
    return Envelope(
        event_id=uuid.uuid4(),
        type="ProblemReported",
        occurred_at=datetime.now(UTC),
        producer="intake",
        actor=Actor(user_id="grid01", role=Role.GRID_MONITOR, area_code=area_code),
        household_id=household_id,
        correlation_id=uuid.uuid4(),
        data={
            "report_id": str(uuid.uuid4()),
            "household_id": str(household_id),
            "area_code": area_code,
            "village_group": "1",
            "category": "illness",
            "observed_on": date.today().isoformat(),
            "amount": "1200.00",
            "urgent": True,
            **data,
        },
    )


async def publish_relayed(
    js: JetStreamContext,
    subject: str,
    payload: bytes,
    notification_id: int,
    producer: str = "intake",
    message_id: str | None = None,
) -> None:
    """Publish as a relay does: producer and notification id in the headers."""
    await js.publish(
        subject,
        payload,
        headers={
            "Nats-Msg-Id": message_id or str(uuid.uuid4()),
            HEADER_PRODUCER: producer,
            HEADER_NOTIFICATION_ID: str(notification_id),
        },
    )


async def eventually(
    check: Callable[[], Any], within: float = 20.0, interval: float = 0.1
) -> Any:
    """Wait until ``check()`` returns something truthy; fail with the last value."""
    deadline = time.monotonic() + within
    value = None
    while time.monotonic() < deadline:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s (last: {value!r})")


async def stream_messages(js: JetStreamContext, stream: str) -> list[Any]:
    info = await js.stream_info(stream)
    first, last = info.state.first_seq, info.state.last_seq
    if info.state.messages == 0:
        return []
    return [await js.get_msg(stream, seq) for seq in range(first, last + 1)]
