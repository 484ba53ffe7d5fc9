"""Cases: one per household episode, from the first signal to verified closure."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from casework.steps import (
    DEFAULT_LIMITS,
    LEVEL_OF_STEP,
    MINIMUM_NOTICE_DAYS,
    NEXT_LEVEL,
    Level,
    Step,
    TimeLimit,
    WorkCalendar,
)
from fangpin.eventstore import stable_id
from fangpin.measures import MEASURES


class CaseError(Exception):
    """A command the case's state does not allow; the text says why, and
    ``field`` names the part of the command at fault when one is."""

    def __init__(self, reason: str, field: str | None = None):
        super().__init__(reason)
        self.field = field


class WrongStep(CaseError):
    pass


class SelfApproval(CaseError):
    pass


class Case(Aggregate):
    @staticmethod
    def create_id(case_id: UUID) -> UUID:
        return case_id

    @event("CaseOpened")
    def __init__(
        self,
        case_id: UUID,
        household_id: UUID,
        area_code: str,
        town_code: str,
        signal_type: str,
        signal_event_id: UUID,
        urgent: bool,
        reentry: bool,
        meta: dict[str, Any],
    ):
        self.household_id = household_id
        self.area_code = area_code
        self.town_code = town_code
        self.urgent = urgent
        self.reentry = reentry
        self.signals = [signal_event_id]
        self.status = "open"
        self.step = Step.VISIT
        self.step_seq = 1
        self.step_started_at: datetime = self.created_on
        self.submitted_by: str | None = meta["actor"]["user_id"]
        self.warned_seq = 0
        self.escalated_seq = 0
        self.consent = False
        self.notice_starts_on: date | None = None
        self.notice_ends_on: date | None = None
        self.proposed_type: str | None = None
        self.target_type: str | None = None
        self.confirmed_at: datetime | None = None
        self.plan: dict[str, Any] | None = None
        self.progress: list[dict[str, Any]] = []
        self.exited = False

    # --- guards -------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def level(self) -> Level | None:
        return LEVEL_OF_STEP.get(self.step)

    @property
    def awaits_closure_only(self) -> bool:
        """Rejected, or the household exited: nothing is left but to close."""
        return self.is_open and self.step is Step.CLOSURE

    def _expect(self, *steps: Step) -> None:
        if not self.is_open:
            raise WrongStep("the case is already closed")
        if self.step not in steps:
            names = ", ".join(step.value for step in steps)
            raise WrongStep(f"the case waits in step {self.step.value}, not {names}")

    def _not_own_submission(self, user_id: str) -> None:
        if user_id == self.submitted_by:
            raise SelfApproval("nobody approves their own submission")

    # --- signals ------------------------------------------------------------------

    def attach(
        self, signal_type: str, signal_event_id: UUID, meta: dict[str, Any]
    ) -> None:
        if signal_event_id in self.signals:
            return
        self._attached(
            case_id=self.id,
            signal_type=signal_type,
            signal_event_id=signal_event_id,
            meta=meta,
        )

    @event("SignalAttached")
    def _attached(
        self,
        case_id: UUID,
        signal_type: str,
        signal_event_id: UUID,
        meta: dict[str, Any],
    ) -> None:
        self.signals.append(signal_event_id)

    # --- step events --------------------------------------------------------------

    class StepEvent(Aggregate.Event):
        """Completes (or concerns) ``step``; the case then waits in ``next_step``."""

        case_id: UUID
        household_id: UUID
        area_code: str
        step: str
        next_step: str
        meta: dict[str, Any]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Case)
            if self.next_step != aggregate.step.value:
                aggregate.step = Step(self.next_step)
                aggregate.step_seq += 1
                aggregate.step_started_at = self.timestamp
                aggregate.submitted_by = self.meta["actor"]["user_id"]

    class HomeVisitRecorded(StepEvent):
        consent: bool
        findings: str

        def apply(self, aggregate: Aggregate) -> None:
            super().apply(aggregate)
            assert isinstance(aggregate, Case)
            aggregate.consent = self.consent

    class NoticePublished(StepEvent):
        starts_on: date
        ends_on: date
        proposed_type: str | None

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 did not keep the target type the village proposed."""
            state.setdefault("proposed_type", None)

        def apply(self, aggregate: Aggregate) -> None:
            super().apply(aggregate)
            assert isinstance(aggregate, Case)
            aggregate.notice_starts_on = self.starts_on
            aggregate.notice_ends_on = self.ends_on
            aggregate.proposed_type = self.proposed_type

    class VillageReviewed(StepEvent):
        objections: bool
        summary: str

    class TownChecked(StepEvent):
        summary: str

    class TargetConfirmed(StepEvent):
        target_type: str
        reason: str

        def apply(self, aggregate: Aggregate) -> None:
            super().apply(aggregate)
            assert isinstance(aggregate, Case)
            aggregate.target_type = self.target_type
            aggregate.confirmed_at = self.timestamp

    class CaseRejected(StepEvent):
        reason: str

    class PlanDrawn(StepEvent):
        target_type: str
        paired_cadre: str
        measures: list[dict[str, Any]]

        def apply(self, aggregate: Aggregate) -> None:
            super().apply(aggregate)
            assert isinstance(aggregate, Case)
            aggregate.plan = {
                "paired_cadre": self.paired_cadre,
                "measures": self.measures,
            }

    class ProgressRecorded(StepEvent):
        kind: str
        note: str

        def apply(self, aggregate: Aggregate) -> None:
            super().apply(aggregate)
            assert isinstance(aggregate, Case)
            aggregate.progress.append(
                {"kind": self.kind, "at": self.timestamp.isoformat()}
            )

    class EliminationRequested(StepEvent):
        note: str

    class EliminationReviewed(StepEvent):
        approved: bool
        unmet: list[str]
        reason: str

    class TargetExited(StepEvent):
        target_type: str
        months_monitored: int

        def apply(self, aggregate: Aggregate) -> None:
            super().apply(aggregate)
            assert isinstance(aggregate, Case)
            aggregate.exited = True

    class CaseOverdue(StepEvent):
        due_at: datetime
        level: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Case)
            aggregate.warned_seq = aggregate.step_seq

    class CaseEscalated(StepEvent):
        escalate_at: datetime
        to_level: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Case)
            aggregate.escalated_seq = aggregate.step_seq

    def _step_event(
        self, event_class: type[StepEvent], next_step: Step, **fields: Any
    ) -> None:
        self.trigger_event(
            event_class,
            case_id=self.id,
            household_id=self.household_id,
            area_code=self.area_code,
            step=self.step.value,
            next_step=next_step.value,
            **fields,
        )

    # --- identification -----------------------------------------------------------

    def record_visit(self, consent: bool, findings: str, meta: dict[str, Any]) -> None:
        self._expect(Step.VISIT)
        # Without consent the identification cannot go on: the visit is recorded
        # and the case keeps waiting for a visit.
        next_step = Step.NOTICE if consent else Step.VISIT
        self._step_event(
            self.HomeVisitRecorded,
            next_step,
            consent=consent,
            findings=findings,
            meta=meta,
        )

    def publish_notice(
        self,
        starts_on: date,
        ends_on: date,
        meta: dict[str, Any],
        proposed_type: str | None = None,
    ) -> None:
        """The village's public notice; ``proposed_type`` is the target type the
        village review proposes, shown on the notice (the district decides)."""
        self._expect(Step.NOTICE)
        if (ends_on - starts_on).days < MINIMUM_NOTICE_DAYS:
            raise CaseError(
                f"the public notice runs at least {MINIMUM_NOTICE_DAYS} days"
            )
        self._step_event(
            self.NoticePublished,
            Step.NOTICE_PERIOD,
            starts_on=starts_on,
            ends_on=ends_on,
            proposed_type=proposed_type,
            meta=meta,
        )

    def complete_village_review(
        self, objections: bool, summary: str, today: date, meta: dict[str, Any]
    ) -> None:
        self._expect(Step.NOTICE_PERIOD)
        assert self.notice_ends_on is not None
        if today < self.notice_ends_on:
            raise CaseError(f"the public notice runs until {self.notice_ends_on}")
        self._step_event(
            self.VillageReviewed,
            Step.TOWN_CHECK,
            objections=objections,
            summary=summary,
            meta=meta,
        )

    def town_check(self, summary: str, meta: dict[str, Any]) -> None:
        self._expect(Step.TOWN_CHECK)
        self._not_own_submission(meta["actor"]["user_id"])
        self._step_event(self.TownChecked, Step.DECISION, summary=summary, meta=meta)

    def confirm_target(
        self, target_type: str, reason: str, meta: dict[str, Any]
    ) -> None:
        self._expect(Step.DECISION)
        self._not_own_submission(meta["actor"]["user_id"])
        self._step_event(
            self.TargetConfirmed,
            Step.PLAN,
            target_type=target_type,
            reason=reason,
            meta=meta,
        )

    def reject(self, reason: str, meta: dict[str, Any]) -> None:
        self._expect(Step.DECISION)
        self._not_own_submission(meta["actor"]["user_id"])
        if not reason.strip():
            raise CaseError("a rejection needs its reason")
        self._step_event(self.CaseRejected, Step.CLOSURE, reason=reason, meta=meta)

    # --- one household, one plan --------------------------------------------------

    def draw_plan(
        self, paired_cadre: str, measures: list[dict[str, Any]], meta: dict[str, Any]
    ) -> None:
        self._expect(Step.PLAN)
        if not measures:
            raise CaseError("a plan names at least one measure", "measures")
        for position, planned in enumerate(measures):
            self._check_measure_fits(position, str(planned.get("measure", "")))
        self._step_event(
            self.PlanDrawn,
            Step.ASSISTANCE,
            target_type=self.target_type,
            paired_cadre=paired_cadre,
            measures=measures,
            meta=meta,
        )

    def _check_measure_fits(self, position: int, code: str) -> None:
        """The target type decides the help: a low-income household gets income
        measures, not relief or the safety net's guarantees."""
        field = f"measures.{position}.measure"
        measure = MEASURES.get(code)
        if measure is None:
            raise CaseError(f"unknown measure {code!r}", field)
        if measure.target_type.value != self.target_type:
            raise CaseError(
                f"measure {code!r} serves {measure.target_type.value} targets, "
                f"and this household is a {self.target_type} target",
                field,
            )

    def record_progress(self, kind: str, note: str, meta: dict[str, Any]) -> None:
        self._expect(Step.ASSISTANCE)
        self._step_event(
            self.ProgressRecorded, Step.ASSISTANCE, kind=kind, note=note, meta=meta
        )

    # --- risk elimination and exit ------------------------------------------------

    def request_elimination(self, note: str, meta: dict[str, Any]) -> None:
        self._expect(Step.ASSISTANCE)
        self._step_event(
            self.EliminationRequested, Step.ELIMINATION_REVIEW, note=note, meta=meta
        )

    def review_elimination(
        self, unmet: list[str], reason: str, meta: dict[str, Any]
    ) -> None:
        """The district's review; ``unmet`` comes from the elimination rules."""
        self._expect(Step.ELIMINATION_REVIEW)
        self._not_own_submission(meta["actor"]["user_id"])
        approved = not unmet
        self._step_event(
            self.EliminationReviewed,
            Step.CLOSURE if approved else Step.ASSISTANCE,
            approved=approved,
            unmet=unmet,
            reason=reason,
            meta=meta,
        )
        if approved:
            assert self.target_type is not None and self.confirmed_at is not None
            self._step_event(
                self.TargetExited,
                Step.CLOSURE,
                target_type=self.target_type,
                months_monitored=months_between(self.confirmed_at, self.modified_on),
                meta=meta,
            )

    # --- time limits --------------------------------------------------------------

    def mark_overdue(
        self, step_seq: int, due_at: datetime, meta: dict[str, Any]
    ) -> None:
        """One warning per step, however many replicas notice it."""
        if not self.is_open or step_seq != self.step_seq:
            return
        if self.warned_seq == step_seq:
            return
        level = self.level
        assert level is not None
        self._step_event(
            self.CaseOverdue, self.step, due_at=due_at, level=level.value, meta=meta
        )

    def escalate(
        self, step_seq: int, escalate_at: datetime, meta: dict[str, Any]
    ) -> None:
        if not self.is_open or step_seq != self.step_seq:
            return
        if self.escalated_seq == step_seq:
            return
        level = self.level
        assert level is not None
        self._step_event(
            self.CaseEscalated,
            self.step,
            escalate_at=escalate_at,
            to_level=NEXT_LEVEL.get(level, Level.DISTRICT).value,
            meta=meta,
        )

    # --- closure ------------------------------------------------------------------

    def close(self, verification: str, verified_by: str, meta: dict[str, Any]) -> None:
        if not self.is_open:
            raise WrongStep("the case is already closed")
        if not verification.strip():
            raise CaseError("closing needs the verification evidence")
        if self.step is Step.DECISION:
            # The town has checked and handed the case up: only the district's
            # rejection (or confirmation) ends that, not a closure from below.
            raise WrongStep(
                "the case waits on the district's decision; it can be closed "
                "once the district rejects it"
            )
        if self.target_type is not None and not self.exited:
            raise WrongStep(
                "a monitoring target leaves through the risk-elimination review"
            )
        self._closed(
            case_id=self.id,
            household_id=self.household_id,
            area_code=self.area_code,
            verification=verification,
            verified_by=verified_by,
            meta=meta,
        )

    @event("CaseClosed")
    def _closed(
        self,
        case_id: UUID,
        household_id: UUID,
        area_code: str,
        verification: str,
        verified_by: str,
        meta: dict[str, Any],
    ) -> None:
        self.status = "closed"
        self.step = Step.ENDED


def months_between(start: datetime, end: datetime) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - (1 if end.day < start.day else 0)


class HouseholdCases(Aggregate):
    """Which case of a household is open, and what casework knows of it."""

    @staticmethod
    def create_id(household_id: UUID) -> UUID:
        return household_cases_id(household_id)

    @event("HouseholdCasesStarted")
    def __init__(self, household_id: UUID):
        self.open_case_id: UUID | None = None
        self.exited_before = False
        self.poverty_status: str | None = None
        self.no_labour_capacity = False
        self.income_by_year: dict[int, float] = {}
        self.income_recorded_on: dict[int, str] = {}
        self.measures_received = 0
        self.open_risk_types: list[str] = []
        self.village_group: str | None = None
        self.household_number: str | None = None
        # Screening's notification id of the risk state last applied: a flag or
        # clear retried after a newer one must not overwrite it.
        self.risk_position = 0

    @event("OpenCaseSet")
    def set_open(self, case_id: UUID | None) -> None:
        self.open_case_id = case_id

    @event("ExitNoted")
    def note_exit(self) -> None:
        self.exited_before = True

    def note_registry(self, village_group: str, household_number: str | None) -> None:
        """Where the household is listed, as its public notice names it."""
        if (village_group, household_number) != (
            self.village_group,
            self.household_number,
        ):
            self._registry_noted(
                village_group=village_group, household_number=household_number
            )

    @event("RegistryNoted")
    def _registry_noted(self, village_group: str, household_number: str | None) -> None:
        self.village_group = village_group
        self.household_number = household_number

    @event("HouseholdFactsNoted")
    def note_facts(self, poverty_status: str, no_labour_capacity: bool) -> None:
        self.poverty_status = poverty_status
        self.no_labour_capacity = no_labour_capacity

    @event("IncomeNoted")
    def note_income(self, year: int, per_capita: float, recorded_on: str) -> None:
        self.income_by_year[year] = per_capita
        self.income_recorded_on[year] = recorded_on

    @event("AidNoted")
    def note_aid(self) -> None:
        self.measures_received += 1

    @event("RiskTypesNoted")
    def note_risk_types(self, types: list[str], position: int = 0) -> None:
        self.open_risk_types = types
        self.risk_position = position


def household_cases_id(household_id: UUID) -> UUID:
    return stable_id("household-cases", household_id)


class IncomeLines(Aggregate):
    """The monitoring income lines of the latest catalogue version screening
    published, as the exit review applies them."""

    ID = stable_id("casework-income-lines")

    @staticmethod
    def create_id() -> UUID:
        return IncomeLines.ID

    @event("IncomeLinesStarted")
    def __init__(self) -> None:
        self.catalogue_version = 0
        self.lines: list[dict[str, Any]] = []

    def note_catalogue(self, version: int, lines: list[dict[str, Any]]) -> None:
        """Keep the lines of a newer version that changes them. A version seen
        again, or older than one applied, changes nothing; so does one without
        lines, from a producer that does not send them."""
        if version <= self.catalogue_version or not lines or lines == self.lines:
            return
        self._noted(version=version, lines=lines)

    @event("IncomeLinesNoted")
    def _noted(self, version: int, lines: list[dict[str, Any]]) -> None:
        self.catalogue_version = version
        self.lines = lines


class TimeLimits(Aggregate):
    """The district's time limits per step; a change applies from then on."""

    ID = stable_id("casework-time-limits")

    @staticmethod
    def create_id() -> UUID:
        return TimeLimits.ID

    @event("TimeLimitsStarted")
    def __init__(self) -> None:
        self.limits: dict[str, dict[str, Any]] = {
            step.value: limit.__dict__ for step, limit in DEFAULT_LIMITS.items()
        }

    @event("TimeLimitChanged")
    def change(
        self,
        step: str,
        days: int,
        escalate_after: int,
        working_days: bool,
        meta: dict[str, Any],
    ) -> None:
        self.limits[step] = {
            "days": days,
            "escalate_after": escalate_after,
            "working_days": working_days,
        }

    @event("WorkCalendarChanged")
    def change_calendar(
        self, holidays: list[str], workdays: list[str], meta: dict[str, Any]
    ) -> None:
        self.holidays = sorted(holidays)
        self.workdays = sorted(workdays)

    def limit(self, step: Step) -> TimeLimit:
        return TimeLimit(**self.limits[step.value])

    @property
    def calendar(self) -> WorkCalendar:
        # Limits stored before the district kept a calendar have none yet.
        return WorkCalendar(
            holidays=frozenset(map(date.fromisoformat, getattr(self, "holidays", []))),
            workdays=frozenset(map(date.fromisoformat, getattr(self, "workdays", []))),
        )
