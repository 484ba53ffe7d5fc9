"""Dates, money and area names as officials read them, in either language."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from fangpin.areas import DEMO_COUNTY, DEMO_TOWNS, DEMO_VILLAGES
from fangpin.measures import MEASURES

# China keeps one time zone and no daylight saving, so a fixed offset is exact.
CHINA = timezone(timedelta(hours=8), "CST")
MONTHS_EN = [
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
]


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and "T" in value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CHINA)


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return _as_datetime(value).date()  # type: ignore[union-attr]
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        moment = _as_datetime(value)
        if moment is not None:
            return moment.date()
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def format_date(value: Any, lang: str) -> str:
    """2026年12月3日 / 3 Dec 2026."""
    day = _as_date(value)
    if day is None:
        return "" if value is None else str(value)
    if lang == "zh":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {MONTHS_EN[day.month - 1]} {day.year}"


def format_datetime(value: Any, lang: str) -> str:
    """China Standard Time, to the minute."""
    moment = _as_datetime(value)
    if moment is None:
        return format_date(value, lang)
    return f"{format_date(moment, lang)} {moment:%H:%M}"


def format_money(value: Any, lang: str) -> str:
    """Yuan with two decimals and thousands separators: 1,234.50 元 / ¥1,234.50."""
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    except InvalidOperation:
        return str(value)
    text = f"{amount:,.2f}"
    return f"{text} 元" if lang == "zh" else f"¥{text}"


def format_number(value: Any) -> str:
    """A quantity in its own unit: no trailing zeros, thousands separated."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if number == number.to_integral_value():
        return f"{int(number):,}"
    return f"{number.normalize():,f}"


def area_name(code: str | None, lang: str) -> str:
    """The town or village name where the platform knows it, else the code."""
    if not code:
        return ""
    index = 0 if lang == "zh" else 1
    if code in DEMO_VILLAGES:
        village = DEMO_VILLAGES[code][index]
        town = DEMO_TOWNS.get(code[:9])
        return f"{town[index]} {village}" if town else village
    if code in DEMO_TOWNS:
        return DEMO_TOWNS[code][index]
    if code == DEMO_COUNTY["code"]:
        return DEMO_COUNTY["name_zh" if lang == "zh" else "name_en"]
    return code


def measure_name(code: str | None, lang: str) -> str:
    """A measure's name from the shared catalogue of measures, else its code."""
    measure = MEASURES.get(code or "")
    if measure is None:
        return code or ""
    return measure.name_zh if lang == "zh" else measure.name_en
