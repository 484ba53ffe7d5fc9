"""Personal data is stored encrypted: after a household is registered through
intake on real PostgreSQL, no table anywhere in the database holds a member's
name, ID number or the household's phone number in clear."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from fangpin.auth import issue_token
from intake.main import build
from tests.support import DISTRICT, eventually, household_form

pytestmark = pytest.mark.integration


@pytest.fixture
def client(settings) -> Iterator[TestClient]:
    with TestClient(build(settings)) as running:
        running.headers["Authorization"] = f"Bearer {issue_token(DISTRICT)}"
        yield running


def tables(conn: psycopg.Connection) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' "
        "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
    ).fetchall()
    return [(schema, name) for schema, name in rows]


def tables_holding(conn: psycopg.Connection, secret: str) -> list[str]:
    """Tables with a row whose text, or whose bytes, contain the secret."""
    found = []
    for schema, name in tables(conn):
        table = sql.Identifier(schema, name)
        as_text = sql.SQL("SELECT 1 FROM {0} t WHERE t::text LIKE %s LIMIT 1")
        # Bytea columns print as hex in the row's text: search the bytes too.
        as_hex = "%" + secret.encode().hex() + "%"
        if conn.execute(as_text.format(table), ("%" + secret + "%",)).fetchone():
            found.append(f"{schema}.{name}")
        elif conn.execute(as_text.format(table), (as_hex,)).fetchone():
            found.append(f"{schema}.{name} (bytes)")
    return found


async def test_no_name_id_number_or_phone_is_stored_in_clear(client, settings):
    form = household_form(771)
    form["phone"] = "13912345678"
    head = form["members"][0]
    head["name"] = "欧阳明珠"
    head["disability_grade"] = 2
    registered = client.post("/households", json=form)
    assert registered.status_code == 201, registered.text
    household_id = registered.json()["id"]

    # The household reads back whole through the API (decrypted for the caller),
    # and the relay has published it, so every table it reaches is written.
    shown = client.get(f"/households/{household_id}").json()
    assert [m["name"] for m in shown["members"]] == ["欧阳明珠"]
    assert await eventually(lambda: client.get("/health").json()["relay_position"])

    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        assert len(tables(conn)) > 3
        for secret in ("欧阳明珠", head["id_number"], "13912345678"):
            assert tables_holding(conn, secret) == []

        # The search can fail: the same number kept in clear, as text or as
        # bytes, is found.
        conn.execute("CREATE SCHEMA witness_check")
        conn.execute("CREATE TABLE witness_check.witness (note text, raw bytea)")
        conn.execute(
            "INSERT INTO witness_check.witness (note) VALUES (%s)",
            (head["id_number"],),
        )
        conn.execute(
            "INSERT INTO witness_check.witness (raw) VALUES (%s)",
            ("欧阳明珠".encode(),),
        )
        assert [t.split(".")[1] for t in tables_holding(conn, head["id_number"])] == [
            "witness"
        ]
        assert [t.split(".")[1] for t in tables_holding(conn, "欧阳明珠")] == [
            "witness (bytes)"
        ]
        conn.execute("DROP SCHEMA witness_check CASCADE")
