"""Real servers for integration and end-to-end tests, started by the test run.

With ``NATS_URL`` and ``DATABASE_URL`` set, the tests use those servers instead;
otherwise one PostgreSQL serves the whole run and each test gets its own database,
and each test gets its own NATS server, so streams never leak from one test into
another. The servers are the embedded ones or containers: see ``tests/servers.py``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from fangpin.settings import Settings, get_settings
from tests.servers import nats_server, postgres_server
from tests.support import create_database


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if "DATABASE_URL" in os.environ:
        yield os.environ["DATABASE_URL"]
        return
    with postgres_server(tmp_path_factory.mktemp("pg")) as url:
        yield url


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """A fresh database for one test."""
    return create_database(postgres_url)


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    if "NATS_URL" in os.environ:
        yield os.environ["NATS_URL"]
        return
    with nats_server(tmp_path / "nats") as url:
        yield url


@pytest.fixture
def settings(database_url: str, nats_url: str, monkeypatch: pytest.MonkeyPatch):
    values = {
        "NATS_URL": nats_url,
        "DATABASE_URL": database_url,
        "FANGPIN_JWT_SECRET": secrets.token_urlsafe(32),
        "FANGPIN_CIPHER_KEY": _cipher_key(),
        "FANGPIN_PSEUDONYM_KEY": "test-pseudonym-key",
        "FANGPIN_MAX_ATTEMPTS": "3",
        "FANGPIN_BATCH_SIZE": "200",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield Settings()
    get_settings.cache_clear()


def _cipher_key() -> str:
    from eventsourcing.cryptography import AESCipher

    return AESCipher.create_key(num_bytes=32)


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.drain()
