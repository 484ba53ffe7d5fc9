"""The district's working calendar on the time-limits page, on a fake casework:
the holidays and worked weekend days it keeps, the body a save sends, casework's
refusal beside the field it names, and dates the page refuses before sending."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from web.app import create_app
from web.client import ApiError
from web.config import WebSettings
from web.pages.district import read_dates
from web.session import LANG_COOKIE, TOKEN_COOKIE, read_user


def token(role: str, user: str, area: str) -> str:
    claims = {"sub": user, "role": role, "area": area, "exp": int(time.time()) + 3600}
    return jwt.encode(claims, "never checked by the web process", algorithm="HS256")


DISTRICT = token("district", "district01", "510904")
AUDITOR = token("auditor", "auditor01", "510904")


class FakeCasework:
    """Casework's time limits and calendar; a PUT to the calendar is kept and
    answered with what a test sets, or with the calendar as sent."""

    def __init__(self) -> None:
        self.calendar: dict[str, list[str]] = {
            "holidays": ["2027-01-01", "2027-02-08"],
            "workdays": ["2027-02-07"],
        }
        self.sent: list[Any] = []
        self.answer: httpx.Response | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/time-limits":
            limit = {
                "step": "visit",
                "level": "village",
                "days": 2,
                "escalate_after": 4,
                "working_days": True,
            }
            return httpx.Response(200, json=[limit])
        if path == "/calendar" and request.method == "PUT":
            self.sent.append(json.loads(request.content))
            if self.answer is not None:
                return self.answer
            self.calendar = self.sent[-1]
            return httpx.Response(200, json=self.calendar)
        if path == "/calendar":
            return httpx.Response(200, json=self.calendar)
        return httpx.Response(404, json={"detail": "Not Found"})


def signed_in(fake: FakeCasework, user_token: str, lang: str = "zh") -> TestClient:
    app = create_app(WebSettings(), transport=httpx.MockTransport(fake))
    client = TestClient(app, follow_redirects=False)
    client.cookies.set(TOKEN_COOKIE, user_token)
    client.cookies.set(LANG_COOKIE, lang)
    return client


def calendar_form(holidays: str, workdays: str) -> dict[str, str]:
    return {
        "csrf": read_user(DISTRICT).csrf,
        "holidays": holidays,
        "workdays": workdays,
    }


def textarea(html: str, name: str) -> str:
    found = re.search(
        rf'<textarea id="f-calendar-{name}"[^>]*>([^<]*)</textarea>', html
    )
    assert found is not None, name
    return found.group(1)


def test_the_page_shows_the_calendar_in_labelled_fields():
    page = signed_in(FakeCasework(), DISTRICT).get("/district/time-limits")

    assert page.status_code == 200
    assert textarea(page.text, "holidays") == "2027-01-01\n2027-02-08"
    assert textarea(page.text, "workdays") == "2027-02-07"
    assert "现有 2 个法定节假日、1 个调休上班日。" in page.text
    for name in ("holidays", "workdays"):
        assert f'<label for="f-calendar-{name}">' in page.text
        assert re.search(
            rf'id="f-calendar-{name}"[^>]*aria-describedby="hint-calendar-{name}"',
            page.text,
        )
    assert 'action="/district/calendar#calendar"' in page.text
    assert "保存日历" in page.text


def test_the_page_is_in_english_when_asked():
    page = signed_in(FakeCasework(), DISTRICT, lang="en").get("/district/time-limits")

    assert "Working calendar" in page.text
    assert "2 public holidays and 1 worked weekend days are listed." in page.text


def test_only_the_district_gets_a_save_button():
    page = signed_in(FakeCasework(), AUDITOR).get("/district/time-limits")

    assert textarea(page.text, "holidays") == "2027-01-01\n2027-02-08"
    assert "保存日历" not in page.text


def test_a_saved_calendar_reaches_casework_as_sorted_dates():
    fake = FakeCasework()
    client = signed_in(fake, DISTRICT)

    response = client.post(
        "/district/calendar",
        data=calendar_form(
            "2027-10-01, 2027-10-02\r\n2027-10-01，2027-09-30\r\n", "2027-09-26"
        ),
    )

    assert response.status_code == 303
    assert response.headers["location"] == (
        "/district/time-limits?saved=calendar#calendar"
    )
    assert fake.sent == [
        {
            "holidays": ["2027-09-30", "2027-10-01", "2027-10-02"],
            "workdays": ["2027-09-26"],
        }
    ]
    done = client.get(response.headers["location"])
    assert 'data-test="calendar-saved"' in done.text
    assert "工作日历已更新" in done.text
    # The step limits' own success message is not shown for the calendar.
    assert 'data-test="done"' not in done.text
    assert textarea(done.text, "holidays") == "2027-09-30\n2027-10-01\n2027-10-02"


def test_emptied_fields_clear_the_calendar():
    fake = FakeCasework()

    signed_in(fake, DISTRICT).post("/district/calendar", data=calendar_form("", " "))

    assert fake.sent == [{"holidays": [], "workdays": []}]


@pytest.mark.parametrize(
    ("reason", "shown"),
    [
        (
            "2027-09-27 is a weekday: only weekend days can be listed as worked",
            "2027-09-27 是周一至周五，只有周六、周日可列为调休上班日",
        ),
        (
            "2027-10-02 is listed both as a holiday and as worked",
            "2027-10-02 不能既是节假日又是调休上班日",
        ),
    ],
)
def test_a_refused_calendar_shows_the_reason_beside_the_worked_days(reason, shown):
    fake = FakeCasework()
    fake.answer = httpx.Response(422, json={"detail": reason, "field": "workdays"})

    response = signed_in(fake, DISTRICT).post(
        "/district/calendar",
        data=calendar_form("2027-10-01\n2027-10-02", "2027-09-27\n2027-10-02"),
    )

    assert response.status_code == 422
    error = re.search(
        r'<p class="field-error" id="err-calendar-workdays">([^<]+)', response.text
    )
    assert error is not None and error.group(1) == shown
    assert re.search(
        r'id="f-calendar-workdays"[^>]*'
        r'aria-describedby="hint-calendar-workdays err-calendar-workdays"'
        r' aria-invalid="true"',
        response.text,
    )
    assert 'id="err-calendar-holidays"' not in response.text
    # What was typed stays, not what casework still keeps.
    assert textarea(response.text, "workdays") == "2027-09-27\n2027-10-02"
    assert 'data-test="calendar-saved"' not in response.text
    # The step limit forms carry no error of the calendar's.
    assert 'id="err-visit-days"' not in response.text


def test_too_many_days_are_refused_beside_the_list():
    fake = FakeCasework()
    fake.answer = httpx.Response(
        422,
        json={
            "detail": [
                {
                    "field": "holidays",
                    "reason": "List should have at most 400 items after validation",
                }
            ]
        },
    )

    response = signed_in(fake, DISTRICT).post(
        "/district/calendar", data=calendar_form("2027-10-01", "")
    )

    error = re.search(r'id="err-calendar-holidays">([^<]+)', response.text)
    assert error is not None and error.group(1) == "最多填写 400 项"


def test_a_mistyped_date_is_refused_beside_its_field_without_calling_casework():
    fake = FakeCasework()

    response = signed_in(fake, DISTRICT).post(
        "/district/calendar", data=calendar_form("2027-10-01\n2027/10/02", "")
    )

    assert response.status_code == 422
    assert fake.sent == []
    error = re.search(r'id="err-calendar-holidays">([^<]+)', response.text)
    assert error is not None
    assert error.group(1) == "“2027/10/02”不是有效日期，请按 YYYY-MM-DD 填写"


@pytest.mark.parametrize("typed", ["2027-02-30", "27-10-01", "20271001", "明天"])
def test_only_real_days_written_in_full_are_read(typed):
    with pytest.raises(ApiError) as refused:
        read_dates(f"2027-10-01\n{typed}", "holidays")

    assert refused.value.status == 422
    assert refused.value.fields == {
        "holidays": f"{typed} is not a date written as YYYY-MM-DD"
    }


def test_calendar_item_reasons_are_shown_beside_the_whole_list():
    fake = FakeCasework()
    fake.answer = httpx.Response(
        422,
        json={
            "detail": [
                {"field": "workdays.1", "reason": "Input should be a valid date"}
            ]
        },
    )

    response = signed_in(fake, DISTRICT).post(
        "/district/calendar", data=calendar_form("", "2027-10-09\n2027-10-10")
    )

    error = re.search(r'id="err-calendar-workdays">([^<]+)', response.text)
    assert error is not None and error.group(1) == "请输入有效日期"


def test_the_calendar_address_leads_to_its_form():
    response = signed_in(FakeCasework(), DISTRICT).get("/district/calendar")

    assert response.status_code == 303
    assert response.headers["location"] == "/district/time-limits#calendar"
