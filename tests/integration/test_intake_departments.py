"""Department records on real NATS and PostgreSQL: a record published on its
subject is matched by intake's inbox, leaves as DepartmentRecordReceived through
the relay, and is counted in the month's data comparison."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fangpin.auth import Principal, issue_token
from fangpin.contracts import Role
from fangpin.idnumber import make_id_number
from intake.main import build
from intake.registry import county_today
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
    ]:
        await js.publish(SUBJECT, payload, headers={"Nats-Msg-Id": record_id})

    def medical_line() -> dict[str, Any] | None:
        month = county_today().strftime("%Y-%m")
        answer = client.get(
            f"/departments/status?month={month}", headers=bearer(MEDICAL)
        ).json()
        (line,) = answer["departments"]
        return line if line["records"] == 3 else None

    line = await eventually(medical_line)
    assert line["department"] == "medical_insurance"
    assert (line["matched"], line["unmatched"], line["rejected"]) == (1, 1, 1)
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
