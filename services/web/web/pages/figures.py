"""What is behind a number on the overview: the households (or the events of a
month) a figure counts, each with its village, number and masked head, and a
link to the household's file. The count at the top is the figure itself."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from web import format as fmt
from web.client import UserApi
from web.deps import Api, CurrentUser, Lang
from web.i18n import label, translator
from web.pages.households import (
    head_of,
    household_files,
    household_link,
    mask_name,
    may_see_households,
    refused,
)
from web.render import render
from web.when import AsOf, read_as_of

router = APIRouter()

PAGE_SIZE = 50
# Figures in these units count one per listed row: the list's total is the
# figure. Others (people, cases, amounts) add up each household's share.
COUNTED_BY_ROWS = {"households", "events"}
FETCH_SIZE = 1000
# Beyond this many households a sum is not gathered page by page for one view.
MOST_SUMMED = 20_000
# A figure name goes into reporting's path: nothing but its own characters.
FIGURE_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+){0,3}$")
COUNT_KEYS = {
    "households": "drill.count.households",
    "people": "drill.count.people",
    "cases": "drill.count.cases",
    "events": "drill.count.events",
    "grants": "drill.count.grants",
    "assignments": "drill.count.assignments",
}


async def every_item(
    api: UserApi, path: str, query: dict[str, Any], first: dict[str, Any]
) -> list[dict[str, Any]]:
    """All the households a figure counts, in reporting's order."""
    total = int(first["total"])
    if first["offset"] == 0 and len(first["items"]) >= total:
        return list(first["items"])
    items: list[dict[str, Any]] = []
    while len(items) < total:
        found = await api.get(
            "reporting", path, **query, limit=FETCH_SIZE, offset=len(items)
        )
        if not found["items"]:
            break
        items += found["items"]
    return items


def plain(amount: Decimal) -> str:
    """A count as a machine reads it: 12, 1200.5 (no separators)."""
    if amount == amount.to_integral_value():
        return str(int(amount))
    return format(amount.normalize(), "f")


def count_text(count: Decimal, unit: str, lang: str) -> str:
    t = translator(lang)
    if unit in COUNT_KEYS:
        return t(COUNT_KEYS[unit], n=fmt.format_number(count))
    if unit == "yuan":
        return t("drill.count.total", n=fmt.format_money(count, lang))
    amount = f"{fmt.format_number(count)} {label(lang, 'unit', unit)}"
    return t("drill.count.total", n=amount)


def list_rows(
    items: list[dict[str, Any]],
    files: dict[str, dict[str, Any] | None],
    when: AsOf,
    lang: str,
) -> list[dict[str, Any]]:
    rows = []
    for item in items:
        household_id = str(item["household_id"])
        file = files.get(household_id)
        head = head_of(file)
        rows.append(
            {
                "household_id": household_id,
                "link": household_link(household_id, when),
                "number": (file or {}).get("household_number") or "",
                "head": mask_name(head["name"]) if head else "",
                "village": fmt.area_name(item["area_code"], lang),
                "group": item.get("village_group") or "",
                "value": item.get("value"),
                "cases": [str(case) for case in item.get("case_ids") or []],
                "event": label(lang, "event", item["type"]) if item.get("type") else "",
                "on": fmt.format_date(item.get("effective_at"), lang),
            }
        )
    return rows


@router.get("/overview/figure", include_in_schema=False)
async def figure_list(
    request: Request,
    user: CurrentUser,
    api: Api,
    lang: Lang,
    figure: str = "",
    area: str = "",
    group: str = "",
    month: str = "",
    as_of: str = "",
    known_on: str = "",
    offset: int = 0,
) -> Response:
    if not may_see_households(user):
        return refused(request, user)
    if not FIGURE_NAME.match(figure):
        raise HTTPException(404)
    when = read_as_of(as_of, known_on)
    offset = max(0, offset)
    path = f"/figures/{figure}"
    query = {
        "area": area or None,
        "group": group or None,
        "month": month or None,
        **when.params(),
    }
    found = await api.get("reporting", path, **query, limit=PAGE_SIZE, offset=offset)

    # A ratio (income per head) lists the households of its denominator, which
    # are counted, not summed into the ratio's own unit.
    shown = found.get("label") or {}
    unit = str(shown.get("unit") or "households")
    ratio = found["counts"] != found["figure"]
    summed = unit not in COUNTED_BY_ROWS and not ratio and found["total"] <= MOST_SUMMED
    if summed:
        items = await every_item(api, path, query, found)
        count = sum(
            (Decimal(str(item.get("value") or 0)) for item in items), Decimal(0)
        )
        page = items[offset : offset + PAGE_SIZE]
    else:
        count = Decimal(found["total"])
        page = found["items"]
    counted_in = unit if summed or unit in COUNTED_BY_ROWS else "households"
    files = await household_files(api, {str(item["household_id"]) for item in page})

    base = {
        "figure": figure,
        **{name: value for name, value in query.items() if value},
    }
    overview_query = {"area": found["area"], **when.params()}
    return render(
        request,
        "figure.html",
        {
            "found": found,
            "title": shown.get("zh" if lang == "zh" else "en") or figure,
            "unit": unit,
            "ratio": ratio,
            "summed": summed,
            "count": plain(count),
            "count_text": count_text(count, counted_in, lang),
            "too_many": not summed and counted_in != unit and not ratio,
            "rows": list_rows(page, files, when, lang),
            "when": when,
            "offset": offset,
            "page_size": PAGE_SIZE,
            "page_url": lambda to: (
                "/overview/figure?" + urlencode({**base, "offset": to})
            ),
            "overview_url": "/overview?" + urlencode(overview_query),
        },
        user=user,
    )
