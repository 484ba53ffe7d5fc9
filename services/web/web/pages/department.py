"""Departments: upload a month's records as a file and watch its rows go
through, see what was taken and why not, a month's comparison status, and the
plan measures waiting on them."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from fangpin.contracts import DEPARTMENTS
from fangpin.departments import RECORD_KINDS
from web.aid import period_text
from web.client import ApiError, UserApi
from web.deps import Api, CurrentUser, Form, Lang
from web.format import CHINA
from web.i18n import translator
from web.render import render
from web.session import User, language

router = APIRouter()

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MEDIA_TYPES = {
    ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FILE_FORMATS = ("xlsx", "csv")
# The page lists this many of a file's bad rows; the error report has them all.
PROBLEMS_SHOWN = 20
# An upload in these states is still going: its page looks again in a second.
RUNNING = ("queued", "reading", "importing")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
# Nothing was sent to the platform earlier; older months are typing slips.
FIRST_MONTH = "2000-01"


def departments_for(user: User) -> list[str]:
    if user.role == "department" and user.department:
        return [user.department]
    return list(DEPARTMENTS)


def kinds_for(user: User) -> list[tuple[str, str, str]]:
    """(department, kind, Chinese name) of every record kind the user may send."""
    allowed = departments_for(user)
    return [
        (kind.department, kind.kind, kind.name_zh)
        for kind in RECORD_KINDS.values()
        if kind.department in allowed
    ]


def county_month() -> str:
    """This month on the county's clock."""
    return datetime.now(CHINA).strftime("%Y-%m")


def read_month(text: str, current: str) -> tuple[str, str]:
    """The month asked for, or the current one with the i18n key saying why
    the month typed cannot be shown."""
    text = text.strip()
    if not text:
        return current, ""
    if not MONTH.match(text) or text < FIRST_MONTH:
        return current, "dept.month_invalid"
    if text > current:
        return current, "dept.month_future"
    return text, ""


def waiting_measures(
    assignments: list[dict[str, Any]], today: date
) -> list[dict[str, Any]]:
    """The plans' measures waiting on the department, oldest due first; each
    says whether its date has passed and by how many days."""
    rows = []
    for item in assignments:
        due_on = date.fromisoformat(str(item["due_on"])[:10])
        late = (today - due_on).days
        rows.append({**item, "overdue": late > 0, "days_late": max(late, 0)})
    return sorted(rows, key=lambda row: (str(row["due_on"]), str(row["case_id"])))


def kind_name(department: str, kind: str, lang: str) -> str:
    found = RECORD_KINDS.get((department, kind))
    if found is not None and lang == "zh":
        return found.name_zh
    return kind.replace("_", " ")


async def department_page(
    request: Request,
    user: User,
    api: UserApi,
    *,
    month: str = "",
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    message: str = "",
    result: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    t = translator(language(request))
    today = datetime.now(CHINA).date()
    current = today.strftime("%Y-%m")
    chosen, month_error = read_month(month, current)
    assignments = waiting_measures(
        await api.get("assistance", "/assignments", waiting_only=True), today
    )
    try:
        status = await api.get("intake", "/departments/status", month=chosen)
    except ApiError as error:
        if error.status not in (403, 404, 405):
            raise
        status = None
    return render(
        request,
        "department.html",
        {
            "kinds": kinds_for(user),
            "departments": departments_for(user),
            "assignments": assignments,
            "overdue_count": sum(1 for item in assignments if item["overdue"]),
            "own_field": user.role == "department",
            "status": status,
            "month": chosen,
            "this_month": current,
            "first_month": FIRST_MONTH,
            "month_errors": {"month": t(month_error)} if month_error else {},
            "period_text": period_text,
            "kind_name": kind_name,
            "values": values or {},
            "errors": errors or {},
            "message": message,
            "result": result,
            "problems_shown": PROBLEMS_SHOWN,
        },
        status_code=status_code,
        user=user,
    )


@router.get("/department", include_in_schema=False)
async def department(
    request: Request, user: CurrentUser, api: Api, month: str = ""
) -> Response:
    return await department_page(request, user, api, month=month)


@router.get(
    "/department/template/{department}/{kind}.{format}", include_in_schema=False
)
async def template(department: str, kind: str, format: str, api: Api) -> Response:
    """Intake's template of the kind: XLSX with Chinese headers, or CSV headed
    by the field names; the same columns in both."""
    if format not in FILE_FORMATS:
        raise HTTPException(404)
    found = await api.download(
        "intake", f"/departments/{department}/{kind}/template", format=format
    )
    return passed_on(found.content, found.headers)


@router.get("/department/rejected/{department}.csv", include_in_schema=False)
async def rejected(
    department: str, user: CurrentUser, api: Api, month: str = ""
) -> Response:
    """A month's records that were not taken, with reasons, as a spreadsheet."""
    chosen, month_error = read_month(month, county_month())
    if month_error:
        raise HTTPException(404)
    found = await api.get(
        "intake", f"/departments/{department}/rejected", month=chosen, limit=1000
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["record_id", "kind", "outcome", "reason", "arrived_at"])
    for record in found.get("records", []):
        writer.writerow(
            [
                record["record_id"],
                record["kind"],
                record["outcome"],
                record["reason"],
                record["arrived_at"],
            ]
        )
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": (
                f'attachment; filename="{department}-{chosen}-rejected.csv"'
            )
        },
    )


@router.post("/department/upload", include_in_schema=False)
async def upload(
    request: Request, user: CurrentUser, api: Api, lang: Lang, form: Form
) -> Response:
    """Hand the file to intake as a job and follow it on the upload's page."""
    t = translator(lang)
    values = {"kind": form.get("kind", "")}
    errors: dict[str, str] = {}
    department, _, kind = values["kind"].partition("/")
    if (department, kind) not in {(d, k) for d, k, _ in kinds_for(user)}:
        errors["kind"] = "Field required"
    file = (await request.form()).get("file")
    content = b""
    if not isinstance(file, UploadFile) or not file.filename:
        errors["file"] = "Field required"
    else:
        content = await file.read(MAX_UPLOAD_BYTES + 1)
        if len(content) > MAX_UPLOAD_BYTES:
            errors["file"] = t("dept.too_large")
    if errors:
        return await department_page(
            request, user, api, values=values, errors=errors, status_code=422
        )
    assert isinstance(file, UploadFile) and file.filename
    suffix = "." + file.filename.rsplit(".", 1)[-1].lower()
    try:
        job = await api.post_file(
            "intake",
            f"/departments/{department}/{kind}/uploads",
            file.filename,
            content,
            MEDIA_TYPES.get(suffix, "application/octet-stream"),
        )
    except ApiError as error:
        if error.status >= 500:
            raise
        return await department_page(
            request,
            user,
            api,
            values=values,
            errors={"file": error.message} if error.message else error.fields,
            status_code=error.status,
        )
    return RedirectResponse(f"/department/uploads/{job['id']}", status_code=303)


@router.get("/department/uploads/{upload_id}", include_in_schema=False)
async def upload_progress(
    request: Request, upload_id: str, user: CurrentUser, api: Api, lang: Lang
) -> Response:
    """While intake works through the file, a page that looks again every
    second; then the department page with the upload's result."""
    job = await api.get("intake", f"/departments/uploads/{checked_id(upload_id)}")
    if job["state"] not in RUNNING:
        values = {"kind": f"{job['department']}/{job['kind']}"}
        return await department_page(request, user, api, values=values, result=job)
    total = job["rows_total"]
    return render(
        request,
        "department_upload.html",
        {
            "job": job,
            "kind_label": kind_name(job["department"], job["kind"], lang),
            "percent": (100 * job["rows_done"] // total) if total else 0,
        },
        user=user,
    )


@router.get("/department/uploads/{upload_id}/errors.{format}", include_in_schema=False)
async def upload_errors(upload_id: str, format: str, api: Api) -> Response:
    """Every rejected row of the upload with its column and reason, from intake."""
    if format not in FILE_FORMATS:
        raise HTTPException(404)
    found = await api.download(
        "intake",
        f"/departments/uploads/{checked_id(upload_id)}/errors",
        format=format,
    )
    return passed_on(found.content, found.headers)


def checked_id(text: str) -> uuid.UUID:
    """An upload's id as typed into the address; anything else is not found."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise HTTPException(404) from None


def passed_on(content: bytes, headers: Any) -> Response:
    """A service's file with its type and name, and nothing else of its headers."""
    kept = {
        key: value
        for key, value in headers.items()
        if key.lower() in ("content-type", "content-disposition")
    }
    return Response(content, headers=kept)
