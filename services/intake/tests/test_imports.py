"""Registry spreadsheets: rows checked one by one, households saved in batches,
the same file twice changing nothing."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest

from fangpin.relay import to_envelope
from intake.errors import BadFile
from intake.imports import Importer, MemoryJobs
from intake.registry import household_id_for
from intake.registryfile import COLUMNS, SHEET, template_sheets
from intake.spreadsheet import csv_bytes, open_table, xlsx_bytes

from .conftest import DISTRICT, TOWN, VILLAGE, id_number, member_row


def published(app, since: int = 0) -> list[str]:
    """Types of the public events stored after notification ``since``."""
    types = []
    for notification in app.recorder.select_notifications(
        start=since, limit=10_000, inclusive_of_start=False
    ):
        found = to_envelope("intake", app.mapper.to_domain_event(notification))
        if found is not None:
            types.append(found[1].type)
    return types


def by_row(problems):
    return {problem.row: (problem.column, problem.reason) for problem in problems}


def test_a_clean_file_registers_every_household_with_its_income(
    app, write_sheet, run_import
):
    rows = [
        member_row("H1", 1, income_year=2025, wages=24000, land_rent=600),
        member_row("H1", 2, "配偶", labour_capacity="弱劳动力", health="慢性病"),
        member_row("H1", 3, "子女", schooling="义务教育", labour_capacity="无"),
        member_row("H2", 4, poverty_status="一般农户", left_poverty_year=None),
    ]
    job, problems = run_import(write_sheet(rows))

    assert problems == []
    assert (job.state, job.rows_total, job.rows_done) == ("done", 4, 4)
    assert (job.accepted, job.rejected, job.registered) == (4, 0, 2)
    assert published(app) == ["HouseholdRegistered", "IncomeRecorded"] + [
        "HouseholdRegistered"
    ]
    household = app.household(household_id_for(VILLAGE, "H1"), DISTRICT)
    assert household.facts["chronic_illness_count"] == 1
    assert household.facts["labour_capable_count"] == 2
    assert household.incomes[2025][0] == 8200  # 24,600 yuan for three people


def test_reimporting_the_same_file_changes_nothing(app, write_sheet, run_import):
    rows = [member_row("H1", 1, income_year=2025, wages=9000), member_row("H2", 2)]
    path = write_sheet(rows)
    run_import(path)
    before = app.recorder.max_notification_id()

    job, problems = run_import(path)

    assert app.recorder.max_notification_id() == before, "no new events"
    assert (job.unchanged, job.registered, job.updated, problems) == (2, 0, 0, [])


def test_a_changed_row_updates_its_household_naming_the_fields(
    app, write_sheet, run_import
):
    run_import(write_sheet([member_row("H1", 1), member_row("H1", 2, "配偶")]))
    before = app.recorder.max_notification_id()

    job, _ = run_import(
        write_sheet(
            [
                member_row("H1", 1, housing_rating="D", income_year=2025, wages=100),
                member_row("H1", 2, "配偶", disability_grade="一级", name="改名"),
            ]
        )
    )

    assert job.updated == 1
    assert published(app, before) == ["HouseholdUpdated", "IncomeRecorded"]
    household = app.household(household_id_for(VILLAGE, "H1"), DISTRICT)
    notification = app.recorder.select_notifications(start=before + 1, limit=1)[0]
    event = app.mapper.to_domain_event(notification)
    assert event.changed == [
        "housing_rating",
        "members.name",
        "members.disability_grade",
    ]
    assert household.facts["severe_disability_count"] == 1
    envelope = to_envelope("intake", event)
    assert envelope is not None and "改名" not in envelope[1].model_dump_json()


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("51090419700101001", "must have 18 characters, has 17"),
        (id_number(1)[:17] + "0", "check character does not match"),
        ("510904197002300016", "contains no valid birth date"),
        ("51090419700101001Y", "must be 17 digits followed by a digit or X"),
        ("", "is empty"),
        (510904197001010019, "is stored as a number, which loses digits"),
    ],
)
def test_id_numbers_are_checked_and_never_repeated_in_the_reason(
    app, write_sheet, run_import, cell, reason
):
    rows = [member_row("H1", 1), member_row("H1", 2, "配偶", id_number=cell)]
    job, problems = run_import(write_sheet(rows))

    assert by_row(problems)[3] == ("身份证号", by_row(problems)[3][1])
    assert reason in by_row(problems)[3][1]
    assert str(cell) not in by_row(problems)[3][1] or cell == ""
    assert by_row(problems)[2][1] == (
        "not imported: row 3 of the same household has a problem"
    )
    assert (job.accepted, job.rejected) == (0, 2)
    assert published(app) == []


def test_a_lower_case_check_character_is_accepted(app, write_sheet, run_import):
    number = next(
        id_number(serial) for serial in range(1, 200) if id_number(serial).endswith("X")
    )
    job, problems = run_import(
        write_sheet([member_row("H1", 0, id_number=number.lower())])
    )
    assert problems == [] and job.registered == 1


def test_a_person_in_two_households_of_one_file_is_reported(
    app, write_sheet, run_import
):
    rows = [
        member_row("H1", 1),
        member_row("H2", 2),
        member_row("H2", 1, "子女"),
        member_row("H3", 3),
        member_row("H3", 3, "配偶"),
    ]
    job, problems = run_import(write_sheet(rows))

    found = by_row(problems)
    assert found[4] == (
        "身份证号",
        "the same person is also in household H1 (row 2); one person belongs to "
        "one household",
    )
    assert found[6] == (
        "身份证号",
        "the same person is already on row 5 of this household",
    )
    assert (job.registered, job.rejected) == (1, 4)


def test_a_person_already_registered_elsewhere_is_reported_not_merged(
    app, write_sheet, run_import
):
    run_import(write_sheet([member_row("H1", 1)]))
    job, problems = run_import(
        write_sheet([member_row("H9", 2), member_row("H9", 1, "子女")])
    )

    assert by_row(problems)[3] == (
        "身份证号",
        "this person already belongs to another registered household",
    )
    assert job.rejected == 2


def test_a_person_moving_to_a_household_earlier_in_the_file_is_taken(
    app, write_sheet, run_import
):
    run_import(write_sheet([member_row("H2", 1), member_row("H2", 2, "子女")]))
    # The child sets up a household of their own (分户); with batches of two
    # households, the new one is saved a batch before the old one lets them go.
    rows = [
        member_row("H1", 2),
        member_row("H1", 3, "配偶"),
        member_row("H0", 4),
        member_row("H2", 1),
    ]

    job, problems = run_import(write_sheet(rows))

    assert problems == []
    assert (job.registered, job.updated) == (2, 1)


def test_rows_outside_the_importers_area_are_rejected(app, write_sheet, run_import):
    rows = [member_row("H1", 1), member_row("H2", 2, area_code="510904102201")]
    job, problems = run_import(write_sheet(rows), TOWN)

    assert by_row(problems)[2] == ("村代码", "the village is outside your area")
    assert job.registered == 1


def test_household_level_problems_point_at_the_heads_row(app, write_sheet, run_import):
    rows = [
        member_row("H1", 1, relation="子女"),
        member_row("H2", 2, left_poverty_year=None),
        member_row("H3", 3, poverty_status="一般农户"),
        member_row("H4", 4, phone="12345"),
        member_row("H5", 5, income_year=None, wages=500),
        member_row("H6", 6, relation="表亲"),
        member_row("H7", 7),
        member_row("H7", 8, "户主"),
        member_row("", 9),
    ]
    _, problems = run_import(write_sheet(rows))
    found = by_row(problems)

    assert found[2] == ("与户主关系", "the household has no head (户主)")
    assert found[3] == ("脱贫年度", "is needed for a 脱贫户")
    assert found[4] == ("脱贫年度", "only a 脱贫户 has one")
    assert found[5] == ("联系电话", "must be an 11-digit number")
    assert found[6] == ("收入年度", "is needed when income amounts are given")
    assert found[7][0] == "与户主关系" and "allowed values" in found[7][1]
    assert found[9] == ("与户主关系", "a second head (户主); the first is on row 8")
    assert found[10][0] == "户编号"


def test_csv_files_import_like_workbooks_in_either_encoding(
    app, write_sheet, run_import, tmp_path
):
    job, problems = run_import(write_sheet([member_row("H1", 1)], fmt="csv"))
    assert (job.format, job.registered, problems) == ("csv", 1, [])

    gbk = tmp_path / "gbk.csv"
    text = write_sheet([member_row("H2", 2)], fmt="csv").read_text("utf-8-sig")
    gbk.write_bytes(text.encode("gb18030"))
    job, problems = run_import(gbk)
    assert (job.registered, problems) == (1, [])


def test_bad_files_are_refused_at_once_naming_the_problem(app, tmp_path, write_sheet):
    importer = Importer(app, MemoryJobs())

    def refusal(name: str, content: bytes) -> str:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(BadFile) as refused:
            importer.prepare(path, name, DISTRICT)
        return f"{refused.value.status_code} {refused.value.reason}"

    assert refusal("empty.csv", b"") == "422 the file is empty"
    assert refusal("scan.pdf", b"%PDF-1.7\n\x00\x01\x02binary") == (
        "415 the file is neither an XLSX workbook nor CSV text"
    )
    assert refusal("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest").startswith(
        "415 this is an old Excel workbook (.xls)"
    )
    assert refusal("photos.zip", _zip({"a.jpg": b"x"})) == (
        "415 the file is a ZIP archive but not an XLSX workbook"
    )
    wrong = refusal("wrong.csv", "户编号,姓名,电话号\nH1,某,1\n".encode())
    assert wrong.startswith("422 missing columns: 村代码, 村民小组")
    assert "unknown columns: 电话号" in wrong
    assert refusal("headers.csv", csv_bytes([c.header for c in COLUMNS], [])) == (
        "422 the file has a header row but no data rows"
    )
    assert "某" not in wrong


def test_the_template_reads_back_as_a_valid_empty_registry(tmp_path):
    path = tmp_path / "template.xlsx"
    path.write_bytes(xlsx_bytes(template_sheets()))

    with open_table(path, SHEET) as table:
        assert table.headers == [column.header for column in COLUMNS]
        assert list(table.rows) == []
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == [SHEET, "说明"]
    id_column = [c.header for c in COLUMNS].index("身份证号") + 1
    letter = openpyxl.utils.get_column_letter(id_column)
    assert workbook[SHEET].column_dimensions[letter].number_format == "@"


def test_workbooks_as_excel_writes_them_are_read_cell_by_cell(tmp_path):
    """Shared strings, rich text runs with phonetic guides, skipped empty cells,
    numbers and booleans."""
    sheet = (
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        "<sheetData>"
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c>'
        '<c r="C1" t="s"><v>2</v></c></row>'
        '<row r="3"><c r="A3" t="s"><v>3</v></c><c r="C3"><v>2019</v></c></row>'
        '<row r="4"><c r="B4" t="b"><v>1</v></c><c r="C4"><v>12.5</v></c></row>'
        "</sheetData></worksheet>"
    )
    strings = (
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        "<si><t>户编号</t></si><si><t>姓名</t></si><si><t>年</t></si>"
        "<si><r><t>王</t></r><r><t>建国</t></r><rPh><t>ワン</t></rPh></si></sst>"
    )
    path = tmp_path / "excel.xlsx"
    path.write_bytes(_workbook(sheet, strings))

    with open_table(path) as table:
        assert table.headers == ["户编号", "姓名", "年"]
        assert list(table.rows) == [
            (3, ["王建国", None, 2019]),
            (4, [None, True, 12.5]),
        ]


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _workbook(sheet: str, strings: str) -> bytes:
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    relations = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006/relationships"
    return _zip(
        {
            "xl/workbook.xml": (
                f'<workbook xmlns="{main}" xmlns:r="{relations}"><sheets>'
                '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
            ).encode(),
            "xl/_rels/workbook.xml.rels": (
                f'<Relationships xmlns="{package}"><Relationship Id="rId1" '
                'Target="worksheets/sheet1.xml" Type="worksheet"/></Relationships>'
            ).encode(),
            "xl/worksheets/sheet1.xml": sheet.encode(),
            "xl/sharedStrings.xml": strings.encode(),
        }
    )
