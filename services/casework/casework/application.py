"""Casework: opens cases from reports and flags, and takes each one through the
identification steps, the plan and the help, to the risk-elimination review and a
verified closure."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from casework.domain import (
    Case,
    CaseError,
    HouseholdCases,
    IncomeLines,
    SelfApproval,
    TimeLimits,
    WrongStep,
    household_cases_id,
)
from casework.elimination import IncomeLineTable, unmet_conditions
from casework.notice import PublicNotice, flagged_type, public_notice
from casework.steps import (
    LEVEL_OF_STEP,
    NEXT_LEVEL,
    ROLES_OF_LEVEL,
    DeadlineRules,
    Step,
)
from fangpin.areas import town_of, within
from fangpin.auth import Principal
from fangpin.contracts import (
    AidGranted,
    CataloguePublished,
    HouseholdRegistered,
    HouseholdUpdated,
    IncomeRecorded,
    ProblemReported,
    RiskCleared,
    RiskFlagged,
    Role,
)
from fangpin.eventstore import Cause, ServiceApplication, UnitOfWork, system_actor
from fangpin.inbox import Incoming
from fangpin.service import Conflict, DomainError, Forbidden, NotFound

CLOSING_ROLES = (Role.TOWN, Role.DISTRICT)
# Those who post, run and oversee the village's public notice.
NOTICE_ROLES = (Role.GRID_MONITOR, Role.VILLAGE, Role.TOWN, Role.DISTRICT)


def utc_now() -> datetime:
    return datetime.now(UTC)


class CaseworkApplication(ServiceApplication):
    service = "casework"

    def __init__(self, *args: Any, clock: Callable[[], datetime] = utc_now, **kw: Any):
        super().__init__(*args, **kw)
        self.clock = clock

    # --- upstream events ----------------------------------------------------------

    def process(self, messages: list[Incoming]) -> None:
        unit = UnitOfWork(self)
        households = {
            household_cases_id(household)
            for incoming in messages
            if (household := getattr(incoming.data, "household_id", None))
        }
        unit.preload(households)
        unit.preload(
            found.open_case_id
            for id_ in households
            if (found := unit.get(id_, HouseholdCases)) and found.open_case_id
        )
        for incoming in messages:
            unit.track(incoming.key)
            data = incoming.data
            if isinstance(data, ProblemReported | RiskFlagged):
                self._signal(unit, incoming)
            if isinstance(data, RiskFlagged | RiskCleared):
                self._risk(unit, incoming)
            elif isinstance(data, HouseholdRegistered | HouseholdUpdated):
                household = self._household(unit, data.household_id)
                household.note_facts(
                    poverty_status=data.poverty_status.value,
                    no_labour_capacity=bool(data.facts.get("no_labour_capacity")),
                )
                household.note_registry(
                    village_group=data.village_group,
                    household_number=data.household_number,
                )
            elif isinstance(data, IncomeRecorded):
                household = self._household(unit, data.household_id)
                household.note_income(
                    year=data.year,
                    per_capita=float(data.per_capita_net_income),
                    recorded_on=data.recorded_on.isoformat(),
                )
            elif isinstance(data, AidGranted):
                self._household(unit, data.household_id).note_aid()
            elif isinstance(data, CataloguePublished):
                self._income_lines(unit).note_catalogue(
                    version=data.version,
                    lines=[line.model_dump(mode="json") for line in data.income_lines],
                )
        unit.commit()

    def _income_lines(self, unit: UnitOfWork) -> IncomeLines:
        lines = unit.get(IncomeLines.ID, IncomeLines)
        if lines is None:
            lines = IncomeLines()
            unit.add(lines)
        return lines

    def _household(self, unit: UnitOfWork, household_id: UUID) -> HouseholdCases:
        household = unit.get(household_cases_id(household_id), HouseholdCases)
        if household is None:
            household = HouseholdCases(household_id=household_id)
            unit.add(household)
        return household

    def _signal(self, unit: UnitOfWork, incoming: Incoming) -> None:
        """A report or a flag opens a case, or joins the household's open one.

        A case that waits only for its closure (the household exited, or the
        district rejected it) takes no new signal: closing it would drop the
        signal unheard, so a new case opens, a re-entry after an exit."""
        data = incoming.data
        envelope = incoming.envelope
        assert isinstance(data, ProblemReported | RiskFlagged) and envelope
        household = self._household(unit, data.household_id)
        cause = Cause.following(envelope, self.service, data.area_code)
        reentry = household.exited_before
        if household.open_case_id is not None:
            case = unit.get(household.open_case_id, Case)
            assert case is not None
            if not case.awaits_closure_only:
                case.attach(
                    signal_type=envelope.type,
                    signal_event_id=envelope.event_id,
                    meta=cause.meta(household_id=data.household_id, case_id=case.id),
                )
                return
            reentry = reentry or case.exited
        case_id = uuid.uuid4()
        unit.add(
            Case(
                case_id=case_id,
                household_id=data.household_id,
                area_code=data.area_code,
                town_code=town_of(data.area_code),
                signal_type=envelope.type,
                signal_event_id=envelope.event_id,
                urgent=isinstance(data, ProblemReported) and data.urgent,
                reentry=reentry,
                meta=cause.meta(household_id=data.household_id, case_id=case_id),
            )
        )
        household.set_open(case_id=case_id)

    def _risk(self, unit: UnitOfWork, incoming: Incoming) -> None:
        data = incoming.data
        assert isinstance(data, RiskFlagged | RiskCleared)
        household = self._household(unit, data.household_id)
        position = incoming.key[1] if incoming.key[0] == "screening" else 0
        if position and position < getattr(household, "risk_position", 0):
            return  # older than the risk state already applied
        if isinstance(data, RiskFlagged):
            types = sorted(set(household.open_risk_types) | {data.target_type.value})
        else:
            types = []
        household.note_risk_types(types=types, position=position)

    # --- commands from officials --------------------------------------------------

    def case(self, case_id: UUID, principal: Principal) -> Case:
        case = self.get_or_none(case_id, Case)
        if case is None or not principal.covers(case.area_code):
            raise NotFound("case not found in your area")
        return case

    def act(
        self,
        case_id: UUID,
        principal: Principal,
        command: Callable[[Case, dict[str, Any]], None],
        step: Step | None = None,
    ) -> Case:
        """Load, check the official may act on the case's step, run, save.

        ``step`` is the step the command completes. A case that has left it was
        taken on by someone else first (a command that lost a race runs again on
        the fresh case): that is a conflict, not a question of whether the
        official's level may act on the step the case waits in now."""
        case = self.case(case_id, principal)
        if step is not None and case.is_open and case.step is not step:
            raise Conflict(
                f"the case waits in step {case.step.value}, not {step.value}"
            )
        self._may_act(case, principal)
        meta = Cause(principal.actor()).meta(
            household_id=case.household_id, case_id=case.id
        )
        try:
            command(case, meta)
        except SelfApproval as error:
            raise Forbidden(str(error)) from None
        except WrongStep as error:
            raise Conflict(str(error)) from None
        except CaseError as error:
            raise DomainError(str(error), error.field) from None
        self.save(case)
        return case

    def _may_act(self, case: Case, principal: Principal) -> None:
        level = LEVEL_OF_STEP.get(case.step)
        if level is None:
            raise Conflict("the case is already closed")
        allowed = set(ROLES_OF_LEVEL[level])
        # An escalated step may also be taken by the next level up.
        if case.escalated_seq == case.step_seq and level in NEXT_LEVEL:
            allowed |= set(ROLES_OF_LEVEL[NEXT_LEVEL[level]])
        if principal.role not in allowed:
            raise Forbidden(f"step {case.step.value} is for the {level.value} level")

    def close_case(
        self, case_id: UUID, verification: str, principal: Principal
    ) -> None:
        if principal.role not in CLOSING_ROLES:
            raise Forbidden("cases are closed by town or district officials")
        case = self.case(case_id, principal)
        meta = Cause(principal.actor()).meta(
            household_id=case.household_id, case_id=case.id
        )
        try:
            case.close(
                verification=verification, verified_by=principal.user_id, meta=meta
            )
        except WrongStep as error:
            raise Conflict(str(error)) from None
        except CaseError as error:
            raise DomainError(str(error)) from None
        household = self.get_or_none(
            household_cases_id(case.household_id), HouseholdCases
        )
        assert household is not None
        if household.open_case_id == case.id:
            household.set_open(case_id=None)
        if case.exited:
            household.note_exit()
        self.save(case, household)

    def review_elimination(
        self, case_id: UUID, reason: str, principal: Principal
    ) -> list[str]:
        """The district's review: the rules decide, the reviewer records why."""
        case = self.case(case_id, principal)
        household = self.get_or_none(
            household_cases_id(case.household_id), HouseholdCases
        )
        assert household is not None
        if case.step is not Step.ELIMINATION_REVIEW:
            raise Conflict(f"the case waits in step {case.step.value}")
        unmet = unmet_conditions(case, household, self.clock(), self.income_lines())
        self.act(
            case_id,
            principal,
            lambda case, meta: case.review_elimination(unmet, reason, meta),
            Step.ELIMINATION_REVIEW,
        )
        return unmet

    def income_lines(self) -> IncomeLineTable:
        """The lines of the latest catalogue seen; the defaults until one is."""
        known = self.get_or_none(IncomeLines.ID, IncomeLines)
        if known is None:
            return IncomeLineTable()
        return IncomeLineTable(known.lines, known.catalogue_version)

    # --- the public notice --------------------------------------------------------

    def household_of(self, case: Case) -> HouseholdCases | None:
        return self.get_or_none(household_cases_id(case.household_id), HouseholdCases)

    def publish_notice(
        self,
        case_id: UUID,
        starts_on: date,
        ends_on: date,
        proposed_type: str | None,
        principal: Principal,
    ) -> Case:
        """The village's notice; when the village proposes no target type, the
        notice shows the one screening's open flags point to."""

        def publish(case: Case, meta: dict[str, Any]) -> None:
            proposal = proposed_type or flagged_type(self.household_of(case))
            case.publish_notice(starts_on, ends_on, meta, proposed_type=proposal)

        return self.act(case_id, principal, publish, Step.NOTICE)

    def public_notice(self, case_id: UUID, principal: Principal) -> PublicNotice:
        if principal.role not in NOTICE_ROLES:
            raise Forbidden(
                "the public notice is for the village, town and district officials"
            )
        case = self.get_or_none(case_id, Case)
        # The notice is posted for the whole village: every grid monitor of the
        # village reads it, not only the one of the household's group.
        if case is None or not within(principal.area_code, case.area_code):
            raise NotFound("case not found in your area")
        notice = public_notice(case, self.household_of(case))
        if notice is None:
            raise NotFound("the village has published no notice for this case yet")
        return notice

    # --- time limits --------------------------------------------------------------

    def time_limits(self) -> TimeLimits:
        limits = self.get_or_none(TimeLimits.ID, TimeLimits)
        return limits if limits is not None else TimeLimits()

    def deadline_rules(self) -> DeadlineRules:
        limits = self.time_limits()
        return DeadlineRules(
            {step: limits.limit(step) for step in LEVEL_OF_STEP}, limits.calendar
        )

    def change_time_limit(
        self,
        step: Step,
        days: int,
        escalate_after: int,
        working_days: bool,
        principal: Principal,
    ) -> TimeLimits:
        if principal.role is not Role.DISTRICT:
            raise Forbidden("time limits are set by the district office")
        if step not in LEVEL_OF_STEP:
            raise DomainError(f"step {step.value} has no time limit", "step")
        if escalate_after <= days:
            raise DomainError(
                "escalation comes after the first limit", "escalate_after"
            )
        limits = self.time_limits()
        limits.change(
            step=step.value,
            days=days,
            escalate_after=escalate_after,
            working_days=working_days,
            meta=Cause(principal.actor()).meta(),
        )
        self.save(limits)
        return limits

    def change_calendar(
        self, holidays: list[date], workdays: list[date], principal: Principal
    ) -> TimeLimits:
        """The district's public holidays and worked weekend days; deadlines of
        open steps follow the new calendar from then on."""
        if principal.role is not Role.DISTRICT:
            raise Forbidden("the working calendar is set by the district office")
        both = sorted(set(holidays) & set(workdays))
        if both:
            raise DomainError(
                f"{both[0].isoformat()} is listed both as a holiday and as worked",
                "workdays",
            )
        weekdays = [day for day in workdays if day.weekday() < 5]
        if weekdays:
            raise DomainError(
                f"{weekdays[0].isoformat()} is a weekday: only weekend days can "
                "be listed as worked",
                "workdays",
            )
        limits = self.time_limits()
        limits.change_calendar(
            holidays=sorted({day.isoformat() for day in holidays}),
            workdays=sorted({day.isoformat() for day in workdays}),
            meta=Cause(principal.actor()).meta(),
        )
        self.save(limits)
        return limits

    def watch_deadlines(
        self, candidates: list[dict[str, Any]], now: datetime
    ) -> tuple[int, int]:
        """Warn and escalate the steps past their limits; returns the counts.

        The candidates come from the queue view; the limits and calendar of record
        decide, so a view still catching up with a change warns nobody early."""
        rules = self.deadline_rules()
        warned = escalated = 0
        for row in candidates:
            due, escalate_at = rules.deadlines(
                Step(row["step"]), row["step_started_at"]
            )
            if now < due:
                continue
            case = self.get_or_none(row["case_id"], Case)
            if case is None:
                continue
            meta = Cause(system_actor(self.service, case.area_code)).meta(
                household_id=case.household_id, case_id=case.id
            )
            loaded = case.version
            case.mark_overdue(row["step_seq"], due, meta)
            warning = case.version - loaded
            if now >= escalate_at:
                case.escalate(row["step_seq"], escalate_at, meta)
            if case.version == loaded:
                continue
            try:
                self.save(case)
            except IntegrityError:
                # Another replica warned first: its warning is the one.
                continue
            warned += warning
            escalated += case.version - loaded - warning
        return warned, escalated
