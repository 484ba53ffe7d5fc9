"""The monthly work ledger (工作台账) per town, village and village group, and the
spreadsheet exports (XLSX with Chinese headers, CSV)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any
from urllib.parse import urlencode

from openpyxl import Workbook
from openpyxl.styles import Font

from reporting.figures import LEDGER_FIGURES, figure, labels
from reporting.overview import area_names, month_value
from reporting.parameters import month_bounds, parse_month, previous_month
from reporting.views import ReportingView

LEVEL_LABELS = {
    "district": ("区县", "district"),
    "town": ("乡镇", "town"),
    "village": ("村", "village"),
    "village_group": ("村民小组", "village group"),
}
Key = tuple[str, str, str]  # level, area code, village group


def ledger(
    view: ReportingView, area: str, month: str, group: str | None = None
) -> dict[str, Any]:
    """Each figure this month, last month and the change, from town down to
    village group (only the levels at and below ``area``; with ``group``, that
    village group's row alone)."""
    first = parse_month(month)
    previous = previous_month(first).strftime("%Y-%m")
    start, _ = month_bounds(previous)
    split, end = month_bounds(month)
    counts: dict[Key, dict[bool, dict[str, int]]] = defaultdict(
        lambda: {True: defaultdict(int), False: defaultdict(int)}
    )
    keys: set[Key] = set()
    for row in view.village_groups(area):
        keys |= set(_levels(area, row["area_code"], row["village_group"]))
    for row in view.ledger_counts(area, start, end, split):
        for key in _levels(area, row["area_code"], row["village_group"]):
            keys.add(key)
            counts[key][row["current"]][row["type"]] += int(row["n"])
    if group is not None:
        keys = {key for key in keys if key[0] == "village_group" and key[2] == group}
    rows = []
    for key in sorted(keys, key=_order):
        level, code, group = key
        current, last = counts[key][True], counts[key][False]
        name_zh, name_en = area_names(code)
        figures = {}
        for name in LEDGER_FIGURES:
            item = figure(name)
            assert item is not None
            now, before = month_value(item, current), month_value(item, last)
            figures[name] = {"month": now, "previous": before, "change": now - before}
        params = {"area": code, "month": month}
        if level == "village_group":
            params["group"] = group
        rows.append(
            {
                "level": level,
                "area_code": code,
                "village_group": group or None,
                "name_zh": name_zh,
                "name_en": name_en,
                "figures": figures,
                "drill": "/figures/{figure}?" + urlencode(params),
            }
        )
    return {
        "area": area,
        "month": month,
        "previous_month": previous,
        "columns": LEDGER_FIGURES,
        "labels": labels(LEDGER_FIGURES),
        "rows": rows,
    }


def _levels(area: str, village: str, group: str) -> list[Key]:
    found: list[Key] = []
    if len(area) <= 6:
        found.append(("district", village[:6], ""))
    if len(area) <= 9:
        found.append(("town", village[:9], ""))
    found.append(("village", village, ""))
    found.append(("village_group", village, group))
    return found


def _order(key: Key) -> tuple[str, int, str]:
    level, code, group = key
    depth = ["district", "town", "village", "village_group"].index(level)
    return code, depth, group


def _short(name: str, lang: str) -> str:
    item = figure(name)
    assert item is not None
    text = item.zh if lang == "zh" else item.en
    return text.removeprefix("本月").removesuffix(" this month")


def table(found: dict[str, Any], lang: str = "zh") -> tuple[list[str], list[list[Any]]]:
    """The ledger as a header and rows, as officials read it."""
    zh = lang == "zh"
    headers = (
        ["层级", "区划代码", "名称", "村民小组"]
        if zh
        else ["level", "area code", "name", "village group"]
    )
    for name in found["columns"]:
        short = _short(name, lang)
        headers += (
            [short, f"{short}（上月）", f"{short}（增减）"]
            if zh
            else [short, f"{short} (last month)", f"{short} (change)"]
        )
    lines = []
    for row in found["rows"]:
        level_zh, level_en = LEVEL_LABELS[row["level"]]
        line = [
            level_zh if zh else level_en,
            row["area_code"],
            (row["name_zh"] if zh else row["name_en"]) or "",
            row["village_group"] or "",
        ]
        for name in found["columns"]:
            value = row["figures"][name]
            line += [value["month"], value["previous"], value["change"]]
        lines.append(line)
    return headers, lines


def overview_table(
    found: dict[str, Any], lang: str = "zh"
) -> tuple[list[str], list[list[Any]]]:
    """The overview as a header and rows (measures are not part of the sheet)."""
    zh = lang == "zh"
    columns = found["columns"]
    headers = ["区划代码", "名称", "村民小组"] if zh else ["area code", "name", "group"]
    headers += [found["labels"][name]["zh" if zh else "en"] for name in columns]
    lines = []
    for row in [*found["rows"], found["total"]]:
        line = [
            row["area_code"],
            (row["name_zh"] if zh else row["name_en"]) or "",
            row["village_group"] or "",
        ]
        line += [row["figures"][name] for name in columns]
        lines.append(line)
    return headers, lines


def xlsx(title: str, headers: list[str], lines: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for line in lines:
        sheet.append(line)
    sheet.freeze_panes = "E2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def csv_text(headers: list[str], lines: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    writer.writerows(
        ["" if value is None else value for value in line] for line in lines
    )
    # Spreadsheet programs read UTF-8 with a byte-order mark as UTF-8.
    return buffer.getvalue().encode("utf-8-sig")
