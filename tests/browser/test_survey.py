"""A grid monitor finds a household of their grid from a phone, records a home
survey (入户摸排) for it, has a figure out of bounds refused beside its field,
and sees the survey saved; the answers raise risk flags that the household's
file then shows with the standing facts, from which a village official opens
the form again. Photographed in Chinese and English at phone and desktop size."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from fangpin.cli import Platform
from tests.browser.conftest import PHONE, Api
from tests.browser.test_grid_search import household, search_until_found
from tests.browser.test_pages import Session

pytestmark = pytest.mark.browser

# Screening's catalogue: a dwelling at a geohazard point (R-HOU-04), and less
# water than a water-scarce area's minimum (R-WAT-01), each hit on its own.
SURVEY_FLAGS = ("R-HOU-04", "R-WAT-01")


@pytest.fixture(scope="module")
def web(platform: Platform) -> str:
    assert platform.web_url is not None
    return platform.web_url


@pytest.fixture(scope="module")
def surveyed(api: Api) -> dict[str, Any]:
    form = household("1", [("诸葛明月", "head", 601), ("诸葛清风", "child", 602)])
    api.call("district01", "POST", "intake", "/households", json=form)
    return form


def answer(page: Any, fact: str, choice: str) -> None:
    page.check(f"#f-{fact}-{choice}")


def reload_until_flagged(
    page: Any, codes: tuple[str, ...], within: float = 60.0
) -> str:
    """Screening and reporting follow the survey within moments: reload the
    file until its flags name every code, and return what they say."""
    deadline = time.monotonic() + within
    while True:
        flags = page.locator("[data-test=state-flags]")
        shown = flags.inner_text() if flags.count() else ""
        if all(code in shown for code in codes):
            return str(shown)
        if time.monotonic() > deadline:
            raise AssertionError(f"{codes} not flagged on {page.url}: {shown!r}")
        time.sleep(0.5)
        page.reload()


def test_grid_monitor_records_a_home_survey_that_raises_a_flag(browser, web, surveyed):
    household_id = surveyed["household_id"]
    grid = Session(browser, web, "grid01", PHONE)
    page = grid.page
    addresses: list[str] = []
    page.on("request", lambda request: addresses.append(request.url))

    # Found on the grid page, the survey is one tap away from the household.
    (found,) = search_until_found(page, "诸葛明月").all()
    found.locator("[data-test=survey-this]").click()
    assert page.url == f"{web}/households/{household_id}/survey?back=grid"
    assert "诸葛明月" in page.inner_text("h1")
    assert page.is_checked("#f-geohazard_point-unasked")
    grid.shoot("survey-form")

    # A figure beyond intake's bounds is refused beside its field, in Chinese,
    # and what was answered stays.
    answer(page, "geohazard_point", "yes")
    answer(page, "water_scarce_area", "no")
    answer(page, "single_parent", "no")
    page.fill("#f-water_litres_per_day", "12")
    page.fill("#f-household_debt", "8,000")
    page.fill("#f-water_fetch_minutes", "2000")
    page.click("form[data-action='survey'] button[type=submit]")
    assert "不能大于 1440" in page.inner_text("#err-water_fetch_minutes")
    assert page.get_attribute("#f-water_fetch_minutes", "aria-invalid") == "true"
    assert page.is_checked("#f-geohazard_point-yes")
    assert page.is_checked("#f-single_parent-no")
    assert page.input_value("#f-household_debt") == "8,000"
    grid.snap("survey-refused")

    # Put right, the survey is saved and the monitor is back on the household.
    page.fill("#f-water_fetch_minutes", "")
    page.click("form[data-action='survey'] button[type=submit]")
    assert page.url == f"{web}/grid?household_id={household_id}&surveyed=1#report-h"
    assert page.locator("[data-test=surveyed]").is_visible()
    assert "入户摸排已记录" in page.inner_text("[data-test=surveyed]")
    # The answers went in the form's body: no address carried one.
    sent = [url for url in addresses if re.search(r"8000|8%2C000|geohazard", url)]
    assert sent == []
    grid.snap("survey-done")

    # Screening reads the survey: the household's file shows its flags, and
    # each standing fact with the day of the visit.
    page = grid.go(f"/households/{household_id}")
    reload_until_flagged(page, SURVEY_FLAGS)
    facts = page.inner_text("[data-test=survey-facts]")
    assert re.search(r"住房位于地质灾害隐患点\s*是", facts)
    assert re.search(r"单亲抚养子女\s*否", facts)
    assert re.search(r"家庭负债总额（元）\s*8,000", facts)
    assert "取水往返" not in facts
    grid.shoot("survey-file")
    grid.close()

    # A village official opens the form from the file; the last answers show.
    village = Session(browser, web, "village01", PHONE)
    page = village.go(f"/households/{household_id}")
    page.click("[data-test=survey-this]")
    assert page.url == f"{web}/households/{household_id}/survey?back=file"
    assert page.inner_text("#hint-geohazard_point").startswith("上次：是")
    village.close()
