"""Screening's HTTP interface: the catalogue and its drafts, households' risk and the
reasons for it, re-screening and back-testing jobs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, Field

from fangpin.auth import CurrentPrincipal
from fangpin.service import RetryLostRace, Runtime, runtime_of
from screening.application import RESCREEN, ScreeningApplication
from screening.catalogue import Catalogue, Evaluation, Indicator
from screening.domain import CatalogueDraft, ScreeningJob
from screening.inputs import INPUTS
from screening.workers import PARALLEL_FROM, run_rescreen

logger = logging.getLogger(__name__)

router = APIRouter(route_class=RetryLostRace)


def screening(request: Request) -> ScreeningApplication:
    app = runtime_of(request).app
    assert isinstance(app, ScreeningApplication)
    return app


Screening = Annotated[ScreeningApplication, Depends(screening)]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]
Value = float | int | bool | str


# --- the catalogue ----------------------------------------------------------------


class ParameterValueOut(BaseModel):
    effective_from: date
    value: float | int


class ParameterOut(BaseModel):
    name: str
    unit: str
    description: str
    in_force: float | int | None
    values: list[ParameterValueOut]


class ExampleOut(BaseModel):
    case: str
    hits: bool
    inputs: dict[str, Value]


class IndicatorOut(BaseModel):
    code: str
    ref: str = Field(description="the indicator's number in the sourced draft")
    name_zh: str
    name_en: str
    group: str
    applies_to: list[str]
    condition: str
    reads: list[str] = Field(description="the household inputs the condition reads")
    thresholds: dict[str, float | int] = Field(description="parameters in force")
    target_type: str | None
    severity: str
    description: str
    can_fire: bool = Field(description="whether today's feeds can make it hit")
    examples: list[ExampleOut]


class CatalogueOut(BaseModel):
    version: int
    effective_from: date
    indicator_count: int
    parameters: list[ParameterOut]
    indicators: list[IndicatorOut]


def catalogue_out(catalogue: Catalogue, on: date) -> CatalogueOut:
    return CatalogueOut(
        version=catalogue.version,
        effective_from=catalogue.effective_from,
        indicator_count=len(catalogue.indicators),
        parameters=[
            ParameterOut(
                name=name,
                unit=parameter.unit,
                description=parameter.description,
                in_force=parameter.value_on(on),
                values=[
                    ParameterValueOut(effective_from=v.effective_from, value=v.value)
                    for v in parameter.values
                ],
            )
            for name, parameter in catalogue.parameters.items()
        ],
        indicators=[indicator_out(catalogue, i, on) for i in catalogue.indicators],
    )


def indicator_out(catalogue: Catalogue, indicator: Indicator, on: date) -> IndicatorOut:
    return IndicatorOut(
        code=indicator.code,
        ref=indicator.ref,
        name_zh=indicator.name_zh,
        name_en=indicator.name_en,
        group=indicator.group,
        applies_to=sorted(status.value for status in indicator.applies_to),
        condition=indicator.condition,
        reads=list(indicator.reads),
        thresholds=catalogue.thresholds_on(indicator, on),
        target_type=indicator.target_type.value if indicator.target_type else None,
        severity=indicator.severity,
        description=indicator.description,
        can_fire=catalogue.can_fire(indicator, on),
        examples=[
            ExampleOut(case=e.case, hits=e.hits, inputs=e.inputs)
            for e in indicator.examples
        ],
    )


class VersionOut(BaseModel):
    version: int
    effective_from: date
    indicator_count: int
    changes: list[str]
    published_by: str
    draft_id: UUID | None


class InputOut(BaseModel):
    name: str
    type: str
    origin: str
    feed: str | None = Field(description="who supplies it today; null: no feed yet")
    description: str


@router.get("/catalogue", response_model=CatalogueOut, tags=["catalogue"])
def current_catalogue(_: CurrentPrincipal, app: Screening) -> CatalogueOut:
    """Show the catalogue in force, with today's thresholds."""
    return catalogue_out(app.current_catalogue(), app.today())


@router.get("/catalogue/versions", response_model=list[VersionOut], tags=["catalogue"])
def catalogue_versions(_: CurrentPrincipal, app: Screening) -> list[dict[str, Any]]:
    """List every published version and what it changed."""
    return app.catalogue_versions()


@router.get(
    "/catalogue/versions/{version}", response_model=CatalogueOut, tags=["catalogue"]
)
def catalogue_version(version: int, _: CurrentPrincipal, app: Screening) -> Any:
    """Show one published version as it was published."""
    catalogue = app.catalogue_version(version)
    return catalogue_out(catalogue, catalogue.effective_from)


@router.get("/catalogue/inputs", response_model=list[InputOut], tags=["catalogue"])
def catalogue_inputs(_: CurrentPrincipal) -> list[InputOut]:
    """List what a condition can read about a household, and which feed supplies it."""
    return [
        InputOut(
            name=item.name,
            type=item.kind.__name__,
            origin=item.origin,
            feed=item.feed,
            description=item.description,
        )
        for item in INPUTS.values()
    ]


# --- drafts -----------------------------------------------------------------------


class DraftIn(BaseModel):
    note: str = Field(default="", max_length=2000)


class DraftOut(BaseModel):
    draft_id: UUID
    based_on: int
    status: str
    note: str
    opened_by: str
    published_as: int | None
    edits: list[str]
    changes: list[str] = Field(description="what publishing it would change")
    catalogue: CatalogueOut


class ExampleIn(BaseModel):
    case: str = Field(min_length=1, max_length=200)
    hits: bool
    inputs: dict[str, Value]


class ParameterValueIn(BaseModel):
    effective_from: date = Field(alias="from")
    value: float | int

    model_config = {"populate_by_name": True}


class ParameterIn(BaseModel):
    unit: str = Field(default="", max_length=100)
    description: str = Field(default="", max_length=500)
    values: list[ParameterValueIn] = Field(min_length=1)


class IndicatorIn(BaseModel):
    ref: str = Field(default="", max_length=20)
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    group: str = Field(min_length=1, max_length=50)
    applies_to: list[str] = Field(min_length=1)
    condition: str = Field(min_length=1, max_length=4000)
    target_type: str | None = None
    severity: str = "medium"
    description: str = Field(default="", max_length=2000)
    examples: list[ExampleIn] = Field(min_length=2)
    parameters: dict[str, ParameterIn] = Field(
        default_factory=dict,
        description="parameters to define or replace; the condition must read each",
    )


class ParameterSetIn(BaseModel):
    effective_from: date
    value: float | int


def draft_out(app: ScreeningApplication, draft: CatalogueDraft) -> DraftOut:
    catalogue = app.draft_catalogue(draft)
    return DraftOut(
        draft_id=draft.id,
        based_on=draft.based_on,
        status=draft.status,
        note=draft.note,
        opened_by=draft.opened_by,
        published_as=draft.published_as,
        edits=draft.edits,
        changes=app.draft_changes(draft, catalogue),
        catalogue=catalogue_out(catalogue, app.today()),
    )


@router.post(
    "/catalogue/drafts",
    response_model=DraftOut,
    status_code=status.HTTP_201_CREATED,
    tags=["catalogue drafts"],
)
def open_draft(body: DraftIn, principal: CurrentPrincipal, app: Screening) -> DraftOut:
    """Open a draft from the catalogue in force (district office)."""
    draft_id = app.open_draft(principal, body.note)
    return draft_out(app, app.draft(draft_id))


@router.get(
    "/catalogue/drafts/{draft_id}", response_model=DraftOut, tags=["catalogue drafts"]
)
def show_draft(draft_id: UUID, _: CurrentPrincipal, app: Screening) -> DraftOut:
    """Show a draft and what publishing it would change."""
    return draft_out(app, app.draft(draft_id))


@router.put(
    "/catalogue/drafts/{draft_id}/indicators/{code}",
    response_model=DraftOut,
    tags=["catalogue drafts"],
)
def put_indicator(
    draft_id: UUID,
    code: str,
    body: IndicatorIn,
    principal: CurrentPrincipal,
    app: Screening,
) -> DraftOut:
    """Add or replace an indicator; a bad condition or example is refused (422)."""
    spec = body.model_dump(mode="json", exclude={"parameters"})
    parameters = {
        name: {
            "unit": p.unit,
            "description": p.description,
            "values": [
                {"from": v.effective_from.isoformat(), "value": v.value}
                for v in p.values
            ],
        }
        for name, p in body.parameters.items()
    }
    app.put_indicator(draft_id, code, spec, parameters, principal)
    return draft_out(app, app.draft(draft_id))


@router.delete(
    "/catalogue/drafts/{draft_id}/indicators/{code}",
    response_model=DraftOut,
    tags=["catalogue drafts"],
)
def retire_indicator(
    draft_id: UUID, code: str, principal: CurrentPrincipal, app: Screening
) -> DraftOut:
    """Retire an indicator from the draft."""
    app.retire_indicator(draft_id, code, principal)
    return draft_out(app, app.draft(draft_id))


@router.put(
    "/catalogue/drafts/{draft_id}/parameters/{name}",
    response_model=DraftOut,
    tags=["catalogue drafts"],
)
def set_parameter(
    draft_id: UUID,
    name: str,
    body: ParameterSetIn,
    principal: CurrentPrincipal,
    app: Screening,
) -> DraftOut:
    """Give a parameter a value from a date on (e.g. next year's income line)."""
    app.set_parameter(draft_id, name, body.effective_from, body.value, principal)
    return draft_out(app, app.draft(draft_id))


@router.post(
    "/catalogue/drafts/{draft_id}/discard",
    response_model=DraftOut,
    tags=["catalogue drafts"],
)
def discard_draft(
    draft_id: UUID, principal: CurrentPrincipal, app: Screening
) -> DraftOut:
    """Give up a draft; it stays on record, closed."""
    app.discard_draft(draft_id, principal)
    return draft_out(app, app.draft(draft_id))


class PublishedOut(BaseModel):
    version: int
    effective_from: date
    changes: list[str]
    rescreen_job_id: UUID


@router.post(
    "/catalogue/drafts/{draft_id}/publish",
    response_model=PublishedOut,
    tags=["catalogue drafts"],
)
def publish_draft(
    draft_id: UUID, principal: CurrentPrincipal, app: Screening, runtime: RuntimeDep
) -> PublishedOut:
    """Publish the draft as the next version; every household is re-screened."""
    catalogue, changes, job_id = app.publish_draft(draft_id, principal)
    runtime.committed()
    start_job(app, job_id)
    return PublishedOut(
        version=catalogue.version,
        effective_from=catalogue.effective_from,
        changes=changes,
        rescreen_job_id=job_id,
    )


# --- jobs -------------------------------------------------------------------------


class JobOut(BaseModel):
    job_id: UUID
    kind: str
    status: str
    reason: str
    catalogue_version: int
    done: int
    total: int
    changed: int = Field(description="profiles flagged or cleared (re-screening)")
    started_by: str
    started_at: datetime
    updated_at: datetime
    failure: str | None


def job_out(job: ScreeningJob) -> JobOut:
    return JobOut(
        job_id=job.id,
        kind=job.kind,
        status=job.status,
        reason=job.reason,
        catalogue_version=job.catalogue_version,
        done=job.done,
        total=max(job.total, job.done),
        changed=job.changed,
        started_by=job.started_by,
        started_at=job.created_on,
        updated_at=job.modified_on,
        failure=job.failure,
    )


_running: set[UUID] = set()


def start_job(app: ScreeningApplication, job_id: UUID) -> None:
    """Run the job beside the requests; progress is stored page by page."""

    def run() -> None:
        try:
            if app.job_workers > 1 and app.settings and worth_workers(app, job_id):
                job = run_rescreen(app, app.settings, job_id, app.job_workers)
            else:
                job = app.run_job(job_id)
            logger.info(
                "job %s (%s) %s: %d households, %d changed",
                job_id,
                job.kind,
                job.status,
                job.done,
                job.changed,
            )
        except Exception:
            logger.exception("job %s stopped", job_id)
        finally:
            _running.discard(job_id)

    _running.add(job_id)
    threading.Thread(target=run, name=f"job-{job_id}", daemon=True).start()


def worth_workers(app: ScreeningApplication, job_id: UUID) -> bool:
    """Worker processes take seconds to start: only a large re-screening pays."""
    job = app.job(job_id)
    return job.kind == RESCREEN and job.total >= PARALLEL_FROM


class JobResumer:
    """Takes up again the jobs whose process died half-way, from their last page."""

    def __init__(self, app: ScreeningApplication, interval: float = 60.0):
        self.app = app
        self.interval = interval

    def wake(self) -> None:
        """Nothing to do on a commit: stalled jobs are looked for on a timer."""

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                stalled = await asyncio.to_thread(self.app.stalled_jobs)
            except Exception:
                logger.exception("could not look for stalled jobs")
                stalled = []
            for job_id in stalled:
                if job_id not in _running:
                    logger.info("taking up job %s again", job_id)
                    start_job(self.app, job_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.interval)


class RescreenIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


@router.post(
    "/rescreens",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    tags=["jobs"],
)
def start_rescreen(
    body: RescreenIn, principal: CurrentPrincipal, app: Screening
) -> JobOut:
    """Re-screen every household against the catalogue in force (district office)."""
    job_id = app.start_rescreen(principal, body.reason)
    start_job(app, job_id)
    return job_out(app.job(job_id))


@router.get("/rescreens/{job_id}", response_model=JobOut, tags=["jobs"])
def show_rescreen(job_id: UUID, _: CurrentPrincipal, app: Screening) -> JobOut:
    """Show how far a re-screening got."""
    return job_out(app.job(job_id))


class FindingOut(BaseModel):
    household_id: UUID
    area_code: str
    draft: dict[str, date] = Field(description="indicator and the day it hits since")
    draft_first_flagged_on: date | None
    current: dict[str, date]
    current_first_flagged_on: date | None


class BacktestOut(BaseModel):
    job: JobOut
    summary: dict[str, Any]
    visible: int = Field(description="findings in your area")
    findings: list[FindingOut]


@router.post(
    "/catalogue/drafts/{draft_id}/backtests",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    tags=["catalogue drafts"],
)
def start_backtest(
    draft_id: UUID, principal: CurrentPrincipal, app: Screening
) -> JobOut:
    """Apply the draft to the stored history; nothing is flagged or published."""
    job_id = app.start_backtest(draft_id, principal)
    start_job(app, job_id)
    return job_out(app.job(job_id))


@router.get(
    "/catalogue/drafts/{draft_id}/backtests/{job_id}",
    response_model=BacktestOut,
    tags=["catalogue drafts"],
)
def show_backtest(
    draft_id: UUID,
    job_id: UUID,
    principal: CurrentPrincipal,
    app: Screening,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> BacktestOut:
    """Which households the draft would flag, and since when, beside today's flags."""
    report = app.backtest_report(draft_id, job_id, principal, limit, offset)
    return BacktestOut(
        job=job_out(report["job"]),
        summary=report["summary"],
        visible=report["visible"],
        findings=[FindingOut.model_validate(f) for f in report["findings"]],
    )


# --- households -------------------------------------------------------------------


class ActiveOut(BaseModel):
    code: str
    since: date


class ProfileOut(BaseModel):
    household_id: UUID
    area_code: str
    poverty_status: str
    active_indicators: list[str]
    active: list[ActiveOut]
    records_screened: int
    incomes: list[int] = Field(description="years with a recorded income")
    catalogue_version: int


@router.get("/households/{household_id}/risk", response_model=ProfileOut, tags=["risk"])
def risk_profile(
    household_id: UUID, principal: CurrentPrincipal, app: Screening
) -> ProfileOut:
    """Show which indicators the household hits now, and since when."""
    profile = app.profile(household_id, principal)
    return ProfileOut(
        household_id=profile.id,
        area_code=profile.area_code,
        poverty_status=profile.poverty_status,
        active_indicators=profile.active_codes,
        active=[ActiveOut(code=c, since=s) for c, s in profile.active.items()],
        records_screened=len(profile.records),
        incomes=sorted(profile.incomes),
        catalogue_version=app.current_catalogue().version,
    )


class ReasonOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    group: str
    outcome: str = Field(description="hit, not_hit, or unknown (inputs missing)")
    flagged_since: date | None
    condition: str
    values: dict[str, Value] = Field(description="the inputs read, as known today")
    thresholds: dict[str, float | int]
    missing: list[str] = Field(description="inputs the condition needs, not known")
    target_type: str | None
    severity: str


class WhyOut(BaseModel):
    household_id: UUID
    area_code: str
    poverty_status: str
    catalogue_version: int
    evaluated_on: date
    flagged: list[str]
    indicators: list[ReasonOut]


def reason_out(evaluation: Evaluation, since: date | None) -> ReasonOut:
    indicator = evaluation.indicator
    if evaluation.hit:
        outcome = "hit"
    elif evaluation.known:
        outcome = "not_hit"
    else:
        outcome = "unknown"
    return ReasonOut(
        code=indicator.code,
        name_zh=indicator.name_zh,
        name_en=indicator.name_en,
        group=indicator.group,
        outcome=outcome,
        flagged_since=since,
        condition=indicator.condition,
        values=evaluation.values,
        thresholds=evaluation.thresholds,
        missing=list(evaluation.missing),
        target_type=indicator.target_type.value if indicator.target_type else None,
        severity=indicator.severity,
    )


@router.get("/households/{household_id}/why", response_model=WhyOut, tags=["risk"])
def why(household_id: UUID, principal: CurrentPrincipal, app: Screening) -> WhyOut:
    """Why the household is flagged, or not: every indicator that applies to it."""
    found = app.why(household_id, principal)
    profile = found["profile"]
    return WhyOut(
        household_id=profile.id,
        area_code=profile.area_code,
        poverty_status=profile.poverty_status,
        catalogue_version=found["catalogue"].version,
        evaluated_on=found["evaluated_on"],
        flagged=[e.code for e in found["evaluations"] if e.hit],
        indicators=[
            reason_out(e, profile.active.get(e.code)) for e in found["evaluations"]
        ],
    )
