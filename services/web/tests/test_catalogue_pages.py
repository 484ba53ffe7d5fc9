"""The indicator catalogue and a draft of it, on a fake screening service:
screening's English descriptions, groups and change lines read in Chinese on
Chinese pages, and a refused back-test or publication is said beside its
button."""

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
from web.present import change_text
from web.session import LANG_COOKIE, TOKEN_COOKIE, read_user

DRAFT_ID = str(uuid.uuid4())
JOB_ID = str(uuid.uuid4())
DISTRICT = jwt.encode(
    {
        "sub": "district01",
        "role": "district",
        "area": "510904",
        "exp": int(time.time()) + 3600,
    },
    "never checked by the web process",
    algorithm="HS256",
)


def parameter(name: str, unit: str, description: str, value: float) -> dict:
    return {
        "name": name,
        "unit": unit,
        "description": description,
        "in_force": value,
        "values": [{"effective_from": "2020-01-01", "value": value}],
    }


def indicator(code: str, group: str, name_zh: str, name_en: str) -> dict:
    return {
        "code": code,
        "ref": code[-2:],
        "name_zh": name_zh,
        "name_en": name_en,
        "group": group,
        "applies_to": ["formerly_poor"],
        "condition": "per_capita_income < income_line_formerly_poor",
        "reads": ["per_capita_income"],
        "thresholds": {"income_line_formerly_poor": 5000},
        "target_type": "low_income",
        "severity": "high",
        "description": "",
        "can_fire": True,
        "examples": [],
    }


CATALOGUE = {
    "version": 3,
    "effective_from": "2026-03-01",
    "indicator_count": 2,
    "parameters": [
        parameter(
            "income_line_formerly_poor",
            "yuan per person per year",
            "monitoring line for formerly poor households (Anju, 2020)",
            5000,
        ),
        # Added through a draft later: the web knows no Chinese words for it.
        parameter("orchard_loss_line", "hectares", "orchard area lost", 2),
    ],
    "indicators": [
        indicator("R-INC-01", "income", "人均纯收入低于监测线", "Income below"),
        indicator("R-ORC-01", "orchards", "果园受灾", "Orchard damaged"),
    ],
}
VERSIONS = [
    {
        "version": 1,
        "effective_from": "2026-01-01",
        "indicator_count": 81,
        "changes": ["first version: 81 indicators"],
        "published_by": "system",
        "draft_id": None,
    },
    {
        "version": 2,
        "effective_from": "2026-03-01",
        "indicator_count": 82,
        "changes": ["R-ORC-01: added", "parameter orchard_loss_line: added"],
        "published_by": "district01",
        "draft_id": str(uuid.uuid4()),
    },
]
DRAFT = {
    "draft_id": DRAFT_ID,
    "based_on": 3,
    "status": "open",
    "note": "调整标准线",
    "opened_by": "district01",
    "published_as": None,
    "edits": [],
    "changes": [
        "parameter income_line_formerly_poor: 5500 from 2027-01-01",
        "R-INC-01: condition, group changed",
        "R-ORC-01: retired",
    ],
    "catalogue": CATALOGUE,
}
BACKTEST = {
    "job": {
        "job_id": JOB_ID,
        "kind": "backtest",
        "status": "finished",
        "reason": f"draft {DRAFT_ID}",
        "catalogue_version": 4,
        "done": 40,
        "total": 40,
        "changed": 0,
        "started_by": "district01",
        "started_at": "2026-11-02T03:00:00Z",
        "updated_at": "2026-11-02T03:01:00Z",
        "failure": None,
    },
    "summary": {
        "households_scanned": 40,
        "flagged_by_draft": 9,
        "flagged_by_current": 7,
        "only_by_draft": 2,
        "only_by_current": 0,
    },
    "visible": 0,
    "findings": [],
}


class FakeScreening:
    """Screening as the catalogue pages call it; a test sets what a back-test
    or a publication answers."""

    def __init__(self) -> None:
        self.answers: dict[str, httpx.Response] = {
            "backtests": httpx.Response(202, json=BACKTEST["job"]),
            "publish": httpx.Response(200, json={"version": 4}),
        }
        self.draft: dict[str, Any] = DRAFT
        self.posted: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        draft = f"/catalogue/drafts/{DRAFT_ID}"
        if request.method == "POST":
            self.posted.append(path)
            return self.answers[path.rsplit("/", 1)[-1]]
        if path == "/catalogue":
            return httpx.Response(200, json=CATALOGUE)
        if path == "/catalogue/versions":
            return httpx.Response(200, json=VERSIONS)
        if path == draft:
            return httpx.Response(200, json=self.draft)
        if path == f"{draft}/backtests/{JOB_ID}":
            return httpx.Response(200, json=BACKTEST)
        return httpx.Response(404, json={"detail": "Not Found"})


@pytest.fixture
def screening() -> FakeScreening:
    return FakeScreening()


@pytest.fixture
def client(screening: FakeScreening) -> TestClient:
    app = create_app(WebSettings(), transport=httpx.MockTransport(screening))
    test_client = TestClient(app, follow_redirects=False)
    test_client.cookies.set(TOKEN_COOKIE, DISTRICT)
    return test_client


def section(html: str, test_id: str) -> str:
    found = re.search(rf'<(\w+)[^>]*data-test="{test_id}".*?</\1>', html, re.S)
    assert found, f"no {test_id} on the page"
    return found[0]


def post(client: TestClient, action: str, **form: str) -> httpx.Response:
    csrf = read_user(DISTRICT).csrf
    return client.post(
        f"/district/catalogue/drafts/{DRAFT_ID}/{action}", data={"csrf": csrf, **form}
    )


def test_catalogue_describes_parameters_and_groups_in_chinese(
    client: TestClient,
) -> None:
    html = client.get("/district/catalogue").text
    parameters = section(html, "parameters")
    assert "脱贫户监测线，安居区2020年标准" in parameters
    assert "5,000 元/人·年" in parameters
    assert "monitoring line for formerly poor" not in html
    # What the page has no Chinese for is shown as screening wrote it.
    assert "orchard area lost" in parameters and "2 hectares" in parameters
    indicators = section(html, "catalogue")
    assert '<td data-label="类别">收入</td>' in indicators
    assert '<td data-label="类别">orchards</td>' in indicators
    options = section(html, "change-parameter")
    assert "income_line_formerly_poor · 脱贫户监测线，安居区2020年标准" in options
    versions = section(html, "versions")
    assert "首个版本：共 81 项指标" in versions
    assert "新增指标 R-ORC-01；新增参数 orchard_loss_line" in versions


def test_catalogue_keeps_screening_words_in_english(client: TestClient) -> None:
    client.cookies.set(LANG_COOKIE, "en")
    html = client.get("/district/catalogue").text
    parameters = section(html, "parameters")
    assert "monitoring line for formerly poor households (Anju, 2020)" in parameters
    assert "5,000 yuan per person per year" in parameters
    assert '<td data-label="Group">Income</td>' in section(html, "catalogue")
    assert "First version: 81 indicators" in section(html, "versions")


def test_draft_changes_read_in_the_page_language(client: TestClient) -> None:
    changes = section(
        client.get(f"/district/catalogue/drafts/{DRAFT_ID}").text, "draft-changes"
    )
    assert re.findall(r"<li>(.*?)</li>", changes) == [
        "参数 income_line_formerly_poor（脱贫户监测线，安居区2020年标准）："
        "自 2027年1月1日 起为 5,500",
        "指标 R-INC-01 修改了条件、类别",
        "停用指标 R-ORC-01",
    ]
    client.cookies.set(LANG_COOKIE, "en")
    changes = section(
        client.get(f"/district/catalogue/drafts/{DRAFT_ID}").text, "draft-changes"
    )
    assert re.findall(r"<li>(.*?)</li>", changes) == [
        "Parameter income_line_formerly_poor: 5,500 from 1 Jan 2027",
        "Indicator R-INC-01: condition, group changed",
        "Indicator R-ORC-01 retired",
    ]


def test_a_change_line_of_an_unknown_shape_is_shown_as_written() -> None:
    assert change_text("R-INC-01: reshuffled", "zh") == "R-INC-01: reshuffled"


def test_a_refused_publication_is_said_beside_the_publish_button(
    client: TestClient, screening: FakeScreening
) -> None:
    screening.answers["publish"] = httpx.Response(
        409, json={"detail": "the draft changes nothing"}
    )
    response = post(client, "publish", job=JOB_ID)
    assert response.status_code == 409
    assert screening.posted == [f"/catalogue/drafts/{DRAFT_ID}/publish"]
    html = response.text
    refusal = section(html, "draft-refused")
    assert "未能发布：草稿与现行目录相同，无需发布" in refusal
    publish = re.search(r"<button[^>]*data-test=\"publish\"[^>]*>", html)
    assert publish and 'aria-describedby="draft-refused"' in publish[0]
    # The back-test that allowed publishing is still in view.
    assert 'data-test="backtest" data-status="finished"' in html
    assert html.index('data-test="publish"') < html.index('data-test="draft-refused"')


def test_a_refused_back_test_is_said_beside_its_button_in_english(
    client: TestClient, screening: FakeScreening
) -> None:
    client.cookies.set(LANG_COOKIE, "en")
    screening.answers["backtests"] = httpx.Response(
        422, json={"detail": [{"field": "condition", "reason": "unknown input"}]}
    )
    response = post(client, "backtest")
    assert response.status_code == 422
    refusal = section(response.text, "draft-refused")
    assert "The back-test could not start: unknown input" in refusal
    assert 'data-test="backtest"' not in response.text


def test_a_publication_of_a_draft_published_meanwhile_says_so(
    client: TestClient, screening: FakeScreening
) -> None:
    screening.answers["publish"] = httpx.Response(
        409, json={"detail": "this draft is published; open a new one"}
    )
    screening.draft = {**DRAFT, "status": "published", "published_as": 4}
    response = post(client, "publish", job=JOB_ID)
    assert response.status_code == 409
    refusal = section(response.text, "draft-refused")
    assert "未能发布：该草稿已发布，请另建草稿" in refusal
    # Nothing is left to press: neither button is offered again.
    assert 'data-test="publish"' not in response.text
    assert 'data-test="run-backtest"' not in response.text


def test_a_draft_action_that_works_goes_on_as_before(
    client: TestClient, screening: FakeScreening
) -> None:
    started = post(client, "backtest")
    assert started.status_code == 303
    assert started.headers["location"].endswith(f"?job={JOB_ID}")
    published = post(client, "publish")
    assert published.headers["location"] == "/district/catalogue?published=4"
    assert post(client, "discard").status_code == 404
    assert screening.posted == [
        f"/catalogue/drafts/{DRAFT_ID}/backtests",
        f"/catalogue/drafts/{DRAFT_ID}/publish",
    ]
