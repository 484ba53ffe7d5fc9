"""The overview by area and the lists behind each figure, live or as of a date.

Live, the state figures are the projection's running sums; as of a past date they
are folded again from the stored events effective by the end of that day (and,
with ``known_on``, stored by the end of that day). Both paths hand the same raw
sums to :func:`compose`, so a figure means the same thing either way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from itertools import groupby
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fangpin.areas import DEMO_COUNTY, DEMO_TOWNS, DEMO_VILLAGES
from fangpin.measures import MEASURES
from fangpin.service import DomainError
from reporting.figures import (
    AID_PARTS,
    OVERVIEW_FIGURES,
    Figure,
    figure,
    labels,
)
from reporting.parameters import (
    COUNTY_TZ,
    county_day,
    day_end,
    month_bounds,
    month_of,
)
from reporting.state import HouseholdState, Recorded, contribution, fold
from reporting.views import ReportingView, child_length

StateSums = dict[str, dict[str, Decimal]]
MonthCounts = dict[str, dict[str, int]]
LEVELS = {6: "district", 9: "town", 12: "village"}
CENT = Decimal("0.01")


class BadQuery(DomainError):
    """A query parameter that cannot be used; the text says which and why."""


@dataclass(frozen=True)
class When:
    """The month asked about, and the moment the answer stands at."""

    month: str
    as_of: date | None = None
    known_on: date | None = None

    @classmethod
    def of(
        cls,
        month: str | None,
        as_of: date | None,
        known_on: date | None,
        today: date | None = None,
    ) -> When:
        # "As known on" a day, without a date of its own, answers for that day.
        if as_of is None and known_on is not None:
            as_of = known_on
        chosen = month or (
            as_of.strftime("%Y-%m")
            if as_of
            else (today or datetime.now(COUNTY_TZ).date()).strftime("%Y-%m")
        )
        try:
            month_bounds(chosen)
        except ValueError as error:
            raise BadQuery(str(error)) from None
        return cls(chosen, as_of, known_on)

    @property
    def historical(self) -> bool:
        return self.as_of is not None or self.known_on is not None

    @property
    def effective_before(self) -> datetime | None:
        return day_end(self.as_of) if self.as_of else None

    @property
    def known_before(self) -> datetime | None:
        return day_end(self.known_on) if self.known_on else None

    def month_range(self) -> tuple[datetime, datetime]:
        start, end = month_bounds(self.month)
        cut = self.effective_before
        return start, min(end, cut) if cut else end

    def params(self) -> dict[str, str]:
        found = {"month": self.month}
        if self.as_of:
            found["as_of"] = self.as_of.isoformat()
        if self.known_on:
            found["known_on"] = self.known_on.isoformat()
        return found


def area_names(code: str) -> tuple[str | None, str | None]:
    if code == DEMO_COUNTY["code"]:
        return DEMO_COUNTY["name_zh"], DEMO_COUNTY["name_en"]
    return DEMO_TOWNS.get(code) or DEMO_VILLAGES.get(code) or (None, None)


def number(value: Decimal | int | None) -> int | float | None:
    """Counts as integers, amounts to the fen, for JSON."""
    if value is None:
        return None
    amount = Decimal(value)
    if amount == amount.to_integral_value():
        return int(amount)
    return float(amount.quantize(CENT, rounding=ROUND_HALF_UP))


def month_value(item: Figure, counts: dict[str, int]) -> int:
    return sum(counts.get(part, 0) for part in item.parts)


_SHOWN = [(name, figure(name)) for name in OVERVIEW_FIGURES]
# The event types the overview's month figures count (new targets, exits).
OVERVIEW_MONTH_TYPES = sorted(
    {
        part.split(":")[0]
        for _, item in _SHOWN
        if item is not None and item.kind == "month"
        for part in item.parts
    }
)


def figure_values(state: dict[str, Decimal], month: dict[str, int]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, item in _SHOWN:
        assert item is not None
        if item.kind == "state":
            values[name] = number(state.get(name, Decimal(0)))
        elif item.kind == "month":
            values[name] = month_value(item, month)
        else:
            numerator, denominator = (state.get(part) for part in item.parts)
            values[name] = (
                number(numerator / denominator)
                if numerator is not None and denominator
                else None
            )
    return values


def measure_rows(state: dict[str, Decimal]) -> list[dict[str, Any]]:
    """Aid by measure and unit: active grants, quantity, households reached, and
    the stopped grants apart; plus how often the measure was assigned."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    assigned: dict[str, int] = {}
    for name, value in state.items():
        parts = name.split(".")
        if parts[0] == "aid" and len(parts) == 4 and parts[3] in AID_PARTS:
            row = found.setdefault((parts[1], parts[2]), _measure_row(*parts[1:3]))
            row[parts[3]] = number(value)
        elif parts[0] == "assigned" and len(parts) == 2:
            assigned[parts[1]] = int(value)
    for code, count in assigned.items():
        unit = MEASURES[code].unit if code in MEASURES else ""
        matching = [row for key, row in found.items() if key[0] == code]
        if not matching:
            matching = [found.setdefault((code, unit), _measure_row(code, unit))]
        matching[0]["assigned"] = count
    return [found[key] for key in sorted(found)]


def _measure_row(code: str, unit: str) -> dict[str, Any]:
    measure = MEASURES.get(code)
    return {
        "measure": code,
        "name_zh": measure.name_zh if measure else code,
        "name_en": measure.name_en if measure else code,
        "unit": unit,
        "assigned": 0,
        **{part: 0 for part in AID_PARTS},
    }


def compose(
    area: str,
    group: str | None,
    when: When,
    state: StateSums,
    month: MonthCounts,
    catalogue: dict[str, Any] | None,
) -> dict[str, Any]:
    """The overview: one row per child area (or village group) and the total."""
    children = sorted(set(state) | set(month))
    if group is not None:
        children = [child for child in children if child == group]
    below_village = child_length(area) is None
    query = when.params()

    def row(code: str, child_group: str | None, keys: list[str]) -> dict[str, Any]:
        sums = _add(state.get(key, {}) for key in keys)
        counts = _add_counts(month.get(key, {}) for key in keys)
        name_zh, name_en = area_names(code)
        params = {"area": code, **query}
        if child_group is not None:
            params["group"] = child_group
        return {
            "area_code": code,
            "village_group": child_group,
            "name_zh": name_zh,
            "name_en": name_en,
            "figures": figure_values(sums, counts),
            "measures": measure_rows(sums),
            "drill": "/figures/{figure}?" + urlencode(params),
        }

    rows = [
        row(area, child, [child]) if below_village else row(child, None, [child])
        for child in children
    ]
    total = row(area, group, children)
    name_zh, name_en = area_names(area)
    return {
        "area": {
            "code": area,
            "level": LEVELS.get(len(area), "village"),
            "name_zh": name_zh,
            "name_en": name_en,
        },
        "group": group,
        **_when(when),
        "catalogue": catalogue,
        "columns": OVERVIEW_FIGURES,
        "labels": labels(OVERVIEW_FIGURES),
        "rows": rows,
        "total": total,
    }


def _when(when: When) -> dict[str, Any]:
    return {"month": when.month, "as_of": when.as_of, "known_on": when.known_on}


def _add(items: Iterable[dict[str, Decimal]]) -> dict[str, Decimal]:
    total: dict[str, Decimal] = defaultdict(Decimal)
    for item in items:
        for name, value in item.items():
            total[name] += Decimal(value)
    return total


def _add_counts(items: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = defaultdict(int)
    for item in items:
        for name, value in item.items():
            total[name] += value
    return total


# --- live ------------------------------------------------------------------------


def live_overview(
    view: ReportingView, area: str, group: str | None, when: When
) -> dict[str, Any]:
    start, end = when.month_range()
    state = defaultdict(dict, view.figure_sums(area, group))
    month = defaultdict(
        dict, view.month_counts(area, group, start, end, OVERVIEW_MONTH_TYPES)
    )
    catalogue = view.catalogue_in_force(datetime.now(COUNTY_TZ))
    return compose(area, group, when, state, month, catalogue)


# --- as of a date ----------------------------------------------------------------


def households_as_of(
    view: ReportingView, area: str, when: When
) -> Iterator[tuple[HouseholdState, list[Recorded]]]:
    """Each household that ever had an event in the area, folded as it stood."""
    events = view.stream_area_events(area, when.effective_before, when.known_before)
    for household_id, items in groupby(events, key=lambda event: event.household_id):
        if household_id is None:
            continue
        history = list(items)
        yield fold(household_id, history), history


def _place(area: str, village: str, group: str) -> str | None:
    """The child of ``area`` (a town, village or village group) a place is in."""
    if not village or not village.startswith(area):
        return None
    length = child_length(area)
    return group if length is None else village[:length]


def _child(area: str, state: HouseholdState) -> str | None:
    return _place(area, state.area_code, state.village_group)


def event_group(event: Recorded, household: HouseholdState) -> str:
    """The village group an event happened in (see ``views.EVENT_GROUP``)."""
    if household.area_code == event.data.get("area_code"):
        return household.village_group
    return ""


def historical_overview(
    view: ReportingView, area: str, group: str | None, when: When
) -> dict[str, Any]:
    start, end = when.month_range()
    state: StateSums = defaultdict(lambda: defaultdict(Decimal))
    month: MonthCounts = defaultdict(lambda: defaultdict(int))
    for household, history in households_as_of(view, area, when):
        child = _child(area, household)
        if child is not None and group in (None, household.village_group):
            for name, share in contribution(household).items():
                state[child][name] += share.value

        # Month figures count where each event happened.
        for event in history:
            if event.type not in OVERVIEW_MONTH_TYPES:
                continue
            if not start <= event.effective_at < end:
                continue
            happened_in = event_group(event, household)
            if group not in (None, happened_in):
                continue
            child = _place(area, event.data.get("area_code", ""), happened_in)
            if child is None:
                continue
            month[child][event.type] += 1
            if event.type == "CaseOpened" and event.data.get("reentry"):
                month[child]["CaseOpened:reentry"] += 1

    moment = when.effective_before or datetime.now(COUNTY_TZ)
    catalogue = view.catalogue_in_force(moment, when.known_before)
    return compose(area, group, when, state, month, catalogue)


def overview(
    view: ReportingView, area: str, group: str | None, when: When
) -> dict[str, Any]:
    if when.historical:
        return historical_overview(view, area, group, when)
    return live_overview(view, area, group, when)


# --- the lists behind the figures ------------------------------------------------


def _links(household_id: Any, cases: Iterable[Any]) -> dict[str, Any]:
    return {
        "history": f"/households/{household_id}/history",
        "timelines": [f"/cases/{case}/timeline" for case in cases],
    }


def drill(
    view: ReportingView,
    name: str,
    area: str,
    group: str | None,
    when: When,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """The households or events a figure counts, with the same filters."""
    item = figure(name)
    if item is None:
        raise BadQuery(f"unknown figure {name!r}; GET /figures lists them")
    if item.kind == "ratio":
        # A ratio counts the households in its denominator.
        base = figure(item.parts[1])
        assert base is not None
        item = base
    if item.kind == "month":
        total, items = _month_items(view, item, area, group, when, limit, offset)
    elif when.historical:
        total, items = _state_items_as_of(
            view, item.name, area, group, when, limit, offset
        )
    else:
        total, found = view.figure_households(area, group, item.name, limit, offset)
        items = [
            {
                "household_id": row["household_id"],
                "area_code": row["area_code"],
                "village_group": row["village_group"],
                "value": number(Decimal(row["value"])),
                "case_ids": row["cases"],
                **_links(row["household_id"], row["cases"]),
            }
            for row in found
        ]
    return {
        "figure": name,
        "label": labels([name]).get(name),
        "counts": item.name,
        "area": area,
        "group": group,
        **_when(when),
        "total": total,
        "limit": limit,
        "offset": offset,
        "items": items,
    }


def _month_items(
    view: ReportingView,
    item: Figure,
    area: str,
    group: str | None,
    when: When,
    limit: int,
    offset: int,
) -> tuple[int, list[dict[str, Any]]]:
    types = sorted({part.split(":")[0] for part in item.parts})
    reentry_only = any(part.endswith(":reentry") for part in item.parts)
    start, end = when.month_range()
    if when.historical:
        found = []
        for household, history in households_as_of(view, area, when):
            for event in history:
                if event.type not in types or not start <= event.effective_at < end:
                    continue
                if reentry_only and not event.data.get("reentry"):
                    continue
                village = event.data.get("area_code", "")
                happened_in = event_group(event, household)
                if _place(area, village, happened_in) is None:
                    continue
                if group not in (None, happened_in):
                    continue
                found.append(
                    {
                        "event_id": event.event_id,
                        "type": event.type,
                        "occurred_at": event.occurred_at,
                        "effective_at": event.effective_at,
                        "household_id": household.household_id,
                        "case_id": event.case_id,
                        "area_code": village,
                        "village_group": happened_in,
                    }
                )
        found.sort(key=lambda row: (row["effective_at"], row["event_id"]))
        total, page = len(found), found[offset : offset + limit]
    else:
        total, page = view.month_events(
            area, group, types, reentry_only, start, end, limit, offset
        )
    return total, [
        {
            **row,
            "value": 1,
            "case_ids": [row["case_id"]] if row["case_id"] else [],
            **_links(row["household_id"], [row["case_id"]] if row["case_id"] else []),
        }
        for row in page
    ]


def _state_items_as_of(
    view: ReportingView,
    name: str,
    area: str,
    group: str | None,
    when: When,
    limit: int,
    offset: int,
) -> tuple[int, list[dict[str, Any]]]:
    found = []
    for household, _ in households_as_of(view, area, when):
        if _child(area, household) is None:
            continue
        if group is not None and household.village_group != group:
            continue
        share = contribution(household).get(name)
        if share is None:
            continue
        found.append(
            {
                "household_id": household.household_id,
                "area_code": household.area_code,
                "village_group": household.village_group,
                "value": number(share.value),
                "case_ids": list(share.cases),
                **_links(household.household_id, share.cases),
            }
        )
    found.sort(
        key=lambda row: (
            row["area_code"],
            row["village_group"],
            str(row["household_id"]),
        )
    )
    return len(found), found[offset : offset + limit]


# --- one household ---------------------------------------------------------------


def household_history(
    view: ReportingView, household_id: UUID, when: When
) -> dict[str, Any]:
    """The household as it stood (no personal data: reporting never has any) and
    every event about it, with when each became true and when it was known."""
    events = view.household_events(
        household_id, when.effective_before, when.known_before
    )
    own = [
        Recorded(
            event_id=str(row["event_id"]),
            type=row["type"],
            occurred_at=row["occurred_at"],
            effective_at=row["effective_at"],
            household_id=str(row["household_id"]),
            case_id=str(row["case_id"]) if row["case_id"] else None,
            data=row["data"],
        )
        for row in events
        if row["household_id"] == household_id
    ]
    state = fold(str(household_id), own)
    moment = when.effective_before or datetime.now(COUNTY_TZ)
    catalogue = view.catalogue_in_force(moment, when.known_before)
    shares = contribution(state)
    return {
        "household_id": household_id,
        "as_of": when.as_of,
        "known_on": when.known_on,
        "catalogue_in_force": catalogue,
        "state": state.as_json(),
        "figures": {name: number(share.value) for name, share in shares.items()},
        "events": [
            {
                **row,
                "effective_on": county_day(row["effective_at"]),
                "month": month_of(row["effective_at"]),
            }
            for row in events
        ],
    }
