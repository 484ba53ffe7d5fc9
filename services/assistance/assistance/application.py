"""Assistance: the measures of each plan, grants against cases, and budgets."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, Field

from assistance.domain import (
    Assignment,
    Budget,
    CaseRef,
    Grant,
    GrantLedger,
    assignment_id,
    budget_id,
    ledger_id,
)
from fangpin.auth import Principal
from fangpin.contracts import (
    CaseClosed,
    CaseOpened,
    CaseRejected,
    PlanDrawn,
    Role,
    TargetConfirmed,
    TargetExited,
)
from fangpin.eventstore import Cause, ServiceApplication, UnitOfWork
from fangpin.inbox import Incoming
from fangpin.measures import MEASURES, Measure
from fangpin.service import Conflict, DomainError, Forbidden, NotFound

GRANTING_ROLES = (Role.TOWN, Role.DISTRICT, Role.DEPARTMENT)


class GrantIn(BaseModel):
    case_id: UUID
    measure: str = Field(description="a code from GET /measures")
    quantity: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    period: str = Field(
        pattern=r"^\d{4}(-(0[1-9]|1[0-2]))?$",
        description="YYYY (the whole year) or YYYY-MM",
    )
    funding_source: str = Field(min_length=1, max_length=100)
    emergency: bool = Field(
        default=False,
        description="green channel: help before the household is a confirmed target",
    )


class BudgetIn(BaseModel):
    funding_source: str = Field(min_length=1, max_length=100)
    year: int = Field(ge=2020, le=2100)
    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2)


# Measures counted in whole people or places (a job, a public-welfare post); money
# and land may have fractions.
COUNTED_UNITS = frozenset({"people", "places"})


class AssistanceApplication(ServiceApplication):
    service = "assistance"

    def process(self, messages: list[Incoming]) -> None:
        unit = UnitOfWork(self)
        for incoming in messages:
            unit.track(incoming.key)
            data = incoming.data
            if isinstance(data, CaseOpened):
                if unit.get(data.case_id, CaseRef) is None:
                    unit.add(
                        CaseRef(
                            case_id=data.case_id,
                            household_id=data.household_id,
                            area_code=data.area_code,
                            urgent=data.urgent,
                        )
                    )
                continue
            case_id = getattr(data, "case_id", None)
            case = unit.get(case_id, CaseRef) if case_id else None
            if case is None:
                continue
            if isinstance(data, TargetConfirmed):
                case.note_target(is_target=True)
            elif isinstance(data, TargetExited | CaseRejected) and case.is_target:
                case.note_target(is_target=False)
            elif isinstance(data, CaseClosed) and case.is_open:
                case.end()
            elif isinstance(data, PlanDrawn):
                self._assign(unit, incoming, data)
        unit.commit()

    def _assign(self, unit: UnitOfWork, incoming: Incoming, plan: PlanDrawn) -> None:
        assert incoming.envelope is not None
        cause = Cause.following(incoming.envelope, self.service, plan.area_code)
        for planned in plan.measures:
            new_id = assignment_id(plan.case_id, planned.measure)
            if unit.get(new_id, Assignment) is not None:
                continue
            unit.add(
                Assignment(
                    assignment_id=new_id,
                    case_id=plan.case_id,
                    household_id=plan.household_id,
                    area_code=plan.area_code,
                    measure=planned.measure,
                    department=planned.responsible_department,
                    due_on=planned.due_on,
                    meta=cause.meta(
                        household_id=plan.household_id, case_id=plan.case_id
                    ),
                )
            )

    def grant(self, form: GrantIn, principal: Principal) -> UUID:
        if principal.role not in GRANTING_ROLES:
            raise Forbidden("aid is granted by towns, departments and the district")
        measure = MEASURES.get(form.measure)
        if measure is None:
            raise DomainError(f"unknown measure {form.measure!r}", "measure")
        if principal.role is Role.DEPARTMENT and principal.department != (
            measure.department
        ):
            raise Forbidden("a department grants only the measures of its field")
        case = self.get_or_none(form.case_id, CaseRef)
        if case is None or not principal.covers(case.area_code):
            raise NotFound("case not known here (yet) in your area", "case_id")
        if not case.is_open:
            raise Conflict("the case is closed; no more aid against it", "case_id")
        if not case.is_target:
            self._check_green_channel(case, form, principal)
        if (
            measure.unit in COUNTED_UNITS
            and form.quantity != form.quantity.to_integral()
        ):
            raise DomainError(
                f"{measure.code} is counted in {measure.unit}: give a whole number",
                "quantity",
            )
        ledger = self._ledger_with_period_free(case.household_id, measure, form)
        budget = self._budget_to_charge(measure, form)
        new_id = ledger.next_grant_id(form.period)
        ledger.enter(grant_id=new_id, period=form.period)
        meta = Cause(principal.actor()).meta(
            household_id=case.household_id, case_id=case.id
        )
        changed: list[Grant | GrantLedger | Budget | Assignment] = [
            ledger,
            Grant(
                grant_id=new_id,
                case_id=case.id,
                household_id=case.household_id,
                area_code=case.area_code,
                measure=measure.code,
                quantity=form.quantity,
                unit=measure.unit,
                period=form.period,
                funding_source=form.funding_source,
                department=measure.department,
                emergency=form.emergency,
                meta=meta,
            ),
        ]
        if budget is not None:
            budget.charge(grant_id=new_id, amount=form.quantity)
            changed.append(budget)
        assignment = self.get_or_none(assignment_id(case.id, measure.code), Assignment)
        if assignment is not None and not assignment.delivered:
            assignment.deliver(grant_id=new_id)
            changed.append(assignment)
        # Grant, ledger, budget and assignment change together or not at all.
        self.save(*changed)
        return new_id

    @staticmethod
    def _check_green_channel(
        case: CaseRef, form: GrantIn, principal: Principal
    ) -> None:
        """Help before the household is a confirmed target (casework's green
        channel) is asked for explicitly, and is for urgent cases; for any other
        case the district office decides it alone."""
        if not form.emergency:
            raise Conflict(
                "the household is not a confirmed monitoring target; mark the "
                "grant as emergency help (green channel) to give it now",
                "emergency",
            )
        if not case.urgent and principal.role is not Role.DISTRICT:
            raise DomainError(
                "emergency help before the household is a confirmed target is for "
                "cases marked urgent; for this case only the district office can "
                "give it",
                "emergency",
            )

    def _ledger_with_period_free(
        self, household_id: UUID, measure: Measure, form: GrantIn
    ) -> GrantLedger:
        """The household's ledger of the measure, once no live grant of it covers
        a month of the period asked."""
        ledger = self.get_or_none(
            ledger_id(household_id, measure.code), GrantLedger
        ) or GrantLedger(household_id=household_id, measure=measure.code)
        granted = ledger.overlapping(form.period)
        if granted is not None and granted != form.period:
            raise Conflict(
                f"this measure was already granted to the household for {granted}, "
                f"which overlaps {form.period}; stop that grant to grant it anew",
                "period",
            )
        # Grants made before the ledger was kept are known only by their id.
        if granted == form.period or self.get_or_none(
            ledger.next_grant_id(form.period), Grant
        ):
            raise Conflict(
                "this measure was already granted to the household for this period",
                "period",
            )
        return ledger

    def _budget_to_charge(self, measure: Measure, form: GrantIn) -> Budget | None:
        """The budget a grant in yuan draws on, opened uncapped if the district
        has not set it yet, so that no grant escapes its count."""
        if measure.unit != "yuan":
            return None
        year = int(form.period[:4])
        budget = self.get_or_none(
            budget_id(form.funding_source, year), Budget
        ) or Budget(funding_source=form.funding_source, year=year)
        if budget.capped and form.quantity > budget.remaining:
            raise Conflict(
                f"the {form.funding_source} budget has {budget.remaining} yuan "
                "left for the year",
                "quantity",
            )
        return budget

    def stop_grant(self, grant_id_: UUID, reason: str, principal: Principal) -> None:
        if principal.role not in GRANTING_ROLES:
            raise Forbidden("aid is stopped by towns, departments and the district")
        grant = self.get_or_none(grant_id_, Grant)
        if grant is None or not principal.covers(grant.area_code):
            raise NotFound("grant not found in your area")
        if grant.stopped:
            raise Conflict("the grant is already stopped")
        grant.stop(
            grant_id=grant.id,
            case_id=grant.case_id,
            household_id=grant.household_id,
            area_code=grant.area_code,
            measure=grant.measure,
            reason=reason,
            meta=Cause(principal.actor()).meta(
                household_id=grant.household_id, case_id=grant.case_id
            ),
        )
        # A stopped grant is withdrawn aid: its period is free for the measure
        # again, and what it took from its budget is available again, as the
        # totals no longer count it.
        changed: list[Grant | GrantLedger | Budget] = [grant]
        ledger = self.get_or_none(
            ledger_id(grant.household_id, grant.measure), GrantLedger
        )
        if ledger is not None and str(grant.id) in ledger.live:
            ledger.withdraw(grant_id=grant.id)
            changed.append(ledger)
        budget = self.get_or_none(
            budget_id(grant.funding_source, int(grant.period[:4])), Budget
        )
        taken = budget.charged.get(str(grant.id)) if budget is not None else None
        if budget is not None and taken is not None:
            budget.refund(grant_id=grant.id, amount=taken)
            changed.append(budget)
        self.save(*changed)

    def set_budget(self, form: BudgetIn, principal: Principal) -> Budget:
        if principal.role is not Role.DISTRICT:
            raise Forbidden("budgets are set by the district office")
        budget = self.get_or_none(budget_id(form.funding_source, form.year), Budget)
        if budget is None:
            budget = Budget(funding_source=form.funding_source, year=form.year)
        if form.amount < budget.spent:
            raise Conflict(
                f"{budget.spent} yuan are already granted from this budget", "amount"
            )
        budget.set_amount(
            funding_source=form.funding_source,
            year=form.year,
            amount=form.amount,
            meta=Cause(principal.actor()).meta(),
        )
        self.save(budget)
        return budget
