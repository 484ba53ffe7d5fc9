"""Reporting's HTTP interface: overviews, ledgers, assessment, feed status,
exports, and the households and cases behind every figure."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from fangpin.auth import CurrentPrincipal, Principal
from fangpin.contracts import Actor, Role
from fangpin.service import NotFound, RetryLostRace
from reporting import assessment as judge
from reporting.figures import FIGURES, figure
from reporting.ledger import csv_text, ledger, overview_table, table, xlsx
from reporting.overview import BadQuery, When, drill, household_history, overview
from reporting.parameters import (
    COUNTY_TZ,
    StepLimits,
    parameters,
)
from reporting.views import ReportingView

logger = logging.getLogger(__name__)
router = APIRouter(route_class=RetryLostRace)
AREA = re.compile(r"^\d{6}(\d{3}){0,2}$")


def reporting_view(request: Request) -> ReportingView:
    view: ReportingView = request.app.state.view
    return view


View = Annotated[ReportingView, Depends(reporting_view)]
Number = int | float | None
AreaParam = Annotated[
    str | None,
    Query(
        description="area code (6 digits district, 9 town, 12 village); "
        "yours when left out",
        pattern=r"^\d{6}(\d{3}){0,2}$",
    ),
]
GroupParam = Annotated[
    str | None, Query(description="a village group, within a village", max_length=10)
]
MonthParam = Annotated[
    str | None,
    Query(
        description="YYYY-MM; this month (or the as_of date's) when left out",
        pattern=r"^\d{4}-\d{2}$",
    ),
]
AsOfParam = Annotated[
    date | None,
    Query(description="as things stood at the end of this day (county time)"),
]
KnownOnParam = Annotated[
    date | None,
    Query(
        description="counting only what the platform knew by the end of this day; "
        "keeps an answer reproducible after late data arrives"
    ),
]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]


def _default(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def fast_json(payload: Any) -> Response:
    """The answer as JSON, written by the standard library's C encoder: the big
    answers (an overview, a ledger) are built to match their response models, and
    checking them field by field again would cost more than building them."""
    body = json.dumps(payload, ensure_ascii=False, default=_default)
    return Response(body.encode(), media_type="application/json")


def scope(
    principal: Principal, area: str | None, group: str | None
) -> tuple[str, str | None]:
    """The area asked for, if the official may see it (out of scope reads as 404,
    and is logged for audit)."""
    area = area or principal.area_code
    if not AREA.match(area):
        raise BadQuery(f"{area!r} is not an area code", "area")
    if principal.role is Role.GRID_MONITOR and principal.village_group:
        # A grid monitor sees the grid (village group) they look after, only.
        if group not in (None, principal.village_group):
            _refuse(principal, area)
        group = principal.village_group
    if not principal.covers(area, group):
        _refuse(principal, area)
    if group is not None and len(area) != 12:
        raise BadQuery("a village group is named within a village", "group")
    return area, group


def _refuse(principal: Principal, area: str) -> None:
    logger.warning(
        "refused: %s (%s, scope %s) asked for area %s",
        principal.user_id,
        principal.role.value,
        principal.area_code,
        area,
    )
    raise NotFound("area not found in your area", "area")


# --- response models ---------------------------------------------------------------


class Label(BaseModel):
    zh: str
    en: str
    unit: str


class MeasureOut(BaseModel):
    measure: str
    name_zh: str
    name_en: str
    unit: str
    assigned: Number
    grants: Number
    quantity: Number
    households: Number
    stopped: Number
    stopped_quantity: Number


class OverviewRow(BaseModel):
    area_code: str
    village_group: str | None
    name_zh: str | None
    name_en: str | None
    figures: dict[str, Number]
    measures: list[MeasureOut]
    drill: str = Field(description="replace {figure} to list what a figure counts")


class AreaOut(BaseModel):
    code: str
    level: str
    name_zh: str | None
    name_en: str | None


class OverviewOut(BaseModel):
    area: AreaOut
    group: str | None
    month: str
    as_of: date | None
    known_on: date | None
    catalogue: dict[str, Any] | None = Field(
        description="the indicator catalogue version in force"
    )
    columns: list[str]
    labels: dict[str, Label]
    rows: list[OverviewRow]
    total: OverviewRow


class FigureOut(BaseModel):
    name: str
    zh: str
    en: str
    kind: str
    unit: str
    parts: list[str]


class DrillItem(BaseModel):
    household_id: UUID
    area_code: str
    village_group: str
    value: Number
    case_ids: list[UUID]
    history: str
    timelines: list[str]
    event_id: UUID | None = None
    type: str | None = None
    occurred_at: datetime | None = None
    effective_at: datetime | None = None


class DrillOut(BaseModel):
    figure: str
    label: Label | None
    counts: str = Field(description="the figure whose households are listed")
    area: str
    group: str | None
    month: str
    as_of: date | None
    known_on: date | None
    total: int
    limit: int
    offset: int
    items: list[DrillItem]


class LedgerCell(BaseModel):
    month: int
    previous: int
    change: int


class LedgerRow(BaseModel):
    level: str
    area_code: str
    village_group: str | None
    name_zh: str | None
    name_en: str | None
    figures: dict[str, LedgerCell]
    drill: str = Field(description="replace {figure} to list what a figure counts")


class LedgerOut(BaseModel):
    area: str
    month: str
    previous_month: str
    columns: list[str]
    labels: dict[str, Label]
    rows: list[LedgerRow]


class IndicatorOut(BaseModel):
    count: int
    met: int
    missed: int
    pending: int
    rate: float | None
    median: float | None = None


class SubjectOut(BaseModel):
    subject: str
    indicators: dict[str, IndicatorOut]
    score: float | None
    items: str = Field(description="list the cases or records behind the scores")


class AssessmentOut(BaseModel):
    area: str
    start: date
    end: date
    labels: dict[str, dict[str, str]]
    towns: list[SubjectOut]
    departments: list[SubjectOut]


class AssessmentItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    subject: str
    indicator: str
    outcome: str
    household_id: UUID | None
    case_id: UUID | None


class AssessmentItems(BaseModel):
    total: int
    items: list[AssessmentItem]


class FeedOut(BaseModel):
    department: str
    month: str
    deadline: datetime
    status: Literal["on_time", "late", "open", "missing"]
    matched: int
    on_time: int
    late: int
    rejected: int
    records: str


class FeedRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    record_id: str
    kind: str
    outcome: str
    arrived_at: datetime
    household_id: UUID | None = None


class TownCases(BaseModel):
    town_code: str
    open: int
    closed: int


class TimelineEntry(BaseModel):
    event_id: UUID
    type: str
    producer: str
    occurred_at: datetime = Field(description="when the producer stored it")
    effective_at: datetime = Field(description="when the fact it reports held")
    actor: Actor
    household_id: UUID | None
    case_id: UUID | None
    causation_id: UUID | None
    correlation_id: UUID
    data: dict[str, Any]


class HistoryEvent(TimelineEntry):
    effective_on: date
    month: str


class HistoryOut(BaseModel):
    household_id: UUID
    as_of: date | None
    known_on: date | None
    catalogue_in_force: dict[str, Any] | None
    state: dict[str, Any]
    figures: dict[str, Number]
    events: list[HistoryEvent]


# --- overview and the lists behind it ----------------------------------------------


@router.get("/overview", response_model=OverviewOut, tags=["overview"])
def get_overview(
    principal: CurrentPrincipal,
    view: View,
    area: AreaParam = None,
    group: GroupParam = None,
    month: MonthParam = None,
    as_of: AsOfParam = None,
    known_on: KnownOnParam = None,
) -> Response:
    """Households, targets by type, people, income, cases by step, warnings and aid
    by measure: one row per town (of a district), village (of a town) or village
    group (of a village), and the total. Live unless ``as_of`` or ``known_on``."""
    area, group = scope(principal, area, group)
    return fast_json(overview(view, area, group, When.of(month, as_of, known_on)))


@router.get("/overview/export", tags=["overview"], response_class=Response)
def export_overview(
    principal: CurrentPrincipal,
    view: View,
    area: AreaParam = None,
    group: GroupParam = None,
    month: MonthParam = None,
    as_of: AsOfParam = None,
    known_on: KnownOnParam = None,
    format: Literal["xlsx", "csv"] = "xlsx",
    lang: Literal["zh", "en"] = "zh",
) -> Response:
    """The overview as a spreadsheet (Chinese headers unless ``lang=en``)."""
    area, group = scope(principal, area, group)
    when = When.of(month, as_of, known_on)
    headers, lines = overview_table(overview(view, area, group, when), lang)
    return _sheet(f"overview-{area}-{when.month}", "概况", headers, lines, format)


@router.get("/figures", response_model=list[FigureOut], tags=["overview"])
def list_figures(_: CurrentPrincipal) -> list[FigureOut]:
    """Every figure with its labels. Aid figures are also named per measure:
    ``aid.<measure>.<unit>.grants|quantity|households|stopped|stopped_quantity``
    and ``assigned.<measure>``."""
    return [
        FigureOut(
            name=item.name,
            zh=item.zh,
            en=item.en,
            kind=item.kind,
            unit=item.unit,
            parts=list(item.parts),
        )
        for item in FIGURES.values()
    ]


@router.get("/figures/{name}", response_model=DrillOut, tags=["overview"])
def drill_figure(
    name: str,
    principal: CurrentPrincipal,
    view: View,
    area: AreaParam = None,
    group: GroupParam = None,
    month: MonthParam = None,
    as_of: AsOfParam = None,
    known_on: KnownOnParam = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """The households (and their cases) a figure counts, with the same filters as
    the overview; each links to its history and its cases' timelines."""
    if figure(name) is None:
        raise NotFound(f"unknown figure {name!r}; GET /figures lists them", "name")
    area, group = scope(principal, area, group)
    when = When.of(month, as_of, known_on)
    return fast_json(drill(view, name, area, group, when, limit, offset))


# --- the monthly work ledger ---------------------------------------------------------


@router.get("/ledger", response_model=LedgerOut, tags=["ledger"])
def get_ledger(
    principal: CurrentPrincipal,
    view: View,
    area: AreaParam = None,
    month: MonthParam = None,
    group: GroupParam = None,
) -> Response:
    """The monthly work ledger (工作台账) per town, village and village group:
    reported, flagged, decided, done and closed, with the change since last month.
    A grid monitor gets their own village group's row. Each figure's cases:
    GET /figures/month.<figure>?area=…&month=…"""
    area, group = scope(principal, area, group)
    return fast_json(ledger(view, area, When.of(month, None, None).month, group))


@router.get("/ledger/export", tags=["ledger"], response_class=Response)
def export_ledger(
    principal: CurrentPrincipal,
    view: View,
    area: AreaParam = None,
    month: MonthParam = None,
    format: Literal["xlsx", "csv"] = "xlsx",
    lang: Literal["zh", "en"] = "zh",
    group: GroupParam = None,
) -> Response:
    """The ledger as a spreadsheet (Chinese headers unless ``lang=en``)."""
    area, group = scope(principal, area, group)
    chosen = When.of(month, None, None).month
    headers, lines = table(ledger(view, area, chosen, group), lang)
    return _sheet(f"ledger-{area}-{chosen}", "工作台账", headers, lines, format)


def _sheet(
    name: str, title: str, headers: list[str], lines: list[list[Any]], format: str
) -> Response:
    if format == "csv":
        return Response(
            csv_text(headers, lines),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return Response(
        xlsx(title, headers, lines),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )


# --- assessment and department feeds -------------------------------------------------


def _period(start: date | None, end: date | None) -> tuple[date, date]:
    today = datetime.now(COUNTY_TZ).date()
    end = end or today
    start = start or date(end.year, 1, 1)
    if start > end:
        raise BadQuery("start comes after end", "start")
    return start, end


def _own_department(principal: Principal) -> str | None:
    """A department's officials see their own department's figures."""
    return principal.department if principal.role is Role.DEPARTMENT else None


@router.get("/assessment", response_model=AssessmentOut, tags=["assessment"])
def get_assessment(
    principal: CurrentPrincipal,
    view: View,
    area: AreaParam = None,
    start: date | None = None,
    end: date | None = None,
) -> dict[str, Any]:
    """Towns and departments scored from events alone: first visits and decisions
    within their limits, steps overdue and escalated, re-entries, records pushed
    on time, measures delivered by their due date. Weights and limits:
    GET /parameters. The cases behind each score: its ``items`` link."""
    area, _ = scope(principal, area, None)
    start, end = _period(start, end)
    found = judge.assess(
        view, area, start, end, datetime.now(UTC), _own_department(principal)
    )
    summary_towns, summary_departments = found.summary()
    period = f"start={start.isoformat()}&end={end.isoformat()}"

    def subjects(summary: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "subject": subject,
                **found,
                "items": f"/assessment/items?subject={subject}&area={area}&{period}",
            }
            for subject, found in summary.items()
        ]

    return {
        "area": area,
        "start": start,
        "end": end,
        "labels": {
            name: {"zh": zh, "en": en}
            for name, (zh, en) in {
                **judge.TOWN_INDICATORS,
                **judge.DEPARTMENT_INDICATORS,
            }.items()
        },
        "towns": subjects(summary_towns),
        "departments": subjects(summary_departments),
    }


@router.get("/assessment/items", response_model=AssessmentItems, tags=["assessment"])
def assessment_items(
    principal: CurrentPrincipal,
    view: View,
    subject: Annotated[str, Query(pattern=r"^(town|department):[a-z0-9_]+$")],
    area: AreaParam = None,
    indicator: str | None = None,
    outcome: Literal["met", "missed", "pending", "counted"] | None = None,
    start: date | None = None,
    end: date | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """The cases, steps or records behind an assessment score, each with links to
    the household's history and the case's timeline."""
    area, _ = scope(principal, area, None)
    if subject.startswith("town:") and not principal.covers(subject[5:]):
        _refuse(principal, subject[5:])
    start, end = _period(start, end)
    judged = judge.assess(
        view, area, start, end, datetime.now(UTC), _own_department(principal)
    )
    found = [
        item
        for item in judged.items
        if item.subject == subject
        and (indicator is None or item.indicator == indicator)
        and (outcome is None or item.outcome == outcome)
    ]
    return {
        "total": len(found),
        "items": [item.as_json() for item in found[offset : offset + limit]],
    }


@router.get("/feeds", response_model=list[FeedOut], tags=["department feeds"])
def feeds(
    principal: CurrentPrincipal,
    view: View,
    area: AreaParam = None,
    start_month: MonthParam = None,
    end_month: MonthParam = None,
) -> list[dict[str, Any]]:
    """Each department's records per month: on time (in by the 10th of the next
    month), late, matched and rejected. A record counts for the month it is
    about, however late it came; rejected records carry no date and count for
    the month they came in."""
    area, _ = scope(principal, area, None)
    today = datetime.now(COUNTY_TZ).date()
    last = end_month or today.strftime("%Y-%m")
    first = start_month or f"{last[:4]}-01"
    if first > last:
        raise BadQuery("start_month comes after end_month", "start_month")
    found = judge.feeds(view, area, first, last, datetime.now(UTC))
    own = _own_department(principal)
    return [row for row in found if own in (None, row["department"])]


@router.get(
    "/feeds/{department}/{month}",
    response_model=list[FeedRecord],
    tags=["department feeds"],
)
def feed_records(
    department: str,
    month: Annotated[str, Path(pattern=r"^\d{4}-\d{2}$")],
    principal: CurrentPrincipal,
    view: View,
    area: AreaParam = None,
    outcome: Literal["on_time", "late", "rejected"] | None = None,
) -> list[dict[str, Any]]:
    """The records behind a feed's figures, with links to the households."""
    area, _ = scope(principal, area, None)
    if _own_department(principal) not in (None, department):
        raise NotFound("feed not found in your area", "department")
    return judge.feed_records(view, area, department, month, outcome)


# --- one household, one case -------------------------------------------------------


@router.get(
    "/households/{household_id}/history",
    response_model=HistoryOut,
    tags=["history"],
)
def get_household_history(
    household_id: UUID,
    principal: CurrentPrincipal,
    view: View,
    as_of: AsOfParam = None,
    known_on: KnownOnParam = None,
) -> dict[str, Any]:
    """The household's flags, cases and their steps, plan, measures, grants and
    income as they stood (reporting holds no personal data), and every event about
    it with when it held and when the platform knew it."""
    found = view.household_home(household_id)
    if found is None or not principal.covers(
        found["area_code"], found["village_group"]
    ):
        raise NotFound("household not found in your area")
    return household_history(view, household_id, When.of(None, as_of, known_on))


@router.get(
    "/overview/cases-by-town", response_model=list[TownCases], tags=["overview"]
)
def cases_by_town(principal: CurrentPrincipal, view: View) -> list[dict[str, Any]]:
    """Open and closed cases per town, within your area."""
    return view.cases_by_town(principal.area_code)


@router.get(
    "/cases/{case_id}/timeline", response_model=list[TimelineEntry], tags=["history"]
)
def case_timeline(
    case_id: UUID, principal: CurrentPrincipal, view: View
) -> list[dict[str, Any]]:
    """Every event of every service about this case, in order, with actor and cause."""
    area = view.case_area(case_id)
    if area is None or not principal.covers(area):
        raise NotFound("case not found in your area")
    return view.case_timeline(case_id)


@router.get("/parameters", tags=["assessment"])
def get_parameters(_: CurrentPrincipal, view: View) -> dict[str, object]:
    """The time limits and working calendar in force now (casework's, as it
    published them), the feed deadline, the county clock and the score weights."""
    return parameters(StepLimits.from_events(view.limit_changes()))
