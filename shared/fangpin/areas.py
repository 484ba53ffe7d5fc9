"""Statistical area codes: 6 digits county, 9 town, 12 village.

A user's scope is a prefix of the code: a town official with ``510904101`` sees every
village whose code starts with it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

# Every county the platform serves keeps China Standard Time: a day, a month and a
# working day are counted on this clock, whatever the servers' zone.
COUNTY_TIME = timezone(timedelta(hours=8), "CST")


def county_today() -> date:
    return datetime.now(COUNTY_TIME).date()


def county_date(moment: datetime) -> date:
    """The county's calendar day at a moment (stored times are UTC)."""
    return moment.astimezone(COUNTY_TIME).date()


def town_of(area_code: str) -> str:
    return area_code[:9]


def county_of(area_code: str) -> str:
    return area_code[:6]


def within(scope: str, area_code: str) -> bool:
    return area_code.startswith(scope)


# The demo county loaded by `fangpin run`; Chinese names first, as officials see them.
DEMO_COUNTY = {"code": "510904", "name_zh": "安居区（演示）", "name_en": "Anju (demo)"}
DEMO_TOWNS = {
    "510904101": ("安居镇", "Anju Town"),
    "510904102": ("东禅镇", "Dongchan Town"),
    "510904103": ("白马镇", "Baima Town"),
}
DEMO_VILLAGES = {
    "510904101201": ("石洞村", "Shidong Village"),
    "510904101202": ("莲花村", "Lianhua Village"),
    "510904102201": ("红光村", "Hongguang Village"),
    "510904102202": ("清水村", "Qingshui Village"),
    "510904103201": ("柏林村", "Bailin Village"),
    "510904103202": ("新桥村", "Xinqiao Village"),
}
