"""The district office (and auditors, town officials for their area): overview
with charts, the indicator catalogue, time limits with the working calendar, and
budgets."""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from web.client import ApiError, UserApi
from web.deps import Api, CurrentUser, Form, Lang
from web.format import CHINA, area_name
from web.i18n import label, translator
from web.present import change_text, parameter_description, parameter_unit
from web.render import render
from web.session import User, language
from web.when import AsOf, as_of_context, read_as_of

router = APIRouter()


async def _optional(call: Any) -> Any:
    try:
        return await call
    except ApiError as error:
        if error.status in (403, 404, 405, 503):
            return None
        raise


OVERVIEW_COLUMNS = (
    "households",
    "flagged",
    "targets",
    "open_cases",
    "overdue",
    "escalated",
)
TARGET_TYPES = ("low_income", "expense_hardship", "safety_net")
CASE_STEPS = (
    "visit",
    "notice",
    "notice_period",
    "town_check",
    "decision",
    "plan",
    "assistance",
    "elimination_review",
    "closure",
)
EXPORTS = {"overview": "/overview/export", "ledger": "/ledger/export"}


def _name(row: dict[str, Any], lang: str) -> str:
    shown = row.get("name_zh") if lang == "zh" else row.get("name_en")
    if row.get("village_group"):
        return translator(lang)("case.group_value", n=row["village_group"])
    return str(shown or area_name(row["area_code"], lang))


def overview_charts(found: dict[str, Any], lang: str) -> dict[str, Any]:
    """Open cases by step per area, targets by type, households reached per
    measure: the data ECharts draws, with the same labels as the tables."""
    labels = found["labels"]

    def text(column: str) -> str:
        label = labels.get(column)
        return str(label["zh" if lang == "zh" else "en"]) if label else column

    rows = found["rows"]
    total = found["total"]["figures"]
    return {
        "cases": {
            "categories": [_name(row, lang) for row in rows],
            "stacked": True,
            "series": [
                {
                    "name": label(lang, "step", step),
                    "data": [row["figures"].get(f"open_cases.{step}") for row in rows],
                }
                for step in CASE_STEPS
                if any(row["figures"].get(f"open_cases.{step}") for row in rows)
            ],
        },
        "targets": {
            "categories": [label(lang, "target", kind) for kind in TARGET_TYPES],
            "series": [
                {
                    "name": text("targets"),
                    "data": [total.get(f"targets.{kind}") for kind in TARGET_TYPES],
                }
            ],
        },
        "measures": {
            "categories": [
                measure["name_zh"] if lang == "zh" else measure["name_en"]
                for measure in found["total"]["measures"]
            ],
            "series": [
                {
                    "name": translator(lang)("overview.households"),
                    "data": [
                        measure["households"] for measure in found["total"]["measures"]
                    ],
                }
            ],
        },
    }


def figure_link(drill: str, figure: str) -> str:
    """The page listing what a figure counts, from reporting's drill template
    (which carries the area, group, month and dates of the row)."""
    _, _, query = drill.partition("?")
    return (
        "/overview/figure?"
        + urlencode({"figure": figure})
        + (f"&{query}" if query else "")
    )


def aid_figure(measure: dict[str, Any], part: str) -> str:
    return f"aid.{measure['measure']}.{measure['unit']}.{part}"


@router.get("/overview", include_in_schema=False)
async def overview(
    request: Request,
    user: CurrentUser,
    api: Api,
    lang: Lang,
    area: str | None = None,
    month: str | None = None,
    as_of: str = "",
    known_on: str = "",
) -> Response:
    when = read_as_of(as_of, known_on)
    found, budgets = await asyncio.gather(
        api.get(
            "reporting",
            "/overview",
            area=area or None,
            month=month or None,
            **when.params(),
        ),
        # Budgets are kept as they stand now; beside a past day they would
        # mislead.
        _optional(api.get("assistance", "/budgets"))
        if not when.historical
        else asyncio.sleep(0, None),
    )
    labels = found["labels"]

    def overview_url(**query: str | None) -> str:
        chosen = {name: value for name, value in query.items() if value}
        return "/overview" + (f"?{urlencode(chosen)}" if chosen else "")

    return render(
        request,
        "overview.html",
        {
            "found": found,
            "columns": [c for c in OVERVIEW_COLUMNS if c in found["columns"]],
            "column_label": lambda column: (
                labels[column]["zh" if lang == "zh" else "en"]
                if column in labels
                else column
            ),
            "row_name": lambda row: _name(row, lang),
            "figure_link": figure_link,
            "aid_figure": aid_figure,
            "area_url": lambda code: overview_url(area=code, **when.params()),
            "export_query": urlencode(
                {"area": found["area"]["code"], "month": found["month"]} | when.params()
            ),
            "budgets": budgets,
            "charts": overview_charts(found, lang),
            **as_of_context(
                when,
                lang,
                overview_url(area=area, month=month),
            ),
        },
        user=user,
    )


@router.get("/export/{name}", include_in_schema=False)
async def export(
    name: str,
    _: CurrentUser,
    api: Api,
    area: str | None = None,
    month: str | None = None,
    as_of: str = "",
    known_on: str = "",
    format: str = "xlsx",
    lang: str = "zh",
) -> Response:
    """Reporting's exports, fetched with the user's token and passed on."""
    if name not in EXPORTS:
        raise HTTPException(404)
    # The ledger is kept by month only; the overview can be asked as of a day.
    when = read_as_of(as_of, known_on) if name == "overview" else AsOf()
    found = await api.download(
        "reporting",
        EXPORTS[name],
        area=area,
        month=month,
        format=format,
        lang=lang,
        **when.params(),
    )
    headers = {
        key: value
        for key, value in found.headers.items()
        if key.lower() in ("content-type", "content-disposition")
    }
    return Response(found.content, headers=headers)


@router.get("/district/assessment", include_in_schema=False)
async def assessment(
    request: Request, user: CurrentUser, api: Api, lang: Lang
) -> Response:
    found = await api.get("reporting", "/assessment")
    labels = found.get("labels", {})
    indicators: list[str] = []
    for subject in found["towns"] + found["departments"]:
        for name in subject["indicators"]:
            if name not in indicators:
                indicators.append(name)

    def subject_name(subject: str) -> str:
        kind, _, code = subject.partition(":")
        if kind == "town":
            return area_name(code, lang)
        return label(lang, "department", code)

    return render(
        request,
        "assessment.html",
        {
            "found": found,
            "indicator_label": lambda name: labels.get(name, {}).get(lang, name),
            "subject_name": subject_name,
            "charts": {
                "scores": {
                    "categories": [subject_name(s["subject"]) for s in found["towns"]],
                    "series": [
                        {
                            "name": translator(lang)("assessment.score"),
                            "data": [s["score"] for s in found["towns"]],
                        }
                    ],
                }
            },
        },
        user=user,
    )


async def catalogue_page(
    request: Request,
    user: User,
    api: UserApi,
    *,
    errors: dict[str, str] | None = None,
    message: str = "",
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    lang = language(request)
    found, versions = await asyncio.gather(
        api.get("screening", "/catalogue"),
        _optional(api.get("screening", "/catalogue/versions")),
    )
    return render(
        request,
        "catalogue.html",
        {
            "catalogue": found,
            "versions": versions or [],
            "describe": lambda parameter: parameter_description(
                parameter["name"], parameter["description"], lang
            ),
            "unit_text": lambda unit: parameter_unit(unit, lang),
            "change_text": lambda line: change_text(line, lang),
            "today": datetime.now(CHINA).date().isoformat(),
            "published": request.query_params.get("published", ""),
            "errors": errors or {},
            "message": message,
            "values": values or {},
        },
        status_code=status_code,
        user=user,
    )


@router.get("/district/catalogue", include_in_schema=False)
async def catalogue(request: Request, user: CurrentUser, api: Api) -> Response:
    return await catalogue_page(request, user, api)


@router.post("/district/catalogue/drafts", include_in_schema=False)
async def change_parameter(
    request: Request, user: CurrentUser, api: Api, form: Form
) -> Response:
    """Open a draft with one parameter's new value; the draft page back-tests it."""
    body = {
        name: form[name].strip()
        for name in ("effective_from", "value")
        if form.get(name, "").strip()
    }
    parameter = form.get("parameter", "").strip()
    try:
        if not parameter:
            raise ApiError(422, "", {"parameter": "Field required"})
        draft = await api.post(
            "screening", "/catalogue/drafts", {"note": form.get("note", "")}
        )
        await api.put(
            "screening",
            f"/catalogue/drafts/{draft['draft_id']}/parameters/{parameter}",
            body,
        )
    except ApiError as error:
        if error.status >= 500:
            raise
        return await catalogue_page(
            request,
            user,
            api,
            errors=error.fields,
            message=error.message,
            values=form,
            status_code=error.status,
        )
    return RedirectResponse(
        f"/district/catalogue/drafts/{draft['draft_id']}", status_code=303
    )


# The draft page's buttons, by the screening endpoint each posts to.
DRAFT_ACTIONS = {"backtest": "backtests", "publish": "publish"}


async def draft_view(
    request: Request,
    user: User,
    api: UserApi,
    draft_id: UUID,
    job: UUID | None,
    *,
    refused: str = "",
    reasons: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    """The draft with its back-test, if one was run; ``refused`` names the
    button whose refusal is shown beside it, with screening's reasons."""
    lang = language(request)
    draft = await api.get("screening", f"/catalogue/drafts/{draft_id}")
    backtest = None
    if job is not None:
        backtest = await api.get(
            "screening", f"/catalogue/drafts/{draft_id}/backtests/{job}", limit=20
        )
    return render(
        request,
        "draft.html",
        {
            "draft": draft,
            "backtest": backtest,
            "job": job,
            "change_text": lambda line: change_text(line, lang),
            "refused": refused,
            "reasons": reasons or [],
        },
        status_code=status_code,
        user=user,
    )


@router.get("/district/catalogue/drafts/{draft_id}", include_in_schema=False)
async def draft_page(
    request: Request,
    draft_id: UUID,
    user: CurrentUser,
    api: Api,
    job: UUID | None = None,
) -> Response:
    return await draft_view(request, user, api, draft_id, job)


def _shown_job(form: dict[str, str]) -> UUID | None:
    """The back-test the page showed when a button was pressed, so a refusal
    keeps it in view."""
    try:
        return UUID(form.get("job", ""))
    except ValueError:
        return None


@router.post("/district/catalogue/drafts/{draft_id}/{action}", include_in_schema=False)
async def draft_action(
    request: Request,
    draft_id: UUID,
    action: str,
    user: CurrentUser,
    api: Api,
    form: Form,
) -> Response:
    """Back-test a draft against the stored history, or publish it."""
    if action not in DRAFT_ACTIONS:
        raise HTTPException(404)
    path = f"/catalogue/drafts/{draft_id}/{DRAFT_ACTIONS[action]}"
    try:
        done = await api.post("screening", path, {})
    except ApiError as error:
        if error.status >= 500:
            raise
        return await draft_view(
            request,
            user,
            api,
            draft_id,
            _shown_job(form),
            refused=action,
            reasons=[error.message] if error.message else list(error.fields.values()),
            status_code=error.status,
        )
    if action == "backtest":
        return RedirectResponse(
            f"/district/catalogue/drafts/{draft_id}?job={done['job_id']}",
            status_code=303,
        )
    return RedirectResponse(
        f"/district/catalogue?published={done['version']}", status_code=303
    )


CALENDAR_FIELDS = ("holidays", "workdays")
# Dates may be typed one a line or separated by commas (also the Chinese ones).
DATE_SEPARATORS = re.compile(r"[\s,，、;；]+")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


async def limits_page(
    request: Request,
    user: User,
    api: UserApi,
    *,
    failed_form: str = "",
    errors: dict[str, str] | None = None,
    message: str = "",
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The step limits and the working calendar; ``failed_form`` names the form
    (a step, or ``calendar``) whose refusal is shown with what was typed."""
    limits, calendar = await asyncio.gather(
        api.get("casework", "/time-limits"),
        _optional(api.get("casework", "/calendar")),
    )
    return render(
        request,
        "time_limits.html",
        {
            "limits": limits,
            "calendar": calendar,
            "calendar_values": (
                {name: "\n".join(calendar[name]) for name in CALENDAR_FIELDS}
                if calendar is not None
                else {}
            ),
            "failed_form": failed_form,
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
            failed_form=step,
            errors=error.fields,
            message=error.message,
            values=form,
            status_code=error.status,
        )
    return RedirectResponse(f"/district/time-limits?saved={step}", status_code=303)


def read_dates(text: str, field: str) -> list[str]:
    """The days typed into one calendar field, sorted and without repeats; a
    token that is not a YYYY-MM-DD day is refused beside the field."""
    days: set[date] = set()
    for token in filter(None, DATE_SEPARATORS.split(text)):
        try:
            day = date.fromisoformat(token) if ISO_DATE.fullmatch(token) else None
        except ValueError:  # 2026-02-30 has the shape but is no day
            day = None
        if day is None:
            reason = f"{token[:30]} is not a date written as YYYY-MM-DD"
            raise ApiError(422, "", {field: reason})
        days.add(day)
    return [day.isoformat() for day in sorted(days)]


def calendar_fields(fields: dict[str, str]) -> dict[str, str]:
    """Casework's reasons per calendar field: an item's reason (``holidays.3``)
    is shown beside the whole list."""
    found: dict[str, str] = {}
    for name, reason in fields.items():
        found.setdefault(name.partition(".")[0], reason)
    return found


@router.get("/district/calendar", include_in_schema=False)
async def calendar_page(_: CurrentUser) -> Response:
    """The calendar is edited on the time-limits page."""
    return RedirectResponse("/district/time-limits#calendar", status_code=303)


@router.post("/district/calendar", include_in_schema=False)
async def change_calendar(
    request: Request, user: CurrentUser, api: Api, form: Form
) -> Response:
    """Replace the district's public holidays and worked weekend days."""
    try:
        body = {name: read_dates(form.get(name, ""), name) for name in CALENDAR_FIELDS}
        await api.put("casework", "/calendar", body)
    except ApiError as error:
        if error.status >= 500:
            raise
        return await limits_page(
            request,
            user,
            api,
            failed_form="calendar",
            errors=calendar_fields(error.fields),
            message=error.message,
            values=form,
            status_code=error.status,
        )
    return RedirectResponse(
        "/district/time-limits?saved=calendar#calendar", status_code=303
    )


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
            # The list is a read model and may lag a moment behind the save.
            "saved": (
                {
                    name: request.query_params.get(name, "")
                    for name in ("source", "year", "amount")
                }
                if request.query_params.get("saved") == "1"
                else None
            ),
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
        budget = await api.put("assistance", "/budgets", body)
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
    saved = urlencode(
        {
            "saved": "1",
            "source": budget["funding_source"],
            "year": budget["year"],
            "amount": budget["amount"],
        }
    )
    return RedirectResponse(f"/district/budgets?{saved}", status_code=303)
