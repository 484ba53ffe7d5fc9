"""Granting aid from the case page and the department's waiting measures, on
fake services: what is offered to whom, the body assistance receives, its
refusals beside their fields, the case's grants with totals, stopping a grant."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from fangpin.measures import MEASURES
from web.aid import grant_body, grant_totals, period_text
from web.app import create_app
from web.config import WebSettings
from web.format import CHINA
from web.session import TOKEN_COOKIE, read_user

VILLAGE = "510904101201"
TODAY = datetime.now(CHINA).date()


def token(role: str, user: str, area: str, department: str | None = None) -> str:
    claims: dict[str, Any] = {
        "sub": user,
        "role": role,
        "area": area,
        "exp": int(time.time()) + 3600,
    }
    if department:
        claims["department"] = department
    return jwt.encode(claims, "never checked by the web process", algorithm="HS256")


TOWN = token("town", "town01", "510904101")
VILLAGE_OFFICIAL = token("village", "village01", VILLAGE)
MEDICAL = token("department", "medical01", "510904", "medical_insurance")


def grant_row(case_id: str, measure: str, quantity: str, **changes: Any) -> dict:
    row = {
        "grant_id": str(uuid.uuid4()),
        "case_id": case_id,
        "measure": measure,
        "quantity": quantity,
        "unit": MEASURES[measure].unit,
        "period": "2026-11",
        "funding_source": "区级防贫资金",
        "department": MEASURES[measure].department,
        "emergency": False,
        "granted_at": "2026-11-03T02:00:00Z",
        "stopped_at": None,
    }
    row.update(changes)
    return row


class FakeServices:
    """Casework, assistance and the rest as far as these pages call them; what
    was posted is kept, and assistance answers what a test sets."""

    def __init__(self, step: str = "assistance", urgent: bool = False):
        self.case_id = str(uuid.uuid4())
        self.household_id = str(uuid.uuid4())
        self.case = {
            "case_id": self.case_id,
            "household_id": self.household_id,
            "area_code": VILLAGE,
            "town_code": VILLAGE[:9],
            "status": "open",
            "step": step,
            "level": "town" if step in ("plan", "assistance") else "village",
            "urgent": urgent,
            "signals": 1,
            "consent": True,
            "target_type": "expense_hardship" if step == "assistance" else None,
            "plan": None,
            "progress": [],
            "exited": False,
            "due_at": None,
        }
        self.grants: list[dict[str, Any]] = []
        self.assignments: list[dict[str, Any]] = []
        self.posted: list[tuple[str, Any]] = []
        self.queries: list[tuple[str, str]] = []
        self.answer = httpx.Response(201, json={"id": str(uuid.uuid4())})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.queries.append((path, request.url.query.decode()))
        if request.method == "POST":
            self.posted.append((path, json.loads(request.content or b"null")))
            if path == "/grants" or path.endswith("/stop"):
                return self.answer
        if path == f"/cases/{self.case_id}":
            return httpx.Response(200, json=self.case)
        if path == f"/cases/{self.case_id}/history":
            return httpx.Response(200, json=[])
        if path == "/measures":
            return httpx.Response(
                200,
                json=[
                    {
                        "code": m.code,
                        "name_zh": m.name_zh,
                        "name_en": m.name_en,
                        "target_type": m.target_type.value,
                        "department": m.department,
                        "unit": m.unit,
                    }
                    for m in MEASURES.values()
                ],
            )
        if path == f"/households/{self.household_id}/grants":
            return httpx.Response(200, json={"grants": self.grants, "totals": {}})
        if path == "/budgets":
            return httpx.Response(
                200,
                json=[
                    {
                        "funding_source": "区级防贫资金",
                        "year": TODAY.year,
                        "amount": "150000",
                        "spent": "0",
                        "remaining": "150000",
                    }
                ],
            )
        if path == "/assignments":
            return httpx.Response(200, json=self.assignments)
        return httpx.Response(404, json={"detail": "Not Found"})


def signed_in(fake: FakeServices, user_token: str) -> TestClient:
    app = create_app(WebSettings(), transport=httpx.MockTransport(fake))
    client = TestClient(app, follow_redirects=False)
    client.cookies.set(TOKEN_COOKIE, user_token)
    return client


def grant_form(user_token: str, **changes: str) -> dict[str, str]:
    form = {
        "csrf": read_user(user_token).csrf,
        "measure": "temporary_aid",
        "quantity": "2,000.50",
        "period": "2026-12",
        "funding_source": "区级防贫资金",
    }
    form.update(changes)
    return form


def grant_section(html: str) -> str:
    return html[html.index('id="grants"') : html.index('aria-labelledby="risk-h"')]


def test_the_grant_form_offers_the_measures_fitting_the_target_type_first():
    fake = FakeServices()
    page = signed_in(fake, TOWN).get(f"/cases/{fake.case_id}")

    assert page.status_code == 200
    form = grant_section(page.text)
    groups = re.findall(r'<optgroup label="([^"]+)"', form)
    assert groups == ["适合本户（支出困难型）的措施", "其他措施"]
    offered = re.findall(r'<option value="(\w+)" data-unit', form)
    fitting = [m.code for m in MEASURES.values() if m.target_type == "expense_hardship"]
    assert offered[: len(fitting)] == fitting
    assert set(offered) == set(MEASURES)
    assert "临时救助（元） · 民政局" in form
    # Every field is labelled, the month is this one, budgets' sources offered.
    for name in ("measure", "quantity", "period", "funding_source"):
        assert f'<label for="f-grant-{name}">' in form
    assert f'value="{TODAY:%Y-%m}"' in form and 'type="month"' in form
    assert '<option value="区级防贫资金">' in form
    assert 'name="emergency"' not in form


def test_a_village_official_sees_no_grant_form():
    fake = FakeServices()
    page = signed_in(fake, VILLAGE_OFFICIAL).get(f"/cases/{fake.case_id}")
    assert page.status_code == 200
    assert 'data-action="grant"' not in page.text
    assert not any(path == "/budgets" for path, _ in fake.queries)


def test_only_an_urgent_case_offers_aid_before_the_decision():
    urgent = FakeServices(step="visit", urgent=True)
    page = signed_in(urgent, TOWN).get(f"/cases/{urgent.case_id}")
    assert 'data-action="grant"' in page.text
    assert 'data-test="green-channel"' in page.text
    assert 'name="emergency"' in page.text

    ordinary = FakeServices(step="visit")
    page = signed_in(ordinary, TOWN).get(f"/cases/{ordinary.case_id}")
    assert 'data-action="grant"' not in page.text


def test_a_grant_reaches_assistance_as_typed_and_returns_to_the_grants():
    fake = FakeServices()
    client = signed_in(fake, TOWN)
    response = client.post(f"/cases/{fake.case_id}/grants", data=grant_form(TOWN))

    assert response.status_code == 303
    assert response.headers["location"] == f"/cases/{fake.case_id}?aid=granted#grants"
    assert fake.posted == [
        (
            "/grants",
            {
                "case_id": fake.case_id,
                "emergency": False,
                "measure": "temporary_aid",
                "period": "2026-12",
                "funding_source": "区级防贫资金",
                "quantity": "2000.50",
            },
        )
    ]
    done = client.get(response.headers["location"])
    assert "帮扶已发放" in done.text


def test_a_second_grant_for_the_same_month_is_refused_beside_the_period():
    fake = FakeServices()
    fake.answer = httpx.Response(
        409,
        json={
            "detail": "this measure was already granted to the household for this "
            "period",
            "field": "period",
        },
    )
    response = signed_in(fake, TOWN).post(
        f"/cases/{fake.case_id}/grants", data=grant_form(TOWN)
    )

    assert response.status_code == 409
    error = re.search(r'id="err-grant-period">([^<]+)', response.text)
    plainly = "临时救助 2026年12月 已发放过，同一措施同一月份只能发放一次。"
    assert error is not None and error.group(1) == plainly
    assert re.search(
        r'id="f-grant-period"[^>]*aria-describedby="hint-grant-period err-grant-period"'
        r' aria-invalid="true"',
        response.text,
    )
    # What was typed stays in the form.
    assert 'value="2,000.50"' in response.text


def test_assistance_reasons_show_beside_their_fields_in_chinese():
    fake = FakeServices()
    fake.answer = httpx.Response(
        422,
        json={
            "detail": [
                {
                    "field": "quantity",
                    "reason": "Decimal input should have no more than 2 decimal places",
                }
            ]
        },
    )
    response = signed_in(fake, TOWN).post(
        f"/cases/{fake.case_id}/grants", data=grant_form(TOWN, quantity="12.345")
    )
    assert response.status_code == 422
    assert re.search(r'id="err-grant-quantity">金额最多两位小数<', response.text)


def test_emergency_help_refused_without_the_flag_is_said_beside_it():
    fake = FakeServices(step="notice", urgent=True)
    fake.answer = httpx.Response(
        409,
        json={
            "detail": "the household is not a confirmed monitoring target; mark the "
            "grant as emergency help (green channel) to give it now",
            "field": "emergency",
        },
    )
    response = signed_in(fake, TOWN).post(
        f"/cases/{fake.case_id}/grants", data=grant_form(TOWN)
    )
    assert response.status_code == 409
    assert re.search(r'id="err-grant-emergency">该户尚未认定为监测对象', response.text)

    fake.answer = httpx.Response(201, json={"id": str(uuid.uuid4())})
    client = signed_in(fake, TOWN)
    client.post(
        f"/cases/{fake.case_id}/grants", data=grant_form(TOWN, emergency="true")
    )
    assert fake.posted[-1][1]["emergency"] is True


def test_people_are_granted_in_whole_numbers():
    fake = FakeServices()
    response = signed_in(fake, TOWN).post(
        f"/cases/{fake.case_id}/grants",
        data=grant_form(TOWN, measure="wages_away", quantity="1.5"),
    )
    assert response.status_code == 422
    assert re.search(r'id="err-grant-quantity">人数、岗位数须为整数<', response.text)
    assert fake.posted == []


def test_the_case_shows_its_own_grants_with_totals_leaving_stopped_ones_out():
    fake = FakeServices()
    fake.grants = [
        grant_row(fake.case_id, "temporary_aid", "2000.50"),
        grant_row(fake.case_id, "serious_illness_aid", "1500", period="2026-12"),
        grant_row(
            fake.case_id,
            "health_fund",
            "800",
            stopped_at="2026-11-20T02:00:00Z",
        ),
        grant_row(fake.case_id, "welfare_post", "1"),
        grant_row(str(uuid.uuid4()), "temporary_aid", "9999"),
    ]
    page = signed_in(fake, TOWN).get(f"/cases/{fake.case_id}")
    section = grant_section(page.text)

    assert section.count("<tr data-grant=") == 4
    assert "9,999.00" not in section
    assert "2,000.50 元" in section and "1 个" in section
    assert "2026年11月" in section
    total = re.search(r'data-test="grant-money-total">(.*?)</tr>', section)
    assert total is not None and "3,500.50 元" in total.group(1)
    assert "另有 1 笔已停发" in section
    stopped = fake.grants[2]["grant_id"]
    assert f'action="/cases/{fake.case_id}/grants/{stopped}/stop"' not in section
    active = fake.grants[0]["grant_id"]
    assert f'action="/cases/{fake.case_id}/grants/{active}/stop"' in section


def test_stopping_a_grant_sends_the_reason_and_a_missing_one_is_named():
    fake = FakeServices()
    fake.grants = [grant_row(fake.case_id, "temporary_aid", "2000")]
    grant_id = fake.grants[0]["grant_id"]
    client = signed_in(fake, TOWN)
    csrf = read_user(TOWN).csrf

    fake.answer = httpx.Response(204)
    stopped = client.post(
        f"/cases/{fake.case_id}/grants/{grant_id}/stop",
        data={"csrf": csrf, "reason": "重复发放"},
    )
    assert stopped.status_code == 303
    assert stopped.headers["location"].endswith("?aid=stopped#grants")
    assert fake.posted[-1] == (f"/grants/{grant_id}/stop", {"reason": "重复发放"})

    fake.answer = httpx.Response(
        422, json={"detail": [{"field": "reason", "reason": "Field required"}]}
    )
    refused = client.post(
        f"/cases/{fake.case_id}/grants/{grant_id}/stop",
        data={"csrf": csrf, "reason": " "},
    )
    assert refused.status_code == 422
    assert re.search(rf'id="err-stop-{grant_id}-reason">此项必填<', refused.text)
    assert '<details class="stop-grant" open>' in refused.text


def test_a_department_is_offered_only_the_measures_of_its_field():
    fake = FakeServices()
    fake.grants = [
        grant_row(fake.case_id, "temporary_aid", "2000"),
        grant_row(fake.case_id, "chronic_aid", "300"),
    ]
    page = signed_in(fake, MEDICAL).get(f"/cases/{fake.case_id}")
    section = grant_section(page.text)

    offered = set(re.findall(r'<option value="(\w+)" data-unit', section))
    assert offered == {
        m.code for m in MEASURES.values() if m.department == "medical_insurance"
    }
    # It stops its own grants, not civil affairs'.
    assert f"grants/{fake.grants[1]['grant_id']}/stop" in section
    assert f"grants/{fake.grants[0]['grant_id']}/stop" not in section


def assignment(due_in_days: int, measure: str = "serious_illness_aid") -> dict:
    return {
        "assignment_id": str(uuid.uuid4()),
        "case_id": str(uuid.uuid4()),
        "household_id": str(uuid.uuid4()),
        "area_code": VILLAGE,
        "measure": measure,
        "department": "medical_insurance",
        "due_on": (TODAY + timedelta(days=due_in_days)).isoformat(),
        "assigned_at": "2026-01-02T02:00:00Z",
        "delivered_at": None,
    }


def test_a_department_sees_its_waiting_measures_oldest_due_first():
    fake = FakeServices()
    fake.assignments = [assignment(30), assignment(-3, "chronic_aid"), assignment(0)]
    page = signed_in(fake, MEDICAL).get("/department")

    assert page.status_code == 200
    assert ("/assignments", "waiting_only=true") in fake.queries
    table = page.text[page.text.index('data-test="assignments"') :]
    rows = re.findall(r'<tr class="([^"]*)" data-case="([^"]+)"', table)
    expected = [fake.assignments[i]["case_id"] for i in (1, 2, 0)]
    assert [case for _, case in rows] == expected
    assert [kind for kind, _ in rows] == ["state-overdue", "", ""]
    assert "逾期 3 天" in table and table.count("待落实") == 2
    assert f'href="/cases/{expected[0]}#grants"' in table
    assert "安居镇 石洞村" in table
    assert "逾期 1 项" in page.text


def test_grant_form_values_are_read_as_officials_type_them():
    units = {"temporary_aid": "yuan", "welfare_post": "places"}
    body, problems = grant_body(
        "c", {"measure": "temporary_aid", "quantity": "1，200 元"}, units
    )
    assert body["quantity"] == "1200" and problems == {}
    body, problems = grant_body(
        "c", {"measure": "welfare_post", "quantity": "2.00"}, units
    )
    assert problems == {}
    _, problems = grant_body("c", {"measure": "welfare_post", "quantity": "x"}, units)
    assert problems == {}  # not a number: assistance names the problem


def test_months_read_in_either_language():
    assert period_text("2026-03", "zh") == "2026年3月"
    assert period_text("2026-03", "en") == "Mar 2026"
    assert period_text("2026", "zh") == "2026"


@pytest.mark.parametrize("stopped_at", [None, "2026-11-20T02:00:00Z"])
def test_totals_count_only_grants_still_running(stopped_at):
    grants = [grant_row("c", "temporary_aid", "100", stopped_at=stopped_at)]
    totals = grant_totals(grants)
    assert totals["stopped"] == (1 if stopped_at else 0)
    assert len(totals["rows"]) == (0 if stopped_at else 1)
