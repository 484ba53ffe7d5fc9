"""Assistance over HTTP on PostgreSQL: the totals per measure and per household,
and what each budget has left after grants and after a stop."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from assistance.api import router
from assistance.application import AssistanceApplication
from assistance.views import AssistanceView
from fangpin.auth import Principal, issue_token
from fangpin.contracts import Role
from fangpin.projection import LocalFollower, connect_pool
from fangpin.service import Runtime, create_http_app
from fangpin.settings import Settings, get_settings
from tests.servers import postgres_server
from tests.support import create_database

from .conftest import DISTRICT, TOWN, Feed

pytestmark = pytest.mark.integration

OTHER_TOWN = Principal(user_id="town02", role=Role.TOWN, area_code="510904102")


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if "DATABASE_URL" in os.environ:
        yield os.environ["DATABASE_URL"]
        return
    with postgres_server(tmp_path_factory.mktemp("pg")) as url:
        yield url


class Api:
    """Officials' requests; a read first brings the view up to date, as the
    service's follower would right after each commit."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        app: AssistanceApplication,
        follower: LocalFollower,
    ):
        self.client = client
        self.app = app
        self.follower = follower

    async def call(
        self, method: str, path: str, who: Principal = TOWN, **kw: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {issue_token(who)}"}
        return await self.client.request(method, path, headers=headers, **kw)

    async def grant(self, feed: Feed, who: Principal = TOWN, **changes: Any) -> str:
        form = {
            "case_id": str(feed.case_id),
            "measure": "temporary_aid",
            "quantity": "2000.00",
            "period": "2026-12",
            "funding_source": "区级防贫资金",
            **changes,
        }
        response = await self.call("POST", "/grants", who, json=form)
        assert response.status_code == 201, response.text
        granted: str = response.json()["id"]
        return granted

    async def read(self, path: str, who: Principal = TOWN) -> Any:
        while self.follower.catch_up_once():
            pass
        response = await self.call("GET", path, who)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def api(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    database_url = create_database(postgres_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("FANGPIN_JWT_SECRET", secrets.token_urlsafe(32))
    get_settings.cache_clear()
    settings = Settings()
    app = AssistanceApplication(settings)
    pool = connect_pool(database_url, size=2)
    view = AssistanceView(pool, "assistance_view")
    view.setup()
    # No lifespan: the runtime's NATS connections are not needed here.
    http = create_http_app(
        Runtime("assistance", settings, app), "assistance", "", [router]
    )
    http.state.view = view
    transport = httpx.ASGITransport(app=http)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, app, LocalFollower(app, view))
    pool.close()
    app.close()
    get_settings.cache_clear()


def by_measure(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["measure"]: row for row in rows}


async def test_totals_count_households_grants_and_quantity_per_measure(api):
    first = Feed(api.app).open().confirm()
    second = Feed(api.app).open().confirm()
    await api.grant(first, period="2026-11")
    await api.grant(first, period="2026-12", quantity="500.50")
    await api.grant(second, period="2026", quantity="3000")
    await api.grant(second, measure="welfare_post", quantity="1", who=DISTRICT)

    totals = by_measure(await api.read("/totals"))

    assert set(totals) == {"temporary_aid", "welfare_post"}
    money = totals["temporary_aid"]
    assert (money["unit"], money["households"], money["grants"]) == ("yuan", 2, 3)
    assert Decimal(money["quantity"]) == Decimal("5500.50")
    places = totals["welfare_post"]
    assert (places["unit"], places["households"], places["grants"]) == (
        "places",
        1,
        1,
    )
    assert await api.read("/totals", OTHER_TOWN) == []


async def test_a_households_totals_leave_out_its_stopped_grants(api):
    feed = Feed(api.app).open().confirm()
    kept = await api.grant(feed, period="2026-11")
    stopped = await api.grant(feed, period="2026-12", quantity="800")
    await api.grant(feed, measure="welfare_post", quantity="1")
    response = await api.call(
        "POST", f"/grants/{stopped}/stop", json={"reason": "重复申报"}
    )
    assert response.status_code == 204

    found = await api.read(f"/households/{feed.household}/grants")

    states = {row["grant_id"]: row["stopped_at"] is None for row in found["grants"]}
    assert states[kept] and not states[stopped] and len(states) == 3
    assert {k: Decimal(v) for k, v in found["totals"].items()} == {
        "temporary_aid": Decimal(2000),
        "welfare_post": Decimal(1),
    }
    assert by_measure(await api.read("/totals"))["temporary_aid"]["grants"] == 1
    elsewhere = await api.read(f"/households/{feed.household}/grants", OTHER_TOWN)
    assert elsewhere == {"grants": [], "totals": {}}


async def test_a_budget_shows_what_remains_after_grants_and_after_a_stop(api):
    budget = {"funding_source": "区级防贫资金", "year": 2026, "amount": "10000"}
    response = await api.call("PUT", "/budgets", DISTRICT, json=budget)
    assert response.status_code == 200
    assert Decimal(response.json()["remaining"]) == Decimal(10000)
    feed = Feed(api.app).open().confirm()
    await api.grant(feed, period="2026-11", quantity="2500")
    december = await api.grant(feed, period="2026-12", quantity="1500.50")
    # Places and other funding sources and years do not touch this budget.
    await api.grant(feed, measure="welfare_post", quantity="1")
    await api.grant(feed, period="2027-01", quantity="900")
    await api.grant(feed, measure="chronic_aid", funding_source="医保基金")

    (after_grants,) = [
        row
        for row in await api.read("/budgets")
        if row["funding_source"] == "区级防贫资金"
    ]
    assert after_grants["year"] == 2026
    assert Decimal(after_grants["spent"]) == Decimal("4000.50")
    assert Decimal(after_grants["remaining"]) == Decimal("5999.50")

    response = await api.call(
        "POST", f"/grants/{december}/stop", json={"reason": "家庭情况好转"}
    )
    assert response.status_code == 204
    (after_stop,) = await api.read("/budgets")
    assert Decimal(after_stop["spent"]) == Decimal(2500)
    assert Decimal(after_stop["remaining"]) == Decimal(7500)


async def test_a_grant_beyond_the_budget_is_refused_and_leaves_it_as_it_was(api):
    budget = {"funding_source": "区级防贫资金", "year": 2026, "amount": "3000"}
    await api.call("PUT", "/budgets", DISTRICT, json=budget)
    feed = Feed(api.app).open().confirm()
    await api.grant(feed, period="2026-11")
    form = {
        "case_id": str(feed.case_id),
        "measure": "temporary_aid",
        "quantity": "1500",
        "period": "2026-12",
        "funding_source": "区级防贫资金",
    }

    refused = await api.call("POST", "/grants", json=form)

    assert refused.status_code == 409
    assert refused.json()["field"] == "quantity"
    (row,) = await api.read("/budgets")
    assert Decimal(row["remaining"]) == Decimal(1000)


async def test_an_overlapping_period_is_refused_with_409_naming_the_period(api):
    feed = Feed(api.app).open().confirm()
    await api.grant(feed, period="2026")
    form = {
        "case_id": str(feed.case_id),
        "measure": "temporary_aid",
        "quantity": "100",
        "period": "2026-12",
        "funding_source": "区级防贫资金",
    }

    refused = await api.call("POST", "/grants", json=form)

    assert refused.status_code == 409
    assert refused.json()["field"] == "period"
    assert "2026, which overlaps 2026-12" in refused.json()["detail"]
    bad_month = await api.call("POST", "/grants", json={**form, "period": "2026-13"})
    assert bad_month.status_code == 422


async def test_emergency_help_on_a_case_not_urgent_is_refused_with_422(api):
    feed = Feed(api.app).open(urgent=False)
    form = {
        "case_id": str(feed.case_id),
        "measure": "temporary_aid",
        "quantity": "100",
        "period": "2026-12",
        "funding_source": "区级防贫资金",
        "emergency": True,
    }

    refused = await api.call("POST", "/grants", json=form)

    assert refused.status_code == 422
    assert refused.json()["field"] == "emergency"
    assert "marked urgent" in refused.json()["detail"]
    allowed = await api.call("POST", "/grants", DISTRICT, json=form)
    assert allowed.status_code == 201
