"""The web interface in Chromium, against the real services: each role signs in
and lands on its page; a grid report is walked to a closed case through the
pages; a confirmed target meets the risk-elimination review and its unmet
conditions; a department file with a bad row shows the row's reason; the
district changes a time limit, the working calendar and a budget. Every main
page is photographed in Chinese and English at phone and desktop sizes."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fangpin.cli import Platform
from fangpin.idnumber import mask
from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    Api,
    OnlyFromThePlatform,
)
from tests.support import household_form

pytestmark = pytest.mark.browser


class Session:
    """One signed-in user in their own browser context."""

    def __init__(self, browser: Any, base: str, user: str, viewport: dict[str, int]):
        self.base = base
        self.context = browser.new_context(viewport=viewport, locale="zh-CN")
        self.context.set_default_timeout(10_000)
        self.requests = OnlyFromThePlatform(self.context, base)
        self.page = self.context.new_page()
        self.page.goto(f"{base}/sign-in")
        self.page.fill("#username", user)
        self.page.fill("#password", "demo")
        self.page.click("form[action='/sign-in'] button[type=submit]")

    def go(self, path: str) -> Any:
        self.page.goto(self.base + path)
        return self.page

    def speak(self, lang: str) -> None:
        """Pages loaded from now on come in this language."""
        self.context.add_cookies(
            [{"name": "fangpin_lang", "value": lang, "url": self.base}]
        )

    def shoot(self, name: str, full_page: bool = True) -> None:
        """The current page in both languages, at phone and desktop size.

        The page is loaded again in each language, so take pictures of pages
        reached by a GET only, before filling in their forms.
        """
        page = self.page
        viewport = page.viewport_size
        for lang in ("en", "zh"):
            self.speak(lang)
            page.set_viewport_size(PHONE)
            page.reload()
            self._both_sizes(f"{name}-{lang}", full_page)
        page.set_viewport_size(viewport)

    def snap(self, name: str) -> None:
        """The page as it is now (a form's answer), without loading it again,
        at phone and desktop size, in the language it shows."""
        shown = self.page.get_attribute("html", "lang")
        viewport = self.page.viewport_size
        self._both_sizes(f"{name}-{'zh' if shown == 'zh-CN' else 'en'}", True)
        self.page.set_viewport_size(viewport)

    def _both_sizes(self, stem: str, full_page: bool) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for size, shown in (("phone", PHONE), ("desktop", DESKTOP)):
            self.page.set_viewport_size(shown)
            self.page.wait_for_timeout(150)  # charts redraw for the new width
            self.page.screenshot(
                path=str(SCREENSHOTS / f"{stem}-{size}.png"), full_page=full_page
            )

    def close(self) -> None:
        self.context.close()
        self.requests.check()


def submit(page: Any, action: str) -> None:
    page.click(f"form[data-action='{action}'] button[type=submit]")


def field(page: Any, action: str, name: str) -> Any:
    return page.locator(f"form[data-action='{action}'] [name='{name}']")


def reload_until(page: Any, selector: str, within: float = 20.0) -> Any:
    """Read models catch up within moments; reload until the element shows."""
    deadline = time.monotonic() + within
    while True:
        if page.locator(selector).count():
            return page.locator(selector).first
        if time.monotonic() > deadline:
            raise AssertionError(f"{selector} did not appear on {page.url}")
        time.sleep(0.3)
        page.reload()


@pytest.fixture(scope="module")
def web(platform: Platform) -> str:
    assert platform.web_url is not None
    return platform.web_url


@pytest.fixture(scope="module")
def grid_household(api: Api) -> dict[str, Any]:
    form = household_form(301)
    api.call("district01", "POST", "intake", "/households", json=form)
    return form


def test_each_role_signs_in_to_its_own_page(browser, web):
    landing = {
        "grid01": "/grid",
        "village01": "/queue",
        "town01": "/queue",
        "district01": "/overview",
        "medical01": "/department",
        "auditor01": "/overview",
    }
    for user, path in landing.items():
        session = Session(browser, web, user, PHONE)
        assert session.page.url == web + path, user
        assert user in session.page.inner_text("header")
        session.close()

    wrong = Session(browser, web, "town01", PHONE)
    wrong.page.click("form[action='/sign-out'] button")
    wrong.page.fill("#username", "town01")
    wrong.page.fill("#password", "not-demo")
    wrong.page.click("form[action='/sign-in'] button[type=submit]")
    assert "用户名或密码错误" in wrong.page.inner_text("[data-test=form-error]")
    wrong.go("/sign-in")
    wrong.shoot("sign-in")
    wrong.page.click("[data-test=lang-toggle]")
    assert wrong.page.inner_text("h1") == "Sign in"
    wrong.close()


def test_grid_report_walks_through_the_pages_to_a_closed_case(
    browser, web, api, grid_household
):
    household_id = grid_household["household_id"]
    head = grid_household["members"][0]

    # The grid monitor finds the household by its id and reports a problem.
    grid = Session(browser, web, "grid01", PHONE)
    grid.page.fill("#f-household_id", household_id)
    grid.page.click("form[action='/grid'] button[type=submit]")
    assert head["name"] in grid.page.inner_text("#report-h")
    grid.page.click("form[action='/grid/reports'] button[type=submit]")
    assert grid.page.locator(".field-error").count() >= 2  # category, description
    grid.go(f"/grid?household_id={household_id}")
    grid.shoot("grid-report")
    grid.page.check("#c-housing")
    grid.page.fill("#f-description", "房屋漏雨，墙体开裂")
    grid.page.click("form[action='/grid/reports'] button[type=submit]")
    assert grid.page.locator("[data-test=done]").is_visible()
    grid.close()

    # The village official finds the new case in the queue and records the visit.
    village = Session(browser, web, "village01", PHONE)
    link = reload_until(village.page, f"tr[data-household='{household_id}'] a")
    village.shoot("queue-village")
    link.click()
    page = village.page
    case_url = page.url
    assert mask(head["id_number"]) in page.inner_text("[data-test=members]")
    assert head["id_number"] not in page.content()
    submit(page, "visit")
    assert page.locator("form[data-action='visit'] .field-error").is_visible()
    field(page, "visit", "consent").check()
    field(page, "visit", "findings").fill("入户核实：房屋漏雨属实，农户签字同意")
    submit(page, "visit")
    assert page.inner_text("[data-test=case-step]") == "村级评议公示"

    # A notice shorter than five days is refused, the reason shown on the form.
    today = datetime.now(UTC).date()
    field(page, "notice", "starts_on").fill((today - timedelta(days=3)).isoformat())
    field(page, "notice", "ends_on").fill((today - timedelta(days=1)).isoformat())
    submit(page, "notice")
    assert "公示期不少于5天" in page.inner_text("[data-test=form-error]")
    field(page, "notice", "starts_on").fill((today - timedelta(days=7)).isoformat())
    submit(page, "notice")
    assert page.inner_text("[data-test=case-step]") == "公示期"
    field(page, "village-review", "summary").fill("公示无异议，村民代表同意")
    submit(page, "village-review")
    assert page.inner_text("[data-test=case-step]") == "镇级审核"
    village.close()

    # The town official lands on the queue, where the case now waits.
    town = Session(browser, web, "town01", DESKTOP)
    reload_until(town.page, f"tr[data-household='{household_id}']")
    town.shoot("queue-town")
    town.page.goto(case_url)
    field(town.page, "town-check", "summary").fill("镇级核查属实")
    submit(town.page, "town-check")
    assert town.page.inner_text("[data-test=case-step]") == "区级认定"

    # The district rejects: the reason is required and said beside the field.
    district = Session(browser, web, "district01", DESKTOP)
    page = district.page
    page.goto(case_url)
    page.check("form[data-action='decision'] input[name=confirm][value=false]")
    submit(page, "decision")
    reason_error = page.locator("#err-decision-reason")
    assert (
        reason_error.inner_text() == "⚠ 此项必填" or "必填" in reason_error.inner_text()
    )
    field(page, "decision", "reason").fill("房屋已由住建部门维修，收入稳定，不纳入监测")
    submit(page, "decision")
    assert page.inner_text("[data-test=case-step]") == "核实销号"
    district.close()

    page = town.page
    page.reload()
    field(page, "close", "verification").fill("回访核实：房屋已修缮")
    submit(page, "close")
    assert page.inner_text("[data-test=case-status]") == "已办结"
    reload_until(page, "[data-test=timeline] li[data-type=CaseClosed]")
    types = page.locator("[data-test=timeline] li").evaluate_all(
        "items => items.map(item => item.dataset.type)"
    )
    assert types[0] == "ProblemReported" and types[-1] == "CaseClosed"
    for step in ("HomeVisitRecorded", "NoticePublished", "CaseRejected"):
        assert step in types
    rejected = page.locator("[data-test=timeline] li[data-type=CaseRejected]")
    assert "district01" in rejected.inner_text()
    assert "不纳入监测" in rejected.inner_text()
    town.shoot("case-closed")
    town.close()


def case_at_decision(api: Api, index: int) -> str:
    """A case taken to the district's decision through the API, quickly."""
    form = household_form(index)
    household_id = form["household_id"]
    api.call("district01", "POST", "intake", "/households", json=form)
    report = {
        "household_id": household_id,
        "category": "illness",
        "description": "住院，自付医疗费用高",
        "observed_on": datetime.now(UTC).date().isoformat(),
        "amount": "12000.00",
    }
    api.call("grid01", "POST", "intake", "/reports", json=report)
    deadline = time.monotonic() + 20
    case_id = None
    while case_id is None and time.monotonic() < deadline:
        queue = api.call("village01", "GET", "casework", "/queue")
        found = [c for c in queue["cases"] if c["household_id"] == household_id]
        case_id = found[0]["case_id"] if found else None
        time.sleep(0.2)
    assert case_id, "the case did not open"
    today = datetime.now(UTC).date()
    steps = [
        ("village01", "visit", {"consent": True, "findings": "属实"}),
        (
            "village01",
            "notice",
            {
                "starts_on": (today - timedelta(days=7)).isoformat(),
                "ends_on": (today - timedelta(days=1)).isoformat(),
            },
        ),
        ("village01", "village-review", {"objections": False, "summary": "无异议"}),
        ("town01", "town-check", {"summary": "属实"}),
    ]
    for user, action, body in steps:
        api.call(user, "POST", "casework", f"/cases/{case_id}/{action}", json=body)
    return str(case_id)


def test_confirmed_target_gets_a_plan_and_meets_the_elimination_review(
    browser, web, api
):
    case_id = case_at_decision(api, 302)
    district = Session(browser, web, "district01", DESKTOP)
    page = district.page
    page.goto(f"{web}/cases/{case_id}")
    reload_until(page, "[data-test=timeline] li[data-type=CaseOpened]")
    district.shoot("case-decision")
    page.check("form[data-action='decision'] input[name=confirm][value=true]")
    field(page, "decision", "target_type").select_option("expense_hardship")
    field(page, "decision", "reason").fill("大病支出，认定为支出困难型")
    submit(page, "decision")
    assert page.inner_text("[data-test=case-step]") == "制定帮扶计划"

    town = Session(browser, web, "town01", PHONE)
    page = town.page
    page.goto(f"{web}/cases/{case_id}")
    town.shoot("case-plan")
    field(page, "plan", "paired_cadre").fill("李干部")
    submit(page, "plan")
    assert page.locator("form[data-action='plan'] .field-error").count() >= 1
    page.check("#m-serious_illness_aid")
    page.check("#m-temporary_aid")
    submit(page, "plan")
    assert page.inner_text("[data-test=case-step]") == "帮扶实施"
    field(page, "progress", "note").fill("已走访，协助办理大病救助")
    submit(page, "progress")
    assert page.locator("[data-test=done]").inner_text() == "帮扶记录已保存。"
    field(page, "elimination-request", "note").fill("医疗费用已报销，申请风险消除")
    submit(page, "elimination-request")
    assert page.inner_text("[data-test=case-step]") == "风险消除审核"

    page = district.page
    page.reload()
    field(page, "elimination-review", "reason").fill("按规则审核")
    submit(page, "elimination-review")
    result = page.inner_text("[data-test=review-result]")
    assert "监测时间不足6个月" in result
    assert page.inner_text("[data-test=case-step]") == "帮扶实施"
    district.go(f"/cases/{case_id}")
    district.shoot("case-review-unmet")
    town.close()
    district.close()


def test_department_upload_reports_the_bad_row(browser, web, api, grid_household):
    good = grid_household["members"][0]["id_number"]
    bad = good[:-1] + ("1" if good[-1] != "1" else "2")
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(
        ["record_id", "id_number", "occurred_on", "total_cost", "reimbursed"]
        + ["out_of_pocket"]
    )
    writer.writerow(["WEB-0001", good, "2026-01-15", "5000", "3200", "1800"])
    writer.writerow(["WEB-0002", bad, "2026-01-16", "6000", "3800", "2200"])

    medical = Session(browser, web, "medical01", DESKTOP)
    medical.shoot("department")
    page = medical.page
    template = page.request.get(
        f"{web}/department/template/medical_insurance/hospital_settlement.csv"
    )
    assert template.ok and "record_id,id_number,occurred_on" in template.text()
    page.select_option("#f-kind", "medical_insurance/hospital_settlement")
    page.set_input_files(
        "#f-file",
        files=[
            {
                "name": "2026-01.csv",
                "mimeType": "text/csv",
                "buffer": rows.getvalue().encode(),
            }
        ],
    )
    page.click("form[action='/department/upload'] button[type=submit]")
    result = page.locator("[data-test=upload-result]")
    assert "已接收 1 条" in result.inner_text()
    assert "未通过 1 条" in result.inner_text()
    problem = result.locator("tbody tr").first.inner_text()
    assert "3" in problem and "id_number" in problem
    assert bad not in page.content()
    report = page.request.get(f"{web}/department/rejected/medical_insurance.csv")
    assert report.ok and "WEB-0002" in report.text()
    assert page.locator("[data-test=feed-status]").is_visible()
    medical.close()


def test_district_back_tests_and_publishes_a_catalogue_change(browser, web):
    district = Session(browser, web, "district01", DESKTOP)
    page = district.page
    page.goto(f"{web}/district/catalogue")
    version = page.inner_text("[data-test=catalogue-version]")
    district.shoot("catalogue", full_page=False)
    form = page.locator("[data-test=change-parameter]")
    form.locator("[name=parameter]").select_option("income_line_never_poor")
    form.locator("[name=value]").fill("6543")
    form.locator("[name=note]").fill("调整标准线（浏览器测试）")
    form.locator("button[type=submit]").click()
    assert page.locator("[data-test=draft-changes] li").count() >= 1
    page.click("[data-test=run-backtest]")
    reload_until(page, "[data-test=backtest][data-status=finished]", within=30)
    district.shoot("catalogue-draft")
    page.click("[data-test=publish]")
    assert page.locator("[data-test=done]").is_visible()
    assert page.inner_text("[data-test=catalogue-version]") != version
    district.close()


def test_district_changes_a_time_limit_and_a_budget(browser, web):
    district = Session(browser, web, "district01", DESKTOP)
    page = district.page
    page.goto(f"{web}/district/time-limits")
    form = page.locator("form[data-step=visit]")
    form.locator("[name=days]").fill("3")
    form.locator("[name=escalate_after]").fill("3")
    form.locator("button[type=submit]").click()
    form = page.locator("form[data-step=visit]")
    assert "升级时限须大于办理时限" in form.inner_text()
    form.locator("[name=escalate_after]").fill("5")
    form.locator("button[type=submit]").click()
    assert page.locator("[data-test=done]").is_visible()
    assert page.locator("form[data-step=visit] [name=days]").input_value() == "3"
    district.shoot("time-limits")

    # The working calendar below the limits: a Monday is no worked weekend day.
    calendar = page.locator("form[data-test=calendar]")
    calendar.locator("[name=holidays]").fill(
        "2027-01-01\n2027-02-08, 2027-02-09, 2027-02-10\n2027-02-11\n2027-02-12"
    )
    calendar.locator("[name=workdays]").fill("2027-02-07\n2027-02-22")
    calendar.locator("button[type=submit]").click()
    refused = page.locator("#err-calendar-workdays")
    assert "2027-02-22 是周一至周五" in refused.inner_text()
    workdays = page.locator("#f-calendar-workdays")
    assert workdays.get_attribute("aria-invalid") == "true"
    assert "err-calendar-workdays" in (workdays.get_attribute("aria-describedby") or "")
    district.snap("time-limits-calendar-refused")
    workdays.fill("2027-02-07\n2027-02-20")
    page.locator("form[data-test=calendar] button[type=submit]").click()
    assert page.locator("[data-test=calendar-saved]").is_visible()
    assert "6 个法定节假日、2 个调休上班日" in page.inner_text(
        "[data-test=calendar-counts]"
    )
    assert page.locator("#f-calendar-workdays").input_value() == (
        "2027-02-07\n2027-02-20"
    )
    district.shoot("time-limits-calendar")

    page.goto(f"{web}/district/budgets")
    page.fill("#f-funding_source", "区级防贫资金")
    page.fill("#f-amount", "150000")
    page.click("form[action='/district/budgets'] button[type=submit]")
    assert "150,000.00 元" in page.inner_text("[data-test=done]")
    table = reload_until(page, "[data-test=budgets]")
    assert "150,000.00 元" in table.inner_text()
    district.shoot("budgets")

    page.goto(f"{web}/overview")
    reload_until(page, "[data-test=overview-rows]")
    page.wait_for_selector("#chart-cases svg")
    district.shoot("overview")

    page.goto(f"{web}/district/assessment")
    assert page.locator("[data-test=assessment-towns]").is_visible()
    district.shoot("assessment")

    page.goto(f"{web}/queue")
    district.shoot("queue-district")
    district.close()
