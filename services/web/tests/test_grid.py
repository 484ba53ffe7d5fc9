"""The grid page on fake services: a household found by a member's name, its ID
number masked, a tap away from the report form; a short query refused beside
its field; each report shown with what became of it."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from web.app import create_app
from web.config import WebSettings
from web.session import TOKEN_COOKIE, read_user

VILLAGE = "510904101201"
HOUSEHOLD = str(uuid.uuid4())
HEAD_MASKED = "510***********0017"
SON_MASKED = "510***********0025"
OPENED, ATTACHED, CLOSED, WAITING = (str(uuid.uuid4()) for _ in range(4))
CASE, OLD_CASE = str(uuid.uuid4()), str(uuid.uuid4())


def grid_token() -> str:
    claims = {
        "sub": "grid01",
        "role": "grid_monitor",
        "area": VILLAGE,
        "village_group": "1",
        "exp": int(time.time()) + 3600,
    }
    return jwt.encode(
        claims, "the web process never checks this signature", algorithm="HS256"
    )


class Intake:
    """The services as the grid page meets them; the searches it was sent."""

    def __init__(self) -> None:
        self.searches: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/households/search":
            self.searches.append(request)
            return httpx.Response(200, json=matches())
        if path == "/reports":
            return httpx.Response(200, json={"total": 4, "reports": reports()})
        if path == f"/households/{HOUSEHOLD}/history":
            return httpx.Response(200, json=history())
        if path.endswith("/history"):
            return httpx.Response(404, json={"detail": "household not found"})
        return httpx.Response(404, json={"detail": "Not Found"})


def matches() -> dict[str, Any]:
    return {
        "households": [
            {
                "household_id": HOUSEHOLD,
                "household_number": None,
                "area_code": VILLAGE,
                "village_group": "1",
                "head_name": "王大明",
                "head_id_number_masked": HEAD_MASKED,
                "member_count": 3,
                "matched": [
                    {
                        "name": "王小红",
                        "relation": "child",
                        "id_number_masked": SON_MASKED,
                    }
                ],
            }
        ],
        "more": False,
    }


def reports() -> list[dict[str, Any]]:
    def report(report_id: str, household: str = HOUSEHOLD) -> dict[str, Any]:
        return {
            "report_id": report_id,
            "household_id": household,
            "area_code": VILLAGE,
            "village_group": "1",
            "category": "illness",
            "observed_on": "2026-11-02",
            "amount": None,
            "urgent": True,
            "status": "reported",
            "reported_at": "2026-11-02T03:00:00Z",
        }

    # The last one's household is not in reporting yet.
    return [
        report(OPENED),
        report(ATTACHED),
        report(CLOSED),
        report(WAITING, str(uuid.uuid4())),
    ]


def history() -> dict[str, Any]:
    def event(kind: str, **data: Any) -> dict[str, Any]:
        return {"event_id": str(uuid.uuid4()), "type": kind, "data": data}

    reported = {
        report_id: event("ProblemReported", report_id=report_id)
        for report_id in (OPENED, ATTACHED, CLOSED)
    }
    return {
        "events": [
            *reported.values(),
            event(
                "CaseOpened",
                case_id=OLD_CASE,
                signal_event_id=reported[CLOSED]["event_id"],
            ),
            event(
                "CaseOpened", case_id=CASE, signal_event_id=reported[OPENED]["event_id"]
            ),
            event(
                "SignalAttached",
                case_id=CASE,
                signal_event_id=reported[ATTACHED]["event_id"],
            ),
        ],
        "state": {
            "cases": [
                {
                    "case_id": OLD_CASE,
                    "status": "closed",
                    "step": "ended",
                    "decision": "rejected",
                },
                {
                    "case_id": CASE,
                    "status": "open",
                    "step": "town_check",
                    "decision": None,
                },
            ]
        },
    }


@pytest.fixture
def intake() -> Intake:
    return Intake()


@pytest.fixture
def client(intake: Intake) -> TestClient:
    app = create_app(WebSettings(), transport=httpx.MockTransport(intake))
    client = TestClient(app, follow_redirects=False)
    client.cookies.set(TOKEN_COOKIE, grid_token())
    return client


def search(client: TestClient, query: str) -> httpx.Response:
    csrf = read_user(grid_token()).csrf
    return client.post("/grid/search", data={"csrf": csrf, "q": query})


def test_a_member_found_by_name_is_a_tap_from_the_report_form(client, intake):
    page = search(client, " 小红 ")

    assert page.status_code == 200
    (sent,) = intake.searches
    assert json.loads(sent.content) == {"q": "小红", "limit": 20}
    assert "小红" not in str(sent.url)
    assert 'data-test="match"' in page.text
    assert "王大明" in page.text and "王小红（子女）" in page.text
    assert HEAD_MASKED in page.text and SON_MASKED in page.text
    assert f'href="/grid?household_id={HOUSEHOLD}#report-h"' in page.text
    assert '<label for="f-q">' in page.text


def test_a_short_query_is_refused_beside_its_field(client, intake):
    page = search(client, "王")

    assert page.status_code == 422
    assert intake.searches == []
    assert 'id="err-q"' in page.text and "请至少输入2个字" in page.text
    assert 'aria-invalid="true"' in page.text


def test_each_report_says_what_became_of_it(client):
    page = client.get("/grid")

    assert page.status_code == 200
    outcomes = {
        report_id: page.text.split(f'data-report="{report_id}" data-outcome="')[
            1
        ].split('"')[0]
        for report_id in (OPENED, ATTACHED, CLOSED, WAITING)
    }
    assert outcomes == {
        OPENED: "open",
        ATTACHED: "open",
        CLOSED: "rejected",
        WAITING: "reported",
    }
    assert page.text.count("办理中：镇级审核") == 2
    assert "已办结，未纳入监测" in page.text
    assert "已上报，等待受理" in page.text


def test_the_search_answer_reloaded_by_its_address_goes_back_to_the_grid(client):
    response = client.get("/grid/search")
    assert response.status_code == 303 and response.headers["location"] == "/grid"


def district_token() -> str:
    claims = {
        "sub": "district01",
        "role": "district",
        "area": "510904",
        "exp": int(time.time()) + 3600,
    }
    return jwt.encode(claims, "never checked by the web process", algorithm="HS256")


def test_the_district_finds_a_household_and_opens_its_file(intake):
    app = create_app(WebSettings(), transport=httpx.MockTransport(intake))
    client = TestClient(app, follow_redirects=False)
    client.cookies.set(TOKEN_COOKIE, district_token())

    landing = client.get("/grid")
    page = client.post(
        "/grid/search",
        data={"csrf": read_user(district_token()).csrf, "q": "小红"},
    )
    by_id = client.get(f"/grid?household_id={HOUSEHOLD}")

    assert landing.status_code == 200
    assert 'href="/grid"' in landing.text and "查找农户" in landing.text
    assert 'data-test="my-reports"' not in landing.text
    assert page.status_code == 200 and "王大明" in page.text
    assert f'href="/households/{HOUSEHOLD}"' in page.text
    assert 'data-test="report-this"' not in page.text
    assert by_id.status_code == 303
    assert by_id.headers["location"] == f"/households/{HOUSEHOLD}"


def test_a_grid_monitor_stays_on_the_grid_page_with_their_reports(client):
    page = client.get(f"/grid?household_id={HOUSEHOLD}")

    assert page.status_code == 200
    assert 'data-test="my-reports"' in page.text
    assert "问题上报" in page.text
