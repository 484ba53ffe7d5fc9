"""One household's monitoring file (一户一档) for officials: the registry entry,
its cases, what it counts in, and every event about it with who, when, why and
what caused it; as it stands, or as it stood on a chosen day."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from web import format as fmt
from web.client import ApiError, UserApi
from web.deps import Api, CurrentUser, Lang
from web.i18n import translator
from web.present import timeline_rows
from web.render import render
from web.session import User
from web.survey import SURVEYORS, standing_facts
from web.when import AsOf, as_of_context, read_as_of

router = APIRouter()

# Who may open a household's file and the lists behind the figures; a
# department sees the measures assigned to it on its own page instead.
OFFICIAL_ROLES = {"grid_monitor", "village", "town", "district", "auditor"}
AID_PARTS = {
    "households": "overview.households",
    "grants": "overview.grants",
    "quantity": "overview.quantity",
    "stopped": "household.aid_stopped",
    "stopped_quantity": "household.aid_stopped_quantity",
}


def may_see_households(user: User) -> bool:
    return user.role in OFFICIAL_ROLES


def refused(request: Request, user: User) -> Response:
    return render(
        request,
        "error.html",
        {"message_key": "error.forbidden", "status": 403},
        status_code=403,
        user=user,
    )


def mask_name(name: str | None) -> str:
    """A name in a list: the surname only, the rest starred (张三 → 张*)."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


def head_of(household: dict[str, Any] | None) -> dict[str, Any] | None:
    members = (household or {}).get("members") or []
    heads = [member for member in members if member.get("relation") == "head"]
    return (heads or members or [None])[0]


async def household_files(
    api: UserApi, household_ids: set[str]
) -> dict[str, dict[str, Any] | None]:
    """Intake's entry per household, None where intake has none in the user's
    area (or cannot be reached): a list still shows what reporting knows."""
    limit = asyncio.Semaphore(8)

    async def one(household_id: str) -> tuple[str, dict[str, Any] | None]:
        async with limit:
            try:
                found = await api.get("intake", f"/households/{household_id}")
            except ApiError:
                return household_id, None
        return household_id, found

    pairs = await asyncio.gather(*(one(found) for found in sorted(household_ids)))
    return dict(pairs)


def household_link(household_id: str, when: AsOf) -> str:
    query = urlencode(when.params())
    return f"/households/{household_id}" + (f"?{query}" if query else "")


def figure_label(
    name: str, labels: dict[str, dict[str, Any]], lang: str
) -> tuple[str, str]:
    """A figure's label and unit; per-measure aid figures are named from the
    measure, as reporting lists only the fixed figures."""
    if name in labels:
        found = labels[name]
        return str(found["zh" if lang == "zh" else "en"]), str(found.get("unit", ""))
    t = translator(lang)
    parts = name.split(".")
    if len(parts) == 4 and parts[0] == "aid" and parts[3] in AID_PARTS:
        unit = parts[2] if "quantity" in parts[3] else ""
        return f"{fmt.measure_name(parts[1], lang)} · {t(AID_PARTS[parts[3]])}", unit
    if len(parts) == 2 and parts[0] == "assigned":
        return f"{fmt.measure_name(parts[1], lang)} · {t('household.assigned')}", ""
    return name, ""


def history_rows(
    events: list[dict[str, Any]], lang: str, measures: dict[str, Any]
) -> list[dict[str, Any]]:
    """The case page's timeline rows, with the day each fact held beside the
    moment the platform learnt it: the two differ for late department data."""
    rows = timeline_rows(events, lang, measures)
    for row, event in zip(rows, events, strict=True):
        true_on = event.get("effective_on") or event.get("effective_at")
        row["true_on"] = fmt.format_date(true_on, lang)
        row["late"] = fmt.format_date(true_on, lang) != fmt.format_date(
            event["occurred_at"], lang
        )
        row["case_id"] = event.get("case_id")
    return rows


async def _optional(call: Any) -> Any:
    try:
        return await call
    except ApiError as error:
        if error.status in (403, 404, 503):
            return None
        raise


@router.get("/households/{household_id}", include_in_schema=False)
async def household(
    request: Request,
    household_id: UUID,
    user: CurrentUser,
    api: Api,
    lang: Lang,
    as_of: str = "",
    known_on: str = "",
) -> Response:
    if not may_see_households(user):
        return refused(request, user)
    when = read_as_of(as_of, known_on)
    file, history, figures, measures = await asyncio.gather(
        _optional(api.get("intake", f"/households/{household_id}")),
        _optional(
            api.get("reporting", f"/households/{household_id}/history", **when.params())
        ),
        _optional(api.get("reporting", "/figures")),
        _optional(api.get("assistance", "/measures")),
    )
    if file is None and history is None:
        raise HTTPException(404)

    by_code = {measure["code"]: measure for measure in measures or []}
    labels = {item["name"]: item for item in figures or []}
    state = (history or {}).get("state") or {}
    area = state.get("area_code") or (file or {}).get("area_code")
    group = state.get("village_group") or (file or {}).get("village_group")
    counted = []
    for name, value in ((history or {}).get("figures") or {}).items():
        shown, unit = figure_label(name, labels, lang)
        query = {"figure": name, "area": area, **when.params()}
        if group:
            query["group"] = group
        counted.append(
            {
                "name": name,
                "label": shown,
                "value": value,
                "unit": unit,
                "drill": "/overview/figure?" + urlencode(query),
            }
        )
    return render(
        request,
        "household.html",
        {
            "household_id": str(household_id),
            "file": file,
            "head": head_of(file),
            "history": history,
            "state": state,
            "counted": counted,
            "rows": history_rows((history or {}).get("events") or [], lang, by_code),
            "survey_groups": standing_facts(
                (file or {}).get("survey"), lang, translator(lang)
            ),
            "may_survey": file is not None and user.role in SURVEYORS,
            "surveyed": request.query_params.get("surveyed", ""),
            **as_of_context(when, lang, f"/households/{household_id}"),
        },
        user=user,
    )
