"""Departments: upload a month's records as a file, see what was taken and why
not, the month's comparison status, and the plan measures waiting on them."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from fangpin.contracts import DEPARTMENTS
from fangpin.departments import RECORD_KINDS
from web.client import ApiError, UserApi
from web.deps import Api, CurrentUser, Form, Lang
from web.format import CHINA
from web.i18n import translator
from web.render import render
from web.session import User

router = APIRouter()

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MEDIA_TYPES = {
    ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


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


def template_csv(department: str, kind: str) -> str:
    """The columns a file of this kind needs: the record's own, then its facts."""
    found = RECORD_KINDS.get((department, kind))
    if found is None:
        raise HTTPException(404)
    columns = ["record_id", "id_number", "occurred_on", *found.model.model_fields]
    out = io.StringIO()
    csv.writer(out).writerow(columns)
    return out.getvalue()


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


async def department_page(
    request: Request,
    user: User,
    api: UserApi,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    message: str = "",
    result: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    today = datetime.now(CHINA).date()
    month = today.strftime("%Y-%m")
    assignments = waiting_measures(
        await api.get("assistance", "/assignments", waiting_only=True), today
    )
    try:
        status = await api.get("intake", "/departments/status", month=month)
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
            "values": values or {},
            "errors": errors or {},
            "message": message,
            "result": result,
        },
        status_code=status_code,
        user=user,
    )


@router.get("/department", include_in_schema=False)
async def department(request: Request, user: CurrentUser, api: Api) -> Response:
    return await department_page(request, user, api)


@router.get("/department/template/{department}/{kind}.csv", include_in_schema=False)
async def template(department: str, kind: str, _: CurrentUser) -> Response:
    return Response(
        "\ufeff" + template_csv(department, kind),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{department}-{kind}.csv"'
        },
    )


@router.get("/department/rejected/{department}.csv", include_in_schema=False)
async def rejected(department: str, user: CurrentUser, api: Api) -> Response:
    """The month's records that were not taken, with reasons, as a spreadsheet."""
    month = datetime.now(CHINA).strftime("%Y-%m")
    found = await api.get(
        "intake", f"/departments/{department}/rejected", month=month, limit=1000
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
                f'attachment; filename="{department}-{month}-rejected.csv"'
            )
        },
    )


@router.post("/department/upload", include_in_schema=False)
async def upload(
    request: Request, user: CurrentUser, api: Api, lang: Lang, form: Form
) -> Response:
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
        result = await api.post_file(
            "intake",
            f"/departments/{department}/{kind}/records/file",
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
    result["department"] = department
    return await department_page(request, user, api, values=values, result=result)
