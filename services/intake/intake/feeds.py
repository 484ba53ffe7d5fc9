"""Department records uploaded as a file (XLSX or CSV): the columns record_id,
id_number and occurred_on, then one column per fact of the record kind. Each
column may be headed by its name or by its Chinese header (the XLSX template's).

A file is taken at once (:func:`upload_file`) or as a job that the uploader
follows row by row (:class:`RecordFileUploads`).
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal, get_args, get_origin

from pydantic.fields import FieldInfo

from fangpin.auth import Principal
from fangpin.departments import RecordKind, record_kind
from intake.application import DepartmentRecordIn, IntakeApplication, RecordResult
from intake.domain import NO_MATCH
from intake.errors import BadFile, UploadNotFound
from intake.imports import ImportJob, JobRunner, JobStore
from intake.registryfile import Problem
from intake.spreadsheet import SheetOut, Table, Value, open_table

BASE_COLUMNS = ("record_id", "id_number", "occurred_on")
MAX_ROWS = 100_000
BATCH = 500
# A job records how far reading has got after this many rows.
READ_PROGRESS_ROWS = 5_000
# Day 0 of Excel's 1900 date system, as the serial numbers of date cells count.
EXCEL_EPOCH = date(1899, 12, 30)
TRUE_WORDS = {"是", "true", "yes", "1", "y"}
FALSE_WORDS = {"否", "false", "no", "0", "n"}

# The Chinese header of every column, as the XLSX template writes it; a fact
# missing here is headed by its name.
HEADERS_ZH = {
    "record_id": "记录编号",
    "id_number": "身份证号",
    "occurred_on": "发生日期",
    "total_cost": "医疗总费用",
    "reimbursed": "已报销金额",
    "out_of_pocket": "个人自付",
    "inpatient_days": "住院天数",
    "serious_illness": "重大疾病",
    "insured": "已参保",
    "chronic": "慢性病",
    "outpatient_chronic_cover": "门诊慢特病待遇",
    "family_doctor": "家庭医生签约",
    "lost_work_capacity": "丧失劳动能力",
    "age": "年龄",
    "suspected_only": "仅为疑似",
    "grade": "残疾等级",
    "nursing_subsidy": "重度残疾人护理补贴",
    "living_subsidy": "困难残疾人生活补贴",
    "loss_amount": "损失金额",
    "crop_loss_ratio": "农作物受灾比例",
    "house_damage": "房屋受损",
    "scheme": "救助类别",
    "amount": "金额",
    "severity": "伤亡程度",
}
BASE_NOTES = {
    "record_id": "Your own id of the record, 1 to 100 characters; a record sent "
    "twice counts once. 本部门的记录编号，重复报送只计一次。",
    "id_number": "The person's 18-character resident ID number; keep the column "
    "formatted as text. 18位身份证号码，此列须为文本格式。",
    "occurred_on": "The day it happened, e.g. 2026-11-02. 发生日期，如 2026-11-02。",
}


def columns(kind: RecordKind) -> list[str]:
    """The columns of a file of this kind, in the templates' order."""
    return [*BASE_COLUMNS, *kind.model.model_fields]


def header_zh(name: str) -> str:
    return HEADERS_ZH.get(name, name)


def sheet_name(kind: RecordKind) -> str:
    """The data sheet's name in the XLSX template; a workbook without a sheet of
    that name is read from its first sheet."""
    return kind.name_zh


def _plain(header: str) -> str:
    return unicodedata.normalize("NFKC", header).strip().lower()


@dataclass
class UploadSummary:
    rows: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    problems: list[Problem] = field(default_factory=list)


class RecordSheet:
    """Checks the header row against the kind's facts; raises :class:`BadFile`
    naming the missing and unknown columns. Problems name a column as the
    file heads it."""

    def __init__(self, headers: list[str], kind: RecordKind):
        self.kind = kind
        self.index: dict[str, int] = {}
        self.headers: dict[str, str] = {}
        fields = kind.model.model_fields
        known = {
            _plain(text): name
            for name in columns(kind)
            for text in (name, header_zh(name))
        }
        unknown = []
        for position, header in enumerate(headers):
            name = known.get(_plain(header))
            if name is None:
                if _plain(header):
                    unknown.append(_plain(header))
                continue
            if name in self.index:
                raise BadFile(f"the column {name} appears twice")
            self.index[name] = position
            self.headers[name] = header.strip()
        required = [*BASE_COLUMNS] + [
            name for name, info in fields.items() if info.is_required()
        ]
        missing = [name for name in required if name not in self.index]
        if missing or unknown:
            problems = []
            if missing:
                problems.append(f"missing columns: {', '.join(missing)}")
            if unknown:
                problems.append(f"unknown columns: {', '.join(unknown)}")
            raise BadFile(
                f"{'; '.join(problems)}. A {kind.kind} file has the columns "
                f"{', '.join(columns(kind))}"
            )
        self.booleans = {
            name for name, info in fields.items() if info.annotation is bool
        }

    def column(self, name: str) -> str:
        """The header the file gives the column, or its name."""
        return self.headers.get(name, name)

    def records(
        self, rows: Iterator[tuple[int, list[Value]]], summary: UploadSummary
    ) -> Iterator[tuple[int, DepartmentRecordIn]]:
        for number, cells in rows:
            summary.rows += 1
            if summary.rows > MAX_ROWS:
                raise BadFile(f"more than {MAX_ROWS} rows; split the file")
            values = {name: cells[position] for name, position in self.index.items()}
            try:
                yield number, self._record(values)
            except _RowProblem as problem:
                summary.rejected += 1
                summary.problems.append(
                    Problem(number, self.column(problem.column), str(problem))
                )

    def _record(self, values: dict[str, Value]) -> DepartmentRecordIn:
        record_id = _code(values["record_id"])
        if not record_id or len(record_id) > 100:
            raise _RowProblem("record_id", "must be 1 to 100 characters")
        id_number = values["id_number"]
        if not isinstance(id_number, str):
            raise _RowProblem(
                "id_number",
                "is empty or stored as a number, which loses digits; format the "
                "column as text",
            )
        facts: dict[str, float | int | bool | str] = {}
        for name in self.index.keys() - set(BASE_COLUMNS):
            value = values[name]
            if value is None or value == "":
                continue
            facts[name] = self._fact(name, value)
        return DepartmentRecordIn(
            record_id=record_id,
            id_number=id_number,
            occurred_on=_date(values["occurred_on"]),
            facts=facts,
        )

    def _fact(self, name: str, value: Value) -> float | int | bool | str:
        assert value is not None
        if name in self.booleans and not isinstance(value, bool):
            word = str(value).strip().lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
            raise _RowProblem(name, "must be 是 or 否 (true or false)")
        return value


class _RowProblem(ValueError):
    def __init__(self, column: str, reason: str):
        super().__init__(reason)
        self.column = column


def _code(value: Value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None else str(value).strip()


def _date(value: Value) -> date:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 1 <= value < 2958466:
            return EXCEL_EPOCH + timedelta(days=int(value))
        raise _RowProblem("occurred_on", "is not a date")
    text = _code(value)[:10].replace("/", "-")
    try:
        if len(text) == 8 and text.isdigit():
            return datetime.strptime(text, "%Y%m%d").date()
        return date.fromisoformat(text)
    except ValueError:
        raise _RowProblem("occurred_on", "must be a date such as 2026-11-02") from None


def upload_file(
    app: IntakeApplication,
    table: Table,
    kind: RecordKind,
    principal: Principal,
) -> UploadSummary:
    """Read the rows and take them in batches; return what became of each."""
    summary = UploadSummary()
    sheet = RecordSheet(table.headers, kind)
    # Read to the end first: a file over the limit is refused before any of it
    # is taken.
    records = list(sheet.records(table.rows, summary))
    for start in range(0, len(records), BATCH):
        _take(app, sheet, records[start : start + BATCH], principal, summary)
    summary.problems.sort(key=lambda problem: problem.row)
    return summary


def _take(
    app: IntakeApplication,
    sheet: RecordSheet,
    batch: list[tuple[int, DepartmentRecordIn]],
    principal: Principal,
    summary: UploadSummary,
) -> None:
    kind = sheet.kind
    results = app.receive_upload(
        kind.department, kind.kind, [record for _, record in batch], principal
    )
    for (row, _), result in zip(batch, results, strict=True):
        if result.outcome == "accepted":
            summary.accepted += 1
        elif result.outcome == "duplicate":
            summary.duplicate += 1
        else:
            summary.rejected += 1
            summary.problems.append(
                Problem(row, sheet.column(_column_of(result)), result.reason or "")
            )


def _column_of(result: RecordResult) -> str:
    """The column a rejection's reason names: ``facts.<name>: ...`` or
    ``id_number: ...``; a record that matches nobody is its ID number's fault."""
    reason = result.reason or ""
    if reason == NO_MATCH:
        return "id_number"
    field_name = reason.split(":", 1)[0]
    return field_name.removeprefix("facts.").split(".")[0]


# --- uploads as jobs --------------------------------------------------------------


class RecordFileUploads(JobRunner):
    """Department files taken in the background, a batch of records per
    transaction, so the uploader can watch the rows go through."""

    after_failure = (
        "the records taken so far stay, and uploading the file again completes "
        "it (they count as duplicates)"
    )

    def __init__(
        self,
        app: IntakeApplication,
        jobs: JobStore,
        on_commit: Callable[[], None] = lambda: None,
        batch_size: int = BATCH,
    ):
        super().__init__(jobs, on_commit)
        self.app = app
        self.batch_size = batch_size

    def submit(
        self, path: Path, file_name: str, kind: RecordKind, principal: Principal
    ) -> ImportJob:
        """Check the file's type and headers now, take its records in the
        background. The job owns the file from here on and deletes it."""
        job = self.prepare(path, file_name, kind, principal)
        self.start(job, path, principal)
        return job

    def prepare(
        self, path: Path, file_name: str, kind: RecordKind, principal: Principal
    ) -> ImportJob:
        with open_table(path, sheet_name(kind)) as table:
            RecordSheet(table.headers, kind)
            file_format = table.format
            if next(table.rows, None) is None:
                raise BadFile("the file has a header row but no data rows")
        job = ImportJob(
            id=uuid.uuid4(),
            file_name=file_name[:200],
            format=file_format,
            created_by=principal.user_id,
            area_code=principal.area_code,
            department=kind.department,
            record_kind=kind.kind,
        )
        self.jobs.create(job)
        return job

    def job(self, job_id: uuid.UUID, principal: Principal) -> ImportJob:
        job = self.jobs.get(job_id)
        if job is None or job.department is None or not job.visible_to(principal):
            raise UploadNotFound("no such upload of yours")
        return job

    def _run(self, job: ImportJob, path: Path, principal: Principal) -> None:
        kind = record_kind(job.department or "", job.record_kind or "")
        job.state = "reading"
        self._record(job)

        summary = UploadSummary()
        records = []
        with open_table(path, sheet_name(kind)) as table:
            sheet = RecordSheet(table.headers, kind)
            for record in sheet.records(table.rows, summary):
                records.append(record)
                if summary.rows - job.rows_read >= READ_PROGRESS_ROWS:
                    job.rows_read = summary.rows
                    self._record(job)
        job.rows_read = job.rows_total = summary.rows
        job.rejected = job.rows_done = summary.rejected
        job.state = "importing"
        self.jobs.add_problems(job.id, summary.problems)
        self._record(job)

        for start in range(0, len(records), self.batch_size):
            batch = records[start : start + self.batch_size]
            taken = UploadSummary()
            _take(self.app, sheet, batch, principal, taken)
            self.on_commit()
            self.jobs.add_problems(job.id, taken.problems)
            job.rows_done += len(batch)
            job.accepted += taken.accepted
            job.duplicate += taken.duplicate
            job.rejected += taken.rejected
            self._record(job)

        job.state = "done"
        self._record(job, finished=True)


# --- the template -----------------------------------------------------------------


def template_sheets(kind: RecordKind) -> list[SheetOut]:
    """The XLSX template: an empty sheet with the Chinese headers, the ID
    number and record id formatted as text, and a sheet of notes."""
    names = columns(kind)
    fields = kind.model.model_fields
    data = SheetOut(
        sheet_name(kind),
        [header_zh(name) for name in names],
        [],
        widths=[max(12, 2 * len(header_zh(name)) + 4) for name in names],
        text_columns=[names.index("record_id"), names.index("id_number")],
    )
    notes = SheetOut(
        "说明",
        ["列 (column)", "字段 (field)", "必需 (required)", "说明 (notes)"],
        [
            [
                header_zh(name),
                name,
                "是" if name in BASE_COLUMNS or fields[name].is_required() else "否",
                BASE_NOTES[name] if name in BASE_NOTES else _note(fields[name]),
            ]
            for name in names
        ]
        + [
            [],
            [
                "",
                "",
                "",
                "One row per record. Headers may be the Chinese ones or the field "
                "names (as in the CSV template). 每行一条记录；列名可用中文或字段名。",
            ],
        ],
        widths=[20, 26, 14, 80],
    )
    return [data, notes]


def _note(info: FieldInfo) -> str:
    """What a fact's cell takes, from its model: the values, bounds, default."""
    parts = [info.description] if info.description else []
    annotation = info.annotation
    if annotation is bool:
        parts.append("是 or 否")
    elif get_origin(annotation) is Literal:
        parts.append("one of " + ", ".join(str(v) for v in get_args(annotation)))
    else:
        number = "a whole number" if annotation is int else "a number"
        bounds = [
            f"{word} {getattr(rule, name)}"
            for rule in info.metadata
            for name, word in (("ge", "from"), ("le", "to"))
            if getattr(rule, name, None) is not None
        ]
        parts.append(" ".join([number, *bounds]))
    if not info.is_required():
        default = info.default
        shown = ("是" if default else "否") if isinstance(default, bool) else default
        parts.append(f"default {shown} when empty")
    return "; ".join(parts)
