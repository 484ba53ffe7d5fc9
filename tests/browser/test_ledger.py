"""The monthly work ledger (工作台账) in Chromium, against the real services: a
grid monitor reads their own village group's month, a count opens the
households behind it; the district reads its towns, goes down to the village
groups, picks another month and downloads the ledger as a spreadsheet with
Chinese headers. Each page is photographed in Chinese and English at phone and
desktop sizes."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from openpyxl import load_workbook

from fangpin.cli import Platform
from tests.browser.conftest import DESKTOP, PHONE, Api
from tests.browser.test_pages import Session, reload_until
from tests.support import VILLAGE, household_form

pytestmark = pytest.mark.browser

COUNTY = timezone(timedelta(hours=8))


@pytest.fixture(scope="module")
def web(platform: Platform) -> str:
    assert platform.web_url is not None
    return platform.web_url


def report(household_id: str) -> dict[str, Any]:
    return {
        "household_id": household_id,
        "category": "illness",
        "description": "住院，自付医疗费用高",
        "observed_on": datetime.now(UTC).date().isoformat(),
        "amount": "9000.00",
    }


@pytest.fixture(scope="module")
def reported(api: Api) -> dict[str, dict[str, Any]]:
    """A problem reported this month in each of two village groups: by the grid
    monitor in group 1, by the village official in group 2."""
    ours = household_form(601)
    theirs = {**household_form(602), "village_group": "2"}
    for form in (ours, theirs):
        api.call("district01", "POST", "intake", "/households", json=form)
    api.call("grid01", "POST", "intake", "/reports", json=report(ours["household_id"]))
    api.call(
        "village01", "POST", "intake", "/reports", json=report(theirs["household_id"])
    )

    # The ledger reads reporting's tables, which follow within moments.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = api.call("district01", "GET", "reporting", "/ledger")
        groups = {
            row["village_group"]: row["figures"]["month.reported"]["month"]
            for row in found["rows"]
            if row["level"] == "village_group"
        }
        if groups.get("1") == 1 and groups.get("2") == 1:
            return {"ours": ours, "theirs": theirs}
        time.sleep(0.3)
    raise AssertionError("reporting did not count the two reports")


def own_cell(page: Any, figure: str, column: str) -> str:
    """This month, last month or the change in the area's own row."""
    row = page.locator(f"[data-test=ledger-own] tr[data-figure='{figure}']")
    return str(row.locator(f"[data-test={column}]").inner_text()).strip()


def this_month() -> str:
    return datetime.now(COUNTY).strftime("%Y-%m")


def last_month() -> str:
    first = datetime.now(COUNTY).date().replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def test_a_grid_monitor_reads_their_own_village_group(browser, web, reported):
    ours = reported["ours"]["household_id"]
    theirs = reported["theirs"]["household_id"]
    grid = Session(browser, web, "grid01", PHONE)
    page = grid.page

    # From the menu, to this month's ledger of their own village group.
    page.click("nav a[href='/ledger']")
    assert page.url == f"{web}/ledger"
    assert "第1组" in page.inner_text("h1")
    assert page.get_attribute("[data-test=ledger-month]", "data-month") == (
        this_month()
    )
    assert own_cell(page, "month.reported", "month") == "1"
    # Group 2's report is the village's, not this grid's: no rows below.
    assert page.locator("[data-test=ledger-rows]").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    grid.shoot("ledger-grid-monitor")

    # The count opens the household behind it, which is theirs to open.
    page.click("[data-test=ledger-own] tr[data-figure='month.reported'] a")
    assert page.url.startswith(f"{web}/overview/figure?")
    assert "group=1" in page.url
    assert page.locator(f"tr[data-household='{ours}']").count() == 1
    assert page.locator(f"tr[data-household='{theirs}']").count() == 0
    page.click(f"tr[data-household='{ours}'] [data-test=household-link]")
    assert page.url == f"{web}/households/{ours}"
    grid.close()


def test_the_district_goes_down_to_a_village_and_downloads_the_ledger(
    browser, web, reported, tmp_path
):
    district = Session(browser, web, "district01", DESKTOP)
    page = district.page
    page.click("nav a[href='/ledger']")
    assert own_cell(page, "month.reported", "month") == "2"
    assert own_cell(page, "month.reported", "change") == "+2"
    district.shoot("ledger-district")

    # One click down to the town, another to the village and its groups.
    town = VILLAGE[:9]
    page.click(
        f"[data-test=ledger-rows] tr[data-area='{town}'] a[data-test=ledger-area]"
    )
    assert f"area={town}" in page.url
    page.click(
        f"[data-test=ledger-rows] tr[data-area='{VILLAGE}'] a[data-test=ledger-area]"
    )
    assert f"area={VILLAGE}" in page.url
    groups = page.locator("[data-test=ledger-rows] tr[data-group]")
    assert groups.count() == 2
    reported_cells = page.locator(
        "[data-test=ledger-rows] tr[data-group] a[data-figure='month.reported']"
    )
    assert reported_cells.all_inner_texts() == ["1", "1"]
    assert page.locator("[data-test=ledger-up]").get_attribute("href") == (
        f"/ledger?area={town}&month={this_month()}"
    )
    district.shoot("ledger-village")

    # Last month, chosen in the month field, held none of this month's reports.
    page.fill("#f-month", last_month())
    page.click("[data-test=ledger-show]")
    assert f"month={last_month()}" in page.url and f"area={VILLAGE}" in page.url
    assert own_cell(page, "month.reported", "month") == "0"
    page.click("[data-test=ledger-later]")
    assert own_cell(page, "month.reported", "month") == "2"

    # The same ledger as a spreadsheet: Chinese headers, one row per level.
    with page.expect_download() as started:
        page.click("[data-test=ledger-xlsx]")
    download = started.value
    assert re.fullmatch(
        rf"ledger-{VILLAGE}-{this_month()}\.xlsx", download.suggested_filename
    )
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    sheet = load_workbook(saved).active
    assert sheet.title == "工作台账"
    rows = list(sheet.iter_rows(values_only=True))
    headers = rows[0]
    assert headers[:4] == ("层级", "区划代码", "名称", "村民小组")
    assert "问题上报" in headers and "问题上报（上月）" in headers
    reported_at = headers.index("问题上报")
    by_level = {(row[0], row[3] or None): row[reported_at] for row in rows[1:]}
    assert by_level == {("村", None): 2, ("村民小组", "1"): 1, ("村民小组", "2"): 1}
    district.close()


def test_the_ledger_fits_a_phone(browser, web, reported):
    phone = Session(browser, web, "district01", PHONE)
    page = phone.page
    phone.go("/ledger")
    reload_until(page, "[data-test=ledger-rows] tr[data-area]")
    # The towns turn into one card each, every count labelled.
    first = page.locator("[data-test=ledger-rows] tbody td").first
    assert (
        first.evaluate("node => getComputedStyle(node, '::before').content") != "none"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # The month field is reached from the keyboard and labelled.
    page.focus("#f-month")
    assert page.evaluate("document.activeElement.id") == "f-month"
    assert page.locator("label[for=f-month]").inner_text() == "月份"
    phone.close()
