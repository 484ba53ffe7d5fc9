"""A grid monitor finds a household of their grid by a member's name, from a
phone, reports a problem for it in a few taps, and sees what became of the
report. Photographed in Chinese and English at phone and desktop size."""

from __future__ import annotations

import time
import uuid
from datetime import date
from typing import Any

import pytest

from fangpin.cli import Platform
from fangpin.idnumber import make_id_number, mask
from tests.browser.conftest import PHONE, Api
from tests.browser.test_pages import Session
from tests.support import VILLAGE

pytestmark = pytest.mark.browser


def household(group: str, members: list[tuple[str, str, int]]) -> dict[str, Any]:
    return {
        "household_id": str(uuid.uuid4()),
        "area_code": VILLAGE,
        "village_group": group,
        "poverty_status": "formerly_poor",
        "left_poverty_year": 2019,
        "members": [
            {
                "name": name,
                "relation": relation,
                "id_number": make_id_number("510904", date(1975, 3, 8), serial),
            }
            for name, relation, serial in members
        ],
    }


@pytest.fixture(scope="module")
def web(platform: Platform) -> str:
    assert platform.web_url is not None
    return platform.web_url


@pytest.fixture(scope="module")
def households(api: Api) -> dict[str, dict[str, Any]]:
    """The same spouse's name in the monitor's grid and in the next one."""
    mine = household("1", [("司马相如", "head", 501), ("卓文君", "spouse", 502)])
    elsewhere = household("2", [("卓文君", "head", 503)])
    for form in (mine, elsewhere):
        api.call("district01", "POST", "intake", "/households", json=form)
    return {"mine": mine, "elsewhere": elsewhere}


def search_until_found(page: Any, query: str, within: float = 20.0) -> Any:
    """The search index follows the registry within moments: search again until
    the household shows. The query is sent with the keyboard's Enter key."""
    deadline = time.monotonic() + within
    while True:
        page.fill("#f-q", query)
        page.press("#f-q", "Enter")
        page.wait_for_selector("[data-test=search-results]")
        found = page.locator("[data-test=match]")
        if found.count():
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no household found on {page.url}")
        time.sleep(0.3)


def reload_until(page: Any, selector: str, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while not page.locator(selector).count():
        if time.monotonic() > deadline:
            raise AssertionError(f"{selector} did not appear on {page.url}")
        time.sleep(0.5)
        page.reload()
    return page.locator(selector).first


def test_grid_monitor_finds_a_household_by_name_and_reports_a_problem(
    browser, web, households
):
    mine = households["mine"]
    head, spouse = mine["members"]
    grid = Session(browser, web, "grid01", PHONE)
    page = grid.page
    assert page.url == f"{web}/grid"

    # A name too short is refused beside the field, in Chinese.
    page.fill("#f-q", "卓")
    page.click("form[action='/grid/search'] button[type=submit]")
    assert "请至少输入2个字" in page.inner_text("#err-q")

    # The spouse's name finds her household in this grid only, IDs masked.
    (found,) = search_until_found(page, "文君").all()
    assert found.get_attribute("data-household") == mine["household_id"]
    text = found.inner_text()
    assert head["name"] in text and spouse["name"] in text
    assert mask(head["id_number"]) in text and mask(spouse["id_number"]) in text
    for member in (*mine["members"], *households["elsewhere"]["members"]):
        assert member["id_number"] not in page.content()
    grid.snap("grid-search")

    # The same search in English.
    page.click("[data-test=lang-toggle]")
    search_until_found(page, "文君")
    assert page.inner_text("#matches-h") == "Households found"
    grid.snap("grid-search")
    page.click("[data-test=lang-toggle]")
    search_until_found(page, "文君")

    # One tap opens the report form for the household, two more and it is sent.
    page.click(f"[data-household='{mine['household_id']}'] [data-test=report-this]")
    assert page.url.endswith(f"/grid?household_id={mine['household_id']}#report-h")
    assert head["name"] in page.inner_text("#report-h")
    grid.shoot("grid-search-report")
    page.check("#c-illness")
    page.fill("#f-description", "配偶住院，医疗费用较高")
    page.click("form[action='/grid/reports'] button[type=submit]")
    assert page.locator("[data-test=done]").is_visible()

    # The report is listed with what became of it: casework opens a case.
    mine_listed = "[data-test=my-reports] li[data-outcome=open]"
    reported = reload_until(page, mine_listed)
    assert "办理中：入户核实" in reported.inner_text()
    grid.shoot("grid-reports")
    grid.close()
