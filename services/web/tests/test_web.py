"""The web process on fake services: catalogues, formats, errors beside their
fields, sign-in and the form token."""

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
from web.client import ApiError
from web.config import WebSettings
from web.format import area_name, format_date, format_datetime, format_money
from web.i18n import EN, ZH, translate_reason
from web.pages.cases import action_body, field_errors
from web.session import TOKEN_COOKIE, read_user, safe_next

CASE_ID = str(uuid.uuid4())
HOUSEHOLD_ID = str(uuid.uuid4())


def token(role: str = "village", user: str = "village01") -> str:
    claims = {
        "sub": user,
        "role": role,
        "area": "510904101201",
        "exp": int(time.time()) + 3600,
    }
    return jwt.encode(
        claims, "the web process never checks this signature", algorithm="HS256"
    )


def fake_services(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == "/auth/token":
        form = dict(x.split("=") for x in request.content.decode().split("&"))
        if form["password"] != "demo":
            return httpx.Response(401, json={"detail": "unknown demo user"})
        return httpx.Response(200, json={"access_token": token()})
    if path == "/auth/demo-users":
        return httpx.Response(200, json=[])
    if path == "/queue":
        return httpx.Response(
            200,
            json={"total": 0, "overdue": 0, "escalated": 0, "counts": {}, "cases": []},
        )
    if path == f"/cases/{CASE_ID}/notice":
        return httpx.Response(
            422, json={"detail": [{"field": "ends_on", "reason": "Field required"}]}
        )
    if path == f"/cases/{CASE_ID}":
        return httpx.Response(200, json=case())
    if path == f"/cases/{CASE_ID}/history":
        return httpx.Response(200, json=[])
    return httpx.Response(404, json={"detail": "Not Found"})


def case() -> dict[str, Any]:
    return {
        "case_id": CASE_ID,
        "household_id": HOUSEHOLD_ID,
        "area_code": "510904101201",
        "town_code": "510904101",
        "status": "open",
        "step": "notice",
        "level": "village",
        "urgent": False,
        "signals": 1,
        "consent": True,
        "target_type": None,
        "plan": None,
        "progress": [],
        "exited": False,
        "due_at": "2026-12-08T02:00:00Z",
    }


@pytest.fixture
def client() -> TestClient:
    app = create_app(WebSettings(), transport=httpx.MockTransport(fake_services))
    return TestClient(app, follow_redirects=False)


def test_both_catalogues_have_the_same_keys() -> None:
    assert set(ZH) == set(EN)


def test_dates_money_and_areas_read_as_officials_expect() -> None:
    assert format_date("2026-01-05", "zh") == "2026年1月5日"
    assert format_date("2026-01-05", "en") == "5 Jan 2026"
    # Stored in UTC, shown in China Standard Time.
    assert format_datetime("2026-01-05T17:30:00Z", "zh") == "2026年1月6日 01:30"
    assert format_money("1234.5", "zh") == "1,234.50 元"
    assert format_money(1234.5, "en") == "¥1,234.50"
    assert area_name("510904101201", "zh") == "安居镇 石洞村"
    assert area_name("510904999", "zh") == "510904999"


def test_service_reasons_read_in_chinese() -> None:
    assert translate_reason("Field required", "zh") == "此项必填"
    assert translate_reason("the public notice runs at least 5 days", "zh") == (
        "公示期不少于5天"
    )
    assert translate_reason("Field required", "en") == "Field required"
    assert translate_reason("something new", "zh") == "something new"


def test_api_errors_keep_each_field_and_its_reason() -> None:
    validation = httpx.Response(
        422, json={"detail": [{"field": "reason", "reason": "Field required"}]}
    )
    assert ApiError.from_response(validation).fields == {"reason": "Field required"}
    domain = httpx.Response(422, json={"detail": "too short", "field": "ends_on"})
    assert ApiError.from_response(domain).fields == {"ends_on": "too short"}
    plain = httpx.Response(409, json={"detail": "the case is already closed"})
    assert ApiError.from_response(plain).message == "the case is already closed"


def test_plan_rows_are_sent_and_their_errors_come_back_by_measure() -> None:
    form = {
        "paired_cadre": "李干部",
        "measure.temporary_aid": "on",
        "department.temporary_aid": "civil_affairs",
        "due.temporary_aid": "",
    }
    body = action_body("plan", form)
    assert body["measures"] == [
        {"measure": "temporary_aid", "responsible_department": "civil_affairs"}
    ]
    error = ApiError(422, "", {"measures.0.due_on": "Field required"})
    assert field_errors("plan", error, body) == {
        "due_on.temporary_aid": "Field required"
    }


def test_redirects_stay_on_this_site() -> None:
    assert safe_next("/queue?step=visit") == "/queue?step=visit"
    assert safe_next("https://elsewhere.example/") == "/"
    assert safe_next("//elsewhere.example/") == "/"


def test_signed_out_visitor_is_sent_to_sign_in(client: TestClient) -> None:
    response = client.get("/queue")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in?next=")


def test_sign_in_keeps_the_token_in_an_httponly_cookie(client: TestClient) -> None:
    wrong = client.post("/sign-in", data={"username": "village01", "password": "x"})
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
    response = client.post(
        "/sign-in", data={"username": "village01", "password": "demo"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/queue"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(TOKEN_COOKIE) and "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    queue = client.get("/queue")
    assert queue.status_code == 200 and "我的待办" in queue.text
    assert "default-src 'self'" in queue.headers["content-security-policy"]
    assert queue.headers["cache-control"] == "no-store"


def test_english_is_one_click_away(client: TestClient) -> None:
    client.cookies.set(TOKEN_COOKIE, token())
    switched = client.get("/lang/en?next=/queue")
    assert switched.headers["location"] == "/queue"
    client.cookies.set("fangpin_lang", "en")
    assert "My queue" in client.get("/queue").text


def test_a_form_without_its_session_token_is_refused(client: TestClient) -> None:
    client.cookies.set(TOKEN_COOKIE, token())
    response = client.post(f"/cases/{CASE_ID}/notice", data={"starts_on": "x"})
    assert response.status_code == 403


def test_a_step_error_is_shown_beside_its_field(client: TestClient) -> None:
    user_token = token()
    client.cookies.set(TOKEN_COOKIE, user_token)
    response = client.post(
        f"/cases/{CASE_ID}/notice",
        data={"csrf": read_user(user_token).csrf, "starts_on": "2026-01-01"},
    )
    assert response.status_code == 422
    assert 'id="err-notice-ends_on"' in response.text
    assert "此项必填" in response.text
    assert 'value="2026-01-01"' in response.text


def test_chart_data_cannot_close_its_script_tag() -> None:
    from web.render import build_templates

    rendered = build_templates().env.filters["tojson_script"]({"a": "</script>"})
    assert "</script>" not in rendered
    assert json.loads(str(rendered)) == {"a": "</script>"}
