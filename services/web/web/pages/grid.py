"""Grid monitors (and village and town officials): find a household of their
own grid and report a problem in a few taps."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from web.client import ApiError, UserApi
from web.deps import Api, CurrentUser, Form, Lang
from web.format import CHINA
from web.i18n import translator
from web.render import render
from web.session import User

router = APIRouter()

CATEGORIES = (
    "illness",
    "accident",
    "disaster",
    "schooling",
    "housing",
    "drinking_water",
    "income_drop",
    "employment",
    "other",
)


async def my_reports(api: UserApi) -> list[dict[str, Any]] | None:
    """Intake's list of the user's reports, or None while intake has none."""
    try:
        found = await api.get("intake", "/reports")
    except ApiError as error:
        if error.status in (404, 405):
            return None
        raise
    if isinstance(found, dict):
        found = found.get("reports") or found.get("items") or []
    return list(found or [])


async def grid_page(
    request: Request,
    user: User,
    api: UserApi,
    lang: str,
    *,
    household_id: str = "",
    errors: dict[str, str] | None = None,
    message: str = "",
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    errors = dict(errors or {})
    household = None
    if household_id:
        try:
            UUID(household_id)
        except ValueError:
            errors["household_id"] = translator(lang)("error.invalid_id")
        else:
            try:
                household = await api.get("intake", f"/households/{household_id}")
            except ApiError as error:
                if error.status >= 500:
                    raise
                errors["household_id"] = error.message or translator(lang)(
                    "error.not_found"
                )
    return render(
        request,
        "grid.html",
        {
            "household_id": household_id,
            "household": household,
            "reports": await my_reports(api),
            "categories": CATEGORIES,
            "today": datetime.now(CHINA).date().isoformat(),
            "reported": request.query_params.get("reported") == "1",
            "errors": errors,
            "message": message,
            "values": values or {},
        },
        status_code=status_code,
        user=user,
    )


@router.get("/grid", include_in_schema=False)
async def grid(
    request: Request,
    user: CurrentUser,
    api: Api,
    lang: Lang,
    household_id: str = "",
) -> Response:
    return await grid_page(request, user, api, lang, household_id=household_id.strip())


@router.post("/grid/reports", include_in_schema=False)
async def report(
    request: Request, user: CurrentUser, api: Api, lang: Lang, form: Form
) -> Response:
    body = {
        name: form[name].strip()
        for name in ("household_id", "category", "description", "observed_on")
        if form.get(name, "").strip()
    }
    if form.get("amount", "").strip():
        body["amount"] = form["amount"].strip()
    try:
        await api.post("intake", "/reports", body)
    except ApiError as error:
        if error.status >= 500:
            raise
        return await grid_page(
            request,
            user,
            api,
            lang,
            household_id=form.get("household_id", "").strip(),
            errors=error.fields,
            message=error.message,
            values=form,
            status_code=error.status,
        )
    return RedirectResponse("/grid?reported=1", status_code=303)
