"""The thin slice through all five services, each a separate process, on real
NATS and PostgreSQL: a grid report and a department record become one case, aid
is granted, the case is closed, and reporting shows it all."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx
import nats
import pytest

from fangpin.idnumber import mask
from tests.support import eventually, household_form, running_platform

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(postgres_url, tmp_path_factory):
    """The five services as separate processes, on servers of their own."""
    data = tmp_path_factory.mktemp("platform")
    with running_platform(postgres_url, data) as running:
        yield running


class Client:
    def __init__(self, urls: dict[str, str]):
        self.urls = urls
        self.http = httpx.Client(timeout=30)

    def sign_in(self, user: str) -> dict[str, str]:
        response = self.http.post(
            f"{self.urls['intake']}/auth/token",
            data={"username": user, "password": "demo"},
        )
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def call(
        self, method: str, service: str, path: str, user: dict[str, str], **kw: Any
    ) -> httpx.Response:
        headers = {**user, **kw.pop("headers", {})}
        url = self.urls[service] + path
        return self.http.request(method, url, headers=headers, **kw)


async def test_report_and_department_record_to_closed_case_with_timeline(platform):
    client = Client(platform.urls)
    district = client.sign_in("district01")
    grid = client.sign_in("grid01")
    town = client.sign_in("town01")

    form = household_form(42)
    id_number = form["members"][0]["id_number"]
    response = client.call("POST", "intake", "/households", district, json=form)
    assert response.status_code == 201, response.text
    household_id = response.json()["id"]
    shown = client.call("GET", "intake", f"/households/{household_id}", district)
    assert shown.json()["members"][0]["id_number_masked"] == mask(id_number)
    assert id_number not in shown.text

    report = {
        "household_id": household_id,
        "category": "illness",
        "description": "住院治疗，家庭收入下降",
        "observed_on": date.today().isoformat(),
        "amount": "3000.00",
    }
    assert (
        client.call("POST", "intake", "/reports", grid, json=report).status_code == 201
    )

    village = client.sign_in("village01")

    def queued_case() -> dict[str, Any] | None:
        # A new case waits for its home visit, at the village level.
        queue = client.call("GET", "casework", "/queue", village).json()
        found = [c for c in queue["cases"] if c["household_id"] == household_id]
        return found[0] if found else None

    case = await eventually(queued_case)
    assert case["town_code"] == "510904101" and case["urgent"] is True
    case_id = case["case_id"]

    # The medical insurance bureau publishes a settlement on its NATS subject.
    connection = await nats.connect(platform.base_env["NATS_URL"])
    record = {
        "record_id": "MED-2026-000042",
        "id_number": id_number,
        "occurred_on": date.today().isoformat(),
        "facts": {
            "total_cost": 52000.0,
            "reimbursed": 36000.0,
            "out_of_pocket": 16000.0,
        },
    }
    await connection.jetstream().publish(
        "dept.medical_insurance.hospital_settlement",
        json.dumps(record).encode(),
        headers={"Nats-Msg-Id": "medical_insurance:MED-2026-000042"},
    )
    await connection.jetstream().publish(
        "dept.medical_insurance.hospital_settlement", b"{broken"
    )
    await connection.drain()

    def signals() -> int:
        found = client.call("GET", "casework", f"/cases/{case_id}", town).json()
        return int(found["signals"])

    await eventually(lambda: signals() == 2)

    grant = {
        "case_id": case_id,
        "measure": "serious_illness_aid",
        "quantity": "6000.00",
        "period": "2026-12",
        "funding_source": "district relief fund",
        # Illness is urgent: the green channel lets help start before review ends.
        "emergency": True,
    }
    granted = await eventually(
        lambda: (
            client.call("POST", "assistance", "/grants", town, json=grant).status_code
            == 201
        )
    )
    assert granted
    again = client.call("POST", "assistance", "/grants", town, json=grant)
    assert again.status_code == 409

    closing = {"verification": "入户核实：费用已报销，收入恢复"}
    closed = client.call(
        "POST", "casework", f"/cases/{case_id}/close", town, json=closing
    )
    assert closed.status_code == 204
    second = client.call(
        "POST", "casework", f"/cases/{case_id}/close", town, json=closing
    )
    assert second.status_code == 409

    def counts() -> list[dict[str, Any]]:
        found = client.call("GET", "reporting", "/overview/cases-by-town", town).json()
        return [row for row in found if row["closed"] == 1]

    assert await eventually(counts) == [
        {"town_code": "510904101", "open": 0, "closed": 1}
    ]

    def timeline() -> list[dict[str, Any]]:
        path = f"/cases/{case_id}/timeline"
        entries = client.call("GET", "reporting", path, town).json()
        return entries if len(entries) == 7 else []

    entries = await eventually(timeline)
    assert [entry["type"] for entry in entries] == [
        "ProblemReported",
        "CaseOpened",
        "DepartmentRecordReceived",
        "RiskFlagged",
        "SignalAttached",
        "AidGranted",
        "CaseClosed",
    ]
    actors = {entry["type"]: entry["actor"] for entry in entries}
    assert actors["ProblemReported"]["user_id"] == "grid01"
    assert actors["AidGranted"]["user_id"] == "town01"
    assert actors["CaseClosed"]["role"] == "town"
    flag = next(entry for entry in entries if entry["type"] == "RiskFlagged")
    assert flag["data"]["hits"][0]["code"] == "R-MED-01"
    assert flag["data"]["hits"][0]["values"] == {"out_of_pocket": 16000.0}
    assert id_number not in json.dumps(entries)

    # The broken record is parked by intake's inbox in its own time.
    def dead_lettered() -> int:
        health = client.http.get(platform.urls["intake"] + "/health").json()
        return int(health["dead_lettered"] or 0)

    assert await eventually(dead_lettered) == 1


def test_bad_input_gets_a_clear_4xx_and_changes_nothing(platform):
    client = Client(platform.urls)
    district = client.sign_in("district01")
    grid = client.sign_in("grid01")

    malformed = client.call(
        "POST",
        "intake",
        "/households",
        district,
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["field"] == "body"

    form = household_form(5)
    form["members"][0]["id_number"] = form["members"][0]["id_number"][:-1] + (
        "0" if form["members"][0]["id_number"][-1] != "0" else "1"
    )
    invalid = client.call("POST", "intake", "/households", district, json=form)
    assert invalid.status_code == 422
    problem = invalid.json()["detail"][0]
    assert problem["field"] == "members.0.id_number"
    assert "check character" in problem["reason"]
    assert form["members"][0]["id_number"] not in invalid.text

    outside = household_form(6, village="510904102201")
    registered = client.call("POST", "intake", "/households", district, json=outside)
    assert registered.status_code == 201
    report = {
        "household_id": registered.json()["id"],
        "category": "housing",
        "description": "房屋漏雨",
        "observed_on": date.today().isoformat(),
    }
    refused = client.call("POST", "intake", "/reports", grid, json=report)
    assert refused.status_code == 404

    anonymous = httpx.get(platform.urls["casework"] + "/queue")
    assert anonymous.status_code == 401
