"""Intake in memory, and registry spreadsheets written the way officials fill in
the template."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from fangpin.auth import Principal
from fangpin.contracts import Role
from fangpin.idnumber import make_id_number
from intake.application import IntakeApplication
from intake.imports import Importer, ImportJob, MemoryJobs
from intake.registryfile import COLUMNS, SHEET, Problem

VILLAGE = "510904101201"
DISTRICT = Principal(user_id="district01", role=Role.DISTRICT, area_code="510904")
TOWN = Principal(user_id="town02", role=Role.TOWN, area_code="510904102")

Row = dict[str, Any]


def id_number(serial: int, born: date = date(1970, 1, 1)) -> str:
    return make_id_number("510904", born, serial)


def member_row(
    household: str, serial: int, relation: str = "户主", **values: Any
) -> Row:
    """One member's row; the household's columns are filled on every row, as
    many offices do (only the head's are read)."""
    row: Row = {
        "household_number": household,
        "area_code": VILLAGE,
        "village_group": "3",
        "poverty_status": "脱贫户",
        "left_poverty_year": 2019,
        "phone": "13800000000",
        "housing_rating": "B",
        "drinking_water_ok": "是",
        "name": f"成员{serial}",
        "id_number": id_number(serial),
        "relation": relation,
        "labour_capacity": "普通劳动力",
        "disability_grade": None,
        "health": "健康",
        "schooling": None,
    }
    row.update(values)
    return row


@pytest.fixture
def app() -> IntakeApplication:
    return IntakeApplication(in_memory=True)


@pytest.fixture
def write_sheet(tmp_path: Path) -> Callable[..., Path]:
    def write(rows: list[Row], fmt: str = "xlsx", name: str = "registry") -> Path:
        path = tmp_path / f"{name}.{fmt}"
        headers = [column.header for column in COLUMNS]
        cells = [[row.get(column.key) for column in COLUMNS] for row in rows]
        if fmt == "csv":
            with path.open("w", encoding="utf-8-sig", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(headers)
                writer.writerows(["" if v is None else v for v in r] for r in cells)
            return path
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        assert sheet is not None
        sheet.title = SHEET
        sheet.append(headers)
        for row_cells in cells:
            sheet.append(row_cells)
        workbook.save(path)
        return path

    return write


@pytest.fixture
def run_import(
    app: IntakeApplication,
) -> Callable[..., tuple[ImportJob, list[Problem]]]:
    importer = Importer(app, MemoryJobs(), chunk_size=2)

    def run(
        path: Path, principal: Principal = DISTRICT
    ) -> tuple[ImportJob, list[Problem]]:
        job = importer.prepare(path, path.name, principal)
        importer.run(job, path, principal)
        return job, importer.jobs.problems(job.id)

    return run
