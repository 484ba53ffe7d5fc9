"""The numbers on the overview explained: each links to the households it
counts, the count on that page is the number clicked, a household's file shows
its cases and history, and the overview and the file can be read as of a day."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from web.app import create_app
from web.config import WebSettings
from web.i18n import EN, ZH
from web.session import TOKEN_COOKIE

WEB = Path(__file__).resolve().parents[1] / "web"
TOWN = "510904101"
VILLAGE = "510904101201"
FIRST = str(uuid.uuid4())
SECOND = str(uuid.uuid4())
CASES = [str(uuid.uuid4()) for _ in range(3)]
REPORTED = str(uuid.uuid4())
OPENED = str(uuid.uuid4())
HEAD_NAME = "王小明"
HEAD_ID_MASKED = "510***********1234"
# A figure of people over more households than one page shows.
MANY = [str(uuid.uuid4()) for _ in range(60)]


def token(role: str = "district", user: str = "district01", area: str = "510904"):
    claims = {"sub": user, "role": role, "area": area, "exp": int(time.time()) + 3600}
    return jwt.encode(
        claims, "the web process never checks this signature", algorithm="HS256"
    )


def row(code: str, figures: dict[str, int], query: str) -> dict[str, Any]:
    return {
        "area_code": code,
        "village_group": None,
        "name_zh": "安居镇",
        "name_en": "Anju",
        "figures": figures,
        "measures": [
            {
                "measure": "temporary_aid",
                "name_zh": "临时救助",
                "name_en": "Temporary aid",
                "unit": "yuan",
                "assigned": 1,
                "grants": 1,
                "quantity": 1500,
                "households": 1,
                "stopped": 0,
                "stopped_quantity": 0,
            }
        ],
        "drill": "/figures/{figure}?" + query,
    }


def overview(params: dict[str, str]) -> dict[str, Any]:
    dates = "".join(
        f"&{name}={params[name]}" for name in ("as_of", "known_on") if name in params
    )
    figures = {
        "households": 3,
        "flagged": 2,
        "targets": 1,
        "open_cases": 3,
        "overdue": 0,
        "escalated": 0,
    }
    return {
        "area": {
            "code": "510904",
            "level": "district",
            "name_zh": "安居区",
            "name_en": "Anju",
        },
        "group": None,
        "month": "2026-03",
        "as_of": params.get("as_of"),
        "known_on": params.get("known_on"),
        "catalogue": {"version": 2},
        "columns": list(figures),
        "labels": {
            name: {"zh": f"{name}（中）", "en": name, "unit": "households"}
            for name in figures
        },
        "rows": [row(TOWN, figures, f"area={TOWN}&month=2026-03{dates}")],
        "total": row("510904", figures, f"area=510904&month=2026-03{dates}"),
    }


def drill(name: str, params: dict[str, str]) -> dict[str, Any]:
    units = {"flagged": "households", "open_cases": "cases", "people": "people"}
    if name == "flagged":
        items = [item(FIRST, 1, [CASES[0]]), item(SECOND, 1, [])]
    elif name == "open_cases":
        items = [item(FIRST, 2, CASES[:2]), item(SECOND, 1, CASES[2:])]
    elif name == "people":
        items = [item(household, 3, []) for household in MANY]
    else:
        items = []
    limit, offset = int(params["limit"]), int(params["offset"])
    return {
        "figure": name,
        "label": {"zh": f"{name}（中）", "en": name, "unit": units.get(name, "")},
        "counts": name,
        "area": params.get("area", "510904"),
        "group": None,
        "month": "2026-03",
        "as_of": params.get("as_of"),
        "known_on": params.get("known_on"),
        "total": len(items),
        "limit": limit,
        "offset": offset,
        "items": items[offset : offset + limit],
    }


def item(household: str, value: int, cases: list[str]) -> dict[str, Any]:
    return {
        "household_id": household,
        "area_code": VILLAGE,
        "village_group": "1",
        "value": value,
        "case_ids": cases,
        "history": f"/households/{household}/history",
        "timelines": [],
    }


def registry_entry(household: str) -> dict[str, Any]:
    return {
        "household_id": household,
        "household_number": "HH-0001" if household == FIRST else None,
        "area_code": VILLAGE,
        "village_group": "1",
        "poverty_status": "formerly_poor",
        "left_poverty_year": 2019,
        "phone": "13800000000",
        "members": [
            {
                "name": HEAD_NAME,
                "id_number_masked": HEAD_ID_MASKED,
                "relation": "head",
                "sex": "male",
                "age": 60,
                "labour_capacity": "partial",
                "disability_grade": None,
                "health": "chronic",
                "schooling": "none",
            }
        ],
        "facts": {},
        "incomes": [],
    }


def history(params: dict[str, str]) -> dict[str, Any]:
    """Confirmed as a target now; on 2026-02-01 only the report had arrived."""
    actor = {"user_id": "grid01", "role": "grid_monitor", "area_code": VILLAGE}
    reported = {
        "event_id": REPORTED,
        "type": "ProblemReported",
        "producer": "intake",
        "occurred_at": "2026-01-20T02:00:00Z",
        "effective_at": "2026-01-18T16:00:00Z",
        "effective_on": "2026-01-19",
        "month": "2026-01",
        "actor": actor,
        "household_id": FIRST,
        "case_id": None,
        "causation_id": None,
        "correlation_id": str(uuid.uuid4()),
        "data": {"category": "illness", "description": "住院，自付费用高"},
    }
    opened = {
        **reported,
        "event_id": OPENED,
        "type": "CaseOpened",
        "producer": "casework",
        "occurred_at": "2026-02-10T02:00:00Z",
        "effective_at": "2026-02-10T02:00:00Z",
        "effective_on": "2026-02-10",
        "month": "2026-02",
        "actor": {"user_id": "system", "role": "system", "area_code": "510904"},
        "case_id": CASES[0],
        "causation_id": REPORTED,
        "data": {"case_id": CASES[0], "signal_type": "ProblemReported"},
    }
    past = params.get("as_of") == "2026-02-01"
    case = {
        "case_id": CASES[0],
        "area_code": VILLAGE,
        "status": "open",
        "step": "assistance",
        "opened_at": "2026-02-10T02:00:00+00:00",
        "urgent": True,
        "reentry": False,
        "target_type": "expense_hardship",
        "closed_at": None,
        "overdue": False,
        "escalated": False,
    }
    return {
        "household_id": FIRST,
        "as_of": params.get("as_of"),
        "known_on": params.get("known_on"),
        "catalogue_in_force": {"version": 2},
        "state": {
            "household_id": FIRST,
            "registered": True,
            "area_code": VILLAGE,
            "village_group": "1",
            "poverty_status": "formerly_poor",
            "member_count": 3,
            "flags": [],
            "target_type": None if past else "expense_hardship",
            "income": None,
            "cases": [] if past else [case],
            "grants": [],
            "assignments": [],
            "reports": 1,
            "department_records": 0,
        },
        "figures": {"households": 1, "people": 3}
        if past
        else {"households": 1, "people": 3, "targets": 1},
        "events": [reported] if past else [reported, opened],
    }


class FakeServices:
    """The five services as far as these pages ask them; every call is kept."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        params = dict(request.url.params)
        self.calls.append((path, params))
        if path == "/overview":
            return httpx.Response(200, json=overview(params))
        if path == "/figures":
            return httpx.Response(
                200,
                json=[
                    {
                        "name": "households",
                        "zh": "登记户数",
                        "en": "registered",
                        "kind": "state",
                        "unit": "households",
                        "parts": [],
                    },
                ],
            )
        if path.startswith("/figures/"):
            return httpx.Response(200, json=drill(path.split("/")[2], params))
        if path == f"/households/{FIRST}/history":
            return httpx.Response(200, json=history(params))
        if path.startswith("/households/") and path.count("/") == 2:
            return httpx.Response(200, json=registry_entry(path.split("/")[2]))
        if path in ("/budgets", "/measures"):
            return httpx.Response(200, json=[])
        return httpx.Response(404, json={"detail": "Not Found"})

    def asked(self, path: str) -> list[dict[str, str]]:
        return [params for called, params in self.calls if called == path]


@pytest.fixture
def services() -> FakeServices:
    return FakeServices()


@pytest.fixture
def client(services: FakeServices) -> TestClient:
    app = create_app(WebSettings(), transport=httpx.MockTransport(services))
    client = TestClient(app, follow_redirects=False)
    client.cookies.set(TOKEN_COOKIE, token())
    return client


def links(html: str, figure: str) -> list[str]:
    return [
        found.replace("&amp;", "&")
        for found in re.findall(
            rf'href="([^"]+)" data-figure="{re.escape(figure)}"', html
        )
    ]


def count_of(html: str) -> str:
    found = re.search(r'data-test="drill-count" data-count="([^"]+)"', html)
    assert found, "the figure page shows no count"
    return found.group(1)


def test_every_non_zero_figure_on_the_overview_links_to_its_list(client) -> None:
    page = client.get("/overview").text
    town, total = links(page, "flagged")[-2:]
    assert parse_qs(urlparse(town).query) == {
        "figure": ["flagged"],
        "area": [TOWN],
        "month": ["2026-03"],
    }
    assert parse_qs(urlparse(total).query)["area"] == ["510904"]
    assert links(page, "overdue") == []  # nothing to explain behind a zero
    assert links(page, "aid.temporary_aid.yuan.households")
    assert 'aria-label="查看安居镇flagged（中）（2）的明细"' in page


def test_the_count_behind_a_figure_is_the_number_clicked(client) -> None:
    flagged = client.get(f"/overview/figure?figure=flagged&area={TOWN}")
    assert flagged.status_code == 200
    assert count_of(flagged.text) == "2" and "2 户" in flagged.text

    # Open cases count cases, not households: two in one household, one in another.
    cases = client.get(f"/overview/figure?figure=open_cases&area={TOWN}").text
    assert count_of(cases) == "3" and "3 件案件" in cases and "涉及 2 户" in cases
    for case in CASES:
        assert f'href="/cases/{case}"' in cases


def test_a_summed_figure_adds_up_every_page_not_only_the_one_shown(
    client, services
) -> None:
    page = client.get(f"/overview/figure?figure=people&area={TOWN}").text
    assert count_of(page) == str(3 * len(MANY))
    assert page.count("data-household=") == 50
    assert 'rel="next"' in page
    second = client.get(f"/overview/figure?figure=people&area={TOWN}&offset=50").text
    assert second.count("data-household=") == len(MANY) - 50
    assert count_of(second) == str(3 * len(MANY))


def test_the_list_names_households_by_number_and_masked_head(client) -> None:
    page = client.get(
        f"/overview/figure?figure=flagged&area={TOWN}&as_of=2026-02-01"
    ).text
    assert "HH-0001" in page and "王**" in page
    assert HEAD_NAME not in page and HEAD_ID_MASKED not in page
    assert "13800000000" not in page
    assert f'href="/households/{FIRST}?as_of=2026-02-01"' in page
    assert 'data-test="as-of-banner"' in page


def test_a_figure_name_cannot_reach_another_reporting_path(client, services) -> None:
    response = client.get("/overview/figure?figure=../households/x/history")
    assert response.status_code == 404
    assert not [path for path, _ in services.calls if "history" in path]


def test_the_overview_as_of_a_day_asks_reporting_for_that_day(client, services) -> None:
    page = client.get("/overview?as_of=2026-02-01&known_on=2026-02-15").text
    asked = services.asked("/overview")[-1]
    assert asked["as_of"] == "2026-02-01" and asked["known_on"] == "2026-02-15"
    assert "显示截至 2026年2月1日 的情况" in page
    assert "只计入 2026年2月15日 前平台已知的数据" in page
    assert 'value="2026-02-01"' in page
    # The lists behind the figures stand at the same day.
    assert "as_of=2026-02-01" in links(page, "flagged")[0]
    assert "known_on=2026-02-15" in links(page, "flagged")[0]
    # Budgets are today's: not shown beside a past day.
    assert "/budgets" not in [path for path, _ in services.calls]
    assert 'data-test="as-of-live"' in page


def test_a_date_that_is_not_one_is_refused_beside_its_field(client, services) -> None:
    page = client.get("/overview?as_of=2026-13-45&known_on=2999-01-01")
    assert page.status_code == 200
    assert 'id="err-as_of"' in page.text and "请输入有效日期" in page.text
    assert 'id="err-known_on"' in page.text and "日期不能晚于今天" in page.text
    assert "as_of" not in services.asked("/overview")[-1]


def test_the_household_file_shows_cases_and_who_did_what_and_why(client) -> None:
    page = client.get(f"/households/{FIRST}").text
    assert HEAD_ID_MASKED in page and "13800000000" not in page
    assert f'href="/cases/{CASES[0]}"' in page
    history = page[page.index('data-test="household-history"') :]
    assert "grid01" in history and "住院，自付费用高" in history
    # What caused the case to open: the report, linked in the same history.
    assert f'href="#ev-{REPORTED}"' in history
    # Late data: the report held a day before the platform knew it.
    assert "2026年1月19日生效" in history
    assert 'data-figure="targets"' in page


def test_the_household_as_of_a_day_shows_its_state_then(client, services) -> None:
    page = client.get(f"/households/{FIRST}?as_of=2026-02-01&known_on=2026-02-01")
    assert page.status_code == 200
    asked = services.asked(f"/households/{FIRST}/history")[-1]
    assert asked == {"as_of": "2026-02-01", "known_on": "2026-02-01"}
    assert "所选日期的监测情况" in page.text
    assert "不是监测对象" in page.text and "没有案件" in page.text
    assert "登记信息为当前信息" in page.text
    assert f'href="#ev-{REPORTED}"' not in page.text  # the case came later

    now = client.get(f"/households/{FIRST}").text
    assert "支出困难型" in now and "当前监测情况" in now


def test_english_pages_read_in_english(client) -> None:
    client.cookies.set("fangpin_lang", "en")
    figure = client.get(f"/overview/figure?figure=open_cases&area={TOWN}").text
    assert "3 cases" in figure and "in 2 households" in figure
    household = client.get(f"/households/{FIRST}?as_of=2026-02-01").text
    assert "Monitoring on the day chosen" in household
    assert "Showing things as they stood on 1 Feb 2026." in household


def test_a_department_does_not_open_household_files(client) -> None:
    client.cookies.set(TOKEN_COOKIE, token("department", "medical01"))
    assert client.get(f"/households/{FIRST}").status_code == 403
    assert client.get("/overview/figure?figure=flagged").status_code == 403


def test_every_drill_and_household_key_used_is_in_both_catalogues() -> None:
    used: set[str] = set()
    sources = [*WEB.glob("templates/*.html"), *WEB.glob("pages/*.py"), WEB / "when.py"]
    for source in sources:
        used |= set(
            re.findall(
                r"""['"]((?:drill|household)\.[a-z_.]+)['"]""", source.read_text()
            )
        )
    used = {key for key in used if not key.endswith(".html")}
    assert used, "no drill or household keys found"
    assert used <= set(ZH) and used <= set(EN), sorted(used - set(ZH) - set(EN))
