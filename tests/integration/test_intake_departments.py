"""Department records on real NATS and PostgreSQL: a record published on its
subject is matched by intake's inbox, leaves as DepartmentRecordReceived through
the relay, and is counted in the month's data comparison."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import openpyxl
import psycopg
import pytest
from fastapi.testclient import TestClient

from fangpin.areas import county_today
from fangpin.auth import Principal, issue_token
from fangpin.contracts import Role
from fangpin.idnumber import make_id_number
from intake.main import VIEW_SCHEMA, build
from tests.support import DISTRICT, eventually, household_form, stream_messages

pytestmark = pytest.mark.integration
MEDICAL = Principal(
    user_id="medical01",
    role=Role.DEPARTMENT,
    area_code="510904",
    department="medical_insurance",
)
GRID = Principal(
    user_id="grid01",
    role=Role.GRID_MONITOR,
    area_code="510904101201",
    village_group="1",
)
SUBJECT = "dept.medical_insurance.hospital_settlement"


def bearer(principal: Principal) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(principal)}"}


@pytest.fixture
def client(settings) -> Iterator[TestClient]:
    with TestClient(build(settings)) as running:
        yield running


def settlement(record_id: str, id_number: str, **facts: Any) -> bytes:
    return json.dumps(
        {
            "record_id": record_id,
            "id_number": id_number,
            "occurred_on": date.today().isoformat(),
            "facts": facts
            or {"total_cost": 30000.0, "reimbursed": 12000.0, "out_of_pocket": 18000.0},
        }
    ).encode()


async def test_a_published_record_is_matched_and_counted_in_the_comparison(client, nc):
    form = household_form(7)
    registered = client.post("/households", json=form, headers=bearer(DISTRICT))
    assert registered.status_code == 201, registered.text
    patient = form["members"][0]["id_number"]
    stranger = make_id_number("510904", date(1966, 6, 6), 606)

    js = nc.jetstream()
    for record_id, payload in [
        ("MED-1", settlement("MED-1", patient)),
        ("MED-1-again", settlement("MED-1", patient)),
        ("MED-2", settlement("MED-2", stranger)),
        ("MED-3", settlement("MED-3", patient, total_cost="lots")),
        # Breaks the record schema but names its record id: told to the department.
        ("MED-4", json.dumps({"record_id": "MED-4", "id_number": patient}).encode()),
        # Names no record id: only the dead-letter stream can take it.
        ("MED-5", json.dumps({"id_number": patient}).encode()),
    ]:
        await js.publish(SUBJECT, payload, headers={"Nats-Msg-Id": record_id})

    def medical_line() -> dict[str, Any] | None:
        month = county_today().strftime("%Y-%m")
        answer = client.get(
            f"/departments/status?month={month}", headers=bearer(MEDICAL)
        ).json()
        (line,) = answer["departments"]
        return line if line["records"] == 4 else None

    line = await eventually(medical_line)
    assert line["department"] == "medical_insurance"
    assert (line["matched"], line["unmatched"], line["rejected"]) == (1, 1, 2)
    assert line["households_touched"] == 1
    assert line["first_arrival"] <= line["last_arrival"]

    async def received() -> list[Any]:
        messages = await stream_messages(js, "INTAKE")
        return [
            m
            for m in messages
            if m.headers["Fangpin-Event-Type"] == "DepartmentRecordReceived"
        ]

    (message,) = await eventually(received)
    assert json.loads(message.data)["data"]["record_id"] == "MED-1"
    assert patient.encode() not in message.data

    rejected = client.get(
        "/departments/medical_insurance/rejected", headers=bearer(MEDICAL)
    ).json()
    reasons = {r["record_id"]: (r["outcome"], r["reason"]) for r in rejected["records"]}
    assert reasons["MED-2"] == ("unmatched", "no registered person matches")
    assert reasons["MED-3"][0] == "invalid"
    assert reasons["MED-3"][1].startswith("facts.total_cost")
    assert reasons["MED-4"] == ("invalid", "occurred_on: Field required")
    assert patient not in json.dumps(rejected)
    assert client.get("/health").json()["dead_lettered"] == 1

    district = client.get("/departments/status", headers=bearer(DISTRICT)).json()
    assert len(district["departments"]) == 7
    elsewhere = client.get("/departments/health/rejected", headers=bearer(MEDICAL))
    assert elsewhere.status_code == 403


async def test_grid_monitors_list_their_own_reports(client):
    form = household_form(8)
    client.post("/households", json=form, headers=bearer(DISTRICT))
    report = {
        "household_id": form["household_id"],
        "category": "illness",
        "description": "住院",
        "observed_on": date.today().isoformat(),
    }
    created = client.post("/reports", json=report, headers=bearer(GRID))
    assert created.status_code == 201, created.text

    def listed() -> list[dict[str, Any]]:
        return list(client.get("/reports", headers=bearer(GRID)).json()["reports"])

    (shown,) = await eventually(listed)
    assert shown["report_id"] == created.json()["id"]
    assert (shown["category"], shown["status"]) == ("illness", "reported")
    other = Principal(**{**GRID.model_dump(), "user_id": "grid02"})
    assert client.get("/reports", headers=bearer(other)).json()["total"] == 0


# The jobs table as the first release made it, before department uploads.
FIRST_JOBS_TABLE = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE {schema}.import_jobs (id uuid PRIMARY KEY, file_name text NOT NULL,
  format text NOT NULL, created_by text NOT NULL, area_code text NOT NULL,
  state text NOT NULL, error text, rows_read bigint, rows_total bigint,
  rows_done bigint, accepted bigint, rejected bigint, households bigint,
  registered bigint, updated bigint, unchanged bigint,
  created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
  finished_at timestamptz)
"""


def wait_until_finished(client: TestClient, location: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = client.get(location, headers=bearer(MEDICAL)).json()
        if job["state"] not in ("queued", "reading", "importing"):
            return dict(job)
        time.sleep(0.1)
    raise AssertionError(f"upload did not finish: {job}")


async def test_an_uploaded_workbook_runs_as_a_job_kept_beside_older_jobs(settings):
    old_import = uuid.uuid4()
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(FIRST_JOBS_TABLE.format(schema=VIEW_SCHEMA))
        now = datetime.now(UTC)
        conn.execute(
            f"INSERT INTO {VIEW_SCHEMA}.import_jobs (id, file_name, format, "
            "created_by, area_code, state, rows_read, rows_total, rows_done, "
            "accepted, rejected, households, registered, updated, unchanged, "
            "created_at, updated_at, finished_at) VALUES (%s, 'old.xlsx', 'xlsx', "
            "'district01', '510904', 'done', 1, 1, 1, 1, 0, 1, 1, 0, 0, %s, %s, %s)",
            (old_import, now, now, now),
        )

    with TestClient(build(settings)) as client:
        # The registry import made before the upgrade still reads.
        old = client.get(f"/imports/{old_import}", headers=bearer(DISTRICT))
        assert old.status_code == 200, old.text
        assert old.json()["registered"] == 1

        form = household_form(9)
        client.post("/households", json=form, headers=bearer(DISTRICT))
        patient = form["members"][0]["id_number"]
        path = "/departments/medical_insurance/hospital_settlement"
        template = client.get(f"{path}/template", headers=bearer(MEDICAL))
        workbook = openpyxl.load_workbook(io.BytesIO(template.content))
        sheet = workbook["住院结算"]
        today = county_today()
        sheet.append(["UP-1", patient, today, 3000, 1000, 2000])
        sheet.append(["UP-1", patient, today, 3000, 1000, 2000])
        sheet.append(["UP-2", patient, "someday", 3000, 1000, 2000])
        sheet.append(
            ["UP-3", make_id_number("510904", date(1950, 1, 1), 9), today, 1, 0, 1]
        )
        buffer = io.BytesIO()
        workbook.save(buffer)

        started = client.post(
            f"{path}/uploads",
            files={
                "file": ("2026.xlsx", buffer.getvalue(), "application/octet-stream")
            },
            headers=bearer(MEDICAL),
        )
        assert started.status_code == 202, started.text
        job = wait_until_finished(client, started.headers["Location"])

        assert job["state"] == "done", job
        assert (job["rows_total"], job["rows_done"]) == (4, 4)
        assert (job["accepted"], job["duplicate"], job["rejected"]) == (1, 1, 2)
        assert [(p["row"], p["column"]) for p in job["problems"]] == [
            (4, "发生日期"),
            (5, "身份证号"),
        ]
        errors = client.get(f"{job['errors_url']}?format=csv", headers=bearer(MEDICAL))
        lines = list(csv.reader(io.StringIO(errors.content.decode("utf-8-sig"))))
        assert [line[0] for line in lines[1:]] == ["4", "5"]
        assert patient not in errors.text

        def medical_line() -> dict[str, Any] | None:
            month = county_today().strftime("%Y-%m")
            answer = client.get(
                f"/departments/status?month={month}", headers=bearer(MEDICAL)
            ).json()
            (line,) = answer["departments"]
            return line if line["records"] == 2 else None

        line = await eventually(medical_line)
        assert (line["matched"], line["unmatched"]) == (1, 1)
