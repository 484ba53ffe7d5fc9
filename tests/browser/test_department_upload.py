"""A department's file through the web interface in Chromium, against the real
services: the Excel template downloaded and filled in, the file's progress page
while intake works through it (it waits behind a long file from the bureau's
own system), the result with its bad rows and error report, and the comparison
status of another month. The pages are photographed in Chinese and English at
phone and desktop sizes."""

from __future__ import annotations

import csv
import io
import time
from datetime import date, datetime
from typing import Any

import openpyxl
import pytest

from fangpin.cli import Platform
from fangpin.idnumber import make_id_number
from tests.browser.conftest import DESKTOP, PHONE, Api
from tests.browser.test_pages import Session, reload_until
from tests.support import household_form
from web.format import CHINA

pytestmark = pytest.mark.browser

KIND = "medical_insurance/hospital_settlement"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Enough rows that intake is still busy with them while the page's file waits.
LONG_FILE_ROWS = 6000


@pytest.fixture(scope="module")
def web(platform: Platform) -> str:
    assert platform.web_url is not None
    return platform.web_url


def stranger(serial: int) -> str:
    """A valid ID number nobody in the registry has."""
    return make_id_number("510904", date(1955, 5, 5), 500 + serial)


def long_file() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["record_id", "id_number", "occurred_on", "total_cost", "reimbursed"]
        + ["out_of_pocket"]
    )
    for serial in range(LONG_FILE_ROWS):
        writer.writerow(
            [f"SYS-{serial}", stranger(serial % 400), "2026-01-02", 1, 0, 1]
        )
    return out.getvalue().encode()


def filled_template(template: bytes, rows: list[list[Any]]) -> bytes:
    workbook = openpyxl.load_workbook(io.BytesIO(template))
    sheet = workbook["住院结算"]
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def previous_month(month: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def test_a_filled_in_workbook_is_followed_to_its_result_and_error_report(
    browser, web, api: Api
):
    form = household_form(321)
    api.call("district01", "POST", "intake", "/households", json=form)
    patient = form["members"][0]["id_number"]
    today = datetime.now(CHINA).date()
    this_month = today.strftime("%Y-%m")

    medical = Session(browser, web, "medical01", DESKTOP)
    page = medical.page
    medical.shoot("department-templates")

    # The Excel template: Chinese headers, the same columns as the CSV one.
    base = f"{web}/department/template/{KIND}"
    template = page.request.get(f"{base}.xlsx")
    assert template.ok and template.headers["content-type"] == XLSX
    sheet = openpyxl.load_workbook(io.BytesIO(template.body()))["住院结算"]
    headers = [cell.value for cell in sheet[1]]
    assert headers[:3] == ["记录编号", "身份证号", "发生日期"]
    csv_template = page.request.get(f"{base}.csv").text().lstrip("\ufeff")
    assert len(csv_template.strip().split(",")) == len(headers)
    workbook = filled_template(
        template.body(),
        [
            ["XL-1", patient, today, 5000, 3200, 1800],
            ["XL-2", patient, "下周", 6000, 3800, 2200],
            ["XL-3", stranger(999), today, 700, 500, 200],
        ],
    )

    # The bureau's own system sends a long file first: the page's file waits
    # its turn, and the long one can be watched going through.
    busy = api.http.post(
        f"{api.urls['intake']}/departments/{KIND}/uploads",
        files={"file": ("system.csv", long_file(), "text/csv")},
        headers=api.headers("medical01"),
    )
    assert busy.status_code == 202, busy.text

    page.select_option("#f-kind", KIND)
    page.set_input_files(
        "#f-file",
        files=[{"name": "2026-01.xlsx", "mimeType": XLSX, "buffer": workbook}],
    )
    page.click("form[action='/department/upload'] button[type=submit]")
    progress = page.locator("[data-test=upload-progress]")
    progress.wait_for()
    assert progress.get_attribute("data-state") == "queued"
    assert "排队中" in progress.inner_text() and "住院结算" in progress.inner_text()
    upload_page = page.url
    assert "/department/uploads/" in upload_page

    watcher = Session(browser, web, "medical01", PHONE)
    watcher.go(f"/department/uploads/{busy.json()['id']}")
    counted = watcher.page.locator("[data-test=progress-text]")
    deadline = time.monotonic() + 60
    while f"/ {LONG_FILE_ROWS:,} 行" not in counted.inner_text():
        assert time.monotonic() < deadline, counted.inner_text()
        time.sleep(0.2)
    assert watcher.page.locator("progress.upload-progress").count() == 1
    watcher.shoot("department-upload-progress")
    watcher.close()

    # The page looks again by itself until the file is done.
    result = page.locator("[data-test=upload-result]")
    result.wait_for(timeout=120_000)
    assert page.url == upload_page
    assert result.get_attribute("data-state") == "done"
    text = result.inner_text()
    assert "共 3 行" in text and "已接收 1 条" in text and "未通过 2 条" in text
    problems = result.locator("[data-test=upload-problems] tbody tr")
    assert problems.count() == 2
    assert "3" in problems.nth(0).inner_text()
    assert "发生日期" in problems.nth(0).inner_text()
    assert "须为日期" in problems.nth(0).inner_text()
    assert "身份证号" in problems.nth(1).inner_text()
    assert patient not in page.content()
    medical.shoot("department-upload-result")

    report_link = result.locator("[data-test=error-report]").get_attribute("href")
    assert report_link is not None
    report = page.request.get(web + report_link)
    assert report.ok
    lines = list(csv.reader(io.StringIO(report.text().lstrip("\ufeff"))))
    assert lines[0] == ["行号 (row)", "列 (column)", "原因 (reason)"]
    assert [line[:2] for line in lines[1:]] == [["3", "发生日期"], ["4", "身份证号"]]
    assert patient not in report.text()
    xlsx_link = result.locator("[data-test=error-report-xlsx]").get_attribute("href")
    assert page.request.get(web + str(xlsx_link)).headers["content-type"] == XLSX

    # This month counts the records taken; the month before had none.
    status = reload_until(page, "[data-test=feed-status] a[data-test=rejected-report]")
    assert status.get_attribute("href") == (
        f"/department/rejected/medical_insurance.csv?month={this_month}"
    )
    # The comparison counts records as its read model catches up with them.
    deadline = time.monotonic() + 60
    while (
        "XL-3" not in page.request.get(web + str(status.get_attribute("href"))).text()
    ):
        assert time.monotonic() < deadline, "XL-3 never reached the rejected records"
        time.sleep(0.5)
    earlier = previous_month(this_month)
    page.fill("#f-status-month", earlier)
    page.click("[data-test=month-show]")
    assert page.url == f"{web}/department?month={earlier}"
    year, number = (int(part) for part in earlier.split("-"))
    assert f"{year}年{number}月 数据比对情况" in page.inner_text("#status-h")
    line = page.locator("[data-test=feed-status] tbody tr").first
    assert line.locator("td").nth(1).inner_text() == "0"
    assert "该月没有推送" in line.inner_text()
    before = page.request.get(
        f"{web}/department/rejected/medical_insurance.csv?month={earlier}"
    )
    assert before.ok and "XL-3" not in before.text()
    medical.shoot("department-month")
    medical.close()
