"""Aid in Chromium against the real services: a town official grants a measure
on a case whose plan is drawn, sees it with its total, is refused a second grant
of the same measure for the same month beside the month field, and stops the
grant; the medical insurance bureau finds the overdue measure of its field
waiting, opens the case from there and grants it. The pages are photographed in
Chinese and English at phone and desktop sizes."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from fangpin.cli import Platform
from tests.browser.conftest import DESKTOP, PHONE, Api
from tests.browser.test_pages import Session, case_at_decision, reload_until
from web.format import CHINA

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def web(platform: Platform) -> str:
    assert platform.web_url is not None
    return platform.web_url


def planned_case(api: Api, index: int) -> str:
    """A confirmed target with a plan: serious-illness aid for medical insurance,
    already past its date, and temporary aid for civil affairs."""
    case_id = case_at_decision(api, index)
    api.call(
        "district01",
        "POST",
        "casework",
        f"/cases/{case_id}/decision",
        json={
            "confirm": True,
            "target_type": "expense_hardship",
            "reason": "大病支出，认定为支出困难型",
        },
    )
    today = datetime.now(CHINA).date()
    api.call(
        "town01",
        "POST",
        "casework",
        f"/cases/{case_id}/plan",
        json={
            "paired_cadre": "李干部",
            "measures": [
                {
                    "measure": "serious_illness_aid",
                    "responsible_department": "medical_insurance",
                    "due_on": (today - timedelta(days=2)).isoformat(),
                },
                {
                    "measure": "temporary_aid",
                    "responsible_department": "civil_affairs",
                    "due_on": (today + timedelta(days=30)).isoformat(),
                },
            ],
        },
    )
    # Assistance learns of the plan (and, before it, of the confirmed target)
    # through casework's events; grants wait until it has.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        waiting = api.call("district01", "GET", "assistance", "/assignments")
        if any(item["case_id"] == case_id for item in waiting):
            return case_id
        time.sleep(0.2)
    raise AssertionError("assistance did not receive the plan")


def grant(page: Any, measure: str, quantity: str, source: str) -> None:
    form = page.locator("form[data-action='grant']")
    form.locator("[name=measure]").select_option(measure)
    form.locator("[name=quantity]").fill(quantity)
    form.locator("[name=funding_source]").fill(source)
    form.locator("button[type=submit]").click()


def test_town_grants_aid_and_a_second_grant_for_the_month_is_refused(browser, web, api):
    case_id = planned_case(api, 311)
    month = datetime.now(CHINA).strftime("%Y-%m")

    town = Session(browser, web, "town01", DESKTOP)
    page = town.page
    page.goto(f"{web}/cases/{case_id}")
    form = page.locator("form[data-action='grant']")
    assert form.locator("[name=period]").input_value() == month
    groups = form.locator("optgroup").evaluate_all(
        "groups => groups.map(group => group.label)"
    )
    assert groups[0] == "适合本户（支出困难型）的措施"
    town.shoot("case-grant")

    # The grant lands in the case's list with its total.
    grant(page, "temporary_aid", "2,000.5", "区级防贫资金")
    assert "帮扶已发放" in page.inner_text("[data-test=grant-done]")
    row = reload_until(page, "[data-test=grants] tr[data-measure=temporary_aid]")
    assert "2,000.50 元" in row.inner_text()
    total = page.inner_text("[data-test=grant-money-total]")
    assert "2,000.50 元" in total
    plan_row = page.locator("[data-test=plan] tr[data-measure=temporary_aid]")
    assert "已发放" in plan_row.inner_text()

    # The same measure for the same month again: refused beside the month.
    grant(page, "temporary_aid", "300", "区级防贫资金")
    error = page.locator("#err-grant-period")
    assert "已发放过" in error.inner_text()
    period = page.locator("#f-grant-period")
    assert period.get_attribute("aria-invalid") == "true"
    assert "err-grant-period" in (period.get_attribute("aria-describedby") or "")
    assert page.locator("[data-test=grants] tr[data-grant]").count() == 1
    town.snap("case-grant-duplicate")
    town.speak("en")
    grant(page, "temporary_aid", "300", "区级防贫资金")
    assert "already granted" in page.locator("#err-grant-period").inner_text()
    town.snap("case-grant-duplicate")
    town.speak("zh")

    # Stopping needs a reason; then the grant leaves the totals.
    page.goto(f"{web}/cases/{case_id}")
    row = page.locator("[data-test=grants] tr[data-measure=temporary_aid]")
    row.locator("summary").click()
    row.locator("input[name=reason]").fill("重复申报，停发")
    row.locator("button[type=submit]").click()
    assert page.locator("[data-test=grant-done]").inner_text() == "已停发。"
    reload_until(page, "[data-test=grants] tr[data-state=stopped]")
    assert "0.00 元" in page.inner_text("[data-test=grant-money-total]")
    town.close()


def test_medical_insurance_finds_its_waiting_measure_and_grants_it(browser, web, api):
    case_id = planned_case(api, 312)

    medical = Session(browser, web, "medical01", PHONE)
    page = medical.page
    row = reload_until(
        page,
        f"[data-test=assignments] tr[data-case='{case_id}']"
        "[data-measure=serious_illness_aid]",
    )
    assert row.get_attribute("data-state") == "overdue"
    assert "逾期 2 天" in row.inner_text()
    assert "石洞村" in row.inner_text()
    # Only its own field: civil affairs' temporary aid is not on its list.
    assert (
        page.locator(f"tr[data-case='{case_id}'][data-measure=temporary_aid]").count()
        == 0
    )
    medical.shoot("department-assignments")

    row.locator("a").click()
    assert page.url.endswith(f"/cases/{case_id}#grants")
    offered = page.locator("form[data-action='grant'] option[data-unit]").evaluate_all(
        "options => options.map(option => option.value)"
    )
    assert "serious_illness_aid" in offered and "temporary_aid" not in offered
    grant(page, "serious_illness_aid", "1500", "医保大病救助资金")
    reload_until(page, "[data-test=grants] tr[data-measure=serious_illness_aid]")

    page.goto(f"{web}/department")
    deadline = time.monotonic() + 20
    while page.locator(f"tr[data-case='{case_id}']").count():
        assert time.monotonic() < deadline, "the granted measure still waits"
        time.sleep(0.3)
        page.reload()
    medical.close()
