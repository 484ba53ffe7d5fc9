"""Screening: turns intake's facts into explained risk flags, under a catalogue the
district edits, re-screens the county when the catalogue or the incomes change, and
back-tests a draft catalogue against the stored history."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from fangpin.areas import county_today
from fangpin.auth import Principal
from fangpin.contracts import (
    DepartmentRecordReceived,
    HouseholdRegistered,
    HouseholdSurveyed,
    HouseholdUpdated,
    IncomeRecorded,
    ProblemReported,
    Role,
)
from fangpin.eventstore import Cause, ServiceApplication, UnitOfWork, system_actor
from fangpin.inbox import Incoming
from fangpin.service import Conflict, Forbidden, NotFound
from fangpin.settings import Settings
from screening.backtest import backtest_household, summarise
from screening.catalogue import (
    Catalogue,
    CatalogueError,
    changes,
    default_definition,
)
from screening.domain import (
    CATALOGUE_ID,
    CatalogueDraft,
    DraftError,
    IndicatorCatalogue,
    RiskProfile,
    ScreeningJob,
    with_indicator,
    with_parameter_value,
    without_indicator,
)
from screening.inputs import derive
from screening.store import ProfileStore

logger = logging.getLogger(__name__)

PAGE_SIZE = 1000
RESCREEN = "rescreen"
BACKTEST = "backtest"
SAVE_ATTEMPTS = 3
# A running job records progress every page, within seconds; one quiet for this
# long lost its process and is taken up again.
STALLED_AFTER = timedelta(minutes=2)


class ProfileNotYetKnown(Exception):
    """A record arrived before its household's registration; retried later."""


class ScreeningApplication(ServiceApplication):
    service = "screening"

    def __init__(
        self,
        settings: Settings | None = None,
        in_memory: bool = False,
        today: Callable[[], date] = county_today,
        job_workers: int = 0,
    ):
        super().__init__(settings, in_memory)
        self.settings = settings
        self.today = today
        # Processes a re-screening job may use besides its own; 0 runs it here.
        self.job_workers = job_workers
        self.store = ProfileStore(self)
        self.committed: Callable[[], None] = lambda: None
        self._catalogue: Catalogue | None = None
        self._catalogue_seen = -1
        self._versions: dict[int, Catalogue] = {}
        self._ensure_catalogue()

    # --- the catalogue -----------------------------------------------------------

    def _ensure_catalogue(self) -> None:
        """Store the shipped catalogue as version 1 the first time the service runs."""
        if self.recorder.select_events(CATALOGUE_ID, limit=1):
            return
        meta = self.system_meta()
        book = IndicatorCatalogue(meta=meta)
        first = Catalogue.build(1, self.today(), default_definition())
        book.publish(
            version=1,
            effective_from=first.effective_from,
            indicator_count=len(first.indicators),
            changes=changes(None, first),
            definition=first.definition(),
            draft_id=None,
            meta=meta,
        )
        try:
            self.save(book)
        except IntegrityError:
            logger.info("another replica stored the first catalogue")

    def catalogue_book(self) -> IndicatorCatalogue:
        book: Any = self.repository.get(CATALOGUE_ID)
        assert isinstance(book, IndicatorCatalogue)
        return book

    def current_catalogue(self) -> Catalogue:
        """The catalogue in force, re-read only when another replica published."""
        latest = self.recorder.select_events(CATALOGUE_ID, desc=True, limit=1)
        seen = latest[0].originator_version if latest else 0
        if self._catalogue is None or seen != self._catalogue_seen:
            book = self.catalogue_book()
            self._catalogue = self.catalogue_version(book.latest)
            self._catalogue_seen = seen
        return self._catalogue

    def catalogue_version(self, version: int) -> Catalogue:
        """A published version; versions never change, so each is built once."""
        if version not in self._versions:
            book = self.catalogue_book()
            if not 1 <= version <= book.latest:
                raise NotFound(f"there is no catalogue version {version}")
            self._versions[version] = book.catalogue(version)
        return self._versions[version]

    def catalogue_versions(self) -> list[dict[str, Any]]:
        return list(self.catalogue_book().versions)

    # --- drafts ------------------------------------------------------------------

    def open_draft(self, principal: Principal, note: str = "") -> UUID:
        _district_only(principal)
        current = self.current_catalogue()
        draft = CatalogueDraft(
            based_on=current.version,
            definition=current.definition(),
            note=note,
            meta=Cause(principal.actor()).meta(),
        )
        self.save(draft)
        return draft.id

    def draft(self, draft_id: UUID) -> CatalogueDraft:
        try:
            draft: Any = self.repository.get(draft_id)
        except AggregateNotFoundError:
            raise NotFound("no such catalogue draft") from None
        if not isinstance(draft, CatalogueDraft):
            raise NotFound("no such catalogue draft")
        return draft

    def draft_catalogue(self, draft: CatalogueDraft) -> Catalogue:
        return Catalogue.build(draft.based_on + 1, self.today(), draft.definition)

    def draft_changes(self, draft: CatalogueDraft, catalogue: Catalogue) -> list[str]:
        """What publishing the draft would change in the version it started from."""
        return changes(self.catalogue_version(draft.based_on), catalogue)

    def put_indicator(
        self,
        draft_id: UUID,
        code: str,
        spec: dict[str, Any],
        parameters: dict[str, Any],
        principal: Principal,
    ) -> Catalogue:
        """Add or replace an indicator; refused, naming it, if the result is bad."""
        _district_only(principal)
        draft = self.draft(draft_id)
        spec = {**spec, "code": code}
        candidate = with_indicator(draft.definition, code, spec, parameters)
        catalogue = Catalogue.build(draft.based_on + 1, self.today(), candidate)
        indicator = catalogue.by_code[code]
        unused = [name for name in parameters if name not in indicator.thresholds]
        if unused:
            raise CatalogueError(
                code, f"the condition does not use parameter {unused[0]!r}"
            )
        self._edit(draft, principal, "put_indicator", code, spec, parameters)
        return catalogue

    def retire_indicator(
        self, draft_id: UUID, code: str, principal: Principal
    ) -> Catalogue:
        _district_only(principal)
        draft = self.draft(draft_id)
        if not any(i["code"] == code for i in draft.definition["indicators"]):
            raise NotFound(f"the draft has no indicator {code}")
        candidate = without_indicator(draft.definition, code)
        catalogue = Catalogue.build(draft.based_on + 1, self.today(), candidate)
        self._edit(draft, principal, "retire_indicator", code)
        return catalogue

    def set_parameter(
        self,
        draft_id: UUID,
        name: str,
        effective_from: date,
        value: float | int,
        principal: Principal,
    ) -> Catalogue:
        """A new dated value for a parameter the draft's conditions use."""
        _district_only(principal)
        draft = self.draft(draft_id)
        if name not in draft.definition["parameters"]:
            raise CatalogueError(
                name,
                "no such parameter; a new one is defined with the indicator that "
                "reads it",
            )
        candidate = with_parameter_value(draft.definition, name, effective_from, value)
        catalogue = Catalogue.build(draft.based_on + 1, self.today(), candidate)
        if not any(name in i.thresholds for i in catalogue.indicators):
            raise CatalogueError(name, "no indicator's condition reads this parameter")
        self._edit(draft, principal, "set_parameter", name, effective_from, value)
        return catalogue

    def discard_draft(self, draft_id: UUID, principal: Principal) -> None:
        _district_only(principal)
        self._edit(self.draft(draft_id), principal, "discard")

    def _edit(
        self, draft: CatalogueDraft, principal: Principal, method: str, *args: Any
    ) -> None:
        meta = Cause(principal.actor()).meta()
        try:
            getattr(draft, method)(*args, meta=meta)
        except DraftError as error:
            raise Conflict(str(error)) from None
        self.save(draft)

    def publish_draft(
        self, draft_id: UUID, principal: Principal
    ) -> tuple[Catalogue, list[str], UUID]:
        """Publish the draft as the next version and re-screen every household."""
        _district_only(principal)
        draft = self.draft(draft_id)
        if draft.status != "open":
            raise Conflict(f"this draft is {draft.status}; open a new one")
        book = self.catalogue_book()
        if draft.based_on != book.latest:
            raise Conflict(
                f"version {book.latest} was published after this draft was opened "
                f"from version {draft.based_on}; open a new draft"
            )
        current = book.catalogue()
        catalogue = Catalogue.build(book.latest + 1, self.today(), draft.definition)
        lines = changes(current, catalogue)
        if not lines:
            raise Conflict("the draft changes nothing")
        meta = Cause(principal.actor()).meta()
        try:
            draft.mark_published(version=catalogue.version, meta=meta)
        except DraftError as error:
            raise Conflict(str(error)) from None
        book.publish(
            version=catalogue.version,
            effective_from=catalogue.effective_from,
            indicator_count=len(catalogue.indicators),
            changes=lines,
            definition=catalogue.definition(),
            draft_id=draft.id,
            meta=meta,
        )
        job = self._new_job(
            RESCREEN, catalogue.version, None, f"catalogue {catalogue.version}", meta
        )
        self.save(book, draft, job)
        self._catalogue = None
        return catalogue, lines, job.id

    # --- jobs --------------------------------------------------------------------

    def _new_job(
        self,
        kind: str,
        version: int,
        draft_id: UUID | None,
        reason: str,
        meta: dict[str, Any],
    ) -> ScreeningJob:
        return ScreeningJob(
            kind=kind,
            total=self.store.count(),
            catalogue_version=version,
            draft_id=draft_id,
            reason=reason,
            meta=meta,
        )

    def start_rescreen(self, principal: Principal, reason: str) -> UUID:
        """Every household, against the catalogue in force (after an income survey,
        for instance); run it with :meth:`run_job`."""
        _district_only(principal)
        meta = Cause(principal.actor()).meta()
        version = self.current_catalogue().version
        job = self._new_job(RESCREEN, version, None, reason, meta)
        self.save(job)
        return job.id

    def start_backtest(self, draft_id: UUID, principal: Principal) -> UUID:
        _district_only(principal)
        draft = self.draft(draft_id)
        self.draft_catalogue(draft)
        meta = Cause(principal.actor()).meta()
        job = self._new_job(
            BACKTEST, draft.based_on + 1, draft.id, f"draft {draft.id}", meta
        )
        self.save(job)
        return job.id

    def job(self, job_id: UUID) -> ScreeningJob:
        try:
            job: Any = self.repository.get(job_id)
        except AggregateNotFoundError:
            raise NotFound("no such job") from None
        if not isinstance(job, ScreeningJob):
            raise NotFound("no such job")
        return job

    def run_job(self, job_id: UUID, page_size: int = PAGE_SIZE) -> ScreeningJob:
        """Work through every profile a page at a time, recording progress with
        each page's changes, so a job can be watched (and resumed) as it goes."""
        job = self.job(job_id)
        draft = None
        if job.kind == BACKTEST:
            assert job.draft_id is not None
            draft = self.draft_catalogue(self.draft(job.draft_id))
        races = 0
        try:
            while job.status == "running":
                try:
                    self._page(job, page_size, draft)
                    races = 0
                except IntegrityError:
                    # The inbox changed one of the page's profiles meanwhile (or
                    # another replica runs this job): read everything again.
                    races += 1
                    if races >= SAVE_ATTEMPTS:
                        raise
                    logger.info("job %s: page raced, retrying", job_id)
                    job = self.job(job_id)
        except Exception as error:
            logger.exception("job %s failed", job_id)
            job = self.job(job_id)
            job.fail(reason=type(error).__name__, meta=self.system_meta())
            self.save(job)
            raise
        return job

    def stalled_jobs(self, quiet: timedelta = STALLED_AFTER) -> list[UUID]:
        """Unfinished jobs nobody has moved for a while: their runner died."""
        now = datetime.now(UTC)
        return [
            job_id
            for job_id in self.store.unfinished_jobs()
            if now - self.job(job_id).modified_on > quiet
        ]

    def system_meta(self, area_code: str = "000000", **ids: Any) -> dict[str, Any]:
        return Cause(system_actor(self.service, area_code)).meta(**ids)

    def _page(self, job: ScreeningJob, page_size: int, draft: Catalogue | None) -> None:
        if draft is not None:
            histories = self.store.histories(job.position, page_size)
            if not histories:
                job.finish(meta=self.system_meta())
                self.save(job)
                return
            today = self.today()
            findings = [
                found
                for _, events in histories
                if (found := backtest_household(events, draft, today)) is not None
            ]
            job.progress(
                done=len(histories),
                changed=len(findings),
                position=histories[-1][0],
                findings=findings,
                meta=self.system_meta(),
            )
            self.save(job)
            return

        profiles = self.store.page(job.position, page_size)
        if not profiles:
            job.finish(meta=self.system_meta())
            self.save(job)
            return
        catalogue = self.current_catalogue()
        today = self.today()
        changed = [
            profile
            for profile in profiles
            if profile.screen(
                catalogue,
                today,
                self.system_meta(profile.area_code, household_id=profile.id),
            )
        ]
        job.progress(
            done=len(profiles),
            changed=len(changed),
            position=profiles[-1].id,
            findings=[],
            meta=self.system_meta(),
        )
        self.save(*changed, job)
        self.committed()

    def backtest_report(
        self,
        draft_id: UUID,
        job_id: UUID,
        principal: Principal,
        limit: int,
        offset: int,
    ) -> dict[str, Any]:
        job = self.job(job_id)
        if job.kind != BACKTEST or job.draft_id != draft_id:
            raise NotFound("no such back-test of this draft")
        visible = [f for f in job.findings if principal.covers(f["area_code"])]
        return {
            "job": job,
            "summary": summarise(visible, job.done),
            "findings": visible[offset : offset + limit],
            "visible": len(visible),
        }

    # --- the inbox ---------------------------------------------------------------

    def process(self, messages: list[Incoming]) -> None:
        """Record each message in its household's profile, then screen every
        profile the batch touched once, all in one transaction."""
        catalogue = self.current_catalogue()
        unit = UnitOfWork(self)
        wanted = {
            household_id
            for incoming in messages
            if (household_id := getattr(incoming.data, "household_id", None))
        }
        profiles = self.store.load(wanted)
        unit.aggregates.update(profiles)
        touched: dict[UUID, Incoming] = {}
        for incoming in messages:
            unit.track(incoming.key)
            profile = self._take(profiles, unit, incoming)
            if profile is not None:
                touched[profile.id] = incoming

        today = self.today()
        for household_id, incoming in touched.items():
            profile = profiles[household_id]
            assert incoming.envelope is not None
            cause = Cause.following(incoming.envelope, self.service, profile.area_code)
            profile.screen(catalogue, today, cause.meta(household_id=household_id))
        unit.commit()

    def _take(
        self, profiles: dict[UUID, RiskProfile], unit: UnitOfWork, incoming: Incoming
    ) -> RiskProfile | None:
        data = incoming.data
        envelope = incoming.envelope
        if envelope is None:
            return None
        if isinstance(data, HouseholdRegistered | HouseholdUpdated):
            return self._household(profiles, unit, incoming)
        if not isinstance(
            data,
            IncomeRecorded
            | DepartmentRecordReceived
            | ProblemReported
            | HouseholdSurveyed,
        ):
            return None
        profile = profiles.get(data.household_id)
        if profile is None:
            raise ProfileNotYetKnown(str(data.household_id))
        cause = Cause.following(envelope, self.service, profile.area_code)
        meta = cause.meta(household_id=profile.id)
        if isinstance(data, IncomeRecorded):
            profile.add_income(
                year=data.year,
                per_capita=float(data.per_capita_net_income),
                sources={name: float(v) for name, v in data.sources.items()},
                recorded_on=data.recorded_on,
                source_event=envelope.event_id,
                meta=meta,
            )
        elif isinstance(data, HouseholdSurveyed):
            profile.add_survey(
                surveyed_on=data.surveyed_on,
                facts=data.facts.given(),
                source_event=envelope.event_id,
                meta=meta,
            )
        elif isinstance(data, DepartmentRecordReceived):
            profile.record_facts(
                record_id=data.record_id,
                department=data.department,
                kind=data.kind,
                occurred_on=data.occurred_on.isoformat(),
                facts=data.facts,
                source_event=envelope.event_id,
                meta=meta,
            )
        else:
            profile.add_report(
                report_id=data.report_id,
                category=data.category.value,
                observed_on=data.observed_on,
                amount=float(data.amount) if data.amount is not None else None,
                channel=_channel(envelope.actor.role),
                source_event=envelope.event_id,
                meta=meta,
            )
        return profile

    def _household(
        self, profiles: dict[UUID, RiskProfile], unit: UnitOfWork, incoming: Incoming
    ) -> RiskProfile | None:
        data = incoming.data
        envelope = incoming.envelope
        assert isinstance(data, HouseholdRegistered | HouseholdUpdated) and envelope
        meta = Cause.following(envelope, self.service, data.area_code).meta(
            household_id=data.household_id
        )
        profile = profiles.get(data.household_id)
        if profile is None:
            profile = RiskProfile(
                household_id=data.household_id,
                area_code=data.area_code,
                poverty_status=data.poverty_status.value,
                village_group=data.village_group,
                left_poverty_year=data.left_poverty_year,
                member_count=data.member_count,
                facts=dict(data.facts),
                source_event=envelope.event_id,
                meta=meta,
            )
            profiles[profile.id] = profile
            unit.add(profile)
            return profile
        if isinstance(data, HouseholdRegistered):
            return None
        profile.change_household(
            area_code=data.area_code,
            village_group=data.village_group,
            poverty_status=data.poverty_status.value,
            left_poverty_year=data.left_poverty_year,
            member_count=data.member_count,
            facts=dict(data.facts),
            source_event=envelope.event_id,
            meta=meta,
        )
        return profile

    # --- households --------------------------------------------------------------

    def profile(self, household_id: UUID, principal: Principal) -> RiskProfile:
        profile = self.get_or_none(household_id, RiskProfile)
        if profile is None or not principal.covers(
            profile.area_code, profile.village_group
        ):
            raise NotFound("no risk profile for this household in your area")
        return profile

    def why(self, household_id: UUID, principal: Principal) -> dict[str, Any]:
        """Every indicator that applies, hit or not, with what it read and the
        thresholds in force today."""
        profile = self.profile(household_id, principal)
        catalogue = self.current_catalogue()
        today = self.today()
        inputs = derive(profile, today)
        evaluations = catalogue.evaluate(profile.status, inputs, today, True)
        return {
            "profile": profile,
            "catalogue": catalogue,
            "evaluated_on": today,
            "evaluations": evaluations,
        }


CADRE_ROLES = {Role.GRID_MONITOR, Role.VILLAGE, Role.TOWN, Role.DISTRICT}


def _channel(role: Role) -> str:
    """Who brought the problem in; a household's own report has no role yet."""
    return "grid" if role in CADRE_ROLES else "other"


def _district_only(principal: Principal) -> None:
    if principal.role is not Role.DISTRICT:
        raise Forbidden("the district poverty-alleviation office manages indicators")
