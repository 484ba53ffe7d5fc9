"""The monthly work ledger (工作台账) of an official's own area: what was
reported, flagged, decided, done and closed in a month beside the month before,
each count opening the households and cases behind it, and the same ledger as
a spreadsheet. Reporting keeps the ledger and decides whose area is whose."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from web import format as fmt
from web.deps import Api, CurrentUser, Lang
from web.i18n import translator
from web.pages.households import may_see_households, refused
from web.render import render
from web.session import User

router = APIRouter()

AREA = re.compile(r"^\d{6}(\d{3}){0,2}$")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
# Nothing on the platform happened earlier; older months are typing slips.
FIRST_MONTH = "2000-01"
LEVEL_OF_CODE = {6: "district", 9: "town", 12: "village"}
LEVEL_BELOW = {"district": "town", "town": "village", "village": "village_group"}
PARTS_HEADING = {
    "town": "ledger.by_town",
    "village": "ledger.by_village",
    "village_group": "ledger.by_group",
}


def this_month() -> str:
    """The month on the county's clock."""
    return datetime.now(fmt.CHINA).strftime("%Y-%m")


def read_month(text: str, current: str) -> tuple[str, str]:
    """The month asked for, or the current month with the i18n key saying why
    the one typed could not be shown."""
    text = text.strip()
    if not text:
        return current, ""
    if not MONTH.match(text) or text < FIRST_MONTH:
        return current, "ledger.month_invalid"
    if text > current:
        return current, "ledger.month_future"
    return text, ""


def shift_month(month: str, by: int) -> str:
    year, number = (int(part) for part in month.split("-"))
    index = year * 12 + number - 1 + by
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_text(month: str, lang: str, *, short: bool = False) -> str:
    """2026年3月 / Mar 2026; short, where the year is said nearby: 3月 / Mar."""
    year, number = (int(part) for part in month.split("-"))
    if lang == "zh":
        return f"{number}月" if short else f"{year}年{number}月"
    return fmt.MONTHS_EN[number - 1] + ("" if short else f" {year}")


def change_text(change: int) -> str:
    """The change since last month with its sign: +3, −2, 0."""
    if change > 0:
        return f"+{fmt.format_number(change)}"
    if change < 0:
        return f"−{fmt.format_number(-change)}"
    return "0"


def short_label(name: str, labels: dict[str, Any], lang: str) -> str:
    """A ledger column's name without "this month": the page says which month."""
    found = labels.get(name)
    if not found:
        return name
    if lang == "zh":
        return str(found["zh"]).removeprefix("本月")
    text = str(found["en"]).removesuffix(" this month")
    return text[:1].upper() + text[1:]


def list_link(drill: str, figure: str, month: str, count: int) -> str | None:
    """The page listing what one count holds, from reporting's drill template
    (which names the row's area and village group) for the month given; none
    behind a zero, where there is nothing to list."""
    if not count:
        return None
    _, _, query = drill.partition("?")
    params = dict(parse_qsl(query))
    params["month"] = month
    return "/overview/figure?" + urlencode({"figure": figure, **params})


def place_name(found: dict[str, Any], area: str, lang: str) -> str:
    """The area's name as reporting gives it, else as the web knows it."""
    for row in found["rows"]:
        if row["area_code"] == area and not row["village_group"]:
            shown = row["name_zh"] if lang == "zh" else row["name_en"]
            if shown:
                return str(shown)
    return fmt.area_name(area, lang)


def ledger_url(area: str, month: str) -> str:
    return "/ledger?" + urlencode({"area": area, "month": month})


def present_row(
    row: dict[str, Any], found: dict[str, Any], lang: str, *, below: bool
) -> dict[str, Any]:
    """One row as the page shows it; a town or village below the area shown
    links to its own ledger (a village group has none of its own)."""
    t = translator(lang)
    if row["village_group"]:
        name = t("case.group_value", n=row["village_group"])
    else:
        shown = row["name_zh"] if lang == "zh" else row["name_en"]
        name = shown or fmt.area_name(row["area_code"], lang)
    cells = []
    for figure in found["columns"]:
        value = row["figures"][figure]
        cells.append(
            {
                "figure": figure,
                "label": short_label(figure, found["labels"], lang),
                "month": value["month"],
                "previous": value["previous"],
                "change": value["change"],
                "change_text": change_text(value["change"]),
                "month_list": list_link(
                    row["drill"], figure, found["month"], value["month"]
                ),
                "previous_list": list_link(
                    row["drill"], figure, found["previous_month"], value["previous"]
                ),
            }
        )
    link = None
    if below and not row["village_group"]:
        link = ledger_url(row["area_code"], found["month"])
    return {
        "level": row["level"],
        "code": row["area_code"],
        "group": row["village_group"] or "",
        "name": name,
        "link": link,
        "cells": cells,
    }


def arrange(
    found: dict[str, Any], area: str, group: str | None, lang: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The area's own row, and the rows one level down (towns of a district,
    villages of a town, village groups of a village); a grid monitor's own row
    is their village group's, with nothing below it. Deeper levels are in the
    spreadsheet and one click down."""
    level = LEVEL_OF_CODE[len(area)]
    rows = found["rows"]
    if group is not None:
        own = [
            row
            for row in rows
            if row["level"] == "village_group"
            and row["area_code"] == area
            and row["village_group"] == group
        ]
        parts: list[dict[str, Any]] = []
    else:
        own = [
            row for row in rows if row["level"] == level and row["area_code"] == area
        ]
        below = LEVEL_BELOW[level]
        parts = [row for row in rows if row["level"] == below]
    return (
        present_row(own[0], found, lang, below=False) if own else None,
        [present_row(row, found, lang, below=True) for row in parts],
    )


def own_scope(user: User, area: str) -> tuple[str, str | None]:
    """The area (and village group) the page asks reporting about: a grid
    monitor's is always their own grid; others may choose within their area,
    which reporting checks."""
    if user.role == "grid_monitor" and user.village_group:
        return user.area_code, user.village_group
    return area or user.area_code, None


@router.get("/ledger", include_in_schema=False)
async def ledger(
    request: Request,
    user: CurrentUser,
    api: Api,
    lang: Lang,
    area: str = "",
    month: str = "",
) -> Response:
    if not may_see_households(user):
        return refused(request, user)
    area, group = own_scope(user, area.strip())
    if not AREA.match(area):
        raise HTTPException(404)
    current = this_month()
    chosen, month_error = read_month(month, current)
    found = await api.get("reporting", "/ledger", area=area, month=chosen, group=group)
    own, parts = arrange(found, area, group, lang)

    level = LEVEL_OF_CODE[len(area)]
    t = translator(lang)
    # Officials above the area shown can go back up one level.
    up = (
        ledger_url(area[:-3], chosen)
        if group is None and len(area) > len(user.area_code)
        else None
    )
    earlier = shift_month(chosen, -1)
    later = shift_month(chosen, 1)
    return render(
        request,
        "ledger.html",
        {
            "found": found,
            "area": area,
            "place": place_name(found, area, lang),
            "group": group,
            "month": chosen,
            "month_text": month_text(chosen, lang),
            "previous_text": month_text(found["previous_month"], lang),
            "month_short": month_text(chosen, lang, short=True),
            "previous_short": month_text(found["previous_month"], lang, short=True),
            "current_month": current,
            "first_month": FIRST_MONTH,
            "month_errors": {"month": t(month_error)} if month_error else {},
            "month_values": {"month": chosen},
            "own": own,
            "parts": parts,
            "parts_heading": PARTS_HEADING.get(LEVEL_BELOW.get(level, ""), ""),
            "up": up,
            "earlier": ledger_url(area, earlier) if earlier >= FIRST_MONTH else None,
            "later": ledger_url(area, later) if later <= current else None,
            "export_query": urlencode({"area": area, "month": chosen, "lang": lang}),
        },
        user=user,
    )
