"""The monthly work ledger (工作台账) in the web interface: each official reads
their own area's month beside the last, chooses another month, downloads the
same ledger, opens the households and cases behind a count, and the case page
leads to the household's file."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from web.app import create_app
from web.config import WebSettings
from web.format import CHINA
from web.i18n import EN, ZH
from web.session import TOKEN_COOKIE

WEB = Path(__file__).resolve().parents[1] / "web"
DISTRICT = "510904"
TOWN = "510904101"
OTHER_TOWN = "510904102"
VILLAGE = "510904101201"
OTHER_VILLAGE = "510904101202"
HOUSEHOLD = str(uuid.uuid4())
CASE = str(uuid.uuid4())
COLUMNS = ["month.reported", "month.flagged", "month.done", "month.closed"]
LABELS = {
    "month.reported": ("本月问题上报", "problems reported this month"),
    "month.flagged": ("本月风险预警", "risk flags raised this month"),
    "month.done": ("本月办理事项", "work done (visits, plans, grants) this month"),
    "month.closed": ("本月销号", "cases closed this month"),
}
# (this month, last month) per figure, for each village group; the areas above
# add up their groups, as reporting does.
GROUPS: dict[tuple[str, str], dict[str, tuple[int, int]]] = {
    (VILLAGE, "1"): {
        "month.reported": (3, 1),
        "month.flagged": (0, 2),
        "month.done": (4, 4),
        "month.closed": (1, 0),
    },
    (VILLAGE, "2"): {
        "month.reported": (7, 2),
        "month.flagged": (5, 0),
        "month.done": (0, 0),
        "month.closed": (0, 0),
    },
    (OTHER_VILLAGE, "1"): {
        "month.reported": (1, 0),
        "month.flagged": (0, 0),
        "month.done": (2, 0),
        "month.closed": (0, 0),
    },
    ("510904102203", "3"): {
        "month.reported": (0, 6),
        "month.flagged": (0, 0),
        "month.done": (0, 0),
        "month.closed": (0, 0),
    },
}
NAMES = {
    DISTRICT: ("安居区", "Anju District"),
    TOWN: ("安居镇", "Anju"),
    OTHER_TOWN: ("石洞镇", "Shidong"),
    VILLAGE: ("石洞村", "Shidong Village"),
    OTHER_VILLAGE: ("白马村", "Baima Village"),
    "510904102203": ("青龙村", "Qinglong Village"),
}


def token(
    role: str = "district",
    user: str = "district01",
    area: str = DISTRICT,
    village_group: str | None = None,
) -> str:
    claims = {
        "sub": user,
        "role": role,
        "area": area,
        "village_group": village_group,
        "exp": int(time.time()) + 3600,
    }
    return jwt.encode(
        claims, "the web process never checks this signature", algorithm="HS256"
    )


def previous(month: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def ledger_row(
    level: str, code: str, group: str | None, month: str, counts: dict[str, list[int]]
) -> dict[str, Any]:
    query = f"area={code}&month={month}" + (f"&group={group}" if group else "")
    name_zh, name_en = NAMES.get(code, (None, None))
    return {
        "level": level,
        "area_code": code,
        "village_group": group,
        "name_zh": name_zh,
        "name_en": name_en,
        "figures": {
            name: {"month": now, "previous": before, "change": now - before}
            for name, (now, before) in counts.items()
        },
        "drill": "/figures/{figure}?" + query,
    }


def ledger(area: str, month: str) -> dict[str, Any]:
    """Reporting's ledger of an area: its own level and every one below."""
    totals: dict[tuple[str, str, str], dict[str, list[int]]] = {}
    for (village, group), counts in GROUPS.items():
        if not village.startswith(area):
            continue
        keys = [
            ("district", village[:6], ""),
            ("town", village[:9], ""),
            ("village", village, ""),
            ("village_group", village, group),
        ]
        for key in keys:
            if len(key[1]) < len(area):
                continue
            total = totals.setdefault(key, {name: [0, 0] for name in COLUMNS})
            for name, (now, before) in counts.items():
                total[name][0] += now
                total[name][1] += before
    depth = ["district", "town", "village", "village_group"]
    ordered = sorted(totals, key=lambda key: (key[1], depth.index(key[0]), key[2]))
    return {
        "area": area,
        "month": month,
        "previous_month": previous(month),
        "columns": COLUMNS,
        "labels": {
            name: {"zh": zh, "en": en, "unit": "events"}
            for name, (zh, en) in LABELS.items()
        },
        "rows": [
            ledger_row(level, code, group or None, month, totals[(level, code, group)])
            for level, code, group in ordered
        ],
    }


def overview(params: dict[str, str]) -> dict[str, Any]:
    figures = {"households": 4, "flagged": 1}
    total = {
        "area_code": DISTRICT,
        "village_group": None,
        "name_zh": "安居区",
        "name_en": "Anju District",
        "figures": figures,
        "measures": [],
        "drill": f"/figures/{{figure}}?area={DISTRICT}&month=2026-03",
    }
    return {
        "area": {
            "code": DISTRICT,
            "level": "district",
            "name_zh": "安居区",
            "name_en": "Anju District",
        },
        "group": None,
        "month": params.get("month") or "2026-03",
        "as_of": None,
        "known_on": None,
        "catalogue": {"version": 2},
        "columns": list(figures),
        "labels": {
            name: {"zh": name, "en": name, "unit": "households"} for name in figures
        },
        "rows": [],
        "total": total,
    }


def events_behind(params: dict[str, str]) -> dict[str, Any]:
    """What reporting lists behind a month's count: one event, its household
    and its case."""
    return {
        "figure": "month.reported",
        "label": {"zh": "本月问题上报", "en": "reported", "unit": "events"},
        "counts": "month.reported",
        "area": params["area"],
        "group": params.get("group"),
        "month": params["month"],
        "as_of": None,
        "known_on": None,
        "total": 1,
        "limit": int(params["limit"]),
        "offset": int(params["offset"]),
        "items": [
            {
                "household_id": HOUSEHOLD,
                "area_code": VILLAGE,
                "village_group": "1",
                "type": "ProblemReported",
                "effective_at": f"{params['month']}-05T02:00:00Z",
                "case_ids": [CASE],
            }
        ],
    }


def case() -> dict[str, Any]:
    return {
        "case_id": CASE,
        "household_id": HOUSEHOLD,
        "area_code": VILLAGE,
        "town_code": TOWN,
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


class FakeServices:
    """Reporting (with its area check), casework and intake as far as these
    pages ask them; every call is kept."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        params = dict(request.url.params)
        self.calls.append((path, params))
        bearer = request.headers["Authorization"].removeprefix("Bearer ")
        scope = jwt.decode(bearer, options={"verify_signature": False})["area"]
        if path in ("/ledger", "/ledger/export"):
            area = params.get("area", scope)
            if not area.startswith(scope):
                return httpx.Response(404, json={"detail": "area not found"})
            if path == "/ledger/export":
                return httpx.Response(
                    200,
                    content=b"PK sheet",
                    headers={
                        "content-type": "application/vnd.openxmlformats-"
                        "officedocument.spreadsheetml.sheet",
                        "content-disposition": 'attachment; filename="l.xlsx"',
                    },
                )
            return httpx.Response(200, json=ledger(area, params["month"]))
        if path == "/overview":
            return httpx.Response(200, json=overview(params))
        if path == "/figures/month.reported":
            return httpx.Response(200, json=events_behind(params))
        if path == f"/cases/{CASE}":
            return httpx.Response(200, json=case())
        if path == f"/cases/{CASE}/history":
            return httpx.Response(200, json=[])
        if path == "/budgets":
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


def this_month() -> str:
    return datetime.now(CHINA).strftime("%Y-%m")


def hrefs(html: str, test: str) -> list[str]:
    return [
        found.replace("&amp;", "&")
        for found in re.findall(rf'href="([^"]+)"[^>]*data-test="{test}"', html)
    ]


def row_of(html: str, marker: str) -> str:
    """The table row that starts at ``marker`` (e.g. data-figure="…")."""
    start = html.index(marker)
    return html[start : html.index("</tr>", start)]


def own_cells(html: str, figure: str) -> tuple[str, str, str]:
    """This month, last month and the change, as shown in the area's own row."""
    row = row_of(
        html[html.index('data-test="ledger-own"') :], f'data-figure="{figure}"'
    )
    month, before, change = (
        re.sub(r"<[^>]+>", "", cell).strip()
        for cell in re.findall(r'<td class="num[^"]*" data-test="\w+">(.*?)</td>', row)
    )
    return month, before, change


def test_the_ledger_shows_this_month_beside_last_month_by_town(
    client, services
) -> None:
    page = client.get("/ledger")
    assert page.status_code == 200
    # This month on the county's clock, for the district's own area.
    assert services.asked("/ledger") == [{"area": DISTRICT, "month": this_month()}]
    html = page.text
    assert "工作台账 · 安居区" in html
    own = html[html.index('data-test="ledger-own"') :]
    reported = row_of(own, 'data-figure="month.reported"')
    assert "问题上报" in reported and "本月问题上报" not in reported
    # The district in total: 11 reported this month, 9 last month.
    assert own_cells(html, "month.reported") == ("11", "9", "+2")
    assert own_cells(html, "month.flagged") == ("5", "2", "+3")
    assert own_cells(html, "month.done") == ("6", "4", "+2")
    # Towns below, each opening its own ledger; villages are one click down.
    towns = html[html.index('data-test="ledger-rows"') :]
    assert "各乡镇" in html
    assert f'href="/ledger?area={TOWN}&amp;month={this_month()}"' in towns
    assert "石洞镇" in towns and 'data-area="510904102"' in towns
    assert f'data-area="{VILLAGE}"' not in html
    other_town = row_of(towns, f'data-area="{OTHER_TOWN}"')
    assert "−6" in other_town  # six reported last month, none this month
    assert other_town.count('class="change"') == 1  # no change shown where none


def test_the_month_chosen_is_asked_of_reporting_and_put_in_every_link(
    client, services
) -> None:
    html = client.get("/ledger?month=2026-03").text
    assert services.asked("/ledger")[-1] == {"area": DISTRICT, "month": "2026-03"}
    assert "统计月份：2026年3月" in html and "与上月（2026年2月）比较" in html
    assert 'value="2026-03"' in html and 'type="month"' in html
    (xlsx,) = hrefs(html, "ledger-xlsx")
    (csv,) = hrefs(html, "ledger-csv")
    for link, kind in ((xlsx, "xlsx"), (csv, "csv")):
        assert urlparse(link).path == "/export/ledger"
        assert parse_qs(urlparse(link).query) == {
            "area": [DISTRICT],
            "month": ["2026-03"],
            "lang": ["zh"],
            "format": [kind],
        }
    assert hrefs(html, "ledger-earlier") == [f"/ledger?area={DISTRICT}&month=2026-02"]
    assert hrefs(html, "ledger-later") == [f"/ledger?area={DISTRICT}&month=2026-04"]

    # The download is reporting's spreadsheet of the same area and month.
    download = client.get(xlsx)
    assert download.status_code == 200 and download.content == b"PK sheet"
    assert "spreadsheetml" in download.headers["content-type"]
    assert services.asked("/ledger/export")[-1] == {
        "area": DISTRICT,
        "month": "2026-03",
        "format": "xlsx",
        "lang": "zh",
    }


def test_this_month_has_no_later_month_to_go_to(client) -> None:
    html = client.get("/ledger").text
    assert hrefs(html, "ledger-later") == []
    assert f'max="{this_month()}"' in html


@pytest.mark.parametrize(
    ("typed", "reason"),
    [("2026-13", "请按 YYYY-MM 填写有效月份"), ("2999-01", "月份不能晚于本月")],
)
def test_a_month_that_cannot_be_shown_is_refused_beside_the_field(
    client, services, typed, reason
) -> None:
    page = client.get(f"/ledger?month={typed}")
    assert page.status_code == 200
    assert 'id="err-month"' in page.text and reason in page.text
    assert services.asked("/ledger")[-1]["month"] == this_month()


def test_a_grid_monitor_reads_the_ledger_of_their_own_village_group(
    client, services
) -> None:
    client.cookies.set(
        TOKEN_COOKIE, token("grid_monitor", "grid01", VILLAGE, village_group="1")
    )
    # Another area in the address is not theirs to choose.
    html = client.get(f"/ledger?area={DISTRICT}&month=2026-03").text
    assert services.asked("/ledger") == [
        {"area": VILLAGE, "month": "2026-03", "group": "1"}
    ]
    assert "工作台账 · 石洞村 · 第1组" in html and "本组合计" in html
    assert own_cells(html, "month.reported") == ("3", "1", "+2")
    assert own_cells(html, "month.flagged") == ("0", "2", "−2")
    # Group 2's seven reports are not theirs; no rows below a group.
    assert ">7</a>" not in html and ">10</a>" not in html
    assert 'data-test="ledger-rows"' not in html
    assert 'name="area"' not in html  # the month form keeps them in their grid
    links = [
        link.replace("&amp;", "&")
        for link in re.findall(r'href="(/overview/figure\?[^"]+)"', html)
    ]
    assert links and all(
        parse_qs(urlparse(link).query)["group"] == ["1"] for link in links
    )


def test_a_count_opens_the_households_and_cases_behind_it(client, services) -> None:
    client.cookies.set(TOKEN_COOKIE, token("village", "village01", VILLAGE))
    html = client.get("/ledger?month=2026-03").text
    assert services.asked("/ledger")[-1] == {"area": VILLAGE, "month": "2026-03"}
    groups = html[html.index('data-test="ledger-rows"') :]
    assert "各村民小组" in html
    first = row_of(groups, 'data-group="1"')
    (this_month_link,) = [
        link.replace("&amp;", "&")
        for link in re.findall(r'href="([^"]+)" data-figure="month.reported"', first)
    ]
    assert parse_qs(urlparse(this_month_link).query) == {
        "figure": ["month.reported"],
        "area": [VILLAGE],
        "month": ["2026-03"],
        "group": ["1"],
    }
    # Last month's count opens last month's list; nothing opens behind a zero.
    own = row_of(html, 'data-figure="month.flagged"')
    assert "month=2026-02" in own.replace("&amp;", "&")
    assert 'data-figure="month.done"' not in row_of(groups, 'data-group="2"')
    # A village group has no ledger of its own to open.
    assert 'data-test="ledger-area"' not in groups

    listed = client.get(this_month_link).text
    assert services.asked("/figures/month.reported")[-1]["group"] == "1"
    assert f'href="/households/{HOUSEHOLD}"' in listed
    assert f'href="/cases/{CASE}"' in listed


def test_a_town_official_opens_a_village_and_goes_back_up(client, services) -> None:
    client.cookies.set(TOKEN_COOKIE, token("town", "town01", TOWN))
    town = client.get("/ledger?month=2026-03").text
    assert "各村" in town and 'data-test="ledger-up"' not in town
    (village,) = [
        link
        for link in hrefs(town, "ledger-area")
        if parse_qs(urlparse(link).query)["area"] == [VILLAGE]
    ]
    html = client.get(village).text
    assert services.asked("/ledger")[-1] == {"area": VILLAGE, "month": "2026-03"}
    assert "工作台账 · 石洞村" in html
    assert hrefs(html, "ledger-up") == [f"/ledger?area={TOWN}&month=2026-03"]
    assert 'name="area" value="510904101201"' in html


def test_an_area_outside_ones_own_is_not_found(client, services) -> None:
    client.cookies.set(TOKEN_COOKIE, token("town", "town01", TOWN))
    assert client.get(f"/ledger?area={OTHER_TOWN}").status_code == 404
    before = len(services.calls)
    assert client.get("/ledger?area=../overview").status_code == 404
    assert len(services.calls) == before  # never sent on to reporting


def test_a_department_does_not_read_the_ledger(client, services) -> None:
    client.cookies.set(TOKEN_COOKIE, token("department", "medical01"))
    assert client.get("/ledger").status_code == 403
    assert services.asked("/ledger") == []


@pytest.mark.parametrize(
    ("role", "area", "group"),
    [
        ("grid_monitor", VILLAGE, "1"),
        ("village", VILLAGE, None),
        ("town", TOWN, None),
        ("district", DISTRICT, None),
    ],
)
def test_the_ledger_is_in_the_menu_of_every_level(client, role, area, group) -> None:
    client.cookies.set(TOKEN_COOKIE, token(role, f"{role}01", area, group))
    html = client.get("/ledger").text
    menu = html[html.index("<nav") : html.index("</nav>")]
    assert '<a href="/ledger" aria-current="page">工作台账</a>' in menu


def test_the_ledger_reads_in_english(client) -> None:
    client.cookies.set("fangpin_lang", "en")
    html = client.get("/ledger?month=2026-01").text
    assert "Work ledger · Anju District" in html
    assert "Month: Jan 2026" in html and "compared with Dec 2025" in html
    assert "Problems reported" in html and "reported this month" not in html
    assert "By town" in html
    (xlsx,) = hrefs(html, "ledger-xlsx")
    assert parse_qs(urlparse(xlsx).query)["lang"] == ["en"]


def test_the_overview_links_to_the_ledger_of_its_area_and_month(client) -> None:
    html = client.get("/overview?month=2026-03").text
    (page,) = hrefs(html, "ledger-page")
    assert parse_qs(urlparse(page).query) == {"area": [DISTRICT], "month": ["2026-03"]}
    (export,) = hrefs(html, "export-ledger")
    assert urlparse(export).path == "/export/ledger"
    query = parse_qs(urlparse(export).query)
    assert query["format"] == ["xlsx"] and query["month"] == ["2026-03"]
    assert query["area"] == [DISTRICT]


def test_the_case_page_links_the_household_to_its_file(client) -> None:
    client.cookies.set(TOKEN_COOKIE, token("village", "village01", VILLAGE))
    html = client.get(f"/cases/{CASE}").text
    assert hrefs(html, "household-file") == [f"/households/{HOUSEHOLD}"]
    # A department's officials do not open household files: no link to one.
    client.cookies.set(TOKEN_COOKIE, token("department", "medical01"))
    department = client.get(f"/cases/{CASE}")
    assert department.status_code == 200
    assert hrefs(department.text, "household-file") == []
    assert HOUSEHOLD in department.text


def test_every_ledger_key_used_is_in_both_catalogues() -> None:
    used: set[str] = set()
    for source in [WEB / "templates/ledger.html", WEB / "pages/ledger.py"]:
        used |= set(re.findall(r"""['"](ledger\.[a-z_]+)['"]""", source.read_text()))
    assert {"ledger.title", "ledger.month_invalid", "ledger.by_group"} <= used
    used = (used - {"ledger.html"}) | {"nav.ledger", "case.household_file"}
    assert used <= set(ZH) and used <= set(EN), sorted(used - set(ZH) - set(EN))
