"""Department records uploaded as a file (XLSX or CSV): the columns record_id,
id_number and occurred_on, then one column per fact of the record kind."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from fangpin.auth import Principal
from fangpin.departments import RecordKind
from intake.application import DepartmentRecordIn, IntakeApplication, RecordResult
from intake.domain import NO_MATCH
from intake.errors import BadFile
from intake.registryfile import Problem
from intake.spreadsheet import Table, Value

BASE_COLUMNS = ("record_id", "id_number", "occurred_on")
MAX_ROWS = 100_000
BATCH = 500
# Day 0 of Excel's 1900 date system, as the serial numbers of date cells count.
EXCEL_EPOCH = date(1899, 12, 30)
TRUE_WORDS = {"是", "true", "yes", "1", "y"}
FALSE_WORDS = {"否", "false", "no", "0", "n"}


@dataclass
class UploadSummary:
    rows: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    problems: list[Problem] = field(default_factory=list)


class RecordSheet:
    """Checks the header row against the kind's facts; raises :class:`BadFile`
    naming the missing and unknown columns."""

    def __init__(self, headers: list[str], kind: RecordKind):
        self.kind = kind
        self.index: dict[str, int] = {}
        fields = kind.model.model_fields
        unknown = []
        for position, header in enumerate(headers):
            name = unicodedata.normalize("NFKC", header).strip().lower()
            if name in self.index:
                raise BadFile(f"the column {name} appears twice")
            if name in BASE_COLUMNS or name in fields:
                self.index[name] = position
            elif name:
                unknown.append(name)
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
                f"{', '.join([*BASE_COLUMNS, *fields])}"
            )
        self.booleans = {
            name for name, info in fields.items() if info.annotation is bool
        }

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
                summary.problems.append(Problem(number, problem.column, str(problem)))

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
        _take(app, kind, records[start : start + BATCH], principal, summary)
    summary.problems.sort(key=lambda problem: problem.row)
    return summary


def _take(
    app: IntakeApplication,
    kind: RecordKind,
    batch: list[tuple[int, DepartmentRecordIn]],
    principal: Principal,
    summary: UploadSummary,
) -> None:
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
                Problem(row, _column_of(result), result.reason or "")
            )


def _column_of(result: RecordResult) -> str:
    """The column a rejection's reason names: ``facts.<name>: ...`` or
    ``id_number: ...``; a record that matches nobody is its ID number's fault."""
    reason = result.reason or ""
    if reason == NO_MATCH:
        return "id_number"
    field_name = reason.split(":", 1)[0]
    return field_name.removeprefix("facts.").split(".")[0]
