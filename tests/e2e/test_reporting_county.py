"""A small county fed through the five services, each a separate process: the
registry, grid reports, a department record on NATS, cases taken through their
steps, aid granted and stopped. Every figure of reporting's overview is then
checked against what was fed in, and the lists behind the figures, the ledger,
its export, the assessment and a household's history against the same."""

from __future__ import annotations

import io
import json
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import nats
import pytest
from openpyxl import load_workbook

from fangpin.idnumber import make_id_number
from reporting.parameters import COUNTY_TZ
from tests.support import eventually, running_platform

pytestmark = pytest.mark.e2e

TODAY = datetime.now(COUNTY_TZ).date()
MONTH = TODAY.strftime("%Y-%m")
# Screening evaluates on the UTC date, which can be a day behind the county's: a
# record dated yesterday is seen whatever the hour.
RECORD_DAY = TODAY - timedelta(days=1)
A, B, C = "510904101201", "510904101202", "510904102201"


@pytest.fixture(scope="module")
def platform(postgres_url, tmp_path_factory):
    data = tmp_path_factory.mktemp("county")
    with running_platform(postgres_url, data) as running:
        yield running


class Client:
    def __init__(self, urls: dict[str, str]):
        self.urls = urls
        self.http = httpx.Client(timeout=30)
        self.tokens: dict[str, dict[str, str]] = {}

    def as_(self, user: str) -> dict[str, str]:
        if user not in self.tokens:
            response = self.http.post(
                f"{self.urls['intake']}/auth/token",
                data={"username": user, "password": "demo"},
            )
            response.raise_for_status()
            token = response.json()["access_token"]
            self.tokens[user] = {"Authorization": f"Bearer {token}"}
        return self.tokens[user]

    def call(
        self, method: str, service: str, path: str, user: str, **kw: Any
    ) -> httpx.Response:
        url = self.urls[service] + path
        return self.http.request(method, url, headers=self.as_(user), **kw)

    def ok(self, method: str, service: str, path: str, user: str, **kw: Any) -> Any:
        response = self.call(method, service, path, user, **kw)
        assert response.status_code < 300, f"{path}: {response.text}"
        return response.json() if response.content else None


# Healthy adults with incomes well above every line: nothing flags them unless a
# report or a record does.
HOUSEHOLDS = {
    "h1": (A, "1", "formerly_poor", 3, "9000.00"),
    "h2": (A, "1", "never_poor", 2, "9500.00"),
    "h3": (A, "2", "formerly_poor", 4, "10000.00"),
    "h4": (B, "1", "formerly_poor", 1, "12000.00"),
    "h5": (C, "1", "never_poor", 5, None),
    "h6": (B, "3", "formerly_poor", 2, "8800.00"),
}


def household_form(
    number: int, village: str, group: str, status: str, members: int, income: str | None
) -> dict[str, Any]:
    people = []
    for position in range(members):
        born = date(1970 + position, 1 + number % 12, 1 + position)
        people.append(
            {
                "name": f"测试{number}{position}",
                "id_number": make_id_number("510904", born, number * 10 + position),
                "relation": "head" if position == 0 else "child",
            }
        )
    form: dict[str, Any] = {
        "household_id": str(uuid.uuid4()),
        "area_code": village,
        "village_group": group,
        "poverty_status": status,
        "left_poverty_year": 2019 if status == "formerly_poor" else None,
        "drinking_water_ok": True,
        "members": people,
    }
    if income:
        form["incomes"] = [{"year": TODAY.year - 1, "per_capita_net_income": income}]
    return form


async def queued(client: Client, user: str, household: str) -> str:
    def find() -> str | None:
        queue = client.ok("GET", "casework", "/queue?limit=500", user)
        found = [c for c in queue["cases"] if c["household_id"] == household]
        return found[0]["case_id"] if found else None

    found: str = await eventually(find, within=40)
    return found


async def case_of_record(client: Client, household: str) -> str:
    """The case a department record opened (outside any village user's area, so
    not in a queue the test can read): reporting's history of the household."""

    def find() -> str | None:
        path = f"/households/{household}/history"
        response = client.call("GET", "reporting", path, "district01")
        cases = response.json()["state"]["cases"] if response.status_code == 200 else []
        return cases[0]["case_id"] if cases else None

    found: str = await eventually(find, within=40)
    return found


def identify(client: Client, case: str, village_user: str) -> None:
    """Visit, notice and village review, town check: the case waits for the
    district's decision."""
    client.ok(
        "POST",
        "casework",
        f"/cases/{case}/visit",
        village_user,
        json={"consent": True, "findings": "入户核实属实"},
    )
    notice = {
        "starts_on": (TODAY - timedelta(days=8)).isoformat(),
        "ends_on": (TODAY - timedelta(days=1)).isoformat(),
    }
    client.ok("POST", "casework", f"/cases/{case}/notice", village_user, json=notice)
    client.ok(
        "POST",
        "casework",
        f"/cases/{case}/village-review",
        village_user,
        json={"objections": False, "summary": "公示无异议"},
    )
    client.ok(
        "POST",
        "casework",
        f"/cases/{case}/town-check",
        "town01",
        json={"summary": "审核属实"},
    )


async def grant(client: Client, form: dict[str, Any], by: str = "town01") -> str:
    """Assistance learns of cases and decisions from casework's stream: wait."""

    def try_grant() -> str | None:
        response = client.call("POST", "assistance", "/grants", by, json=form)
        return response.json()["id"] if response.status_code == 201 else None

    found: str = await eventually(try_grant, within=30)
    return found


async def test_every_overview_figure_matches_what_the_county_fed_in(platform):
    client = Client(platform.urls)
    ids: dict[str, str] = {}
    forms: dict[str, dict[str, Any]] = {}

    # The registry.
    for number, (key, spec) in enumerate(HOUSEHOLDS.items(), start=1):
        forms[key] = household_form(number, *spec)
        ids[key] = client.ok(
            "POST", "intake", "/households", "district01", json=forms[key]
        )["id"]

    # Grid reports (grid01 watches group 1 of village A; village01 the rest of A).
    for key, user, category in (
        ("h1", "grid01", "illness"),
        ("h2", "grid01", "income_drop"),
        ("h3", "village01", "housing"),
    ):
        report = {
            "household_id": ids[key],
            "category": category,
            "description": "入户走访发现",
            "observed_on": TODAY.isoformat(),
        }
        client.ok("POST", "intake", "/reports", user, json=report)

    # The medical insurance bureau's record for h4, on its NATS subject.
    connection = await nats.connect(platform.base_env["NATS_URL"])
    record = {
        "record_id": "MED-E2E-0001",
        "id_number": forms["h4"]["members"][0]["id_number"],
        "occurred_on": RECORD_DAY.isoformat(),
        "facts": {
            "total_cost": 52000.0,
            "reimbursed": 36000.0,
            "out_of_pocket": 16000.0,
        },
    }
    await connection.jetstream().publish(
        "dept.medical_insurance.hospital_settlement",
        json.dumps(record).encode(),
        headers={"Nats-Msg-Id": "medical_insurance:MED-E2E-0001"},
    )
    await connection.drain()

    # h1 becomes an expense-hardship target with a plan; h2 is rejected and
    # closed; h3 waits for its notice; h4 waits for its visit.
    c1 = await queued(client, "village01", ids["h1"])
    c2 = await queued(client, "village01", ids["h2"])
    c3 = await queued(client, "village01", ids["h3"])
    c4 = await case_of_record(client, ids["h4"])
    identify(client, c1, "village01")
    identify(client, c2, "village01")
    client.ok(
        "POST",
        "casework",
        f"/cases/{c3}/visit",
        "village01",
        json={"consent": True, "findings": "房屋漏雨"},
    )
    client.ok(
        "POST",
        "casework",
        f"/cases/{c1}/decision",
        "district01",
        json={"confirm": True, "target_type": "expense_hardship", "reason": "大病支出"},
    )
    client.ok(
        "POST",
        "casework",
        f"/cases/{c2}/decision",
        "district01",
        json={"confirm": False, "reason": "收入稳定"},
    )
    client.ok(
        "POST",
        "casework",
        f"/cases/{c2}/close",
        "town01",
        json={"verification": "审定不纳入，已告知"},
    )
    due = (TODAY + timedelta(days=30)).isoformat()
    client.ok(
        "POST",
        "casework",
        f"/cases/{c1}/plan",
        "town01",
        json={
            "paired_cadre": "结对干部",
            "measures": [
                {
                    "measure": "serious_illness_aid",
                    "responsible_department": "medical_insurance",
                    "due_on": due,
                }
            ],
        },
    )

    # Aid: two grants to the target (one stopped again), and green-channel help
    # for h4 before any review.
    period = MONTH
    await grant(
        client,
        {
            "case_id": c1,
            "measure": "serious_illness_aid",
            "quantity": "6000.00",
            "period": period,
            "funding_source": "区级救助资金",
        },
    )
    fund = await grant(
        client,
        {
            "case_id": c1,
            "measure": "health_fund",
            "quantity": "2000.00",
            "period": period,
            "funding_source": "区级救助资金",
        },
    )
    client.call(
        "POST", "assistance", f"/grants/{fund}/stop", "town01", json={"reason": "重复"}
    )
    await grant(
        client,
        {
            "case_id": c4,
            "measure": "temporary_aid",
            "quantity": "1500.00",
            "period": period,
            "funding_source": "区级救助资金",
            "emergency": True,
        },
        # Emergency help to a case that is not in the green channel is the
        # district office's call.
        by="district01",
    )

    # What screening holds flagged is screening's rule; reporting must agree.
    def flagged_by_screening() -> int:
        count = 0
        for household in ids.values():
            found = client.call(
                "GET", "screening", f"/households/{household}/risk", "district01"
            )
            if found.status_code == 200 and found.json()["active_indicators"]:
                count += 1
        return count

    expected = {
        "households": 6,
        "people": 17,
        "formerly_poor": 4,
        "never_poor": 2,
        "targets": 1,
        "targets.low_income": 0,
        "targets.expense_hardship": 1,
        "targets.safety_net": 0,
        "target_people": 3,
        "target_people.low_income": 0,
        "target_people.expense_hardship": 3,
        "target_people.safety_net": 0,
        "targets.formerly_poor": 1,
        "targets.never_poor": 0,
        "income.low_income": None,
        "income.expense_hardship": 9000,
        "income.safety_net": None,
        "income_households.low_income": 0,
        "income_households.expense_hardship": 1,
        "income_households.safety_net": 0,
        "month.confirmed": 1,
        "month.exits": 0,
        "open_cases": 3,
        "open_cases.visit": 1,
        "open_cases.notice": 1,
        "open_cases.notice_period": 0,
        "open_cases.town_check": 0,
        "open_cases.decision": 0,
        "open_cases.plan": 0,
        "open_cases.assistance": 1,
        "open_cases.elimination_review": 0,
        "open_cases.closure": 0,
        "overdue": 0,
        "escalated": 0,
    }

    def overview() -> dict[str, Any] | None:
        found = client.ok("GET", "reporting", f"/overview?month={MONTH}", "district01")
        figures = found["total"]["figures"]
        measures = {m["measure"]: m for m in found["total"]["measures"]}
        settled = (
            figures["households"] == 6
            and figures["open_cases"] == 3
            # The plan's case moves on to assistance once assistance's assignment
            # has come back through casework: wait for that too.
            and figures["open_cases.assistance"] == 1
            and measures.get("temporary_aid", {}).get("grants") == 1
            and measures.get("health_fund", {}).get("stopped") == 1
            and measures.get("serious_illness_aid", {}).get("assigned") == 1
            and figures["flagged"] == flagged_by_screening()
        )
        return found if settled else None

    found = await eventually(overview, within=40)
    figures = found["total"]["figures"]
    assert figures["flagged"] >= 1  # h4's record hits the medical-spending line
    assert {name: figures[name] for name in expected} == expected
    assert set(figures) == set(expected) | {"flagged"}

    measures = {m["measure"]: m for m in found["total"]["measures"]}
    assert measures["serious_illness_aid"] | {"name_zh": None, "name_en": None} == {
        "measure": "serious_illness_aid",
        "name_zh": None,
        "name_en": None,
        "unit": "yuan",
        "assigned": 1,
        "grants": 1,
        "quantity": 6000,
        "households": 1,
        "stopped": 0,
        "stopped_quantity": 0,
    }
    assert (
        measures["health_fund"]["grants"],
        measures["health_fund"]["stopped"],
        measures["health_fund"]["stopped_quantity"],
    ) == (0, 1, 2000)
    assert (
        measures["temporary_aid"]["quantity"],
        measures["temporary_aid"]["households"],
    ) == (1500, 1)

    rows = {row["area_code"]: row["figures"] for row in found["rows"]}
    assert set(rows) == {"510904101", "510904102"}
    assert (rows["510904101"]["households"], rows["510904101"]["people"]) == (5, 12)
    assert (rows["510904102"]["households"], rows["510904102"]["people"]) == (1, 5)
    assert rows["510904102"]["open_cases"] == 0

    town = client.ok("GET", "reporting", f"/overview?month={MONTH}", "town01")
    assert [row["area_code"] for row in town["rows"]] == [A, B]
    village = client.ok("GET", "reporting", f"/overview?area={A}", "village01")
    groups = {
        row["village_group"]: row["figures"]["households"] for row in village["rows"]
    }
    assert groups == {"1": 2, "2": 1}

    # The lists behind the figures.
    targets = client.ok("GET", "reporting", "/figures/targets", "district01")
    assert [str(item["household_id"]) for item in targets["items"]] == [ids["h1"]]
    assert targets["items"][0]["case_ids"] == [c1]
    waiting = client.ok("GET", "reporting", "/figures/open_cases.visit", "district01")
    assert [item["case_ids"] for item in waiting["items"]] == [[c4]]
    timeline = client.ok(
        "GET", "reporting", waiting["items"][0]["timelines"][0], "district01"
    )
    assert "DepartmentRecordReceived" in [entry["type"] for entry in timeline]
    confirmed = client.ok(
        "GET", "reporting", f"/figures/month.confirmed?month={MONTH}", "district01"
    )
    assert [item["case_ids"] for item in confirmed["items"]] == [[c1]]

    history = client.ok(
        "GET", "reporting", f"/households/{ids['h1']}/history", "town01"
    )
    state = history["state"]
    assert state["target_type"] == "expense_hardship" and state["member_count"] == 3
    assert state["income"]["per_capita_net_income"] == "9000.00"
    (case,) = state["cases"]
    assert case["step"] == "assistance" and case["plan_measures"] == [
        "serious_illness_aid"
    ]
    assert [step["step"] for step in case["steps"]] == [
        "visit",
        "notice",
        "notice_period",
        "town_check",
        "decision",
        "plan",
        "assistance",
    ]
    assert sorted(g["measure"] for g in state["grants"]) == [
        "health_fund",
        "serious_illness_aid",
    ]
    assert forms["h1"]["members"][0]["id_number"] not in json.dumps(history)
    assert forms["h1"]["members"][0]["name"] not in json.dumps(history)

    # The ledger, as officials export it.
    ledger = client.ok("GET", "reporting", f"/ledger?month={MONTH}", "district01")
    county = next(row for row in ledger["rows"] if row["level"] == "district")
    month = {name: cell["month"] for name, cell in county["figures"].items()}
    assert (
        month["month.reported"],
        month["month.decided"],
        month["month.visits"],
        month["month.plans"],
        month["month.grants"],
        month["month.closed"],
    ) == (3, 2, 3, 1, 3, 1)
    # A grid monitor's ledger is their own village group's row, whatever is asked.
    grid = client.ok("GET", "reporting", f"/ledger?month={MONTH}", "grid01")
    assert [(row["level"], row["village_group"]) for row in grid["rows"]] == [
        ("village_group", "1")
    ]
    sheet = client.call("GET", "reporting", f"/ledger/export?month={MONTH}", "town01")
    assert sheet.status_code == 200
    rows_xlsx = list(load_workbook(io.BytesIO(sheet.content)).active.values)
    assert rows_xlsx[0][:4] == ("层级", "区划代码", "名称", "村民小组")
    assert rows_xlsx[1][:3] == ("乡镇", "510904101", "安居镇")

    # Assessment names the cases behind each score.
    judged = client.ok("GET", "reporting", "/assessment", "district01")
    town_score = next(t for t in judged["towns"] if t["subject"] == "town:510904101")
    visits = town_score["indicators"]["visits_on_time"]
    assert visits["met"] == 3 and visits["count"] == 4
    behind = client.ok(
        "GET",
        "reporting",
        town_score["items"] + "&indicator=visits_on_time&outcome=met",
        "district01",
    )
    assert sorted(item["case_id"] for item in behind["items"]) == sorted([c1, c2, c3])
    feeds = client.ok("GET", "reporting", "/feeds", "district01")
    record_month = RECORD_DAY.strftime("%Y-%m")
    medical = next(
        f
        for f in feeds
        if f["department"] == "medical_insurance" and f["month"] == record_month
    )
    assert (medical["matched"], medical["on_time"], medical["status"]) == (
        1,
        1,
        "on_time",
    )


async def test_reporting_judges_by_the_limits_casework_publishes(platform):
    client = Client(platform.urls)
    holidays = ["2027-02-16", "2027-02-17"]

    client.ok(
        "PUT",
        "casework",
        "/time-limits/decision",
        "district01",
        json={"days": 8, "escalate_after": 15, "working_days": True},
    )
    client.ok(
        "PUT",
        "casework",
        "/calendar",
        "district01",
        json={"holidays": holidays, "workdays": ["2027-02-20"]},
    )

    def published() -> dict[str, Any] | None:
        found = client.ok("GET", "reporting", "/parameters", "district01")
        return found if found["holidays"] == holidays else None

    found = await eventually(published, within=30)
    assert found["step_limits"]["decision"] == {
        "days": 8,
        "escalate_after": 15,
        "working_days": True,
    }
    assert found["workdays"] == ["2027-02-20"]
    assert found["step_limits"]["visit"]["days"] == 2
