"""Intake's HTTP interface."""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field, field_validator

from fangpin import departments
from fangpin.areas import county_today
from fangpin.auth import CurrentPrincipal, Principal
from fangpin.contracts import DEPARTMENTS, Role
from fangpin.idnumber import mask
from fangpin.service import RetryLostRace, Runtime, runtime_of
from intake.application import (
    DepartmentRecordIn,
    HouseholdIn,
    IntakeApplication,
    ProblemIn,
)
from intake.errors import BadFile, NotAllowed, UnknownRecordKind
from intake.feeds import (
    RecordFileUploads,
    columns,
    sheet_name,
    upload_file,
)
from intake.feeds import template_sheets as record_template_sheets
from intake.imports import PROBLEM_HEADERS, Importer, ImportJob, problem_rows
from intake.registry import age_on
from intake.registryfile import template_sheets
from intake.search import LONGEST_QUERY, HouseholdFinder, SearchTerms, head_of
from intake.spreadsheet import (
    CSV_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    SheetOut,
    Value,
    csv_bytes,
    open_table,
    xlsx_bytes,
)
from intake.survey import SurveyIn
from intake.views import IntakeView

router = APIRouter(route_class=RetryLostRace)
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
PROBLEMS_SHOWN = 100
Month = Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
FileFormat = Annotated[Literal["xlsx", "csv"], Query()]


def intake(request: Request) -> IntakeApplication:
    app = runtime_of(request).app
    assert isinstance(app, IntakeApplication)
    return app


def view(request: Request) -> IntakeView:
    found: IntakeView = request.app.state.view
    return found


def importer(request: Request) -> Importer:
    found: Importer = request.app.state.importer
    return found


def finder(request: Request) -> HouseholdFinder:
    found: HouseholdFinder = request.app.state.finder
    return found


def record_uploads(request: Request) -> RecordFileUploads:
    found: RecordFileUploads = request.app.state.uploads
    return found


Intake = Annotated[IntakeApplication, Depends(intake)]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]
View = Annotated[IntakeView, Depends(view)]
Imports = Annotated[Importer, Depends(importer)]
Finder = Annotated[HouseholdFinder, Depends(finder)]
Uploads = Annotated[RecordFileUploads, Depends(record_uploads)]


class Created(BaseModel):
    id: UUID


# --- the household registry -----------------------------------------------------


class MemberOut(BaseModel):
    name: str
    id_number_masked: str
    relation: str
    sex: str
    age: int
    labour_capacity: str
    disability_grade: int | None
    health: str
    schooling: str


class IncomeOut(BaseModel):
    year: int
    per_capita_net_income: Decimal
    sources: dict[str, Decimal]


class SurveyedFact(BaseModel):
    value: float | int | bool
    surveyed_on: date


class HouseholdOut(BaseModel):
    household_id: UUID
    household_number: str | None
    area_code: str
    village_group: str
    poverty_status: str
    left_poverty_year: int | None
    phone: str | None
    housing_rating: str | None
    drinking_water_ok: bool | None
    members: list[MemberOut]
    facts: dict[str, float | int | bool | str]
    incomes: list[IncomeOut]
    survey: dict[str, SurveyedFact] = Field(
        default_factory=dict,
        description="each fact's value from its latest home-visit survey",
    )


class Revised(BaseModel):
    id: UUID
    outcome: str
    changed: list[str]
    income_years: list[int]


@router.post("/households", status_code=201, response_model=Created, tags=["registry"])
def register_household(
    form: HouseholdIn, principal: CurrentPrincipal, app: Intake, runtime: RuntimeDep
) -> Created:
    """Register a household with its members (ID numbers are checked)."""
    household_id = app.register_household(form, principal)
    runtime.committed()
    return Created(id=household_id)


@router.put("/households/{household_id}", response_model=Revised, tags=["registry"])
def revise_household(
    household_id: UUID,
    form: HouseholdIn,
    principal: CurrentPrincipal,
    app: Intake,
    runtime: RuntimeDep,
) -> Revised:
    """Replace a household's entry; the answer names what changed (maybe nothing)."""
    saved = app.update_household(household_id, form, principal)
    runtime.committed()
    return Revised(
        id=saved.household_id,
        outcome=saved.outcome,
        changed=saved.changed,
        income_years=saved.income_years,
    )


@router.get(
    "/households/{household_id}", response_model=HouseholdOut, tags=["registry"]
)
def get_household(
    household_id: UUID, principal: CurrentPrincipal, app: Intake
) -> HouseholdOut:
    """A household's entry; ID numbers are shown masked."""
    household = app.household(household_id, principal)
    today = county_today()
    return HouseholdOut(
        household_id=household.id,
        household_number=household.household_number,
        area_code=household.area_code,
        village_group=household.village_group,
        poverty_status=household.poverty_status,
        left_poverty_year=household.left_poverty_year,
        phone=household.phone,
        housing_rating=household.housing_rating,
        drinking_water_ok=household.drinking_water_ok,
        members=[
            MemberOut(
                name=member["name"],
                id_number_masked=mask(member["id_number"]),
                relation=member["relation"],
                sex=member["sex"],
                age=age_on(date.fromisoformat(member["birth_date"]), today),
                labour_capacity=member["labour_capacity"],
                disability_grade=member["disability_grade"],
                health=member["health"],
                schooling=member["schooling"],
            )
            for member in household.members
        ],
        facts=household.facts,
        incomes=[
            IncomeOut(year=year, per_capita_net_income=income, sources=sources)
            for year, (income, sources) in sorted(household.incomes.items())
        ],
        survey={
            name: SurveyedFact.model_validate(standing)
            for name, standing in household.survey.items()
        },
    )


class SearchIn(BaseModel):
    q: str = Field(
        max_length=LONGEST_QUERY,
        description="part of a member's name (2 characters or more), the last 4 "
        "to 6 characters of a member's ID number, or all 18",
    )
    limit: int = Field(default=20, ge=1, le=50)

    @field_validator("q")
    @classmethod
    def searchable(cls, value: str) -> str:
        SearchTerms.parse(value)
        return value


class MatchedMember(BaseModel):
    name: str
    relation: str
    id_number_masked: str


class FoundHousehold(BaseModel):
    household_id: UUID
    household_number: str | None
    area_code: str
    village_group: str
    head_name: str
    head_id_number_masked: str
    member_count: int
    matched: list[MatchedMember] = Field(description="the members the query found")


class HouseholdMatches(BaseModel):
    households: list[FoundHousehold]
    more: bool = Field(description="more households match: give more of the name")


@router.post("/households/search", response_model=HouseholdMatches, tags=["registry"])
def search_households(
    form: SearchIn, principal: CurrentPrincipal, households: Finder
) -> HouseholdMatches:
    """Find households of your grid (officials: of your area) by a member's name or
    ID number; ID numbers are shown masked.

    The query travels in the body, not the address: addresses end up in logs and
    browser histories, and a name or ID number must not.
    """
    found = households.find(SearchTerms.parse(form.q), principal, form.limit)
    return HouseholdMatches(
        households=[
            FoundHousehold(
                household_id=match.household.id,
                household_number=match.household.household_number,
                area_code=match.household.area_code,
                village_group=match.household.village_group,
                head_name=head["name"],
                head_id_number_masked=mask(head["id_number"]),
                member_count=match.household.member_count,
                matched=[
                    MatchedMember(
                        name=member["name"],
                        relation=member["relation"],
                        id_number_masked=mask(member["id_number"]),
                    )
                    for member in match.members
                ],
            )
            for match in found.households
            for head in [head_of(match.household)]
        ],
        more=found.more,
    )


# --- registry imports -------------------------------------------------------------


class ProblemOut(BaseModel):
    row: int
    household_number: str | None
    column: str
    reason: str


class ImportOut(BaseModel):
    id: UUID
    state: str
    file_name: str
    format: str
    rows_read: int
    rows_total: int | None
    rows_done: int
    accepted: int
    rejected: int
    households: int
    registered: int
    updated: int
    unchanged: int
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    problems: list[ProblemOut] = Field(
        description=f"the first {PROBLEMS_SHOWN} rejected rows; all of them in the "
        "error file"
    )
    errors_url: str


def _job_out(job: ImportJob, imports: Importer) -> ImportOut:
    problems = imports.jobs.problems(job.id, PROBLEMS_SHOWN)
    return ImportOut(
        id=job.id,
        state=job.shown_state(datetime.now(UTC)),
        file_name=job.file_name,
        format=job.format,
        rows_read=job.rows_read,
        rows_total=job.rows_total,
        rows_done=job.rows_done,
        accepted=job.accepted,
        rejected=job.rejected,
        households=job.households,
        registered=job.registered,
        updated=job.updated,
        unchanged=job.unchanged,
        error=job.error,
        created_at=job.created_at,
        updated_at=job.updated_at,
        finished_at=job.finished_at,
        problems=[
            ProblemOut(
                row=p.row,
                household_number=p.household_number,
                column=p.column,
                reason=p.reason,
            )
            for p in problems
        ],
        errors_url=f"/imports/{job.id}/errors",
    )


def _saved_upload(upload: UploadFile) -> Path:
    """The upload in a file of our own, which outlives the request."""
    suffix = Path(upload.filename or "").suffix[:10]
    with tempfile.NamedTemporaryFile(
        prefix="fangpin-upload-", suffix=suffix, delete=False
    ) as target:
        shutil.copyfileobj(upload.file, target, length=1024 * 1024)
        size = target.tell()
    if size > MAX_UPLOAD_BYTES:
        Path(target.name).unlink(missing_ok=True)
        raise BadFile(f"the file is larger than {MAX_UPLOAD_BYTES // 2**20} MB")
    return Path(target.name)


def _download(content: bytes, media_type: str, name: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/imports/template", tags=["registry imports"])
def import_template(
    principal: CurrentPrincipal, format: FileFormat = "xlsx"
) -> Response:
    """The registry template: one row per member, notes on a second sheet."""
    members, _ = sheets = template_sheets()
    if format == "csv":
        return _download(
            csv_bytes(members.headers, []), CSV_MEDIA_TYPE, "registry-template.csv"
        )
    return _download(xlsx_bytes(sheets), XLSX_MEDIA_TYPE, "registry-template.xlsx")


@router.post(
    "/imports", status_code=202, response_model=ImportOut, tags=["registry imports"]
)
def start_import(
    file: Annotated[UploadFile, File(description="XLSX or CSV, as the template")],
    principal: CurrentPrincipal,
    imports: Imports,
    response: Response,
) -> ImportOut:
    """Import a registry file in the background; follow it at the job's address.

    A file that is not XLSX or CSV, or whose headers do not fit the template, is
    refused at once.
    """
    path = _saved_upload(file)
    try:
        job = imports.submit(path, file.filename or "upload", principal)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    response.headers["Location"] = f"/imports/{job.id}"
    return _job_out(job, imports)


@router.get("/imports/{import_id}", response_model=ImportOut, tags=["registry imports"])
def get_import(
    import_id: UUID, principal: CurrentPrincipal, imports: Imports
) -> ImportOut:
    """An import's progress: rows done of the total, accepted and rejected."""
    return _job_out(imports.job(import_id, principal), imports)


@router.get("/imports/{import_id}/errors", tags=["registry imports"])
def import_errors(
    import_id: UUID,
    principal: CurrentPrincipal,
    imports: Imports,
    format: FileFormat = "xlsx",
) -> Response:
    """Every rejected row with its column and reason, as a file."""
    job = imports.job(import_id, principal)
    rows = list(problem_rows(imports.jobs.problems(job.id)))
    name = f"import-{job.id}-errors.{format}"
    return _error_file(name, format, PROBLEM_HEADERS, rows, widths=[10, 16, 14, 80])


def _error_file(
    name: str,
    format: FileFormat,
    headers: list[str],
    rows: list[list[Value]],
    widths: list[int],
) -> Response:
    """Rejected rows with their column and reason, as the file format asked."""
    if format == "csv":
        return _download(csv_bytes(headers, rows), CSV_MEDIA_TYPE, name)
    sheet = SheetOut("错误 (errors)", headers, rows, widths=widths)
    return _download(xlsx_bytes([sheet]), XLSX_MEDIA_TYPE, name)


# --- grid reports -----------------------------------------------------------------


class ReportOut(BaseModel):
    report_id: UUID
    household_id: UUID
    area_code: str
    village_group: str
    category: str
    observed_on: date
    amount: Decimal | None
    urgent: bool
    status: str = Field(description="as far as intake knows: reported")
    reported_at: datetime


class ReportPage(BaseModel):
    total: int
    reports: list[ReportOut]


@router.post("/reports", status_code=201, response_model=Created, tags=["grid reports"])
def report_problem(
    form: ProblemIn, principal: CurrentPrincipal, app: Intake, runtime: RuntimeDep
) -> Created:
    """A grid monitor reports a problem seen in a household of their own grid."""
    report_id = app.report_problem(form, principal)
    runtime.committed()
    return Created(id=report_id)


@router.get("/reports", response_model=ReportPage, tags=["grid reports"])
def list_reports(
    principal: CurrentPrincipal,
    reports: View,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ReportPage:
    """A grid monitor's own reports in their grid; officials see their area's."""
    if principal.role is Role.GRID_MONITOR:
        page = reports.reports(
            principal.area_code,
            principal.village_group,
            principal.user_id,
            limit,
            offset,
        )
    elif principal.role in (Role.VILLAGE, Role.TOWN, Role.DISTRICT, Role.AUDITOR):
        page = reports.reports(principal.area_code, None, None, limit, offset)
    else:
        raise NotAllowed("grid reports are read by grid monitors and officials")
    return ReportPage.model_validate(page)


# --- household surveys -------------------------------------------------------------


class SurveyOut(BaseModel):
    household_id: UUID
    surveyed_on: date
    recorded: list[str] = Field(description="the facts this survey gave")
    superseded: list[str] = Field(
        description="of those, the ones a later survey gave: its values stand"
    )


@router.post(
    "/households/{household_id}/survey",
    status_code=201,
    response_model=SurveyOut,
    tags=["household surveys"],
)
def survey_household(
    household_id: UUID,
    form: SurveyIn,
    principal: CurrentPrincipal,
    app: Intake,
    runtime: RuntimeDep,
) -> SurveyOut:
    """Record what a home visit (入户走访) found; each fact's latest survey stands."""
    superseded = app.survey_household(household_id, form, principal)
    runtime.committed()
    return SurveyOut(
        household_id=household_id,
        surveyed_on=form.surveyed_on,
        recorded=sorted(form.given()),
        superseded=superseded,
    )


# --- department data ----------------------------------------------------------------


class RecordOutcome(BaseModel):
    record_id: str
    outcome: Literal["accepted", "duplicate", "rejected"]
    reason: str | None = None


class Upload(BaseModel):
    records: list[DepartmentRecordIn] = Field(min_length=1, max_length=10_000)


class RowProblemOut(BaseModel):
    row: int
    column: str
    reason: str


class FileUploadOut(BaseModel):
    rows: int
    accepted: int
    duplicate: int
    rejected: int
    problems: list[RowProblemOut]


class DepartmentStatus(BaseModel):
    department: str
    records: int
    first_arrival: datetime | None
    last_arrival: datetime | None
    matched: int
    unmatched: int
    rejected: int
    households_touched: int


class StatusOut(BaseModel):
    month: str
    departments: list[DepartmentStatus]


class RejectedOut(BaseModel):
    record_id: str
    kind: str
    outcome: Literal["unmatched", "invalid"]
    reason: str
    arrived_at: datetime


class RejectedPage(BaseModel):
    total: int
    records: list[RejectedOut]


class RecordUploadOut(BaseModel):
    id: UUID
    state: str = Field(
        description="queued, reading, importing, then done, failed or interrupted"
    )
    department: str
    kind: str
    file_name: str
    format: str
    rows_read: int
    rows_total: int | None = Field(description="known once the file is read")
    rows_done: int
    accepted: int
    duplicate: int
    rejected: int
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    problems: list[RowProblemOut] = Field(
        description=f"the first {PROBLEMS_SHOWN} rejected rows; all of them in the "
        "error file"
    )
    errors_url: str


UPLOAD_PROBLEM_HEADERS = ["行号 (row)", "列 (column)", "原因 (reason)"]


@router.get("/departments/schemas", tags=["department data"])
def record_schemas(principal: CurrentPrincipal) -> dict[str, Any]:
    """JSON Schema of every record kind, keyed ``<department>.<kind>.v<version>``."""
    return departments.record_schemas()


@router.get("/departments/status", response_model=StatusOut, tags=["department data"])
def comparison_status(
    principal: CurrentPrincipal, status: View, month: Month = None
) -> StatusOut:
    """Data comparison (数据比对) for a month: what each department sent, and
    what became of it. A department sees only its own line."""
    month = month or county_today().strftime("%Y-%m")
    if principal.role is Role.DEPARTMENT and principal.department:
        shown = [principal.department]
    elif principal.role in (Role.DISTRICT, Role.AUDITOR):
        shown = list(DEPARTMENTS)
    else:
        raise NotAllowed("the comparison status is for the district and departments")
    found = {
        row["department"]: row
        for row in status.status(month, None if len(shown) > 1 else shown[0])
    }
    return StatusOut(
        month=month,
        departments=[
            DepartmentStatus.model_validate(found[name])
            if name in found
            else DepartmentStatus(
                department=name,
                records=0,
                first_arrival=None,
                last_arrival=None,
                matched=0,
                unmatched=0,
                rejected=0,
                households_touched=0,
            )
            for name in shown
        ],
    )


@router.get("/departments/{department}/{kind}/template", tags=["department data"])
def record_template(
    department: str,
    kind: str,
    principal: CurrentPrincipal,
    format: FileFormat = "xlsx",
) -> Response:
    """A kind's file template: XLSX with Chinese headers and a sheet of notes, or
    CSV headed by the field names; both have the same columns."""
    found = _record_kind(department, kind)
    name = f"{department}-{kind}"
    if format == "csv":
        return _download(csv_bytes(columns(found), []), CSV_MEDIA_TYPE, f"{name}.csv")
    return _download(
        xlsx_bytes(record_template_sheets(found)), XLSX_MEDIA_TYPE, f"{name}.xlsx"
    )


@router.post(
    "/departments/{department}/{kind}/uploads",
    status_code=202,
    response_model=RecordUploadOut,
    tags=["department data"],
)
def start_record_upload(
    department: str,
    kind: str,
    file: Annotated[UploadFile, File(description="XLSX or CSV, as the template")],
    principal: CurrentPrincipal,
    uploads: Uploads,
    response: Response,
) -> RecordUploadOut:
    """Take a file of records in the background; follow it at the job's address.

    A file that is not XLSX or CSV, or whose headers do not fit the kind, is
    refused at once, naming the field ``file``.
    """
    record_kind = _may_send_for(principal, department, kind)
    try:
        path = _saved_upload(file)
    except BadFile as error:
        raise type(error)(error.reason, "file") from None
    try:
        job = uploads.submit(path, file.filename or "upload", record_kind, principal)
    except BadFile as error:
        path.unlink(missing_ok=True)
        raise type(error)(error.reason, "file") from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    response.headers["Location"] = f"/departments/uploads/{job.id}"
    return _upload_out(job, uploads)


@router.get(
    "/departments/uploads/{upload_id}",
    response_model=RecordUploadOut,
    tags=["department data"],
)
def get_record_upload(
    upload_id: UUID, principal: CurrentPrincipal, uploads: Uploads
) -> RecordUploadOut:
    """An upload's progress: rows done of the total, accepted, duplicate and
    rejected."""
    return _upload_out(uploads.job(upload_id, principal), uploads)


@router.get("/departments/uploads/{upload_id}/errors", tags=["department data"])
def record_upload_errors(
    upload_id: UUID,
    principal: CurrentPrincipal,
    uploads: Uploads,
    format: FileFormat = "xlsx",
) -> Response:
    """Every rejected row of the upload with its column and reason, as a file."""
    job = uploads.job(upload_id, principal)
    rows: list[list[Value]] = [
        [p.row, p.column, p.reason] for p in uploads.jobs.problems(job.id)
    ]
    name = f"upload-{job.id}-errors.{format}"
    return _error_file(name, format, UPLOAD_PROBLEM_HEADERS, rows, widths=[10, 18, 80])


def _upload_out(job: ImportJob, uploads: RecordFileUploads) -> RecordUploadOut:
    problems = uploads.jobs.problems(job.id, PROBLEMS_SHOWN)
    return RecordUploadOut(
        id=job.id,
        state=job.shown_state(datetime.now(UTC)),
        department=job.department or "",
        kind=job.record_kind or "",
        file_name=job.file_name,
        format=job.format,
        rows_read=job.rows_read,
        rows_total=job.rows_total,
        rows_done=job.rows_done,
        accepted=job.accepted,
        duplicate=job.duplicate,
        rejected=job.rejected,
        error=job.error,
        created_at=job.created_at,
        updated_at=job.updated_at,
        finished_at=job.finished_at,
        problems=[
            RowProblemOut(row=p.row, column=p.column, reason=p.reason) for p in problems
        ],
        errors_url=f"/departments/uploads/{job.id}/errors",
    )


@router.get(
    "/departments/{department}/rejected",
    response_model=RejectedPage,
    tags=["department data"],
)
def rejected_records(
    department: str,
    principal: CurrentPrincipal,
    status: View,
    month: Month = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> RejectedPage:
    """A department's records that were not taken, newest first, with reasons."""
    _may_see(principal, department)
    return RejectedPage.model_validate(
        status.rejected(department, month, limit, offset)
    )


@router.post(
    "/departments/{department}/{kind}/records",
    response_model=list[RecordOutcome],
    tags=["department data"],
)
def upload_records(
    department: str,
    kind: str,
    upload: Upload,
    principal: CurrentPrincipal,
    app: Intake,
    runtime: RuntimeDep,
) -> list[RecordOutcome]:
    """A department without NATS sends the same records over HTTP."""
    _may_send_for(principal, department, kind)
    results = app.receive_upload(department, kind, upload.records, principal)
    runtime.committed()
    return [
        RecordOutcome(
            record_id=result.record_id, outcome=result.outcome, reason=result.reason
        )
        for result in results
    ]


@router.post(
    "/departments/{department}/{kind}/records/file",
    response_model=FileUploadOut,
    tags=["department data"],
)
def upload_record_file(
    department: str,
    kind: str,
    file: Annotated[UploadFile, File(description="XLSX or CSV")],
    principal: CurrentPrincipal,
    app: Intake,
    runtime: RuntimeDep,
) -> FileUploadOut:
    """Records as a file: columns record_id, id_number, occurred_on and one per
    fact of the kind (see GET /departments/schemas)."""
    record_kind = _may_send_for(principal, department, kind)
    path = _saved_upload(file)
    try:
        with open_table(path, sheet_name(record_kind)) as table:
            summary = upload_file(app, table, record_kind, principal)
    finally:
        path.unlink(missing_ok=True)
    runtime.committed()
    return FileUploadOut(
        rows=summary.rows,
        accepted=summary.accepted,
        duplicate=summary.duplicate,
        rejected=summary.rejected,
        problems=[
            RowProblemOut(row=p.row, column=p.column, reason=p.reason)
            for p in summary.problems
        ],
    )


def _may_see(principal: Principal, department: str) -> None:
    if department not in DEPARTMENTS:
        raise UnknownRecordKind(f"unknown department {department!r}", "department")
    if principal.role in (Role.DISTRICT, Role.AUDITOR):
        return
    if principal.role is not Role.DEPARTMENT or principal.department != department:
        raise NotAllowed("a department sees only its own records")


def _may_send_for(
    principal: Principal, department: str, kind: str
) -> departments.RecordKind:
    if department not in DEPARTMENTS:
        raise UnknownRecordKind(f"unknown department {department!r}", "department")
    if principal.role is not Role.DISTRICT and (
        principal.role is not Role.DEPARTMENT or principal.department != department
    ):
        raise NotAllowed("you may only send records of your own department")
    return _record_kind(department, kind)


def _record_kind(department: str, kind: str) -> departments.RecordKind:
    if department not in DEPARTMENTS:
        raise UnknownRecordKind(f"unknown department {department!r}", "department")
    try:
        return departments.record_kind(department, kind)
    except departments.UnknownRecordKind as error:
        raise UnknownRecordKind(str(error), "kind") from None
