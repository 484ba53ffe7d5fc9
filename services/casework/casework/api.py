"""Casework's HTTP interface: the officials' queues, the cases and their steps."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from casework.application import CaseworkApplication
from casework.domain import Case
from casework.steps import LEVEL_OF_STEP, Step
from casework.views import LEVEL_OF_ROLE, QueueView
from fangpin.areas import within
from fangpin.auth import CurrentPrincipal, Principal
from fangpin.contracts import PlannedMeasure, Role, TargetType
from fangpin.service import (
    DomainError,
    Forbidden,
    NotFound,
    RetryLostRace,
    Runtime,
    runtime_of,
)

router = APIRouter(route_class=RetryLostRace)
logger = logging.getLogger(__name__)

# A county (6 digits), a town (9) or a village (12).
AREA_CODE = re.compile(r"^\d{6}(?:\d{3}){0,2}$")


def casework(request: Request) -> CaseworkApplication:
    app = runtime_of(request).app
    assert isinstance(app, CaseworkApplication)
    return app


def queue_view(request: Request) -> QueueView:
    view: QueueView = request.app.state.queue_view
    return view


Casework = Annotated[CaseworkApplication, Depends(casework)]
Queue = Annotated[QueueView, Depends(queue_view)]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


class QueueItem(BaseModel):
    case_id: UUID
    household_id: UUID
    area_code: str
    town_code: str
    step: str
    level: str
    urgent: bool
    reentry: bool
    signals: int
    target_type: str | None
    opened_at: datetime
    step_started_at: datetime
    due_at: datetime
    state: str = Field(description="on_time, overdue (orange) or escalated (red)")


class QueueOut(BaseModel):
    total: int
    overdue: int
    escalated: int
    counts: dict[str, int]
    cases: list[QueueItem]


class CaseOut(BaseModel):
    case_id: UUID
    household_id: UUID
    area_code: str
    town_code: str
    status: str
    step: str
    level: str | None
    urgent: bool
    signals: int
    consent: bool
    target_type: str | None
    plan: dict[str, Any] | None
    progress: list[dict[str, Any]]
    exited: bool
    due_at: datetime | None


def queue_area(principal: Principal, area: str | None) -> str:
    """The area the queue covers: the official's own, or a town or village in it.

    An area outside theirs reads as not found, as the other services answer, and
    the refusal is logged for audit."""
    if area is None:
        return principal.area_code
    if not AREA_CODE.match(area):
        raise DomainError(
            f"{area!r} is not an area code (6 digits for a county, 9 for a town, "
            "12 for a village)",
            "area",
        )
    if not within(principal.area_code, area):
        logger.warning(
            "queue refused: %s (%s, scope %s) asked for area %s",
            principal.user_id,
            principal.role.value,
            principal.area_code,
            area,
        )
        raise NotFound("area not found in your area", "area")
    return area


@router.get("/queue", response_model=QueueOut, tags=["queue"])
def my_queue(
    principal: CurrentPrincipal,
    view: Queue,
    step: Step | None = None,
    overdue: bool | None = None,
    escalated: bool | None = None,
    urgent: bool | None = None,
    area: Annotated[
        str | None,
        Query(description="a town or village inside your area; yours when left out"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """What waits on you: your level's steps in your area (or in one of its towns
    or villages), and the lower level's steps escalated to you, oldest deadline
    first (working days counted by the district's calendar), with counts by step
    and the overdue (orange) and escalated (red) ones.

    The queue is for those who take case steps. Departments and auditors take
    none and are refused (403). A grid monitor of a village group gets an empty
    queue: they open only their group's cases, and a case does not record it."""
    if principal.role not in LEVEL_OF_ROLE:
        raise Forbidden(
            "the queue holds the case steps of grid monitors and village, town "
            "and district officials"
        )
    scope = queue_area(principal, area)
    if principal.role is Role.GRID_MONITOR and principal.village_group is not None:
        # They open only their own group's cases (Principal.covers), and a case
        # does not record its household's group: none can be listed as theirs.
        return {"total": 0, "overdue": 0, "escalated": 0, "counts": {}, "cases": []}
    filters = {
        "step": step.value if step else None,
        "overdue": overdue,
        "escalated": escalated,
        "urgent": urgent,
    }
    found = view.queue(principal.role, scope, filters, limit, offset)
    for row in found["cases"]:
        row["state"] = (
            "escalated"
            if row["escalated"]
            else "overdue"
            if row["overdue"]
            else "on_time"
        )
    return found


def _case_out(app: CaseworkApplication, case: Case) -> CaseOut:
    due = None
    if case.step in LEVEL_OF_STEP:
        due, _ = app.deadline_rules().deadlines(case.step, case.step_started_at)
    return CaseOut(
        case_id=case.id,
        household_id=case.household_id,
        area_code=case.area_code,
        town_code=case.town_code,
        status=case.status,
        step=case.step.value,
        level=case.level.value if case.level else None,
        urgent=case.urgent,
        signals=len(case.signals),
        consent=case.consent,
        target_type=case.target_type,
        plan=case.plan,
        progress=case.progress,
        exited=case.exited,
        due_at=due,
    )


@router.get("/cases/{case_id}", response_model=CaseOut, tags=["cases"])
def get_case(case_id: UUID, principal: CurrentPrincipal, app: Casework) -> CaseOut:
    return _case_out(app, app.case(case_id, principal))


class HistoryEntry(BaseModel):
    version: int
    type: str
    at: datetime
    actor: dict[str, Any] | None
    details: dict[str, Any]


_HIDDEN = {
    "originator_id",
    "originator_version",
    "timestamp",
    "meta",
    "originator_topic",
}


@router.get(
    "/cases/{case_id}/history", response_model=list[HistoryEntry], tags=["cases"]
)
def case_history(
    case_id: UUID, principal: CurrentPrincipal, app: Casework
) -> list[HistoryEntry]:
    """The case's own record in casework, step by step, with who, when and why
    (reporting's timeline adds the other services' events)."""
    app.case(case_id, principal)
    return [
        HistoryEntry(
            version=event.originator_version,
            type=type(event).__name__,
            at=event.__dict__["timestamp"],
            actor=event.__dict__.get("meta", {}).get("actor"),
            details={
                name: value
                for name, value in event.__dict__.items()
                if name not in _HIDDEN
            },
        )
        for event in app.events.get(case_id)
    ]


Command = Callable[[Case, dict[str, Any]], None]


def _step(
    case_id: UUID,
    principal: CurrentPrincipal,
    app: CaseworkApplication,
    runtime: Runtime,
    step: Step,
    command: Command,
) -> CaseOut:
    """Complete ``step`` of the case by ``command``."""
    case = app.act(case_id, principal, command, step)
    runtime.committed()
    return _case_out(app, case)


class VisitIn(BaseModel):
    consent: bool = Field(description="the household signed its consent")
    findings: str = Field(min_length=1, max_length=4000)


class NoticeIn(BaseModel):
    starts_on: date
    ends_on: date
    proposed_type: TargetType | None = Field(
        default=None,
        description="the target type the village review proposes; without it the "
        "notice shows the type screening's open flags point to",
    )


class VillageReviewIn(BaseModel):
    objections: bool
    summary: str = Field(min_length=1, max_length=4000)


class TownCheckIn(BaseModel):
    summary: str = Field(min_length=1, max_length=4000)


class DecisionIn(BaseModel):
    confirm: bool
    target_type: TargetType | None = None
    reason: str = Field(min_length=1, max_length=4000)


class PlanIn(BaseModel):
    paired_cadre: str = Field(min_length=1, max_length=100)
    measures: list[PlannedMeasure] = Field(min_length=1)


class ProgressIn(BaseModel):
    kind: str = Field(pattern="^(visit|measure_delivered|income_update|other)$")
    note: str = Field(min_length=1, max_length=4000)


class NoteIn(BaseModel):
    note: str = Field(min_length=1, max_length=4000)


class ReviewIn(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)


class CloseIn(BaseModel):
    verification: str = Field(
        min_length=1, max_length=2000, description="how the solution was verified"
    )


@router.post("/cases/{case_id}/visit", response_model=CaseOut, tags=["steps"])
def record_visit(
    case_id: UUID,
    form: VisitIn,
    principal: CurrentPrincipal,
    app: Casework,
    runtime: RuntimeDep,
) -> CaseOut:
    """Home visit: record what was found and whether the household consents."""
    return _step(
        case_id,
        principal,
        app,
        runtime,
        Step.VISIT,
        lambda case, meta: case.record_visit(form.consent, form.findings, meta),
    )


@router.post("/cases/{case_id}/notice", response_model=CaseOut, tags=["steps"])
def publish_notice(
    case_id: UUID,
    form: NoticeIn,
    principal: CurrentPrincipal,
    app: Casework,
    runtime: RuntimeDep,
) -> CaseOut:
    """Publish the village's public notice (at least five days; it shows no ID,
    phone, bank or health data)."""
    proposed = form.proposed_type.value if form.proposed_type else None
    case = app.publish_notice(
        case_id, form.starts_on, form.ends_on, proposed, principal
    )
    runtime.committed()
    return _case_out(app, case)


class ObjectionOfficeOut(BaseModel):
    level: str
    area_code: str


class NoticeOut(BaseModel):
    """What the village posts: never an ID number, phone, bank account, health or
    disability detail."""

    case_id: UUID
    village_code: str
    town_code: str
    village_group: str | None
    household_number: str | None
    proposed_type: str | None
    starts_on: date
    ends_on: date
    objections_to: list[ObjectionOfficeOut] = Field(
        description="where villagers may object until the notice ends"
    )


@router.get("/cases/{case_id}/notice", response_model=NoticeOut, tags=["cases"])
def public_notice(
    case_id: UUID, principal: CurrentPrincipal, app: Casework
) -> NoticeOut:
    """The case's public notice (公示) as the village posts it."""
    notice = app.public_notice(case_id, principal)
    return NoticeOut.model_validate(asdict(notice))


@router.post("/cases/{case_id}/village-review", response_model=CaseOut, tags=["steps"])
def village_review(
    case_id: UUID,
    form: VillageReviewIn,
    principal: CurrentPrincipal,
    app: Casework,
    runtime: RuntimeDep,
) -> CaseOut:
    today = app.clock().date()
    return _step(
        case_id,
        principal,
        app,
        runtime,
        Step.NOTICE_PERIOD,
        lambda case, meta: case.complete_village_review(
            form.objections, form.summary, today, meta
        ),
    )


@router.post("/cases/{case_id}/town-check", response_model=CaseOut, tags=["steps"])
def town_check(
    case_id: UUID,
    form: TownCheckIn,
    principal: CurrentPrincipal,
    app: Casework,
    runtime: RuntimeDep,
) -> CaseOut:
    return _step(
        case_id,
        principal,
        app,
        runtime,
        Step.TOWN_CHECK,
        lambda case, meta: case.town_check(form.summary, meta),
    )


@router.post("/cases/{case_id}/decision", response_model=CaseOut, tags=["steps"])
def decide(
    case_id: UUID,
    form: DecisionIn,
    principal: CurrentPrincipal,
    app: Casework,
    runtime: RuntimeDep,
) -> CaseOut:
    """The district's decision: confirm a monitoring target with its type, or
    reject with the reason."""
    if form.confirm and form.target_type is None:
        raise DomainError("a confirmed target needs its type", "target_type")
    if form.confirm:
        target_type = form.target_type
        assert target_type is not None
        return _step(
            case_id,
            principal,
            app,
            runtime,
            Step.DECISION,
            lambda case, meta: case.confirm_target(
                target_type.value, form.reason, meta
            ),
        )
    return _step(
        case_id,
        principal,
        app,
        runtime,
        Step.DECISION,
        lambda case, meta: case.reject(form.reason, meta),
    )


@router.post("/cases/{case_id}/plan", response_model=CaseOut, tags=["steps"])
def draw_plan(
    case_id: UUID,
    form: PlanIn,
    principal: CurrentPrincipal,
    app: Casework,
    runtime: RuntimeDep,
) -> CaseOut:
    """One household, one plan: pair a cadre and choose the measures that serve
    the household's target type."""
    measures = [planned.model_dump(mode="json") for planned in form.measures]
    return _step(
        case_id,
        principal,
        app,
        runtime,
        Step.PLAN,
        lambda case, meta: case.draw_plan(form.paired_cadre, measures, meta),
    )


@router.post("/cases/{case_id}/progress", response_model=CaseOut, tags=["steps"])
def record_progress(
    case_id: UUID,
    form: ProgressIn,
    principal: CurrentPrincipal,
    app: Casework,
    runtime: RuntimeDep,
) -> CaseOut:
    return _step(
        case_id,
        principal,
        app,
        runtime,
        Step.ASSISTANCE,
        lambda case, meta: case.record_progress(form.kind, form.note, meta),
    )


@router.post(
    "/cases/{case_id}/elimination-request", response_model=CaseOut, tags=["steps"]
)
def request_elimination(
    case_id: UUID,
    form: NoteIn,
    principal: CurrentPrincipal,
    app: Casework,
    runtime: RuntimeDep,
) -> CaseOut:
    return _step(
        case_id,
        principal,
        app,
        runtime,
        Step.ASSISTANCE,
        lambda case, meta: case.request_elimination(form.note, meta),
    )


class ReviewOut(BaseModel):
    approved: bool
    unmet: list[str]
    case: CaseOut


@router.post(
    "/cases/{case_id}/elimination-review", response_model=ReviewOut, tags=["steps"]
)
def review_elimination(
    case_id: UUID,
    form: ReviewIn,
    principal: CurrentPrincipal,
    app: Casework,
    runtime: RuntimeDep,
) -> ReviewOut:
    """The district's risk-elimination review; the answer names unmet conditions."""
    unmet = app.review_elimination(case_id, form.reason, principal)
    runtime.committed()
    case = _case_out(app, app.case(case_id, principal))
    return ReviewOut(approved=not unmet, unmet=unmet, case=case)


@router.post("/cases/{case_id}/close", status_code=204, tags=["steps"])
def close_case(
    case_id: UUID,
    form: CloseIn,
    principal: CurrentPrincipal,
    app: Casework,
    runtime: RuntimeDep,
) -> None:
    """Close a case once its problem is verified as solved."""
    app.close_case(case_id, form.verification, principal)
    runtime.committed()


class LimitOut(BaseModel):
    step: str
    level: str
    days: int
    escalate_after: int
    working_days: bool


class LimitIn(BaseModel):
    days: int = Field(ge=1, le=400)
    escalate_after: int = Field(ge=2, le=800)
    working_days: bool = True


def _limits_out(app: CaseworkApplication) -> list[LimitOut]:
    limits = app.time_limits()
    return [
        LimitOut(step=step.value, level=level.value, **limits.limit(step).__dict__)
        for step, level in LEVEL_OF_STEP.items()
    ]


@router.get("/time-limits", response_model=list[LimitOut], tags=["time limits"])
def time_limits(_: CurrentPrincipal, app: Casework) -> list[LimitOut]:
    return _limits_out(app)


@router.put("/time-limits/{step}", response_model=list[LimitOut], tags=["time limits"])
def change_time_limit(
    step: Step, form: LimitIn, principal: CurrentPrincipal, app: Casework
) -> list[LimitOut]:
    """Change a step's limit: it applies to open steps from now on; warnings
    already given stay as they were."""
    app.change_time_limit(
        step, form.days, form.escalate_after, form.working_days, principal
    )
    return _limits_out(app)


class CalendarIO(BaseModel):
    """Public holidays (days off on weekdays) and worked weekend days."""

    holidays: list[date] = Field(default_factory=list, max_length=400)
    workdays: list[date] = Field(default_factory=list, max_length=200)


def _calendar_out(app: CaseworkApplication) -> CalendarIO:
    calendar = app.time_limits().calendar
    return CalendarIO(
        holidays=sorted(calendar.holidays), workdays=sorted(calendar.workdays)
    )


@router.get("/calendar", response_model=CalendarIO, tags=["time limits"])
def work_calendar(_: CurrentPrincipal, app: Casework) -> CalendarIO:
    """The days that count for limits kept in working days."""
    return _calendar_out(app)


@router.put("/calendar", response_model=CalendarIO, tags=["time limits"])
def change_work_calendar(
    form: CalendarIO, principal: CurrentPrincipal, app: Casework
) -> CalendarIO:
    """Replace the district's holidays and worked weekend days; deadlines of open
    steps follow the new calendar from now on, warnings already given stay."""
    app.change_calendar(form.holidays, form.workdays, principal)
    return _calendar_out(app)
