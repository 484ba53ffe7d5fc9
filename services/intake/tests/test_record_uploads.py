"""Department files taken as jobs the uploader follows, their error files, and
the kinds' templates (XLSX with Chinese headers, CSV with the field names)."""

from __future__ import annotations

import csv
import io
import secrets
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient

from fangpin.auth import Principal, issue_token
from fangpin.contracts import Role
from fangpin.departments import RECORD_KINDS, record_kind
from fangpin.service import Runtime, create_http_app
from fangpin.settings import Settings, get_settings
from intake.api import router
from intake.application import HouseholdIn, IntakeApplication
from intake.domain import NO_MATCH
from intake.errors import BadFile
from intake.feeds import (
    HEADERS_ZH,
    RecordFileUploads,
    RecordSheet,
    columns,
    template_sheets,
)
from intake.imports import Importer, ImportJob, MemoryJobs
from intake.spreadsheet import csv_bytes, open_table, xlsx_bytes

from .conftest import DISTRICT, VILLAGE, id_number

SETTLEMENT = record_kind("medical_insurance", "hospital_settlement")
MEDICAL = Principal(
    user_id="medical01",
    role=Role.DEPARTMENT,
    area_code="510904",
    department="medical_insurance",
)
MEDICAL_COLLEAGUE = MEDICAL.model_copy(update={"user_id": "medical02"})
HEALTH = Principal(
    user_id="health01", role=Role.DEPARTMENT, area_code="510904", department="health"
)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADERS = ["record_id", "id_number", "occurred_on", "total_cost", "reimbursed"]


def register(app: IntakeApplication, serial: int) -> str:
    number = id_number(serial)
    form = {
        "area_code": VILLAGE,
        "village_group": "1",
        "poverty_status": "never_poor",
        "members": [{"name": "某", "id_number": number}],
    }
    app.register_household(HouseholdIn.model_validate(form), DISTRICT)
    return number


def settlement_rows(known: str) -> list[list[Any]]:
    """Five rows: two taken, one sent twice, one matching nobody, one whose
    amount is below zero, one with no date."""
    return [
        ["S-1", known, "2026-11-02", 5000, 3200, 1800],
        ["S-2", known, "2026-11-03", 6000, 3800, 2200],
        ["S-1", known, "2026-11-02", 5000, 3200, 1800],
        ["S-3", id_number(77), "2026-11-04", 100, 0, 100],
        ["S-4", known, "2026-11-05", -1, 0, 0],
        ["S-5", known, "", 100, 0, 100],
    ]


def test_a_job_takes_the_file_in_batches_and_keeps_every_problem(app, tmp_path):
    known = register(app, 1)
    path = tmp_path / "settlements.csv"
    path.write_bytes(csv_bytes([*HEADERS, "out_of_pocket"], settlement_rows(known)))
    uploads = RecordFileUploads(app, MemoryJobs(), batch_size=2)

    job = uploads.prepare(path, path.name, SETTLEMENT, MEDICAL)
    assert (job.state, job.department, job.record_kind) == (
        "queued",
        "medical_insurance",
        "hospital_settlement",
    )
    uploads.run(job, path, MEDICAL)

    assert job.state == "done" and job.finished_at is not None
    assert (job.rows_total, job.rows_done, job.rows_read) == (6, 6, 6)
    assert (job.accepted, job.duplicate, job.rejected) == (2, 1, 3)
    problems = uploads.jobs.problems(job.id)
    assert [(p.row, p.column) for p in problems] == [
        (5, "id_number"),
        (6, "total_cost"),
        (7, "occurred_on"),
    ]
    assert problems[0].reason == NO_MATCH
    assert all(known not in p.reason for p in problems)


def test_a_workbook_headed_in_chinese_names_its_problems_by_those_headers(
    app, tmp_path
):
    known = register(app, 2)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(
        ["记录编号", "身份证号", "发生日期", "医疗总费用", "已报销金额", "个人自付"]
    )
    sheet.append(["X-1", known, date(2026, 11, 2), 900, 600, 300])
    sheet.append(["X-2", known, "not a day", 900, 600, 300])
    path = tmp_path / "settlements.xlsx"
    workbook.save(path)
    uploads = RecordFileUploads(app, MemoryJobs())

    job = uploads.run(
        uploads.prepare(path, path.name, SETTLEMENT, MEDICAL), path, MEDICAL
    )

    assert (job.format, job.accepted, job.rejected) == ("xlsx", 1, 1)
    (problem,) = uploads.jobs.problems(job.id)
    assert (problem.row, problem.column) == (3, "发生日期")


class CountedJobs(MemoryJobs):
    def __init__(self) -> None:
        super().__init__()
        self.created: list[ImportJob] = []

    def create(self, job: ImportJob) -> None:
        self.created.append(job)
        super().create(job)


def test_a_file_that_does_not_fit_the_kind_starts_no_job(app, tmp_path):
    jobs = CountedJobs()
    uploads = RecordFileUploads(app, jobs)
    headers_only = tmp_path / "empty.csv"
    headers_only.write_bytes(csv_bytes([*HEADERS, "out_of_pocket"], []))
    wrong = tmp_path / "wrong.csv"
    wrong.write_bytes(csv_bytes(["record_id", "身份证号", "总额"], [["1", "2", "3"]]))

    with pytest.raises(BadFile) as empty:
        uploads.prepare(headers_only, "empty.csv", SETTLEMENT, MEDICAL)
    with pytest.raises(BadFile) as unfit:
        uploads.prepare(wrong, "wrong.csv", SETTLEMENT, MEDICAL)

    assert empty.value.reason == "the file has a header row but no data rows"
    assert unfit.value.reason.startswith(
        "missing columns: occurred_on, total_cost, reimbursed, out_of_pocket; "
        "unknown columns: 总额."
    )
    assert jobs.created == []


def test_a_file_over_the_row_limit_fails_its_job_saying_why(app, tmp_path, monkeypatch):
    monkeypatch.setattr("intake.feeds.MAX_ROWS", 2)
    known = register(app, 3)
    path = tmp_path / "long.csv"
    path.write_bytes(csv_bytes([*HEADERS, "out_of_pocket"], settlement_rows(known)[:3]))
    uploads = RecordFileUploads(app, MemoryJobs())

    job = uploads.run(
        uploads.prepare(path, path.name, SETTLEMENT, MEDICAL), path, MEDICAL
    )

    assert job.state == "failed"
    assert job.error is not None
    assert job.error.startswith("more than 2 rows; split the file; the records")
    assert job.accepted == 0


def test_every_fact_of_every_kind_has_its_own_chinese_header():
    for kind in RECORD_KINDS.values():
        names = columns(kind)
        assert all(name in HEADERS_ZH for name in names), kind.kind
        headers = [HEADERS_ZH[name] for name in names]
        assert len(set(headers)) == len(headers), kind.kind


@pytest.mark.parametrize("kind", list(RECORD_KINDS.values()), ids=lambda k: k.kind)
def test_the_xlsx_template_reads_back_with_the_kinds_columns(kind, tmp_path):
    path = tmp_path / "template.xlsx"
    path.write_bytes(xlsx_bytes(template_sheets(kind)))

    with open_table(path, kind.name_zh) as table:
        sheet = RecordSheet(table.headers, kind)
        assert list(sheet.index) == columns(kind)
        assert list(table.rows) == []
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == [kind.name_zh, "说明"]
    notes = list(workbook["说明"].iter_rows(min_row=2, values_only=True))
    assert [row[1] for row in notes[: len(columns(kind))]] == columns(kind)
    assert workbook[kind.name_zh].column_dimensions["B"].number_format == "@"


def test_the_notes_say_what_each_fact_takes():
    notes = {
        row[1]: row[3]
        for row in template_sheets(record_kind("emergency", "disaster_loss"))[1].rows
        if len(row) > 3
    }
    assert notes["loss_amount"] == "a number from 0"
    assert notes["crop_loss_ratio"] == "a number from 0 to 1; default 0 when empty"
    assert notes["house_damage"] == (
        "one of none, damaged, collapsed; default none when empty"
    )
    settlement = {
        row[1]: row[:3] for row in template_sheets(SETTLEMENT)[1].rows if len(row) > 1
    }
    assert settlement["serious_illness"] == ["重大疾病", "serious_illness", "否"]


# --- over HTTP -----------------------------------------------------------------


@pytest.fixture
def client(
    app: IntakeApplication, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv("FANGPIN_JWT_SECRET", secrets.token_urlsafe(32))
    get_settings.cache_clear()
    # No lifespan: the runtime's NATS connections are not needed here.
    http = create_http_app(Runtime("intake", Settings(), app), "intake", "", [router])
    jobs = MemoryJobs()
    http.state.uploads = RecordFileUploads(app, jobs, batch_size=2)
    http.state.importer = Importer(app, jobs)
    yield TestClient(http)
    get_settings.cache_clear()


def as_user(who: Principal) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(who)}"}


def finished(client: TestClient, location: str, who: Principal = MEDICAL) -> Any:
    deadline = time.monotonic() + 20
    while True:
        job = client.get(location, headers=as_user(who)).json()
        if job["state"] not in ("queued", "reading", "importing"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def upload(client: TestClient, content: bytes, name: str = "s.csv", **kw: Any) -> Any:
    kind = kw.get("kind", "medical_insurance/hospital_settlement")
    return client.post(
        f"/departments/{kind}/uploads",
        files={"file": (name, content, "text/csv")},
        headers=as_user(kw.get("who", MEDICAL)),
    )


def test_an_upload_answers_202_and_is_followed_to_its_error_file(app, client):
    known = register(app, 4)
    content = csv_bytes([*HEADERS, "out_of_pocket"], settlement_rows(known))

    started = upload(client, content)

    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    assert location == f"/departments/uploads/{started.json()['id']}"
    job = finished(client, location)
    assert job["state"] == "done", job
    assert (job["department"], job["kind"], job["file_name"]) == (
        "medical_insurance",
        "hospital_settlement",
        "s.csv",
    )
    assert (job["rows_total"], job["rows_done"]) == (6, 6)
    assert (job["accepted"], job["duplicate"], job["rejected"]) == (2, 1, 3)
    assert job["problems"][0] == {"row": 5, "column": "id_number", "reason": NO_MATCH}

    errors = client.get(f"{job['errors_url']}?format=csv", headers=as_user(MEDICAL))
    assert errors.status_code == 200
    lines = list(csv.reader(io.StringIO(errors.content.decode("utf-8-sig"))))
    assert lines[0] == ["行号 (row)", "列 (column)", "原因 (reason)"]
    assert [line[:2] for line in lines[1:]] == [
        ["5", "id_number"],
        ["6", "total_cost"],
        ["7", "occurred_on"],
    ]
    assert known not in errors.text
    workbook = client.get(job["errors_url"], headers=as_user(MEDICAL))
    assert workbook.headers["content-type"] == XLSX
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
    assert sheet is not None and sheet.max_row == 4

    # The department's colleagues follow it too; another department and the
    # registry's import address do not find it.
    assert client.get(location, headers=as_user(MEDICAL_COLLEAGUE)).status_code == 200
    assert client.get(location, headers=as_user(DISTRICT)).status_code == 200
    assert client.get(location, headers=as_user(HEALTH)).status_code == 404
    assert (
        client.get(f"/imports/{job['id']}", headers=as_user(MEDICAL)).status_code == 404
    )


def test_a_refused_upload_names_the_file_field_and_the_reason(client):
    unfit = upload(client, csv_bytes(["record_id", "total"], [["1", "2"]]))
    assert unfit.status_code == 422
    assert unfit.json()["field"] == "file"
    assert unfit.json()["detail"].startswith("missing columns: id_number")

    pdf = upload(client, b"%PDF-1.7\x00\x01binary", name="scan.pdf")
    assert pdf.status_code == 415
    assert pdf.json() == {
        "detail": "the file is neither an XLSX workbook nor CSV text",
        "field": "file",
    }

    other = upload(client, b"x", who=HEALTH)
    assert other.status_code == 403
    unknown = upload(client, b"x", kind="medical_insurance/x_rays")
    assert unknown.status_code == 404
    assert unknown.json()["field"] == "kind"


def test_the_template_comes_as_xlsx_in_chinese_or_as_csv_by_field_name(client):
    path = "/departments/medical_insurance/hospital_settlement/template"

    workbook = client.get(path, headers=as_user(MEDICAL))
    spreadsheet = client.get(f"{path}?format=csv", headers=as_user(MEDICAL))

    assert workbook.status_code == 200
    assert workbook.headers["content-type"] == XLSX
    assert "hospital_settlement.xlsx" in workbook.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content))["住院结算"]
    headers = [cell.value for cell in sheet[1]]
    assert headers[:4] == ["记录编号", "身份证号", "发生日期", "医疗总费用"]
    text = spreadsheet.content.decode("utf-8-sig").strip()
    assert text.split(",") == columns(SETTLEMENT)
    assert len(headers) == len(columns(SETTLEMENT))
    missing = client.get(
        "/departments/medical_insurance/x_rays/template", headers=as_user(MEDICAL)
    )
    assert missing.status_code == 404


def test_the_filled_in_xlsx_template_is_taken_end_to_end(app, client, tmp_path):
    known = register(app, 5)
    path = "/departments/medical_insurance/hospital_settlement/template"
    workbook = openpyxl.load_workbook(
        io.BytesIO(client.get(path, headers=as_user(MEDICAL)).content)
    )
    sheet = workbook["住院结算"]
    sheet.append(["T-1", known, date(2026, 11, 2), 800, 500, 300, 2, "是"])
    sheet.append(["T-2", known, date(2026, 11, 3), 800, 500, 300, None, "也许"])
    filled = tmp_path / "filled.xlsx"
    workbook.save(filled)

    started = client.post(
        "/departments/medical_insurance/hospital_settlement/uploads",
        files={"file": ("filled.xlsx", filled.read_bytes(), XLSX)},
        headers=as_user(MEDICAL),
    )

    assert started.status_code == 202, started.text
    job = finished(client, started.headers["Location"])
    assert (job["format"], job["accepted"], job["rejected"]) == ("xlsx", 1, 1)
    assert job["problems"] == [
        {"row": 3, "column": "重大疾病", "reason": "must be 是 or 否 (true or false)"}
    ]


def test_the_synchronous_file_upload_still_answers_at_once(app, client):
    known = register(app, 6)
    content = csv_bytes([*HEADERS, "out_of_pocket"], settlement_rows(known))

    answer = client.post(
        "/departments/medical_insurance/hospital_settlement/records/file",
        files={"file": ("s.csv", content, "text/csv")},
        headers=as_user(MEDICAL),
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["rows"], body["accepted"], body["duplicate"]) == (6, 2, 1)
