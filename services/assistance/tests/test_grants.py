import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from assistance.application import AssistanceApplication, BudgetIn, GrantIn
from assistance.domain import Assignment, Budget, assignment_id, budget_id
from fangpin.auth import Principal
from fangpin.contracts import (
    Actor,
    CaseClosed,
    CaseOpened,
    Envelope,
    PlanDrawn,
    PlannedMeasure,
    Role,
    TargetConfirmed,
)
from fangpin.inbox import Incoming
from fangpin.service import Conflict, DomainError, Forbidden, NotFound

TOWN = Principal(user_id="town01", role=Role.TOWN, area_code="510904101")
DISTRICT = Principal(user_id="d", role=Role.DISTRICT, area_code="510904")
VILLAGE = "510904101201"


class Feed:
    """Casework's events, as assistance's inbox would hand them over."""

    def __init__(self, app: AssistanceApplication):
        self.app = app
        self.number = 0
        self.case_id = uuid.uuid4()
        self.household = uuid.uuid4()

    def send(self, data) -> None:
        self.number += 1
        envelope = Envelope(
            event_id=uuid.uuid4(),
            type=type(data).__name__,
            occurred_at=datetime.now(UTC),
            producer="casework",
            actor=Actor(user_id="casework", role=Role.SYSTEM, area_code="510904"),
            correlation_id=uuid.uuid4(),
            data=data.model_dump(mode="json"),
        )
        key = ("casework", self.number)
        self.app.process([Incoming(key, "casework.case.x", envelope, data)])

    def step(self, kind, step: str, next_step: str, **fields) -> None:
        self.send(
            kind(
                case_id=self.case_id,
                household_id=self.household,
                area_code=VILLAGE,
                step=step,
                next_step=next_step,
                **fields,
            )
        )

    def open(self) -> "Feed":
        self.send(
            CaseOpened(
                case_id=self.case_id,
                household_id=self.household,
                area_code=VILLAGE,
                town_code=VILLAGE[:9],
                signal_type="ProblemReported",
                signal_event_id=uuid.uuid4(),
            )
        )
        return self

    def confirm(self) -> "Feed":
        self.step(
            TargetConfirmed,
            "decision",
            "plan",
            target_type="expense_hardship",
            reason="medical costs",
        )
        return self

    def close(self) -> None:
        self.send(
            CaseClosed(
                case_id=self.case_id,
                household_id=self.household,
                area_code=VILLAGE,
                verification="verified",
                verified_by="town01",
            )
        )


def grant(case_id, **changes) -> GrantIn:
    values = {
        "case_id": case_id,
        "measure": "temporary_aid",
        "quantity": Decimal("2000"),
        "period": "2026-12",
        "funding_source": "district",
    }
    values.update(changes)
    return GrantIn(**values)


def test_only_a_confirmed_target_gets_aid_unless_it_is_emergency_help():
    app = AssistanceApplication(in_memory=True)
    feed = Feed(app).open()
    with pytest.raises(Conflict, match="not a confirmed monitoring target"):
        app.grant(grant(feed.case_id), TOWN)
    app.grant(grant(feed.case_id, emergency=True), TOWN)
    feed.confirm()
    app.grant(grant(feed.case_id, period="2027-01"), TOWN)


def test_the_same_measure_for_the_same_period_is_granted_once():
    app = AssistanceApplication(in_memory=True)
    feed = Feed(app).open().confirm()
    app.grant(grant(feed.case_id), TOWN)
    with pytest.raises(Conflict, match="already granted"):
        app.grant(grant(feed.case_id, quantity=Decimal("10")), TOWN)


def test_no_grant_after_closure():
    app = AssistanceApplication(in_memory=True)
    feed = Feed(app).open().confirm()
    feed.close()
    with pytest.raises(Conflict, match="closed"):
        app.grant(grant(feed.case_id, emergency=True), TOWN)


def test_a_plan_assigns_its_measures_and_a_grant_delivers_them():
    app = AssistanceApplication(in_memory=True)
    feed = Feed(app).open().confirm()
    feed.step(
        PlanDrawn,
        "plan",
        "assistance",
        target_type="expense_hardship",
        paired_cadre="cadre07",
        measures=[
            PlannedMeasure(
                measure="temporary_aid",
                responsible_department="civil_affairs",
                due_on=date(2027, 1, 31),
            )
        ],
    )
    assignment = app.get_or_none(
        assignment_id(feed.case_id, "temporary_aid"), Assignment
    )
    assert assignment is not None and not assignment.delivered
    app.grant(grant(feed.case_id), TOWN)
    assignment = app.get_or_none(assignment.id, Assignment)
    assert assignment is not None and assignment.delivered


def test_budgets_cap_grants_in_yuan():
    app = AssistanceApplication(in_memory=True)
    feed = Feed(app).open().confirm()
    app.set_budget(
        BudgetIn(funding_source="district", year=2026, amount=Decimal(2500)), DISTRICT
    )
    app.grant(grant(feed.case_id), TOWN)
    with pytest.raises(Conflict, match="500"):
        app.grant(grant(feed.case_id, measure="chronic_aid"), TOWN)
    with pytest.raises(Conflict, match="already granted"):
        app.set_budget(
            BudgetIn(funding_source="district", year=2026, amount=Decimal(100)),
            DISTRICT,
        )


def test_departments_grant_only_their_own_measures_and_areas_are_enforced():
    app = AssistanceApplication(in_memory=True)
    feed = Feed(app).open().confirm()
    health = Principal(
        user_id="m", role=Role.DEPARTMENT, area_code="510904", department="health"
    )
    with pytest.raises(Forbidden):
        app.grant(grant(feed.case_id), health)
    elsewhere = Principal(user_id="t2", role=Role.TOWN, area_code="510904102")
    with pytest.raises(NotFound):
        app.grant(grant(feed.case_id), elsewhere)


def test_people_and_places_are_granted_in_whole_numbers():
    app = AssistanceApplication(in_memory=True)
    feed = Feed(app).open().confirm()

    with pytest.raises(DomainError, match="whole number") as refused:
        app.grant(
            grant(feed.case_id, measure="welfare_post", quantity=Decimal("1.5")),
            DISTRICT,
        )
    assert refused.value.field == "quantity"

    app.grant(
        grant(feed.case_id, measure="welfare_post", quantity=Decimal("1.00")),
        DISTRICT,
    )
    # Money may have fractions.
    app.grant(grant(feed.case_id, quantity=Decimal("1200.50")), DISTRICT)


def test_a_stopped_grant_gives_back_what_it_took_from_its_budget_once():
    app = AssistanceApplication(in_memory=True)
    feed = Feed(app).open().confirm()
    budget = BudgetIn(funding_source="district", year=2026, amount=Decimal(2500))
    app.set_budget(budget, DISTRICT)
    granted = app.grant(grant(feed.case_id), TOWN)

    app.stop_grant(granted, "家庭情况已好转", TOWN)

    kept = app.get_or_none(budget_id("district", 2026), Budget)
    assert (kept.spent, kept.remaining) == (Decimal(0), Decimal(2500))
    with pytest.raises(Conflict, match="already stopped"):
        app.stop_grant(granted, "again", TOWN)
    assert app.get_or_none(budget_id("district", 2026), Budget).spent == 0
