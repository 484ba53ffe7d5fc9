"""A registry workbook imported through intake's HTTP interface on real NATS and
PostgreSQL: a job that can be followed, a bad row that comes back in the error
file, the households' events on their way out through the relay."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient

from fangpin.auth import issue_token
from fangpin.idnumber import make_id_number
from intake.main import build
from intake.registryfile import COLUMNS, SHEET
from tests.support import DISTRICT, VILLAGE, eventually, stream_messages

pytestmark = pytest.mark.integration
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def client(settings) -> Iterator[TestClient]:
    with TestClient(build(settings)) as running:
        running.headers["Authorization"] = f"Bearer {issue_token(DISTRICT)}"
        yield running


def filled_template(client: TestClient, rows: list[dict[str, Any]]) -> bytes:
    """The downloaded template with the rows typed in."""
    template = client.get("/imports/template")
    assert template.status_code == 200
    assert template.headers["content-type"] == XLSX
    workbook = openpyxl.load_workbook(io.BytesIO(template.content))
    sheet = workbook[SHEET]
    for row in rows:
        sheet.append([row.get(column.key) for column in COLUMNS])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def member(
    household: str, serial: int, relation: str = "户主", **values: Any
) -> dict[str, Any]:
    return {
        "household_number": household,
        "area_code": VILLAGE,
        "village_group": "2",
        "poverty_status": "脱贫户",
        "left_poverty_year": 2018,
        "name": f"成员{serial}",
        "id_number": make_id_number("510904", date(1980, 5, 5), serial),
        "relation": relation,
        "labour_capacity": "普通劳动力",
        "income_year": 2025,
        "wages": 15000,
        **values,
    }


def wait_until_finished(client: TestClient, location: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job = client.get(location).json()
        if job["state"] in ("done", "failed"):
            return dict(job)
        time.sleep(0.1)
    raise AssertionError(f"import did not finish: {job}")


async def test_workbook_import_runs_as_a_job_and_returns_its_bad_rows(client, nc):
    rows = [
        member("H1", 1),
        member("H1", 2, "配偶", income_year=None, wages=None),
        member("H2", 3),
        member("H2", 4, "子女", id_number="51090419800505004"),
    ]
    upload = {"file": ("registry.xlsx", filled_template(client, rows), XLSX)}

    started = client.post("/imports", files=upload)
    assert started.status_code == 202, started.text
    job = wait_until_finished(client, started.headers["Location"])

    assert job["state"] == "done", job
    assert (job["rows_total"], job["rows_done"]) == (4, 4)
    assert (job["accepted"], job["rejected"], job["registered"]) == (2, 2, 1)
    assert job["problems"][0] == {
        "row": 4,
        "household_number": "H2",
        "column": "户编号",
        "reason": "not imported: row 5 of the same household has a problem",
    }

    errors = client.get(f"{job['errors_url']}?format=csv")
    assert errors.status_code == 200
    lines = list(csv.reader(io.StringIO(errors.content.decode("utf-8-sig"))))
    assert lines[0] == ["行号 (row)", "户编号", "列 (column)", "原因 (reason)"]
    assert lines[2] == ["5", "H2", "身份证号", "must have 18 characters, has 17"]
    workbook = client.get(job["errors_url"])
    assert workbook.headers["content-type"] == XLSX
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
    assert sheet is not None and sheet.max_row == 3

    # The registration and its income leave through the relay, without names.
    async def published() -> list[Any]:
        return await stream_messages(nc.jetstream(), "INTAKE")

    messages = await eventually(published)
    types = sorted(message.headers["Fangpin-Event-Type"] for message in messages)
    assert types == ["HouseholdRegistered", "IncomeRecorded"]
    assert all("成员".encode() not in message.data for message in messages)

    again = client.post("/imports", files=upload)
    repeat = wait_until_finished(client, again.headers["Location"])
    assert (repeat["unchanged"], repeat["registered"]) == (1, 0)


def test_files_that_are_no_registry_are_refused_at_once(client):
    pdf = {"file": ("scan.pdf", b"%PDF-1.7\x00\x00\x01binary", "application/pdf")}
    refused = client.post("/imports", files=pdf)
    assert refused.status_code == 415
    assert refused.json()["detail"] == (
        "the file is neither an XLSX workbook nor CSV text"
    )

    wrong = {"file": ("list.csv", "户编号,姓名\nH1,某人\n".encode(), "text/csv")}
    refused = client.post("/imports", files=wrong)
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("missing columns: 村代码")
    assert "某人" not in refused.text
