"""Every number on the overview explained, in Chromium against the real
services: the district office clicks a figure, finds the same count on the list
behind it, opens a household's file with its cases and history, and reads the
file and the overview as they stood on an earlier day. Each page is
photographed in Chinese and English at phone and desktop sizes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from fangpin.cli import Platform
from fangpin.idnumber import mask
from tests.browser.conftest import DESKTOP, PHONE, Api
from tests.browser.test_pages import Session, reload_until
from tests.support import household_form

pytestmark = pytest.mark.browser

COUNTY = timezone(timedelta(hours=8))
FINDINGS = "入户核实：住院属实，农户签字同意"


@pytest.fixture(scope="module")
def web(platform: Platform) -> str:
    assert platform.web_url is not None
    return platform.web_url


@pytest.fixture(scope="module")
def reported_household(api: Api) -> dict[str, Any]:
    """Two registered households, one of them with a case opened on a report."""
    quiet = household_form(402)
    api.call("district01", "POST", "intake", "/households", json=quiet)
    form = household_form(401)
    api.call("district01", "POST", "intake", "/households", json=form)
    report = {
        "household_id": form["household_id"],
        "category": "illness",
        "description": "住院，自付医疗费用高",
        "observed_on": datetime.now(UTC).date().isoformat(),
        "amount": "12000.00",
    }
    api.call("grid01", "POST", "intake", "/reports", json=report)

    # The village records its home visit, with what it found.
    deadline = time.monotonic() + 30
    case_id = None
    while case_id is None and time.monotonic() < deadline:
        queue = api.call("village01", "GET", "casework", "/queue")
        found = [c for c in queue["cases"] if c["household_id"] == form["household_id"]]
        case_id = found[0]["case_id"] if found else None
        time.sleep(0.2)
    assert case_id, "the case did not open"
    visit = {"consent": True, "findings": FINDINGS}
    api.call("village01", "POST", "casework", f"/cases/{case_id}/visit", json=visit)

    # The list pages read reporting's tables, which follow within moments.
    while time.monotonic() < deadline:
        overview = api.call("district01", "GET", "reporting", "/overview")
        if overview["total"]["figures"].get("open_cases", 0) >= 1:
            break
        time.sleep(0.3)
    else:
        raise AssertionError("reporting did not count the case")
    return form


def number(text: str) -> str:
    return text.strip().replace(",", "")


def test_a_figure_leads_to_its_households_and_a_household_to_its_past(
    browser, web, reported_household
):
    household_id = reported_household["household_id"]
    head = reported_household["members"][0]
    before = datetime.now(COUNTY).date() - timedelta(days=1)

    # The overview's figures are links; the town's open cases is one of them.
    district = Session(browser, web, "district01", DESKTOP)
    page = district.page
    assert page.url == f"{web}/overview"
    cell = reload_until(page, "[data-test=overview-rows] a[data-figure=open_cases]")
    clicked = number(cell.inner_text())
    assert int(clicked) >= 1
    district.shoot("drill-overview")
    cell.click()

    # The list behind it counts what the overview counted.
    assert page.url.startswith(f"{web}/overview/figure?")
    assert page.get_attribute("[data-test=drill-count]", "data-count") == clicked
    listed = page.locator(f"[data-test=drill-list] tr[data-household='{household_id}']")
    assert listed.count() == 1
    assert head["name"] not in page.content()  # masked in lists
    assert mask(head["id_number"]) not in page.content()
    district.shoot("drill-figure")

    # The household's file: its case, and the history from report to case.
    listed.locator("[data-test=household-link]").click()
    assert page.url == f"{web}/households/{household_id}"
    visited = reload_until(
        page, "[data-test=household-history] li[data-type=HomeVisitRecorded]"
    )
    assert "village01" in visited.inner_text() and FINDINGS in visited.inner_text()
    reported = page.locator(
        "[data-test=household-history] li[data-type=ProblemReported]"
    )
    assert "grid01" in reported.inner_text()
    opened = page.locator("[data-test=household-history] li[data-type=CaseOpened]")
    cause = opened.locator("a[href^='#ev-']")
    assert cause.inner_text().startswith("网格员上报问题")
    cause.focus()
    page.keyboard.press("Enter")
    assert page.url.endswith(cause.get_attribute("href"))
    assert page.locator("[data-test=household-cases] a[href^='/cases/']").count() == 1
    assert mask(head["id_number"]) in page.inner_text("[data-test=members]")
    assert head["id_number"] not in page.content()
    district.shoot("household")

    # As of the day before, the household had not been registered yet.
    page.fill("#f-as_of", before.isoformat())
    page.click("[data-test=as-of-submit]")
    assert page.locator("[data-test=as-of-banner]").is_visible()
    assert f"as_of={before.isoformat()}" in page.url
    assert page.inner_text("[data-test=state-registered]") == "否"
    assert page.locator("[data-test=household-history] li").count() == 0
    district.shoot("household-as-of")
    page.click("[data-test=as-of-live]")
    assert page.locator("[data-test=household-history] li").count() >= 2

    # The overview as it stood then counts nothing; as of today, what it does now.
    district.go("/overview")
    page.fill("#f-as_of", before.isoformat())
    page.click("[data-test=as-of-submit]")
    assert page.locator("[data-test=as-of-banner]").is_visible()
    assert page.locator("[data-test=overview-rows] a[data-figure]").count() == 0
    district.shoot("overview-as-of")
    today = datetime.now(COUNTY).date().isoformat()
    page.fill("#f-as_of", today)
    page.click("[data-test=as-of-submit]")
    cell = page.locator("[data-test=overview-rows] a[data-figure=households]").first
    households = number(cell.inner_text())
    assert int(households) == 2
    cell.click()
    assert page.get_attribute("[data-test=drill-count]", "data-count") == households
    assert f"as_of={today}" in page.locator(
        "[data-test=household-link]"
    ).first.get_attribute("href")
    district.close()


def test_the_pages_fit_a_phone(browser, web, reported_household):
    household_id = reported_household["household_id"]
    phone = Session(browser, web, "district01", PHONE)
    page = phone.page
    cell = reload_until(page, "[data-test=overview-rows] a[data-figure=households]")
    cell.click()
    # The table turns into one card per household, each cell labelled.
    first = page.locator("[data-test=drill-list] tbody td").first
    assert (
        first.evaluate("node => getComputedStyle(node, '::before').content") != "none"
    )
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    phone.go(f"/households/{household_id}")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # The date field is reached from the keyboard and labelled.
    page.focus("#f-as_of")
    assert page.evaluate("document.activeElement.id") == "f-as_of"
    assert page.locator("label[for=f-as_of]").inner_text() == "截至日期"
    phone.close()
