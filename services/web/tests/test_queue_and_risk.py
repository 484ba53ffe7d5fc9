"""The queue's overdue (orange) and escalated (red) cases and their counts, its
pager, and the case page's explanation of a risk flag, on fake services."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from web.app import create_app
from web.config import WebSettings
from web.present import unmet_text
from web.session import LANG_COOKIE, TOKEN_COOKIE

VILLAGE = "510904101201"


def token(role: str, user: str, area: str) -> str:
    claims = {"sub": user, "role": role, "area": area, "exp": int(time.time()) + 3600}
    return jwt.encode(claims, "never checked by the web process", algorithm="HS256")


def queue_row(state: str, step: str, due_at: str) -> dict[str, Any]:
    return {
        "case_id": str(uuid.uuid4()),
        "household_id": str(uuid.uuid4()),
        "area_code": VILLAGE,
        "town_code": VILLAGE[:9],
        "step": step,
        "level": "village",
        "urgent": False,
        "reentry": False,
        "signals": 1,
        "target_type": None,
        "opened_at": "2026-10-02T01:00:00Z",
        "step_started_at": "2026-10-05T01:00:00Z",
        "due_at": due_at,
        "state": state,
    }


ON_TIME = queue_row("on_time", "notice", "2026-12-20T01:00:00Z")
OVERDUE = queue_row("overdue", "visit", "2026-10-07T01:00:00Z")
ESCALATED = queue_row("escalated", "visit", "2026-10-06T01:00:00Z")
QUEUE = {
    "total": 57,
    "overdue": 4,
    "escalated": 2,
    "counts": {"visit": 41, "notice": 16},
    "cases": [ESCALATED, OVERDUE, ON_TIME],
}

CASE_ID = str(uuid.uuid4())
HOUSEHOLD_ID = str(uuid.uuid4())
CASE = {
    "case_id": CASE_ID,
    "household_id": HOUSEHOLD_ID,
    "area_code": VILLAGE,
    "town_code": VILLAGE[:9],
    "status": "open",
    "step": "visit",
    "level": "village",
    "urgent": False,
    "signals": 1,
    "consent": False,
    "target_type": None,
    "plan": None,
    "progress": [],
    "exited": False,
    "due_at": "2026-12-08T02:00:00Z",
}
RISK_FLAGGED = {
    "event_id": str(uuid.uuid4()),
    "type": "RiskFlagged",
    "occurred_at": "2026-11-02T03:00:00Z",
    "actor": {"role": "system", "user_id": "screening"},
    "causation_id": None,
    "data": {
        "household_id": HOUSEHOLD_ID,
        "area_code": VILLAGE,
        "target_type": "expense_hardship",
        "catalogue_version": 3,
        "hits": [
            {
                "code": "R-INC-01",
                "name_zh": "人均纯收入低于监测线",
                "name_en": "Per-capita net income below the line",
                "values": {"per_capita_income": 4200},
                "thresholds": {"income_line_formerly_poor": 5000},
            },
            {
                "code": "R-MED-01",
                "name_zh": "医疗自付费用超过监测线",
                "name_en": "Out-of-pocket medical cost above the line",
                "values": {"out_of_pocket": 12000.5},
                "thresholds": {"oop_line_low_income": 10000},
            },
        ],
    },
}


def fake_services(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == "/queue":
        return httpx.Response(200, json=QUEUE)
    if path == f"/cases/{CASE_ID}":
        return httpx.Response(200, json=CASE)
    if path == f"/cases/{CASE_ID}/timeline":
        return httpx.Response(200, json=[RISK_FLAGGED])
    if path == f"/cases/{CASE_ID}/history":
        return httpx.Response(200, json=[])
    return httpx.Response(404, json={"detail": "Not Found"})


@pytest.fixture
def client() -> TestClient:
    app = create_app(WebSettings(), transport=httpx.MockTransport(fake_services))
    test_client = TestClient(app, follow_redirects=False)
    test_client.cookies.set(TOKEN_COOKIE, token("village", "village01", VILLAGE))
    return test_client


def rows_by_case(html: str) -> dict[str, str]:
    """Each queue row's markup, by the case it lists."""
    rows = re.findall(r'(<tr class="[^"]*" data-case="([^"]+)".*?</tr>)', html, re.S)
    return {case_id: row for row, case_id in rows}


def section(html: str, test_id: str) -> str:
    found = re.search(rf'<(\w+)[^>]*data-test="{test_id}".*?</\1>', html, re.S)
    assert found, f"no {test_id} on the page"
    return found[0]


def test_queue_marks_overdue_orange_and_escalated_red_with_their_counts(
    client: TestClient,
) -> None:
    html = client.get("/queue").text
    summary = section(html, "queue-summary")
    assert "共 57 件" in summary
    assert '<span class="badge overdue">超时 4 件</span>' in summary
    assert '<span class="badge escalated">升级 2 件</span>' in summary
    rows = rows_by_case(html)
    assert list(rows) == [ESCALATED["case_id"], OVERDUE["case_id"], ON_TIME["case_id"]]
    escalated, overdue, on_time = rows.values()
    assert escalated.startswith('<tr class="state-escalated"')
    assert '<span class="badge escalated">已升级</span>' in escalated
    assert overdue.startswith('<tr class="state-overdue"')
    assert '<span class="badge overdue">超时预警</span>' in overdue
    assert on_time.startswith('<tr class="state-on_time"')
    assert '<span class="badge on_time">正常</span>' in on_time
    assert "入户核实 <strong>41</strong>" in html


def test_queue_states_and_counts_read_in_english(client: TestClient) -> None:
    client.cookies.set(LANG_COOKIE, "en")
    html = client.get("/queue").text
    summary = section(html, "queue-summary")
    assert '<span class="badge overdue">4 overdue</span>' in summary
    assert '<span class="badge escalated">2 escalated</span>' in summary
    rows = rows_by_case(html)
    assert (
        '<span class="badge escalated">Escalated</span>' in rows[ESCALATED["case_id"]]
    )
    assert '<span class="badge overdue">Overdue</span>' in rows[OVERDUE["case_id"]]


def test_queue_pager_is_named_in_the_page_language(client: TestClient) -> None:
    assert '<nav class="pager" aria-label="分页">' in client.get("/queue").text
    client.cookies.set(LANG_COOKIE, "en")
    assert '<nav class="pager" aria-label="Pages">' in client.get("/queue").text


def test_case_page_explains_each_indicator_hit_with_value_and_threshold(
    client: TestClient,
) -> None:
    html = client.get(f"/cases/{CASE_ID}").text
    hits = re.findall(r"<li>.*?</li>", section(html, "risk-hits"), re.S)
    assert len(hits) == 2
    income, medical = hits
    assert "人均纯收入低于监测线" in income and "<code>R-INC-01</code>" in income
    assert "per_capita_income = 4,200" in income
    assert "income_line_formerly_poor = 5,000" in income
    assert "建议类型：支出困难型" in income
    assert "医疗自付费用超过监测线" in medical and "<code>R-MED-01</code>" in medical
    assert "个人自付 = 12,000.50 元" in medical
    assert "阈值：oop_line_low_income = 10,000" in medical


def test_case_page_explains_the_risk_flag_in_english(client: TestClient) -> None:
    client.cookies.set(LANG_COOKIE, "en")
    hits = section(client.get(f"/cases/{CASE_ID}").text, "risk-hits")
    assert "Per-capita net income below the line" in hits
    assert "Out of pocket = ¥12,000.50" in hits
    assert "Thresholds" in hits and "oop_line_low_income = 10,000" in hits


def test_an_unmet_income_condition_names_the_line_casework_used():
    reason = (
        "income: below the line of 8,000 yuan (income_line_formerly_poor from "
        "2027-03-14, catalogue version 2) on 2027-03-14"
    )

    assert unmet_text(reason, "zh") == "收入稳定超过标准线不足6个月（监测线 8,000 元）"
    assert unmet_text(reason, "en").endswith("(line: 8,000 yuan)")
    assert unmet_text("measures: none received", "zh") != "measures: none received"
