"""Properties of grants, over random sequences of grants, stops, budgets and
casework's events for a few households.

The checks read the event store and compare it with what the machine itself sent
and asked, not with assistance's own bookkeeping, so a broken rule shows. The
tests at the end break a rule on purpose and expect the machine to notice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from assistance.application import AssistanceApplication, BudgetIn, GrantIn
from assistance.domain import Budget, Grant, GrantLedger, budget_id, ledger_id
from fangpin.auth import Principal
from fangpin.contracts import (
    Actor,
    CaseClosed,
    CaseOpened,
    Contract,
    Envelope,
    Role,
    TargetConfirmed,
    TargetExited,
    TargetType,
)
from fangpin.inbox import Incoming
from fangpin.service import Conflict, DomainError

VILLAGE = "510904101201"
TOWN = Principal(user_id="town01", role=Role.TOWN, area_code="510904101")
DISTRICT = Principal(user_id="district01", role=Role.DISTRICT, area_code="510904")
HOUSEHOLDS = 2
SOURCE = "district"
# Money (drawing on a budget) and places (counted, no budget).
MEASURES = ("temporary_aid", "welfare_post")
PERIODS = ("2026", "2026-06", "2026-12", "2027-01", "2027")
YEARS = (2026, 2027)


def months(period: str) -> set[tuple[int, int]]:
    """The machine's own reading of a period, independent of assistance's."""
    year, _, month = period.partition("-")
    if month:
        return {(int(year), int(month))}
    return {(int(year), number) for number in range(1, 13)}


class Case:
    """A case as casework sees it: what it told assistance, and when."""

    def __init__(self, household: UUID, urgent: bool):
        self.case_id = uuid.uuid4()
        self.household = household
        self.urgent = urgent
        self.open = True
        self.target = False
        # The last notification stored when casework closed the case.
        self.closed_at: int | None = None


class GrantLifeCycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.app = AssistanceApplication(in_memory=True)
        self.households = [uuid.uuid4() for _ in range(HOUSEHOLDS)]
        self.cases: list[Case] = []
        self.message = 0
        self.read_at: int | None = -1
        self.read: list[Grant] = []

    # --- casework's events ---------------------------------------------------

    def send(self, data: Contract) -> None:
        self.message += 1
        envelope = Envelope(
            event_id=uuid.uuid4(),
            type=type(data).__name__,
            occurred_at=datetime.now(UTC),
            producer="casework",
            actor=Actor(user_id="casework", role=Role.SYSTEM, area_code="510904"),
            correlation_id=uuid.uuid4(),
            data=data.model_dump(mode="json"),
        )
        incoming = Incoming(
            ("casework", self.message), "casework.case.x", envelope, data
        )
        self.app.process([incoming])

    def current(self, household: int) -> Case | None:
        found = [
            case for case in self.cases if case.household == self.households[household]
        ]
        return found[-1] if found else None

    def step_fields(self, case: Case) -> dict[str, Any]:
        return {
            "case_id": case.case_id,
            "household_id": case.household,
            "area_code": VILLAGE,
            "step": "decision",
            "next_step": "plan",
        }

    @initialize(
        urgent=st.lists(st.booleans(), min_size=HOUSEHOLDS, max_size=HOUSEHOLDS)
    )
    def open_first_cases(self, urgent: list[bool]) -> None:
        for household, is_urgent in enumerate(urgent):
            self.open_case(household, is_urgent)

    @rule(household=st.integers(0, HOUSEHOLDS - 1), urgent=st.booleans())
    def open_case(self, household: int, urgent: bool) -> None:
        case = self.current(household)
        if case is not None and case.open:
            return  # casework keeps one open case per household
        case = Case(self.households[household], urgent)
        self.cases.append(case)
        self.send(
            CaseOpened(
                case_id=case.case_id,
                household_id=case.household,
                area_code=VILLAGE,
                town_code=VILLAGE[:9],
                signal_type="ProblemReported",
                signal_event_id=uuid.uuid4(),
                urgent=urgent,
            )
        )

    @rule(household=st.integers(0, HOUSEHOLDS - 1))
    def confirm_target(self, household: int) -> None:
        case = self.current(household)
        if case is None or not case.open:
            return
        case.target = True
        self.send(
            TargetConfirmed(
                **self.step_fields(case),
                target_type=TargetType.EXPENSE_HARDSHIP,
                reason="medical costs",
            )
        )

    @rule(household=st.integers(0, HOUSEHOLDS - 1))
    def exit_target(self, household: int) -> None:
        case = self.current(household)
        if case is None or not case.open:
            return
        case.target = False
        self.send(
            TargetExited(
                **self.step_fields(case),
                target_type=TargetType.EXPENSE_HARDSHIP,
                months_monitored=6,
            )
        )

    @rule(household=st.integers(0, HOUSEHOLDS - 1))
    def close_case(self, household: int) -> None:
        case = self.current(household)
        if case is None or not case.open:
            return
        case.open = False
        case.target = False
        self.send(
            CaseClosed(
                case_id=case.case_id,
                household_id=case.household,
                area_code=VILLAGE,
                verification="verified on a visit",
                verified_by="town01",
            )
        )
        case.closed_at = self.app.recorder.max_notification_id() or 0

    # --- officials' commands -------------------------------------------------

    @rule(
        case_index=st.integers(0, 20),
        measure=st.sampled_from(MEASURES),
        period=st.sampled_from(PERIODS),
        money=st.sampled_from([Decimal(500), Decimal(1500), Decimal(4000)]),
        emergency=st.booleans(),
        official=st.sampled_from([TOWN, DISTRICT]),
    )
    def grant(
        self,
        case_index: int,
        measure: str,
        period: str,
        money: Decimal,
        emergency: bool,
        official: Principal,
    ) -> None:
        case = self.cases[case_index % len(self.cases)]
        form = GrantIn(
            case_id=case.case_id,
            measure=measure,
            quantity=money if measure == "temporary_aid" else Decimal(1),
            period=period,
            funding_source=SOURCE,
            emergency=emergency,
        )
        green_channel = case.urgent or official.role is Role.DISTRICT
        try:
            self.app.grant(form, official)
        except DomainError as refused:
            self.check_refusal(refused, case, form, green_channel)
            return
        assert case.open, "granted on a closed case"
        if not case.target:
            assert emergency, "help before the decision not marked as emergency"
            assert green_channel, "emergency help on a case not urgent, by a town"

    def check_refusal(
        self, refused: DomainError, case: Case, form: GrantIn, green_channel: bool
    ) -> None:
        """Every refusal has its reason in what the machine did before."""
        if refused.field == "case_id":
            assert not case.open, "an open case refused as closed"
        elif refused.field == "emergency":
            assert not case.target, "a confirmed target refused as not one"
            assert not (form.emergency and green_channel), "green channel refused"
        elif refused.field == "period":
            assert any(
                grant.household_id == case.household
                and grant.measure == form.measure
                and months(grant.period) & months(form.period)
                for grant in self.live_grants()
            ), f"{form.period} refused with nothing live in its way"
        elif refused.field == "quantity":
            budget = self.app.get_or_none(
                budget_id(SOURCE, int(form.period[:4])), Budget
            )
            assert budget is not None and budget.capped, "budget refused unset"
            assert self.live_money(budget.year) + form.quantity > budget.amount, (
                "budget refused with room left"
            )
        else:
            raise AssertionError(f"refused for {refused.field}: {refused.reason}")

    @rule(index=st.integers(0, 50), official=st.sampled_from([TOWN, DISTRICT]))
    def stop(self, index: int, official: Principal) -> None:
        granted = self.grants()
        if not granted:
            return
        chosen = granted[index % len(granted)]
        try:
            self.app.stop_grant(chosen.id, "circumstances changed", official)
        except Conflict:
            assert chosen.stopped, "a live grant could not be stopped"
            return
        stopped = self.app.get_or_none(chosen.id, Grant)
        assert stopped is not None and stopped.stopped

    @rule(
        year=st.sampled_from(YEARS),
        amount=st.sampled_from([Decimal(0), Decimal(3000), Decimal(8000)]),
    )
    def set_budget(self, year: int, amount: Decimal) -> None:
        form = BudgetIn(funding_source=SOURCE, year=year, amount=amount)
        try:
            self.app.set_budget(form, DISTRICT)
        except Conflict:
            assert self.live_money(year) > amount, "budget refused with room left"

    # --- what the store holds -------------------------------------------------

    def stored_events(self) -> Iterator[tuple[int, Any]]:
        for notification in self.app.recorder.select_notifications(None, 100_000):
            yield notification.id, self.app.mapper.to_domain_event(notification)

    def grants(self) -> list[Grant]:
        """Every grant stored, read again only when something new was stored."""
        position = self.app.recorder.max_notification_id()
        if self.read_at == position:
            return self.read
        found = []
        for _, event in self.stored_events():
            if type(event).__name__ == "AidGranted":
                grant = self.app.get_or_none(event.originator_id, Grant)
                assert grant is not None
                found.append(grant)
        self.read_at, self.read = position, found
        return found

    def live_grants(self) -> list[Grant]:
        return [grant for grant in self.grants() if not grant.stopped]

    def live_money(self, year: int) -> Decimal:
        return sum(
            (
                grant.quantity
                for grant in self.live_grants()
                if grant.unit == "yuan"
                and grant.funding_source == SOURCE
                and int(grant.period[:4]) == year
            ),
            Decimal(0),
        )

    @invariant()
    def no_grant_after_the_case_is_closed(self) -> None:
        closed_at = {
            case.case_id: case.closed_at
            for case in self.cases
            if case.closed_at is not None
        }
        for position, event in self.stored_events():
            if type(event).__name__ == "AidGranted" and event.case_id in closed_at:
                assert position <= closed_at[event.case_id], "granted after closure"

    @invariant()
    def never_two_live_grants_of_a_measure_for_one_month(self) -> None:
        live = self.live_grants()
        for number, grant in enumerate(live):
            for other in live[number + 1 :]:
                same = (grant.household_id, grant.measure) == (
                    other.household_id,
                    other.measure,
                )
                assert not (same and months(grant.period) & months(other.period)), (
                    f"{grant.measure} granted for {grant.period} and {other.period}"
                )

    @invariant()
    def the_ledger_holds_exactly_the_live_grants(self) -> None:
        live = self.live_grants()
        for household in self.households:
            for measure in MEASURES:
                ledger = self.app.get_or_none(
                    ledger_id(household, measure), GrantLedger
                )
                expected = {
                    str(grant.id): grant.period
                    for grant in live
                    if (grant.household_id, grant.measure) == (household, measure)
                }
                assert (ledger.live if ledger else {}) == expected

    @invariant()
    def budgets_count_every_live_grant_and_never_go_below_zero(self) -> None:
        for year in YEARS:
            budget = self.app.get_or_none(budget_id(SOURCE, year), Budget)
            live = self.live_money(year)
            if budget is None:
                assert live == 0, f"{live} yuan granted in {year}, no budget counts"
                continue
            assert budget.spent == live, f"the {year} budget counts {budget.spent}"
            if budget.capped:
                assert budget.remaining == budget.amount - live
                assert budget.remaining >= 0, f"the {year} budget is overdrawn"


GrantLifeCycle.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestGrantLifeCycle = GrantLifeCycle.TestCase


# --- the checks can fail ------------------------------------------------------

SEARCH = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def expect_caught(message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        run_state_machine_as_test(GrantLifeCycle, settings=SEARCH)


def test_the_machine_catches_overlapping_grants(monkeypatch):
    monkeypatch.setattr(GrantLedger, "overlapping", lambda self, period: None)
    expect_caught("granted for")


def test_the_machine_catches_a_stopped_grant_that_still_blocks(monkeypatch):
    def ever_granted(self: GrantLedger, period: str) -> str | None:
        wanted = months(period)
        return next((p for p in self.entered if months(p) & wanted), None)

    monkeypatch.setattr(GrantLedger, "overlapping", ever_granted)
    expect_caught("refused with nothing live")


def test_the_machine_catches_a_grant_on_a_closed_case(monkeypatch):
    original = AssistanceApplication.process

    def deaf_to_closure(self: AssistanceApplication, messages: list[Incoming]) -> None:
        heard = [m for m in messages if not isinstance(m.data, CaseClosed)]
        original(self, heard)

    monkeypatch.setattr(AssistanceApplication, "process", deaf_to_closure)
    expect_caught("granted on a closed case|granted after closure")


def test_the_machine_catches_a_budget_that_forgets_a_grant(monkeypatch):
    monkeypatch.setattr(AssistanceApplication, "_budget_to_charge", lambda *a: None)
    expect_caught("budget counts")


def test_the_machine_catches_emergency_help_without_urgency(monkeypatch):
    monkeypatch.setattr(
        AssistanceApplication, "_check_green_channel", lambda *args: None
    )
    expect_caught("emergency")
