"""The district office (and auditors, town officials for their area): overview
with charts, the indicator catalogue, time limits and budgets."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from web.client import ApiError, UserApi
from web.deps import Api, CurrentUser, Form, Lang
from web.format import CHINA, area_name, measure_name
from web.i18n import translator
from web.render import render
from web.session import User

router = APIRouter()


async def _optional(call: Any) -> Any:
    try:
        return await call
    except ApiError as error:
        if error.status in (403, 404, 405, 503):
            return None
        raise


@router.get("/overview", include_in_schema=False)
async def overview(request: Request, user: CurrentUser, api: Api, lang: Lang) -> Response:
    t = translator(lang)
    towns, totals, budgets = await asyncio.gather(
        _optional(api.get("reporting", "/overview/cases-by-town")),
        _optional(api.get("assistance", "/totals")),
        _optional(api.get("assistance", "/budgets")),
    )
    towns = towns or []
    totals = totals or []
    charts = {
        "towns": {
            "categories": [area_name(row["town_code"], lang) for row in towns],
            "series": [
                {"name": t("overview.open"), "data": [r["open"] for r in towns]},
                {"name": t("overview.closed"), "data": [r["closed"] for r in towns]},
            ],
        },
        "measures": {
            "categories": [measure_name(row["measure"], lang) for row in totals],
            "series": [
                {
                    "name": t("overview.households"),
                    "data": [row["households"] for row in totals],
                }
            ],
        },
    }
    return render(
        request,
        "overview.html",
        {"towns": towns, "totals": totals, "budgets": budgets, "charts": charts},
        user=user,
    )


@router.get("/district/catalogue", include_in_schema=False)
async def catalogue(request: Request, user: CurrentUser, api: Api) -> Response:
    found = await api.get("screening", "/catalogue")
    return render(request, "catalogue.html", {"catalogue": found}, user=user)


async def limits_page(
    request: Request,
    user: User,
    api: UserApi,
    *,
    failed_step: str = "",
    errors: dict[str, str] | None = None,
    message: str = "",
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    limits = await api.get("casework", "/time-limits")
    return render(
        request,
        "time_limits.html",
        {
            "limits": limits,
            "failed_step": failed_step,
            "errors": errors or {},
            "message": message,
            "values": values or {},
            "saved": request.query_params.get("saved", ""),
        },
        status_code=status_code,
        user=user,
    )


@router.get("/district/time-limits", include_in_schema=False)
async def time_limits(request: Request, user: CurrentUser, api: Api) -> Response:
    return await limits_page(request, user, api)


@router.post("/district/time-limits/{step}", include_in_schema=False)
async def change_time_limit(
    request: Request, step: str, user: CurrentUser, api: Api, form: Form
) -> Response:
    body: dict[str, Any] = {
        name: form[name].strip()
        for name in ("days", "escalate_after")
        if form.get(name, "").strip()
    }
    body["working_days"] = form.get("working_days") == "true"
    try:
        await api.put("casework", f"/time-limits/{step}", body)
    except ApiError as error:
        if error.status >= 500:
            raise
        return await limits_page(
            request,
            user,
            api,
            failed_step=step,
            errors=error.fields,
            message=error.message,
            values=form,
            status_code=error.status,
        )
    return RedirectResponse(f"/district/time-limits?saved={step}", status_code=303)


async def budgets_page(
    request: Request,
    user: User,
    api: UserApi,
    *,
    errors: dict[str, str] | None = None,
    message: str = "",
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    budgets = await api.get("assistance", "/budgets")
    return render(
        request,
        "budgets.html",
        {
            "budgets": budgets,
            "year": datetime.now(CHINA).year,
            "errors": errors or {},
            "message": message,
            "values": values or {},
            "saved": request.query_params.get("saved") == "1",
        },
        status_code=status_code,
        user=user,
    )


@router.get("/district/budgets", include_in_schema=False)
async def budgets(request: Request, user: CurrentUser, api: Api) -> Response:
    return await budgets_page(request, user, api)


@router.post("/district/budgets", include_in_schema=False)
async def set_budget(
    request: Request, user: CurrentUser, api: Api, form: Form
) -> Response:
    body = {
        name: form[name].strip()
        for name in ("funding_source", "year", "amount")
        if form.get(name, "").strip()
    }
    try:
        await api.put("assistance", "/budgets", body)
    except ApiError as error:
        if error.status >= 500:
            raise
        return await budgets_page(
            request,
            user,
            api,
            errors=error.fields,
            message=error.message,
            values=form,
            status_code=error.status,
        )
    return RedirectResponse("/district/budgets?saved=1", status_code=303)
