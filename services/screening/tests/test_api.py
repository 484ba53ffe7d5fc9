"""Screening over HTTP: the catalogue, drafts refused with a reason, why and why
not, and jobs that report their progress."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from fangpin.auth import Principal, issue_token
from fangpin.service import Runtime, create_http_app
from fangpin.settings import Settings, get_settings
from screening.api import router

from .conftest import DISTRICT, OTHER_TOWN, TOWN


class Api:
    def __init__(self, client: httpx.AsyncClient):
        self.client = client

    async def call(
        self, method: str, path: str, who: Principal = DISTRICT, **kw: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {issue_token(who)}"}
        return await self.client.request(method, path, headers=headers, **kw)

    async def json(self, method: str, path: str, **kw: Any) -> Any:
        response = await self.call(method, path, **kw)
        assert response.status_code < 300, response.text
        return response.json()

    async def finished(self, path: str, who: Principal = DISTRICT) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            body: dict[str, Any] = await self.json("GET", path, who=who)
            if body.get("job", body)["status"] != "running":
                return body
            await asyncio.sleep(0.02)
        raise AssertionError(f"{path} did not finish")


@pytest.fixture
async def api(app, monkeypatch) -> AsyncIterator[Api]:
    monkeypatch.setenv("FANGPIN_JWT_SECRET", secrets.token_urlsafe(32))
    get_settings.cache_clear()
    # No lifespan: the runtime's NATS connections are not needed here.
    http = create_http_app(
        Runtime("screening", Settings(), app), "screening", "", [router]
    )
    transport = httpx.ASGITransport(app=http)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client)
    get_settings.cache_clear()


async def test_the_catalogue_lists_every_indicator_with_its_thresholds(api):
    body = await api.json("GET", "/catalogue", who=TOWN)
    assert (body["version"], body["indicator_count"]) == (1, 81)
    indicators = {item["code"]: item for item in body["indicators"]}
    assert indicators["R-MED-01"]["thresholds"] == {"oop_line_low_income": 10000}
    assert indicators["R-MED-01"]["reads"] == ["out_of_pocket"]
    assert indicators["R-MED-01"]["can_fire"] is True
    assert indicators["R-WAT-01"]["can_fire"] is True
    assert indicators["R-MED-09"]["can_fire"] is False
    inputs = await api.json("GET", "/catalogue/inputs", who=TOWN)
    (oop,) = [item for item in inputs if item["name"] == "out_of_pocket"]
    assert (oop["type"], oop["origin"]) == ("float", "records")


async def test_a_draft_with_a_bad_condition_is_refused_with_422_naming_it(api):
    draft = await api.json("POST", "/catalogue/drafts", json={})
    path = f"/catalogue/drafts/{draft['draft_id']}"
    (indicator,) = [
        i for i in draft["catalogue"]["indicators"] if i["code"] == "R-MED-01"
    ]
    body = {**indicator, "condition": "out_of_pocket > oop_line"}
    refused = await api.call("PUT", f"{path}/indicators/R-MED-01", json=body)
    assert refused.status_code == 422
    assert refused.json() == {
        "detail": "R-MED-01: the condition reads 'oop_line', which is neither an "
        "input nor a parameter",
        "field": "R-MED-01",
    }
    unknown = await api.call(
        "PUT",
        f"{path}/parameters/no_such_line",
        json={"effective_from": "2027-01-01", "value": 1},
    )
    assert unknown.status_code == 422 and "no_such_line" in unknown.json()["detail"]
    town = await api.call("POST", "/catalogue/drafts", who=TOWN, json={})
    assert town.status_code == 403


async def test_publishing_a_draft_starts_a_rescreen_that_reports_progress(api, feed):
    households = [feed.household() for _ in range(3)]
    feed.send(*(feed.income(h, 5600.0) for h in households))
    draft = await api.json("POST", "/catalogue/drafts", json={})
    path = f"/catalogue/drafts/{draft['draft_id']}"
    line = {"effective_from": "2026-01-01", "value": 6000}
    await api.json("PUT", f"{path}/parameters/income_line_formerly_poor", json=line)
    shown = await api.json("GET", path)
    assert shown["changes"] == [
        "parameter income_line_formerly_poor: 6000 from 2026-01-01"
    ]

    published = await api.json("POST", f"{path}/publish")
    assert published["version"] == 2
    job = await api.finished(f"/rescreens/{published['rescreen_job_id']}")
    assert (job["status"], job["done"], job["total"]) == ("finished", 3, 3)
    assert all(feed.flagged(h) == ["R-INC-01"] for h in households)
    versions = await api.json("GET", "/catalogue/versions", who=TOWN)
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[1]["published_by"] == "district01"

    again = await api.call("POST", "/rescreens", json={"reason": "income survey"})
    assert again.status_code == 202
    job = await api.finished(f"/rescreens/{again.json()['job_id']}")
    assert (job["done"], job["changed"]) == (3, 0)


async def test_a_backtest_reports_households_by_area(api, feed):
    mine = feed.household()
    elsewhere = feed.household(area_code="510904102201")
    feed.send(
        feed.record(mine, "hospital_settlement", {"out_of_pocket": 8000.0}),
        feed.record(elsewhere, "hospital_settlement", {"out_of_pocket": 8000.0}),
    )
    draft = await api.json("POST", "/catalogue/drafts", json={})
    path = f"/catalogue/drafts/{draft['draft_id']}"
    line = {"effective_from": "2020-01-01", "value": 5000}
    await api.json("PUT", f"{path}/parameters/oop_line_low_income", json=line)
    started = await api.call("POST", f"{path}/backtests")
    assert started.status_code == 202
    report_path = f"{path}/backtests/{started.json()['job_id']}"
    report = await api.finished(report_path)
    assert report["summary"]["only_by_draft"] == 2
    town = await api.json("GET", report_path, who=TOWN)
    assert [f["household_id"] for f in town["findings"]] == [str(mine)]
    assert town["findings"][0]["draft"].keys() == {"R-MED-01"}
    assert (await api.json("GET", "/catalogue"))["version"] == 1


async def test_why_shows_every_indicator_and_is_scoped_to_the_area(api, feed):
    household = feed.household(facts={"housing_rating": "C"})
    body = await api.json("GET", f"/households/{household}/why", who=TOWN)
    assert body["flagged"] == ["R-HOU-01"]
    reasons = {item["code"]: item for item in body["indicators"]}
    assert reasons["R-HOU-01"]["outcome"] == "hit"
    assert reasons["R-HOU-01"]["values"] == {"housing_rating": "C"}
    assert reasons["R-HOU-01"]["flagged_since"] is not None
    assert reasons["R-INC-01"]["outcome"] == "unknown"
    assert reasons["R-INC-01"]["missing"] == ["per_capita_income"]
    assert reasons["R-INC-01"]["thresholds"] == {"income_line_formerly_poor": 5000}

    outside = await api.call("GET", f"/households/{household}/why", who=OTHER_TOWN)
    assert outside.status_code == 404
    risk = await api.json("GET", f"/households/{household}/risk", who=TOWN)
    assert risk["active_indicators"] == ["R-HOU-01"]
