"""Officials' pages: the queue of their level, and a case with its current
step's action and the aid granted against it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from web.aid import (
    case_grants,
    grant_body,
    grant_fields,
    grant_totals,
    green_channel,
    may_grant,
    may_stop,
    offered_measures,
    period_text,
    plan_delivery,
    quantity_text,
)
from web.client import ApiError, UserApi
from web.deps import Api, CurrentUser, Form, Lang
from web.format import CHINA, measure_name
from web.i18n import label, translator
from web.pages.households import may_see_households
from web.present import (
    risk_hits,
    suggested_target_type,
    timeline_rows,
    unmet_text,
    value_text,
)
from web.render import render
from web.session import User

router = APIRouter()

PAGE_SIZE = 50
STEPS = [
    "visit",
    "notice",
    "notice_period",
    "town_check",
    "decision",
    "plan",
    "assistance",
    "elimination_review",
    "closure",
]
# Who acts on a step of each level; an escalated step also the next level up.
ROLES_OF_LEVEL = {
    "village": {"village", "grid_monitor", "town"},
    "town": {"town"},
    "district": {"district"},
}
NEXT_LEVEL = {"village": "town", "town": "district"}
CLOSING_ROLES = {"town", "district"}
TARGET_TYPES = ("low_income", "expense_hardship", "safety_net")
PROGRESS_KINDS = ("visit", "measure_delivered", "income_update", "other")
NOTICE_DAYS = 5
# The action each step offers, by the casework endpoint it posts to.
ACTIONS_OF_STEP = {
    "visit": ["visit"],
    "notice": ["notice"],
    "notice_period": ["village-review"],
    "town_check": ["town-check"],
    "decision": ["decision"],
    "plan": ["plan"],
    "assistance": ["progress", "elimination-request"],
    "elimination_review": ["elimination-review"],
    "closure": ["close"],
}
ACTIONS = {action for actions in ACTIONS_OF_STEP.values() for action in actions}


async def household_heads(api: UserApi, household_ids: set[str]) -> dict[str, str]:
    """The head's name per household, for lists (the queue names none)."""
    limit = asyncio.Semaphore(8)

    async def head(household_id: str) -> tuple[str, str]:
        async with limit:
            try:
                found = await api.get("intake", f"/households/{household_id}")
            except ApiError:
                return household_id, ""
        members = found.get("members") or []
        heads = [m for m in members if m.get("relation") == "head"] or members
        return household_id, heads[0]["name"] if heads else ""

    pairs = await asyncio.gather(*(head(found) for found in household_ids))
    return dict(pairs)


@router.get("/queue", include_in_schema=False)
async def queue(
    request: Request,
    user: CurrentUser,
    api: Api,
    step: str = "",
    state: str = "",
    urgent: bool = False,
    offset: int = 0,
) -> Response:
    found = await api.get(
        "casework",
        "/queue",
        step=step if step in STEPS else None,
        overdue=True if state == "overdue" else None,
        escalated=True if state == "escalated" else None,
        urgent=True if urgent else None,
        limit=PAGE_SIZE,
        offset=max(0, offset),
    )
    heads = await household_heads(api, {row["household_id"] for row in found["cases"]})
    return render(
        request,
        "queue.html",
        {
            "queue": found,
            "heads": heads,
            "steps": STEPS,
            "filters": {"step": step, "state": state, "urgent": urgent},
            "offset": max(0, offset),
            "page_size": PAGE_SIZE,
        },
        user=user,
    )


def escalated_now(case: dict[str, Any], history: list[dict[str, Any]]) -> bool:
    """Whether the current step was escalated (the case detail does not say)."""
    escalated = False
    for entry in history:
        details = entry.get("details") or {}
        if entry["type"] == "CaseEscalated" and details.get("step") == case["step"]:
            escalated = True
        elif (
            details.get("next_step") == case["step"]
            and details.get("step") != (case["step"])
        ):
            escalated = False
    return escalated


def may_act(user: User, case: dict[str, Any], escalated: bool) -> bool:
    if case["status"] != "open" or not case.get("level"):
        return False
    if case["step"] == "closure":
        return user.role in CLOSING_ROLES
    allowed = set(ROLES_OF_LEVEL.get(case["level"], set()))
    if escalated and case["level"] in NEXT_LEVEL:
        allowed |= ROLES_OF_LEVEL[NEXT_LEVEL[case["level"]]]
    return user.role in allowed


async def _optional(call: Any) -> Any:
    try:
        return await call
    except ApiError as error:
        if error.status in (404, 403, 503):
            return None
        raise


async def _nothing() -> None:
    return None


async def case_page(
    request: Request,
    user: User,
    api: UserApi,
    lang: str,
    case_id: UUID,
    *,
    action: str = "",
    errors: dict[str, str] | None = None,
    message: str = "",
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    case = await api.get("casework", f"/cases/{case_id}")
    granting = may_grant(user, case)
    household_id = case["household_id"]
    (
        household,
        timeline,
        history,
        measures,
        household_grants,
        risk,
        budgets,
    ) = await asyncio.gather(
        _optional(api.get("intake", f"/households/{household_id}")),
        _optional(api.get("reporting", f"/cases/{case_id}/timeline")),
        api.get("casework", f"/cases/{case_id}/history"),
        _optional(api.get("assistance", "/measures")),
        _optional(api.get("assistance", f"/households/{household_id}/grants")),
        _optional(api.get("screening", f"/households/{household_id}/risk")),
        # Funding sources with a budget, offered when aid may be granted here.
        _optional(api.get("assistance", "/budgets")) if granting else _nothing(),
    )
    timeline = timeline or []
    by_code = {measure["code"]: measure for measure in measures or []}
    escalated = escalated_now(case, history)
    reviews = [entry for entry in history if entry["type"] == "EliminationReviewed"]
    notices = [entry for entry in history if entry["type"] == "NoticePublished"]
    last_review = reviews[-1]["details"] if reviews else None
    today = datetime.now(CHINA).date()
    suggested_type = case.get("target_type") or suggested_target_type(timeline)
    grants = case_grants(household_grants, str(case_id))
    aid_done = request.query_params.get("aid", "")
    return render(
        request,
        "case.html",
        {
            "case": case,
            "household": household,
            "household_file": may_see_households(user),
            "rows": timeline_rows(timeline, lang, by_code),
            "hits": risk_hits(timeline),
            "risk": risk,
            "suggested_type": suggested_type,
            "measures": by_code,
            "plan_measures": [
                measure
                for measure in measures or []
                if measure["target_type"] == case.get("target_type")
            ],
            "grants": grants,
            "grant_totals": grant_totals(grants),
            "plan_delivery": plan_delivery(case.get("plan"), grants, today),
            "can_grant": granting,
            "green_channel": green_channel(case, user),
            "grant_fields": grant_fields(case, user),
            "measure_groups": offered_measures(user, measures or [], suggested_type),
            "funding_sources": sorted(
                {budget["funding_source"] for budget in budgets or []}
            ),
            "may_stop": lambda grant: may_stop(user, grant),
            "quantity_text": quantity_text(lang),
            "period_text": lambda period: period_text(period, lang),
            "this_month": today.strftime("%Y-%m"),
            "aid_done": aid_done if aid_done in ("granted", "stopped") else "",
            "escalated": escalated,
            "can_act": may_act(user, case, escalated),
            "actions": ACTIONS_OF_STEP.get(case["step"], []),
            "notice": notices[-1]["details"] if notices else None,
            "last_review": last_review,
            "last_review_unmet": [
                unmet_text(item, lang) for item in (last_review or {}).get("unmet", [])
            ],
            "value_text": lambda name, value: value_text(name, value, lang, by_code),
            "target_options": [
                (code, label(lang, "target", code)) for code in TARGET_TYPES
            ],
            "progress_options": [
                (kind, label(lang, "progress", kind)) for kind in PROGRESS_KINDS
            ],
            "plan_fields": [
                f"{prefix}.{code}"
                for code in by_code
                for prefix in ("due_on", "measure")
            ],
            "today": today.isoformat(),
            "notice_end": (today + timedelta(days=NOTICE_DAYS)).isoformat(),
            "default_due": (today + timedelta(days=90)).isoformat(),
            "done": request.query_params.get("done", ""),
            "failed_action": action,
            "errors": errors or {},
            "message": message,
            "values": values or {},
        },
        status_code=status_code,
        user=user,
    )


@router.get("/cases/{case_id}", include_in_schema=False)
async def show_case(
    request: Request, case_id: UUID, user: CurrentUser, api: Api, lang: Lang
) -> Response:
    return await case_page(request, user, api, lang, case_id)


def _filled(form: dict[str, str], *names: str) -> dict[str, Any]:
    """The named fields the user filled in; empty ones are left for the service
    to name as missing."""
    return {name: form[name].strip() for name in names if form.get(name, "").strip()}


def action_body(action: str, form: dict[str, str]) -> dict[str, Any]:
    if action == "visit":
        return {"consent": form.get("consent") == "true", **_filled(form, "findings")}
    if action == "notice":
        return _filled(form, "starts_on", "ends_on")
    if action == "village-review":
        return {
            "objections": form.get("objections") == "true",
            **_filled(form, "summary"),
        }
    if action == "town-check":
        return _filled(form, "summary")
    if action == "decision":
        body = _filled(form, "target_type", "reason")
        if form.get("confirm") in ("true", "false"):
            body["confirm"] = form["confirm"] == "true"
        return body
    if action == "plan":
        measures = [
            {
                "measure": name.removeprefix("measure."),
                "responsible_department": form.get(
                    "department." + name.removeprefix("measure."), ""
                ),
                **(
                    {"due_on": form["due." + name.removeprefix("measure.")]}
                    if form.get("due." + name.removeprefix("measure."))
                    else {}
                ),
            }
            for name, value in form.items()
            if name.startswith("measure.") and value == "on"
        ]
        return {**_filled(form, "paired_cadre"), "measures": measures}
    if action == "progress":
        return _filled(form, "kind", "note")
    if action in ("elimination-request",):
        return _filled(form, "note")
    if action == "elimination-review":
        return _filled(form, "reason")
    if action == "close":
        return _filled(form, "verification")
    raise HTTPException(404)


def field_errors(action: str, error: ApiError, body: dict[str, Any]) -> dict[str, str]:
    """The service's field names, mapped to the form's (plan rows by measure)."""
    fields = {}
    for name, reason in error.fields.items():
        parts = name.split(".")
        if action == "plan" and parts[0] == "measures" and len(parts) >= 3:
            index = int(parts[1]) if parts[1].isdigit() else -1
            if 0 <= index < len(body["measures"]):
                code = body["measures"][index]["measure"]
                fields[f"{parts[2]}.{code}"] = reason
                continue
        fields[parts[0] if parts[0] == "measures" else name] = reason
    return fields


def grant_errors(
    error: ApiError, body: dict[str, Any], lang: str
) -> tuple[dict[str, str], str]:
    """Assistance's reasons by form field; a second grant of the same measure
    for the same period is said plainly, beside the period."""
    t = translator(lang)
    fields = dict(error.fields)
    if error.status == 409 and "period" in fields:
        fields["period"] = t(
            "grant.duplicate",
            measure=measure_name(body.get("measure"), lang),
            period=period_text(str(body.get("period", "")), lang),
        )
    return fields, error.message


# Registered before the step actions, whose path would otherwise take "grants"
# for an action's name.
@router.post("/cases/{case_id}/grants", include_in_schema=False)
async def grant_aid(
    request: Request,
    case_id: UUID,
    user: CurrentUser,
    api: Api,
    lang: Lang,
    form: Form,
) -> Response:
    t = translator(lang)
    measures = await _optional(api.get("assistance", "/measures")) or []
    units = {measure["code"]: measure["unit"] for measure in measures}
    body, problems = grant_body(str(case_id), form, units)
    errors = {name: t(key) for name, key in problems.items()}
    message = ""
    status_code = 422
    if not errors:
        try:
            await api.post("assistance", "/grants", body)
        except ApiError as error:
            if error.status >= 500:
                raise
            errors, message = grant_errors(error, body, lang)
            status_code = error.status
        else:
            return RedirectResponse(
                f"/cases/{case_id}?aid=granted#grants", status_code=303
            )
    return await case_page(
        request,
        user,
        api,
        lang,
        case_id,
        action="grant",
        errors=errors,
        message=message,
        values=form,
        status_code=status_code,
    )


@router.post("/cases/{case_id}/grants/{grant_id}/stop", include_in_schema=False)
async def stop_aid(
    request: Request,
    case_id: UUID,
    grant_id: UUID,
    user: CurrentUser,
    api: Api,
    lang: Lang,
    form: Form,
) -> Response:
    try:
        await api.post(
            "assistance", f"/grants/{grant_id}/stop", _filled(form, "reason")
        )
    except ApiError as error:
        if error.status >= 500:
            raise
        return await case_page(
            request,
            user,
            api,
            lang,
            case_id,
            action=f"stop-{grant_id}",
            errors=error.fields,
            message=error.message,
            values=form,
            status_code=error.status,
        )
    return RedirectResponse(f"/cases/{case_id}?aid=stopped#grants", status_code=303)


@router.post("/cases/{case_id}/{action}", include_in_schema=False)
async def act(
    request: Request,
    case_id: UUID,
    action: str,
    user: CurrentUser,
    api: Api,
    lang: Lang,
    form: Form,
) -> Response:
    if action not in ACTIONS:
        raise HTTPException(404)
    body = action_body(action, form)
    try:
        await api.post("casework", f"/cases/{case_id}/{action}", body)
    except ApiError as error:
        if error.status >= 500:
            raise
        return await case_page(
            request,
            user,
            api,
            lang,
            case_id,
            action=action,
            errors=field_errors(action, error, body),
            message=error.message,
            values=form,
            status_code=error.status,
        )
    return RedirectResponse(f"/cases/{case_id}?done={action}#action", status_code=303)
