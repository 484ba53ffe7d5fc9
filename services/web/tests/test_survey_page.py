"""The home survey form (入户摸排) on fake services: its facts grouped with labels
and units, only the facts given reaching intake, intake's refusals beside their
fields, a household outside the monitor's grid not found, the way back where
the form was opened from, and the household file's standing facts."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from fangpin.contracts import SurveyFacts
from web.app import create_app
from web.config import WebSettings
from web.format import CHINA
from web.i18n import label, translate_reason
from web.present import timeline_rows
from web.session import TOKEN_COOKIE, read_user
from web.survey import SURVEY_GROUPS, read_number

VILLAGE = "510904101201"
TODAY = datetime.now(CHINA).date().isoformat()


def token(role: str, user: str, area: str = VILLAGE, group: str | None = None) -> str:
    claims: dict[str, Any] = {
        "sub": user,
        "role": role,
        "area": area,
        "exp": int(time.time()) + 3600,
    }
    if group:
        claims["village_group"] = group
    return jwt.encode(claims, "never checked by the web process", algorithm="HS256")


GRID = token("grid_monitor", "grid01", group="1")
OTHER_GRID = token("grid_monitor", "grid02", group="2")
VILLAGE_OFFICIAL = token("village", "village01")
AUDITOR = token("auditor", "auditor01", "510904")


class FakeServices:
    """Intake as the survey form meets it: the household in group 1, found only
    by users whose area covers it (a grid monitor of group 1, the village);
    what was posted, and the answer a test sets for it."""

    def __init__(self) -> None:
        self.household_id = str(uuid.uuid4())
        self.household: dict[str, Any] = {
            "household_id": self.household_id,
            "household_number": None,
            "area_code": VILLAGE,
            "village_group": "1",
            "poverty_status": "formerly_poor",
            "left_poverty_year": 2019,
            "phone": None,
            "housing_rating": None,
            "drinking_water_ok": True,
            "members": [
                {
                    "name": "王大明",
                    "id_number_masked": "510***********0017",
                    "relation": "head",
                    "sex": "male",
                    "age": 51,
                    "labour_capacity": "full",
                    "disability_grade": None,
                    "health": "healthy",
                    "schooling": "junior",
                },
                {
                    "name": "李秀英",
                    "id_number_masked": "510***********0025",
                    "relation": "spouse",
                    "sex": "female",
                    "age": 49,
                    "labour_capacity": "full",
                    "disability_grade": None,
                    "health": "healthy",
                    "schooling": "primary",
                },
            ],
            "facts": {},
            "incomes": [],
            "survey": {
                "single_parent": {"value": False, "surveyed_on": "2026-03-02"},
                "household_debt": {"value": 30000.0, "surveyed_on": "2026-03-02"},
                "water_fetch_minutes": {"value": 25.0, "surveyed_on": "2025-11-20"},
            },
        }
        self.posted: list[tuple[str, Any]] = []
        self.queries: list[str] = []
        self.answer = httpx.Response(
            201,
            json={
                "household_id": self.household_id,
                "surveyed_on": TODAY,
                "recorded": [],
                "superseded": [],
            },
        )

    def covers(self, request: httpx.Request) -> bool:
        bearer = request.headers["Authorization"].removeprefix("Bearer ")
        claims = jwt.decode(bearer, options={"verify_signature": False})
        group = claims.get("village_group")
        return VILLAGE.startswith(claims["area"]) and group in (None, "1")

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        own = f"/households/{self.household_id}"
        if path in (own, own + "/survey") and not self.covers(request):
            return httpx.Response(
                404, json={"detail": "household not found in your area"}
            )
        if request.method == "POST":
            self.posted.append((path, json.loads(request.content)))
            self.queries.append(request.url.query.decode())
            if path == own + "/survey":
                return self.answer
        if path == own:
            return httpx.Response(200, json=self.household)
        if path == "/households/search":
            return httpx.Response(
                200,
                json={
                    "households": [
                        {
                            "household_id": self.household_id,
                            "household_number": None,
                            "area_code": VILLAGE,
                            "village_group": "1",
                            "head_name": "王大明",
                            "head_id_number_masked": "510***********0017",
                            "member_count": 2,
                            "matched": [],
                        }
                    ],
                    "more": False,
                },
            )
        return httpx.Response(404, json={"detail": "Not Found"})


@pytest.fixture
def fake() -> FakeServices:
    return FakeServices()


def signed_in(fake: FakeServices, user_token: str) -> TestClient:
    app = create_app(WebSettings(), transport=httpx.MockTransport(fake))
    client = TestClient(app, follow_redirects=False)
    client.cookies.set(TOKEN_COOKIE, user_token)
    return client


def survey_form(user_token: str, **answers: str) -> dict[str, str]:
    return {
        "csrf": read_user(user_token).csrf,
        "back": "grid",
        "surveyed_on": TODAY,
        **answers,
    }


def test_the_grouping_places_every_fact_intake_takes_once():
    placed = [name for _, names in SURVEY_GROUPS for name in names]
    assert sorted(placed) == sorted(SurveyFacts.model_fields)
    assert len(placed) == len(set(placed)) == 26


def test_the_form_shows_the_facts_grouped_labelled_and_with_units(fake):
    page = signed_in(fake, GRID).get(
        f"/households/{fake.household_id}/survey?back=grid"
    )

    assert page.status_code == 200
    html = page.text
    groups = re.findall(r'data-group="(\w+)">\s*<legend>([^<]+)</legend>', html)
    assert groups == [
        ("family", "家庭情况"),
        ("debt", "负债与借款"),
        ("housing", "住房与搬迁"),
        ("water", "饮水安全"),
        ("work", "务工就业"),
        ("schooling", "子女上学"),
        ("farming", "农业生产损失"),
    ]
    assert "入户摸排 · 王大明户" in html
    # Figures: a label bound to each input, with its unit and a number keypad.
    for name, text in [
        ("household_debt", "家庭负债总额（元）"),
        ("water_fetch_minutes", "人力取水往返时间（分钟）"),
        ("water_fetch_horizontal_m", "取水水平距离（米）"),
        ("water_interrupted_days", "一年中停水天数（天）"),
        ("unemployed_months", "劳动力失业或务工返乡时长（月）"),
        ("employed_count", "家庭在业人数（人）"),
    ]:
        assert f'<label for="f-{name}">{text}</label>' in html
        assert re.search(rf'id="f-{name}" name="{name}" type="text" value=""', html)
    # Every fact has its words: a missing one would show its key.
    assert "survey.fact." not in html and "survey.group." not in html
    assert re.search(r'id="f-employed_count"[^>]*inputmode="numeric"', html)
    assert re.search(r'id="f-pest_loss"[^>]*inputmode="decimal"', html)
    # Yes/no questions: three answers, "not asked" chosen until one is given.
    family = html[html.index('data-group="family"') : html.index('data-group="debt"')]
    answers = re.findall(
        r'<input type="radio" id="f-single_parent-(\w+)" name="single_parent" '
        r'value="(\w*)"( checked)?[^>]*><label for="f-single_parent-\1">([^<]+)<',
        family,
    )
    assert answers == [
        ("yes", "yes", "", "是"),
        ("no", "no", "", "否"),
        ("unasked", "", " checked", "未问"),
    ]
    # What the latest survey found is beside its field, with its day.
    assert (
        '<p class="hint" id="hint-household_debt">上次：30,000（2026年3月2日）' in html
    )
    assert '<p class="hint" id="hint-single_parent">上次：否（2026年3月2日）' in html
    assert re.search(
        rf'id="f-surveyed_on" name="surveyed_on" type="date" value="{TODAY}"'
        rf' required max="{TODAY}"',
        html,
    )
    assert '<input type="hidden" name="back" value="grid">' in html
    assert f'href="/grid?household_id={fake.household_id}#report-h"' in html


def test_the_form_reads_in_english_with_its_units(fake):
    client = signed_in(fake, GRID)
    client.cookies.set("fangpin_lang", "en")
    html = client.get(f"/households/{fake.household_id}/survey").text
    assert "<legend>Drinking water</legend>" in html
    assert '<label for="f-water_fetch_minutes">Fetching water, there and back' in html
    assert ">Not asked</label>" in html
    assert "survey.fact." not in html and "survey.answer." not in html


def test_only_the_facts_given_are_sent_as_numbers_and_yes_or_no(fake):
    client = signed_in(fake, GRID)
    form = survey_form(
        GRID,
        single_parent="no",
        child_without_carer="",
        main_earner_died="yes",
        water_quality_ok="",
        household_debt="12,000 元",
        hardship_debt=" ",
        water_litres_per_day="12.5",
        employed_count="２",
    )
    response = client.post(f"/households/{fake.household_id}/survey", data=form)

    assert response.status_code == 303
    assert fake.posted == [
        (
            f"/households/{fake.household_id}/survey",
            {
                "surveyed_on": TODAY,
                "single_parent": False,
                "main_earner_died": True,
                "household_debt": 12000,
                "water_litres_per_day": 12.5,
                "employed_count": 2,
            },
        )
    ]
    # The answers travel in the body only, and the user is back where they were.
    assert fake.queries == [""]
    location = response.headers["location"]
    assert location == f"/grid?household_id={fake.household_id}&surveyed=1#report-h"
    done = client.get(location)
    assert done.status_code == 200
    assert 'data-test="surveyed"' in done.text and "入户摸排已记录" in done.text


def test_a_grid_monitor_reaches_the_form_from_the_search_and_the_household(fake):
    client = signed_in(fake, GRID)
    found = client.post(
        "/grid/search", data={"csrf": read_user(GRID).csrf, "q": "王大明"}
    )
    link = f'href="/households/{fake.household_id}/survey?back=grid"'
    assert found.text.count(link) == 1
    chosen = client.get(f"/grid?household_id={fake.household_id}")
    assert chosen.text.count(link) == 1


def test_intake_refusals_land_beside_their_fields_in_chinese(fake):
    client = signed_in(fake, GRID)
    fake.answer = httpx.Response(
        422,
        json={
            "detail": [
                {
                    "field": "water_fetch_minutes",
                    "reason": "Input should be less than or equal to 1440",
                },
                {"field": "surveyed_on", "reason": "Value error, lies in the future"},
            ]
        },
    )
    form = survey_form(GRID, water_fetch_minutes="2000", single_parent="yes")
    response = client.post(f"/households/{fake.household_id}/survey", data=form)

    assert response.status_code == 422
    html = response.text
    assert re.search(r'id="err-water_fetch_minutes">不能大于 1440<', html)
    assert re.search(r'id="err-surveyed_on">日期不能晚于今天<', html)
    assert re.search(
        r'id="f-water_fetch_minutes" name="water_fetch_minutes" type="text" '
        r'value="2000"[^>]*aria-describedby="hint-water_fetch_minutes '
        r'err-water_fetch_minutes" aria-invalid="true"',
        html,
    )
    # The answers given stay chosen.
    assert re.search(r'id="f-single_parent-yes"[^>]*value="yes" checked', html)
    # Above the long form, each refused field is named and linked.
    summary = re.search(r'data-test="form-error">(.*?)</div>', html, re.S)
    assert summary is not None
    assert re.findall(r'<a href="#([\w-]+)">([^<]+)</a>', summary.group(1)) == [
        ("f-water_fetch_minutes", "人力取水往返时间（分钟）"),
        ("f-surveyed_on", "摸排日期"),
    ]

    # A fact the registry contradicts is named beside that fact.
    fake.answer = httpx.Response(
        422,
        json={
            "detail": "more members in work than the household has registered",
            "field": "employed_count",
        },
    )
    form = survey_form(GRID, employed_count="5")
    response = client.post(f"/households/{fake.household_id}/survey", data=form)
    assert re.search(
        r'id="err-employed_count">在业人数多于该户登记的家庭人口<', response.text
    )


def test_a_survey_with_nothing_asked_is_refused_above_the_form(fake):
    fake.answer = httpx.Response(
        422,
        json={
            "detail": [
                {
                    "field": "body",
                    "reason": "Value error, a survey gives at least one fact",
                }
            ]
        },
    )
    response = signed_in(fake, GRID).post(
        f"/households/{fake.household_id}/survey", data=survey_form(GRID)
    )
    assert response.status_code == 422
    assert fake.posted[0][1] == {"surveyed_on": TODAY}
    error = re.search(r'data-test="form-error">(.*?)</div>', response.text, re.S)
    assert error is not None and "请至少填写一项摸排内容" in error.group(1)


def test_a_figure_that_is_no_number_is_named_without_asking_intake(fake):
    response = signed_in(fake, GRID).post(
        f"/households/{fake.household_id}/survey",
        data=survey_form(GRID, household_debt="三万", geohazard_point="yes"),
    )
    assert response.status_code == 422
    assert fake.posted == []
    assert re.search(r'id="err-household_debt">请输入数字<', response.text)
    assert (
        '<a href="#f-household_debt">家庭负债总额（元）</a>：请输入数字'
        in response.text
    )
    assert 'value="三万"' in response.text


def test_a_grid_monitor_outside_their_grid_is_told_not_found(fake):
    client = signed_in(fake, OTHER_GRID)
    page = client.get(f"/households/{fake.household_id}/survey?back=grid")
    assert page.status_code == 404
    assert "没有找到，或不在您的辖区内。" in page.text
    assert "王大明" not in page.text

    sent = client.post(
        f"/households/{fake.household_id}/survey",
        data=survey_form(OTHER_GRID, geohazard_point="yes"),
    )
    assert sent.status_code == 404
    assert "没有找到，或不在您的辖区内。" in sent.text


def test_an_auditor_is_not_offered_the_form(fake):
    client = signed_in(fake, AUDITOR)
    assert client.get(f"/households/{fake.household_id}/survey").status_code == 403
    refused = client.post(
        f"/households/{fake.household_id}/survey",
        data=survey_form(AUDITOR, geohazard_point="yes"),
    )
    assert refused.status_code == 403 and fake.posted == []
    page = client.get(f"/households/{fake.household_id}")
    assert page.status_code == 200
    assert 'data-test="survey-this"' not in page.text


def test_the_household_file_shows_the_standing_facts_with_their_days(fake):
    page = signed_in(fake, VILLAGE_OFFICIAL).get(f"/households/{fake.household_id}")

    assert page.status_code == 200
    section = page.text[page.text.index('id="survey-h"') :]
    section = section[: section.index("</section>")]
    assert re.findall(r"<h3>([^<]+)</h3>", section) == [
        "家庭情况",
        "负债与借款",
        "饮水安全",
    ]
    facts = {
        name: re.sub(r"<[^>]+>", "", text)
        for name, text in re.findall(
            r'<div data-fact="(\w+)">(.*?)</div>', section, re.S
        )
    }
    assert facts == {
        "single_parent": "单亲抚养子女否 2026年3月2日摸排",
        "household_debt": "家庭负债总额（元）30,000 2026年3月2日摸排",
        "water_fetch_minutes": "人力取水往返时间（分钟）25 2025年11月20日摸排",
    }
    link = f'href="/households/{fake.household_id}/survey?back=file"'
    assert link in section


def test_an_official_returns_to_the_file_where_the_survey_is_confirmed(fake):
    client = signed_in(fake, VILLAGE_OFFICIAL)
    form = survey_form(VILLAGE_OFFICIAL, back="file", relocated_not_moved_in="yes")
    fake.answer = httpx.Response(
        201,
        json={
            "household_id": fake.household_id,
            "surveyed_on": "2025-06-01",
            "recorded": ["relocated_not_moved_in"],
            "superseded": ["relocated_not_moved_in"],
        },
    )
    response = client.post(f"/households/{fake.household_id}/survey", data=form)

    assert response.status_code == 303
    location = response.headers["location"]
    assert location == f"/households/{fake.household_id}?surveyed=earlier#survey-h"
    page = client.get(location)
    assert "其中部分项目已有更晚的摸排记录" in page.text


def test_a_household_never_surveyed_says_so(fake):
    fake.household["survey"] = {}
    page = signed_in(fake, VILLAGE_OFFICIAL).get(f"/households/{fake.household_id}")
    assert 'data-test="survey-none"' in page.text and "尚未入户摸排。" in page.text


@pytest.mark.parametrize(
    ("typed", "read"),
    [("1,200", "1200"), ("１２００．５", "1200.5"), ("3 000元", "3000"), ("-4", "-4")],
)
def test_figures_are_read_as_people_type_them(typed, read):
    assert str(read_number(typed)) == read


@pytest.mark.parametrize("typed", ["三万", "nan", "Infinity", "1.2.3"])
def test_anything_else_is_no_figure(typed):
    assert read_number(typed) is None


def test_survey_reasons_read_in_chinese():
    assert (
        translate_reason("Value error, lies before 2013", "zh") == "日期不能早于2013年"
    )
    assert (
        translate_reason(
            "Input should be a valid integer, got a number with a fractional part",
            "zh",
        )
        == "请输入整数"
    )
    assert translate_reason("Value error, lies in the future", "en") == (
        "Value error, lies in the future"
    )


def test_a_survey_in_a_timeline_shows_its_date_and_facts_by_their_form_labels():
    entry = {
        "event_id": "e1",
        "type": "HouseholdSurveyed",
        "occurred_at": "2026-11-10T02:00:00+00:00",
        "actor": {"user_id": "grid01", "role": "grid_monitor"},
        "data": {
            "surveyed_on": "2026-11-09",
            "facts": {"household_debt": 30000, "single_parent": True},
        },
    }

    (row,) = timeline_rows([entry], "zh", {})

    assert row["title"] == "入户摸排"
    facts = dict(row["facts"])
    assert facts["household_debt"] == "30,000" and facts["single_parent"] == "是"
    assert label("zh", "fact", "household_debt") == "家庭负债总额（元）"
    assert label("en", "fact", "surveyed_on") == "Surveyed on"
