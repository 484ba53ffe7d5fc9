"""The department page on fake services: a file handed to intake as a job,
its progress page that looks again every second, the result with its error
report, the month picked for the comparison status and the rejected records,
and the templates in both formats."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from web.app import create_app
from web.config import WebSettings
from web.format import CHINA
from web.pages.department import read_month
from web.session import TOKEN_COOKIE, read_user

THIS_MONTH = datetime.now(CHINA).strftime("%Y-%m")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
KIND = "medical_insurance/hospital_settlement"


def token(role: str, user: str, department: str | None = None) -> str:
    claims: dict[str, Any] = {
        "sub": user,
        "role": role,
        "area": "510904",
        "exp": int(time.time()) + 3600,
    }
    if department:
        claims["department"] = department
    return jwt.encode(claims, "never checked by the web process", algorithm="HS256")


MEDICAL = token("department", "medical01", "medical_insurance")


def job(state: str = "done", **changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "state": state,
        "department": "medical_insurance",
        "kind": "hospital_settlement",
        "file_name": "2026-01.csv",
        "format": "csv",
        "rows_read": 6,
        "rows_total": 6,
        "rows_done": 6,
        "accepted": 4,
        "duplicate": 1,
        "rejected": 1,
        "error": None,
        "created_at": "2026-01-20T02:00:00Z",
        "updated_at": "2026-01-20T02:00:01Z",
        "finished_at": "2026-01-20T02:00:01Z",
        "problems": [
            {
                "row": 5,
                "column": "发生日期",
                "reason": "must be a date such as 2026-11-02",
            }
        ],
        "errors_url": "/departments/uploads/x/errors",
    }
    found.update(changes)
    return found


class FakeIntake:
    """Intake and assistance as far as the department page calls them: what
    was asked is kept, the upload job answers as a test sets it."""

    def __init__(self) -> None:
        self.job = job()
        self.queries: list[tuple[str, dict[str, list[str]]]] = []
        self.uploaded: list[tuple[str, bytes]] = []
        self.refusal: httpx.Response | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.queries.append((path, parse_qs(request.url.query.decode())))
        if request.method == "POST" and path.endswith("/uploads"):
            self.uploaded.append((path, request.content))
            return self.refusal or httpx.Response(202, json=self.job)
        if path == f"/departments/uploads/{self.job['id']}":
            return httpx.Response(200, json=self.job)
        if path == f"/departments/uploads/{self.job['id']}/errors":
            return httpx.Response(
                200,
                content=b"\xef\xbb\xbfrow,column,reason\r\n5,x,y\r\n",
                headers={
                    "content-type": "text/csv; charset=utf-8",
                    "content-disposition": 'attachment; filename="errors.csv"',
                    "x-internal": "not passed on",
                },
            )
        if path.endswith("/template"):
            return httpx.Response(
                200,
                content=b"PK\x03\x04workbook",
                headers={
                    "content-type": XLSX,
                    "content-disposition": 'attachment; filename="t.xlsx"',
                },
            )
        if path == "/departments/status":
            month = parse_qs(request.url.query.decode())["month"][0]
            line = {
                "department": "medical_insurance",
                "records": 3,
                "first_arrival": None,
                "last_arrival": None,
                "matched": 2,
                "unmatched": 1,
                "rejected": 0,
                "households_touched": 2,
            }
            return httpx.Response(200, json={"month": month, "departments": [line]})
        if path == "/departments/medical_insurance/rejected":
            record = {
                "record_id": "S-9",
                "kind": "hospital_settlement",
                "outcome": "unmatched",
                "reason": "no registered person matches",
                "arrived_at": "2026-01-20T02:00:00Z",
            }
            return httpx.Response(200, json={"total": 1, "records": [record]})
        if path == "/assignments":
            return httpx.Response(200, json=[])
        return httpx.Response(404, json={"detail": "Not Found"})

    def asked(self, path: str) -> list[dict[str, list[str]]]:
        return [query for asked, query in self.queries if asked == path]


@pytest.fixture
def intake() -> FakeIntake:
    return FakeIntake()


@pytest.fixture
def client(intake: FakeIntake) -> TestClient:
    app = create_app(WebSettings(), transport=httpx.MockTransport(intake))
    signed_in = TestClient(app, follow_redirects=False)
    signed_in.cookies.set(TOKEN_COOKIE, MEDICAL)
    return signed_in


def upload(client: TestClient, content: bytes = b"record_id\n1\n") -> httpx.Response:
    return client.post(
        "/department/upload",
        data={"csrf": read_user(MEDICAL).csrf, "kind": KIND},
        files={"file": ("2026-01.csv", content, "text/csv")},
    )


def test_an_upload_becomes_an_intake_job_followed_on_its_own_page(client, intake):
    answer = upload(client, b"record_id,id_number\nS-1,x\n")

    assert answer.status_code == 303
    assert answer.headers["location"] == f"/department/uploads/{intake.job['id']}"
    ((path, body),) = intake.uploaded
    assert path == f"/departments/{KIND}/uploads"
    assert b"S-1,x" in body and b'filename="2026-01.csv"' in body


def test_the_progress_page_looks_again_every_second_with_rows_done(client, intake):
    intake.job = job("importing", rows_done=500, rows_total=1200, accepted=480)

    page = client.get(f"/department/uploads/{intake.job['id']}")

    assert page.status_code == 200
    assert '<meta http-equiv="refresh" content="1">' in page.text
    assert 'data-state="importing"' in page.text
    assert "已处理 500 / 1,200 行" in page.text
    assert '<progress class="upload-progress" max="1200" value="500"' in page.text
    assert "已接收 480 条" in page.text
    assert "医保局 · 住院结算" in page.text
    assert "<script" not in page.text

    intake.job = job("reading", rows_total=None, rows_done=0, rows_read=5000)
    reading = client.get(f"/department/uploads/{intake.job['id']}")
    assert "正在读取文件：已读 5,000 行" in reading.text
    assert "<progress" not in reading.text


def test_a_finished_upload_shows_its_result_and_error_reports(client, intake):
    page = client.get(f"/department/uploads/{intake.job['id']}")

    assert page.status_code == 200
    assert 'http-equiv="refresh"' not in page.text
    result = page.text[page.text.index('data-test="upload-result"') :]
    assert 'data-state="done"' in result
    assert "共 6 行" in result and "已接收 4 条" in result
    assert "重复 1 条" in result and "未通过 1 条" in result
    assert "<code>发生日期</code>" in result
    assert "须为日期，如 2026-11-02" in result
    base = f"/department/uploads/{intake.job['id']}/errors"
    assert f'href="{base}.csv"' in result and f'href="{base}.xlsx"' in result
    # The kind stays chosen for the next file, and the month's status shows.
    assert f'<option value="{KIND}" selected>' in page.text
    assert 'data-test="feed-status"' in page.text


def test_a_file_with_many_bad_rows_lists_the_first_and_points_to_the_report(
    client, intake
):
    problems = [
        {"row": row, "column": "身份证号", "reason": "no registered person matches"}
        for row in range(2, 102)
    ]
    intake.job = job(rows_total=2400, accepted=0, rejected=2400, problems=problems)

    page = client.get(f"/department/uploads/{intake.job['id']}")

    table = page.text[page.text.index('data-test="upload-problems"') :]
    assert table.count('<tr class="state-overdue">') == 20
    assert "共 2,400 行" in page.text and "未通过 2,400 条" in page.text
    assert "仅显示前 20 条，全部问题见错误报告。" in page.text


def test_a_stopped_upload_says_so_with_intakes_reason(client, intake):
    intake.job = job(
        "failed",
        problems=[],
        rejected=0,
        error="more than 100000 rows; split the file; the records taken so far stay",
    )
    page = client.get(f"/department/uploads/{intake.job['id']}")
    stopped = page.text[page.text.index('data-test="upload-stopped"') :]
    assert "处理中途停止。" in stopped
    assert "文件超过 100000 行，请拆分后分别上传" in stopped


def test_the_error_report_is_passed_on_with_its_name_only(client, intake):
    report = client.get(f"/department/uploads/{intake.job['id']}/errors.csv")

    assert report.status_code == 200
    assert report.headers["content-disposition"] == 'attachment; filename="errors.csv"'
    assert "x-internal" not in report.headers
    assert intake.asked(f"/departments/uploads/{intake.job['id']}/errors") == [
        {"format": ["csv"]}
    ]
    assert client.get("/department/uploads/not-an-id").status_code == 404
    assert client.get(f"/department/uploads/{uuid.uuid4()}").status_code == 404


def test_intakes_refusal_is_shown_beside_the_file_field(client, intake):
    intake.refusal = httpx.Response(
        422,
        json={
            "detail": "missing columns: total_cost; unknown columns: total. A ...",
            "field": "file",
        },
    )
    page = upload(client)

    assert page.status_code == 422
    assert 'id="err-file"' in page.text
    assert "缺少列：total_cost（请使用模板）" in page.text


def test_a_picked_month_goes_to_the_status_and_the_rejected_download(client, intake):
    page = client.get("/department?month=2025-11")

    assert page.status_code == 200
    assert intake.asked("/departments/status") == [{"month": ["2025-11"]}]
    assert "2025年11月 数据比对情况" in page.text
    assert 'type="month" value="2025-11"' in page.text
    assert f'max="{THIS_MONTH}"' in page.text
    assert (
        'href="/department/rejected/medical_insurance.csv?month=2025-11"' in page.text
    )
    assert "该月没有推送" in page.text

    report = client.get("/department/rejected/medical_insurance.csv?month=2025-11")
    assert report.status_code == 200
    assert (
        "medical_insurance-2025-11-rejected.csv"
        in report.headers["content-disposition"]
    )
    assert "S-9" in report.text
    assert intake.asked("/departments/medical_insurance/rejected")[-1]["month"] == [
        "2025-11"
    ]


def test_the_status_defaults_to_this_month_on_the_county_clock(client, intake):
    page = client.get("/department")
    assert intake.asked("/departments/status") == [{"month": [THIS_MONTH]}]
    assert f'type="month" value="{THIS_MONTH}"' in page.text
    assert "本月尚未推送" in page.text
    client.get("/department/rejected/medical_insurance.csv")
    assert intake.asked("/departments/medical_insurance/rejected")[-1]["month"] == [
        THIS_MONTH
    ]


@pytest.mark.parametrize("typed", ["2025-13", "去年", "2999-01"])
def test_a_month_that_cannot_be_shown_is_said_beside_the_picker(client, intake, typed):
    page = client.get("/department", params={"month": typed})

    assert page.status_code == 200
    assert 'id="err-status-month"' in page.text
    assert intake.asked("/departments/status") == [{"month": [THIS_MONTH]}]
    refused = client.get(
        "/department/rejected/medical_insurance.csv", params={"month": typed}
    )
    assert refused.status_code == 404


def test_months_are_read_as_the_picker_sends_them():
    assert read_month(" 2026-03 ", "2026-05") == ("2026-03", "")
    assert read_month("", "2026-05") == ("2026-05", "")
    assert read_month("2026-06", "2026-05") == ("2026-05", "dept.month_future")
    assert read_month("1999-12", "2026-05") == ("2026-05", "dept.month_invalid")


def test_templates_come_from_intake_as_xlsx_and_csv(client, intake):
    page = client.get("/department")
    templates = page.text[page.text.index('data-test="templates"') :]
    links = re.findall(r'href="(/department/template/[^"]+)"', templates)
    assert "/department/template/medical_insurance/hospital_settlement.xlsx" in links
    assert "/department/template/medical_insurance/hospital_settlement.csv" in links
    assert len(links) == 4  # the medical insurance bureau's two kinds

    workbook = client.get(
        "/department/template/medical_insurance/hospital_settlement.xlsx"
    )
    assert workbook.status_code == 200
    assert workbook.headers["content-type"] == XLSX
    assert workbook.content.startswith(b"PK")
    assert intake.asked(
        "/departments/medical_insurance/hospital_settlement/template"
    ) == [{"format": ["xlsx"]}]
    wrong = client.get("/department/template/medical_insurance/x.pdf")
    assert wrong.status_code == 404
