"""Grid monitors (and village and town officials): find a household of their
own grid by a member's name or ID number, report a problem in a few taps, and
follow what became of their reports."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from web.client import ApiError, UserApi
from web.deps import Api, CurrentUser, Form, Lang
from web.format import CHINA
from web.i18n import translator
from web.pages.households import may_see_households
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
# Who reports problems from this page; the district office comes here only to find
# a household and open its file.
REPORTERS = frozenset({"grid_monitor", "village", "town"})
SHORTEST_QUERY = 2
MATCHES_SHOWN = 20
REPORTS_SHOWN = 20


async def find_households(
    api: UserApi, query: str, lang: str
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """Intake's matches for a name or ID number, or the reason beside the field.

    The query goes in a POST body: an address would carry it into logs.
    """
    t = translator(lang)
    if len("".join(query.split())) < SHORTEST_QUERY:
        return None, {"q": t("grid.search_too_short")}
    try:
        found = await api.post(
            "intake", "/households/search", {"q": query, "limit": MATCHES_SHOWN}
        )
    except ApiError as error:
        if error.status >= 500:
            raise
        if error.status == 422:
            return None, {"q": t("grid.search_invalid")}
        return None, {"q": error.message or t("error.generic", status=error.status)}
    return found, {}


async def my_reports(api: UserApi) -> list[dict[str, Any]] | None:
    """Intake's list of the user's reports, or None while intake has none."""
    try:
        found = await api.get("intake", "/reports", limit=REPORTS_SHOWN)
    except ApiError as error:
        if error.status in (404, 405):
            return None
        raise
    if isinstance(found, dict):
        found = found.get("reports") or found.get("items") or []
    return list(found or [])


async def household_history(api: UserApi, household_id: str) -> dict[str, Any] | None:
    """Reporting's file of the household; None when reporting cannot say."""
    try:
        found = await api.optional("reporting", f"/households/{household_id}/history")
    except ApiError:
        return None
    return found if isinstance(found, dict) else None


def outcome_of(
    report: dict[str, Any], history: dict[str, Any] | None
) -> dict[str, Any]:
    """What became of a report: the case it opened or joined, and where that case
    stands. Until casework has taken it up, it is just reported."""
    if history is None:
        return {"state": "reported"}
    events = history["events"]
    signal = next(
        (
            event["event_id"]
            for event in events
            if event["type"] == "ProblemReported"
            and event["data"]["report_id"] == report["report_id"]
        ),
        None,
    )
    case_id = next(
        (
            event["data"]["case_id"]
            for event in events
            if event["type"] in ("CaseOpened", "SignalAttached")
            and event["data"]["signal_event_id"] == signal
        ),
        None,
    )
    case = next((c for c in history["state"]["cases"] if c["case_id"] == case_id), None)
    if signal is None or case is None:
        return {"state": "reported"}
    if case["status"] == "closed":
        return {"state": "rejected" if case["decision"] == "rejected" else "closed"}
    target = case["decision"] == "confirmed"
    return {"state": "target" if target else "open", "step": case["step"]}


async def with_outcomes(api: UserApi, reports: list[dict[str, Any]]) -> None:
    """Each report with its outcome; one look at reporting per household."""
    households = sorted({report["household_id"] for report in reports})
    histories = await asyncio.gather(*(household_history(api, h) for h in households))
    found = dict(zip(households, histories, strict=True))
    for report in reports:
        report["outcome"] = outcome_of(report, found[report["household_id"]])


async def grid_page(
    request: Request,
    user: User,
    api: UserApi,
    lang: str,
    *,
    household_id: str = "",
    query: str | None = None,
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

    matches: dict[str, Any] | None = None
    search_errors: dict[str, str] = {}
    if query is not None:
        matches, search_errors = await find_households(api, query, lang)
        if search_errors:
            status_code = 422

    reporting = user.role in REPORTERS
    reports = await my_reports(api) if reporting else None
    if reports:
        await with_outcomes(api, reports)
    return render(
        request,
        "grid.html",
        {
            "may_report": reporting,
            "may_open_file": may_see_households(user),
            "household_id": household_id,
            "household": household,
            "query": query or "",
            "matches": matches,
            "search_errors": search_errors,
            "reports": reports,
            "categories": CATEGORIES,
            "today": datetime.now(CHINA).date().isoformat(),
            "reported": request.query_params.get("reported") == "1",
            "surveyed": request.query_params.get("surveyed", ""),
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
    household_id = household_id.strip()
    if household_id and user.role not in REPORTERS and may_see_households(user):
        # Nothing to report from here: a household asked for by id is its file.
        try:
            UUID(household_id)
        except ValueError:
            pass
        else:
            return RedirectResponse(f"/households/{household_id}", status_code=303)
    return await grid_page(request, user, api, lang, household_id=household_id)


@router.post("/grid/search", include_in_schema=False)
async def search(
    request: Request, user: CurrentUser, api: Api, lang: Lang, form: Form
) -> Response:
    return await grid_page(request, user, api, lang, query=form.get("q", "").strip())


@router.get("/grid/search", include_in_schema=False)
@router.get("/grid/reports", include_in_schema=False)
async def back_to_grid() -> Response:
    """A form's answer reloaded (or seen in the other language) by its address."""
    return RedirectResponse("/grid", status_code=303)


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
