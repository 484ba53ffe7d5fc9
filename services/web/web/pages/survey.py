"""Recording a home survey (入户摸排): a grid monitor reaches the form from a
household found on the grid page, an official from the household's file; the
answers go to intake in the POST body, and the user returns where they came
from. A household outside the user's grid or area is not found."""

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
from web.pages.households import head_of, refused
from web.render import render
from web.session import User
from web.survey import SURVEYORS, standing_hints, survey_body, survey_groups

router = APIRouter()

# Where the form was opened from, and so where the user goes back to.
ORIGINS = ("file", "grid")


def origin_of(back: str) -> str:
    return back if back in ORIGINS else "file"


def return_url(household_id: UUID, back: str, outcome: str = "") -> str:
    """The page the form was opened from, with the survey's outcome to show."""
    if back == "grid":
        query = f"&surveyed={outcome}" if outcome else ""
        return f"/grid?household_id={household_id}{query}#report-h"
    query = f"?surveyed={outcome}" if outcome else ""
    return f"/households/{household_id}{query}#survey-h"


async def survey_page(
    request: Request,
    user: User,
    api: UserApi,
    lang: str,
    household_id: UUID,
    back: str,
    *,
    errors: dict[str, str] | None = None,
    message: str = "",
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    household: dict[str, Any] = await api.get("intake", f"/households/{household_id}")
    t = translator(lang)
    return render(
        request,
        "survey.html",
        {
            "household_id": str(household_id),
            "household": household,
            "head": head_of(household),
            "groups": survey_groups(),
            "standing": standing_hints(household.get("survey"), lang, t),
            "back": back,
            "back_url": return_url(household_id, back),
            "today": datetime.now(CHINA).date().isoformat(),
            "errors": errors or {},
            "message": message,
            "values": values or {},
        },
        status_code=status_code,
        user=user,
    )


@router.get("/households/{household_id}/survey", include_in_schema=False)
async def survey_form(
    request: Request,
    household_id: UUID,
    user: CurrentUser,
    api: Api,
    lang: Lang,
    back: str = "file",
) -> Response:
    if user.role not in SURVEYORS:
        return refused(request, user)
    return await survey_page(request, user, api, lang, household_id, origin_of(back))


@router.post("/households/{household_id}/survey", include_in_schema=False)
async def record_survey(
    request: Request,
    household_id: UUID,
    user: CurrentUser,
    api: Api,
    lang: Lang,
    form: Form,
) -> Response:
    if user.role not in SURVEYORS:
        return refused(request, user)
    back = origin_of(form.get("back", ""))
    body, problems = survey_body(form)
    if problems:
        t = translator(lang)
        return await survey_page(
            request,
            user,
            api,
            lang,
            household_id,
            back,
            errors={name: t(key) for name, key in problems.items()},
            values=form,
            status_code=422,
        )
    try:
        answer = await api.post("intake", f"/households/{household_id}/survey", body)
    except ApiError as error:
        if error.status not in (409, 422):
            raise
        return await survey_page(
            request,
            user,
            api,
            lang,
            household_id,
            back,
            errors=error.fields,
            message=error.message,
            values=form,
            status_code=error.status,
        )
    # Facts a later survey already gave keep that survey's values: say so.
    outcome = "earlier" if (answer or {}).get("superseded") else "1"
    return RedirectResponse(return_url(household_id, back, outcome), status_code=303)
