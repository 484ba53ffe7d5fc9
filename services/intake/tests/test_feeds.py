"""Department records uploaded as files, and the kinds' published schemas."""

from __future__ import annotations

from datetime import date

import openpyxl
import pytest

from fangpin.departments import RECORD_KINDS, record_kind, record_schemas
from intake.application import HouseholdIn
from intake.domain import NO_MATCH
from intake.errors import BadFile
from intake.feeds import upload_file
from intake.spreadsheet import csv_bytes, open_table

from .conftest import DISTRICT, VILLAGE, id_number

DIAGNOSIS = record_kind("health", "diagnosis")


def register(app, serial: int) -> str:
    number = id_number(serial)
    form = {
        "area_code": VILLAGE,
        "village_group": "1",
        "poverty_status": "never_poor",
        "members": [{"name": "某", "id_number": number}],
    }
    app.register_household(HouseholdIn.model_validate(form), DISTRICT)
    return number


def test_a_csv_of_records_is_matched_row_by_row(app, tmp_path):
    known = register(app, 1)
    path = tmp_path / "diagnosis.csv"
    path.write_bytes(
        csv_bytes(
            ["record_id", "id_number", "occurred_on", "chronic", "serious_illness"],
            [
                ["D-1", known, "2026-11-02", "是", "否"],
                ["D-1", known, "2026/11/02", "是", "否"],
                ["D-2", id_number(2), "20261102", "true", ""],
                ["D-3", known, "yesterday", "是", ""],
                ["D-4", known, "2026-11-03", "maybe", ""],
                ["", known, "2026-11-03", "", ""],
            ],
        )
    )

    with open_table(path) as table:
        summary = upload_file(app, table, DIAGNOSIS, DISTRICT)

    assert (summary.rows, summary.accepted, summary.duplicate) == (6, 1, 1)
    assert summary.rejected == 4
    assert [(p.row, p.column, p.reason) for p in summary.problems] == [
        (4, "id_number", NO_MATCH),
        (5, "occurred_on", "must be a date such as 2026-11-02"),
        (6, "chronic", "must be 是 or 否 (true or false)"),
        (7, "record_id", "must be 1 to 100 characters"),
    ]


def test_a_workbook_with_number_cells_and_date_cells_is_read(app, tmp_path):
    known = register(app, 3)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["record_id", "id_number", "occurred_on", "chronic"])
    sheet.append([1001, known, date(2026, 11, 2), True])
    sheet.append([1002, float(known[:17] + "0"), date(2026, 11, 2), True])
    path = tmp_path / "diagnosis.xlsx"
    workbook.save(path)

    with open_table(path) as table:
        summary = upload_file(app, table, DIAGNOSIS, DISTRICT)

    assert summary.accepted == 1
    (problem,) = summary.problems
    assert (problem.row, problem.column) == (3, "id_number")
    assert known not in problem.reason


def test_columns_that_do_not_fit_the_kind_refuse_the_file(app, tmp_path):
    path = tmp_path / "settlement.csv"
    path.write_bytes(
        csv_bytes(["record_id", "id_number", "occurred_on", "total", "reimbursed"], [])
    )
    kind = record_kind("medical_insurance", "hospital_settlement")

    with open_table(path) as table, pytest.raises(BadFile) as refused:
        upload_file(app, table, kind, DISTRICT)

    assert refused.value.reason.startswith(
        "missing columns: total_cost, out_of_pocket; unknown columns: total."
    )


def test_every_kind_publishes_a_versioned_json_schema():
    schemas = record_schemas()

    assert len(schemas) == len(RECORD_KINDS)
    schema = schemas["medical_insurance.hospital_settlement.v1"]
    assert schema["required"] == ["record_id", "id_number", "occurred_on", "facts"]
    facts = schema["properties"]["facts"]
    assert facts["additionalProperties"] is False
    assert set(facts["required"]) == {"total_cost", "reimbursed", "out_of_pocket"}
