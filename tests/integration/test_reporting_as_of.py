"""Reporting as of a past date, on real PostgreSQL: a threshold change between two
dates attributes each flag to the catalogue version in force, a late department
batch counts for the month it is about, and "as known on" a day stays the same
after late data arrives. Also: the live overview equals the one folded again from
the stored events, and every figure lists exactly the households it counts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient

from fangpin.auth import DEMO_USERS, issue_token
from fangpin.contracts import Envelope
from fangpin.projection import connect_pool
from fangpin.service import Runtime, create_http_app
from reporting.api import router
from reporting.figures import OVERVIEW_FIGURES, figure
from reporting.overview import When, drill, overview
from reporting.synthetic import Events, county
from reporting.views import ReportingView

pytestmark = pytest.mark.integration

VILLAGE = "510904101201"
OTHER_VILLAGE = "510904101202"


def moment(month: int, day: int, hour: int = 2) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


@pytest.fixture
def view(settings) -> Iterator[ReportingView]:
    pool = connect_pool(settings.database_url)
    found = ReportingView(pool, "reporting")
    found.setup()
    yield found
    pool.close()


@pytest.fixture
def api(settings, view) -> TestClient:
    """Reporting's HTTP interface over the view (no consumers running)."""
    runtime = Runtime("reporting", settings, handler=view)
    http = create_http_app(runtime, "reporting", "test", [router])
    http.state.view = view
    return TestClient(http)


def token(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(DEMO_USERS[user])}"}


class County:
    """Feeds the view as the inbox would, one batch per call."""

    def __init__(self, view: ReportingView):
        self.view = view
        self.events = Events()

    def feed(self, *envelopes: Envelope) -> None:
        self.view.process([self.events.incoming(e) for e in envelopes])


def flagged_households(view: ReportingView, when: When) -> set[str]:
    found = drill(view, "flagged", "510904", None, when, 100, 0)
    return {str(item["household_id"]) for item in found["items"]}


def test_flags_follow_the_catalogue_version_in_force_on_each_date(view, api):
    county = County(view)
    make = county.events
    a, b = uuid.uuid4(), uuid.uuid4()
    county.feed(
        make.catalogue(1, date(2026, 1, 1), moment(1, 1, 0)),
        make.registered(a, VILLAGE, moment(1, 5)),
        make.registered(b, VILLAGE, moment(1, 5), group="2"),
    )
    income = make.income(a, VILLAGE, moment(1, 10), "5500.00", 2025)
    record = make.record(b, VILLAGE, moment(2, 10), date(2026, 2, 9))
    county.feed(income, record)
    county.feed(make.flagged(b, VILLAGE, moment(2, 10, 3), [record.event_id]))

    # The district raises the income line from March; screening applies the new
    # version as soon as it is published: A now hits, B no longer does.
    county.feed(make.catalogue(2, date(2026, 3, 1), moment(2, 20)))
    county.feed(
        make.flagged(
            a,
            VILLAGE,
            moment(2, 20, 3),
            [income.event_id],
            version=2,
            codes=("R-INC-01",),
            target_type="low_income",
        ),
        make.cleared(b, VILLAGE, moment(2, 20, 3), version=2),
    )

    before = When.of(None, date(2026, 2, 25), None)
    after = When.of(None, date(2026, 3, 15), None)
    assert flagged_households(view, before) == {str(b)}
    assert flagged_households(view, after) == {str(a)}
    assert overview(view, "510904", None, before)["catalogue"]["version"] == 1
    assert overview(view, "510904", None, after)["catalogue"]["version"] == 2
    # Live, everything known counts, whatever it is effective from.
    assert flagged_households(view, When.of(None, None, None)) == {str(a)}

    district = token("district01")
    history = api.get(
        f"/households/{a}/history", params={"as_of": "2026-02-25"}, headers=district
    ).json()
    assert history["state"]["flags"] == []
    assert history["catalogue_in_force"]["version"] == 1
    history = api.get(
        f"/households/{a}/history", params={"as_of": "2026-03-15"}, headers=district
    ).json()
    assert [f["code"] for f in history["state"]["flags"]] == ["R-INC-01"]
    assert history["state"]["flags"][0]["catalogue_version"] == 2
    flag = next(e for e in history["events"] if e["type"] == "RiskFlagged")
    assert flag["effective_on"] == "2026-03-01" and flag["month"] == "2026-03"
    assert flag["occurred_at"].startswith("2026-02-20")


def test_a_late_march_batch_counts_for_march_and_known_on_stays_reproducible(view, api):
    county = County(view)
    make = county.events
    on_time, late = uuid.uuid4(), uuid.uuid4()
    county.feed(
        make.registered(on_time, VILLAGE, moment(1, 5)),
        make.registered(late, OTHER_VILLAGE, moment(1, 5)),
    )
    first = make.record(on_time, VILLAGE, moment(3, 21), date(2026, 3, 20))
    county.feed(
        first, make.flagged(on_time, VILLAGE, moment(3, 21, 3), [first.event_id])
    )

    end_of_march = When.of(None, date(2026, 3, 31), date(2026, 3, 31))
    shown_then = overview(view, "510904", None, end_of_march)
    assert shown_then["total"]["figures"]["flagged"] == 1

    # The rest of March's records arrive on 12 April, past the 10 April deadline.
    second = make.record(late, OTHER_VILLAGE, moment(4, 12), date(2026, 3, 25))
    county.feed(
        make.flagged(late, OTHER_VILLAGE, moment(4, 12, 3), [second.event_id]),
    )
    # The flag came first (another stream); its record settles its date.
    county.feed(second)

    hindsight = When.of("2026-03", date(2026, 3, 31), None)
    figures = overview(view, "510904", None, hindsight)["total"]["figures"]
    assert figures["flagged"] == 2
    assert flagged_households(view, hindsight) == {str(on_time), str(late)}
    # What the platform showed at the end of March is still what it shows for
    # "as known on 31 March".
    assert overview(view, "510904", None, end_of_march) == shown_then

    district = token("district01")
    feeds = api.get(
        "/feeds",
        params={"start_month": "2026-03", "end_month": "2026-03"},
        headers=district,
    ).json()
    medical = next(row for row in feeds if row["department"] == "medical_insurance")
    assert (medical["matched"], medical["on_time"], medical["late"]) == (2, 1, 1)
    assert medical["status"] == "late"
    records = api.get(
        "/feeds/medical_insurance/2026-03", params={"outcome": "late"}, headers=district
    ).json()
    assert [r["household_id"] for r in records] == [str(late)]
    assert api.get(records[0]["history"], headers=district).status_code == 200


def test_live_figures_equal_the_ones_folded_again_and_each_lists_its_households(
    view, api
):
    county_events = Events(validate=False)
    batch = []
    for envelope in county(200, 1500, seed=3, start=moment(1, 5)):
        batch.append(county_events.incoming(envelope))
        if len(batch) == 500:
            view.process(batch)
            batch = []
    view.process(batch)

    for area in ("510904", "510904101", "510904101201"):
        live = overview(view, area, None, When.of("2026-01", None, None))
        again = overview(view, area, None, When.of("2026-01", date(2030, 1, 1), None))
        for key in ("rows", "total"):
            assert _without_links(live[key]) == _without_links(again[key]), area

    total = overview(view, "510904", None, When.of("2026-01", None, None))["total"]
    assert total["figures"]["households"] == 200
    assert total["figures"]["targets"] > 0 and total["figures"]["month.confirmed"] > 0
    for name in OVERVIEW_FIGURES:
        item = figure(name)
        assert item is not None
        if item.unit not in ("households", "cases", "events"):
            continue
        listed = drill(view, name, "510904", None, When.of("2026-01", None, None), 1, 0)
        assert listed["total"] == total["figures"][name], name

    district = token("district01")
    response = api.get(
        "/figures/open_cases.assistance", params={"limit": 2}, headers=district
    )
    assert response.status_code == 200, response.text
    item = response.json()["items"][0]
    assert api.get(item["history"], headers=district).status_code == 200
    timeline = api.get(item["timelines"][0], headers=district)
    assert timeline.status_code == 200 and timeline.json()

    ledger = api.get("/ledger", params={"month": "2026-01"}, headers=district).json()
    county_row = next(row for row in ledger["rows"] if row["level"] == "district")
    decided = county_row["figures"]["month.decided"]["month"]
    assert decided == total["figures"]["month.confirmed"] + sum(
        1
        for item in drill(
            view,
            "month.rejected",
            "510904",
            None,
            When.of("2026-01", None, None),
            500,
            0,
        )["items"]
    )
    sheet = api.get(
        "/ledger/export",
        params={"month": "2026-01", "format": "csv"},
        headers=district,
    )
    assert sheet.text.lstrip("\ufeff").startswith("层级,区划代码,名称,村民小组")

    judged = api.get(
        "/assessment",
        params={"start": "2026-01-01", "end": "2026-12-31"},
        headers=district,
    ).json()
    town = judged["towns"][0]
    decisions = town["indicators"]["decisions_on_time"]
    behind = api.get(
        town["items"] + "&indicator=decisions_on_time&limit=1000", headers=district
    ).json()
    assert behind["total"] == decisions["count"] > 0


def _without_links(found):
    if isinstance(found, list):
        return [_without_links(item) for item in found]
    return {key: value for key, value in found.items() if key != "drill"}


def test_officials_see_their_own_area_only_and_bad_queries_get_a_4xx(view, api):
    county = County(view)
    household = uuid.uuid4()
    county.feed(county.events.registered(household, VILLAGE, moment(1, 5)))
    town02 = token("town02")
    assert (
        api.get("/overview", params={"area": "510904101"}, headers=town02).status_code
        == 404
    )
    assert (
        api.get(f"/households/{household}/history", headers=town02).status_code == 404
    )
    town01 = token("town01")
    assert (
        api.get("/overview", headers=town01).json()["total"]["figures"]["households"]
        == 1
    )
    assert (
        api.get("/overview", params={"month": "2026-13"}, headers=town01).status_code
        == 422
    )
    assert api.get("/figures/no.such.figure", headers=town01).status_code == 404
    grid = token("grid01")
    mine = api.get("/overview", headers=grid).json()
    assert [row["village_group"] for row in mine["rows"]] == ["1"]
    assert api.get("/overview", params={"group": "2"}, headers=grid).status_code == 404
    assert api.get("/overview").status_code == 401
