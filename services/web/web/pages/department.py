"""Departments: upload a month's records, see what was accepted and why not,
and the plan measures waiting on them."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from fangpin.contracts import DEPARTMENTS
from web.client import ApiError, UserApi
from web.deps import Api, CurrentUser, Form, Lang
from web.i18n import translator
from web.render import render
from web.session import User

router = APIRouter()

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
REQUIRED_COLUMNS = ("record_id", "id_number", "occurred_on")
TEMPLATE = (
    "record_id,id_number,occurred_on,total_cost,reimbursed,out_of_pocket\r\n"
    "MED-2026-000001,510904196201010011,2026-01-15,48000.00,30500.00,17500.00\r\n"
)


class BadFile(ValueError):
    """The upload is not a CSV file the page can read; the text says why."""


def fact_value(text: str) -> float | int | bool | str:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text) if text.lstrip("-").isdigit() else float(text)
    except ValueError:
        return text


def parse_records(raw: bytes) -> list[dict[str, Any]]:
    """CSV with a header line; spreadsheets saved as CSV in GBK are read too."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise BadFile("not UTF-8 or GBK text")
    reader = csv.DictReader(io.StringIO(text))
    columns = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise BadFile("missing columns: " + ", ".join(missing))
    records = []
    for row in reader:
        cells = {
            (name or "").strip(): (value or "").strip() for name, value in row.items()
        }
        if not any(cells.values()):
            continue
        record: dict[str, Any] = {
            name: cells[name] for name in REQUIRED_COLUMNS if cells.get(name)
        }
        record["facts"] = {
            name: fact_value(value)
            for name, value in cells.items()
            if name and name not in REQUIRED_COLUMNS and value
        }
        records.append(record)
    return records


def departments_for(user: User) -> list[str]:
    if user.role == "department" and user.department:
        return [user.department]
    return list(DEPARTMENTS)


async def department_page(
    request: Request,
    user: User,
    api: UserApi,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    message: str = "",
    outcomes: list[dict[str, Any]] | None = None,
    status_code: int = 200,
) -> Response:
    assignments = await api.get("assistance", "/assignments")
    return render(
        request,
        "department.html",
        {
            "departments": departments_for(user),
            "assignments": assignments,
            "values": values or {},
            "errors": errors or {},
            "message": message,
            "outcomes": outcomes,
            "accepted": sum(1 for o in outcomes or [] if o["outcome"] == "accepted"),
            "rejected": sum(1 for o in outcomes or [] if o["outcome"] != "accepted"),
        },
        status_code=status_code,
        user=user,
    )


@router.get("/department", include_in_schema=False)
async def department(request: Request, user: CurrentUser, api: Api) -> Response:
    return await department_page(request, user, api)


@router.get("/department/template.csv", include_in_schema=False)
async def template(_: CurrentUser) -> Response:
    return Response(
        "\ufeff" + TEMPLATE,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="records-template.csv"'},
    )


def row_errors(error: ApiError, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation problems of ``records.N.field`` as rows of the file."""
    rows = []
    for field, reason in error.fields.items():
        parts = field.split(".")
        if parts[0] == "records" and len(parts) > 1 and parts[1].isdigit():
            index = int(parts[1])
            rows.append(
                {
                    "row": index + 2,
                    "record_id": records[index].get("record_id", ""),
                    "outcome": "rejected",
                    "reason": f"{'.'.join(parts[2:])}: {reason}",
                }
            )
    return sorted(rows, key=lambda row: row["row"])


@router.post("/department/upload", include_in_schema=False)
async def upload(
    request: Request, user: CurrentUser, api: Api, lang: Lang, form: Form
) -> Response:
    t = translator(lang)
    values = {name: form.get(name, "") for name in ("department", "kind")}
    errors: dict[str, str] = {}
    if values["department"] not in departments_for(user):
        errors["department"] = t("error.forbidden")
    if not values["kind"].strip():
        errors["kind"] = "Field required"
    file = (await request.form()).get("file")
    records: list[dict[str, Any]] = []
    if not isinstance(file, UploadFile) or not file.filename:
        errors["file"] = "Field required"
    else:
        raw = await file.read(MAX_UPLOAD_BYTES + 1)
        try:
            if len(raw) > MAX_UPLOAD_BYTES:
                raise BadFile("larger than 5 MB")
            records = parse_records(raw)
        except BadFile as error:
            errors["file"] = t("dept.bad_file", reason=str(error))
        else:
            if not records:
                errors["file"] = t("dept.no_rows")
    if errors:
        return await department_page(
            request, user, api, values=values, errors=errors, status_code=422
        )
    path = f"/departments/{values['department']}/{values['kind'].strip()}/records"
    try:
        answer = await api.post("intake", path, {"records": records})
    except ApiError as error:
        if error.status >= 500:
            raise
        rows = row_errors(error, records)
        return await department_page(
            request,
            user,
            api,
            values=values,
            errors={} if rows else error.fields,
            message=error.message,
            outcomes=rows or None,
            status_code=error.status,
        )
    outcomes = [
        {"row": index + 2, **outcome} for index, outcome in enumerate(answer or [])
    ]
    return await department_page(
        request, user, api, values=values, outcomes=outcomes
    )
