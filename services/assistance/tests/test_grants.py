import uuid
from datetime import date
from decimal import Decimal

import pytest
from eventsourcing.persistence import IntegrityError
from pydantic import ValidationError

from assistance.application import AssistanceApplication, BudgetIn
from assistance.domain import (
    Assignment,
    Budget,
    Grant,
    GrantLedger,
    assignment_id,
    budget_id,
    grant_id,
    ledger_id,
)
from fangpin.auth import Principal
from fangpin.contracts import PlanDrawn, PlannedMeasure, Role
from fangpin.service import Conflict, DomainError, Forbidden, NotFound

from .conftest import DISTRICT, TOWN, VILLAGE, Feed, grant


def test_only_a_confirmed_target_gets_aid_unless_it_is_emergency_help():
    app = AssistanceApplication(in_memory=True)
    feed = Feed(app).open(urgent=True)
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


DEPARTMENT = Principal(
    user_id="civil01",
    role=Role.DEPARTMENT,
    area_code="510904",
    department="civil_affairs",
)


class TestGreenChannel:
    def test_a_town_gives_emergency_help_on_an_urgent_case(self):
        app = AssistanceApplication(in_memory=True)
        feed = Feed(app).open(urgent=True)
        granted = app.grant(grant(feed.case_id, emergency=True), TOWN)
        assert app.get_or_none(granted, Grant).period == "2026-12"

    def test_emergency_help_on_a_case_not_urgent_is_refused_naming_the_flag(self):
        app = AssistanceApplication(in_memory=True)
        feed = Feed(app).open(urgent=False)
        for official in (TOWN, DEPARTMENT):
            with pytest.raises(DomainError, match="marked urgent") as refused:
                app.grant(grant(feed.case_id, emergency=True), official)
            assert type(refused.value) is DomainError
            assert refused.value.status_code == 422
            assert refused.value.field == "emergency"

    def test_the_district_office_gives_emergency_help_on_any_open_case(self):
        app = AssistanceApplication(in_memory=True)
        feed = Feed(app).open(urgent=False)
        app.grant(grant(feed.case_id, emergency=True), DISTRICT)

    def test_after_the_exit_help_is_emergency_help_again(self):
        app = AssistanceApplication(in_memory=True)
        feed = Feed(app).open(urgent=False).confirm()
        app.grant(grant(feed.case_id, period="2026-11"), TOWN)
        feed.exit()
        with pytest.raises(Conflict, match="not a confirmed monitoring target"):
            app.grant(grant(feed.case_id), TOWN)
        with pytest.raises(DomainError, match="marked urgent"):
            app.grant(grant(feed.case_id, emergency=True), TOWN)

    def test_a_confirmed_target_needs_no_green_channel(self):
        app = AssistanceApplication(in_memory=True)
        feed = Feed(app).open(urgent=False).confirm()
        app.grant(grant(feed.case_id), TOWN)
        app.grant(grant(feed.case_id, period="2027-01", emergency=True), TOWN)


class TestOverlappingPeriods:
    def test_a_month_inside_a_granted_year_is_refused(self):
        app = AssistanceApplication(in_memory=True)
        feed = Feed(app).open().confirm()
        app.grant(grant(feed.case_id, period="2026"), TOWN)
        with pytest.raises(Conflict, match="for 2026, which overlaps 2026-12") as no:
            app.grant(grant(feed.case_id, period="2026-12"), TOWN)
        assert (no.value.status_code, no.value.field) == (409, "period")

    def test_a_year_containing_a_granted_month_is_refused(self):
        app = AssistanceApplication(in_memory=True)
        feed = Feed(app).open().confirm()
        app.grant(grant(feed.case_id, period="2026-03"), TOWN)
        with pytest.raises(Conflict, match="for 2026-03, which overlaps 2026") as no:
            app.grant(grant(feed.case_id, period="2026"), TOWN)
        assert no.value.field == "period"

    def test_other_months_years_measures_and_households_are_free(self):
        app = AssistanceApplication(in_memory=True)
        feed = Feed(app).open().confirm()
        app.grant(grant(feed.case_id, period="2026"), TOWN)
        app.grant(grant(feed.case_id, period="2025-12"), TOWN)
        app.grant(grant(feed.case_id, period="2027"), TOWN)
        app.grant(grant(feed.case_id, period="2026-12", measure="chronic_aid"), TOWN)
        other = Feed(app).open().confirm()
        app.grant(grant(other.case_id, period="2026-12"), TOWN)

    def test_a_grant_in_an_earlier_case_of_the_household_still_counts(self):
        app = AssistanceApplication(in_memory=True)
        first = Feed(app).open().confirm()
        app.grant(grant(first.case_id, period="2026"), TOWN)
        first.close()
        again = Feed(app, household=first.household).open().confirm()
        with pytest.raises(Conflict, match="for 2026, which overlaps"):
            app.grant(grant(again.case_id, period="2026-12"), TOWN)

    def test_a_stopped_grant_frees_its_months(self):
        app = AssistanceApplication(in_memory=True)
        feed = Feed(app).open().confirm()
        year = app.grant(grant(feed.case_id, period="2026"), TOWN)
        app.stop_grant(year, "按月发放", TOWN)
        month = app.grant(grant(feed.case_id, period="2026-12"), TOWN)
        with pytest.raises(Conflict, match="for 2026-12, which overlaps 2026"):
            app.grant(grant(feed.case_id, period="2026"), TOWN)
        app.stop_grant(month, "金额有误", TOWN)
        app.grant(grant(feed.case_id, period="2026"), TOWN)

    def test_a_period_is_granted_again_after_its_grant_was_stopped(self):
        app = AssistanceApplication(in_memory=True)
        feed = Feed(app).open().confirm()
        first = app.grant(grant(feed.case_id), TOWN)
        assert first == grant_id(feed.household, "temporary_aid", "2026-12")
        app.stop_grant(first, "金额有误", TOWN)

        second = app.grant(grant(feed.case_id, quantity=Decimal(1800)), TOWN)

        assert second != first
        assert second == grant_id(feed.household, "temporary_aid", "2026-12", 1)
        assert app.get_or_none(second, Grant).quantity == Decimal(1800)
        with pytest.raises(Conflict, match="already granted .* for this period"):
            app.grant(grant(feed.case_id), TOWN)

    def test_a_grant_sent_twice_is_made_once(self):
        app = AssistanceApplication(in_memory=True)
        feed = Feed(app).open().confirm()
        form = grant(feed.case_id, period="2026")
        granted = app.grant(form, TOWN)
        with pytest.raises(Conflict, match="already granted .* for this period"):
            app.grant(form, TOWN)
        ledger = app.get_or_none(
            ledger_id(feed.household, "temporary_aid"), GrantLedger
        )
        assert ledger.live == {str(granted): "2026"}

    def test_two_overlapping_grants_at_once_cannot_both_be_saved(self, monkeypatch):
        app = AssistanceApplication(in_memory=True)
        feed = Feed(app).open().confirm()
        app.grant(grant(feed.case_id, period="2025-12"), TOWN)
        # A second official reads the ledger, then the first grants the year.
        read_early = app.get_or_none(
            ledger_id(feed.household, "temporary_aid"), GrantLedger
        )
        app.grant(grant(feed.case_id, period="2026"), TOWN)
        reads = app.get_or_none

        def early(aggregate_id, kind):
            return read_early if kind is GrantLedger else reads(aggregate_id, kind)

        monkeypatch.setattr(app, "get_or_none", early)
        with pytest.raises(IntegrityError):
            app.grant(grant(feed.case_id, period="2026-06"), TOWN)
        monkeypatch.setattr(app, "get_or_none", reads)
        # Run again, as the HTTP route does after a lost race: refused.
        with pytest.raises(Conflict, match="for 2026, which overlaps 2026-06"):
            app.grant(grant(feed.case_id, period="2026-06"), TOWN)

    def test_a_grant_kept_from_before_the_ledger_still_blocks_its_period(self):
        app = AssistanceApplication(in_memory=True)
        feed = Feed(app).open().confirm()
        kept = grant_id(feed.household, "temporary_aid", "2026-12")
        app.save(
            Grant(
                grant_id=kept,
                case_id=feed.case_id,
                household_id=feed.household,
                area_code=VILLAGE,
                measure="temporary_aid",
                quantity=Decimal(100),
                unit="yuan",
                period="2026-12",
                funding_source="district",
                department="civil_affairs",
                emergency=False,
                meta={},
            )
        )
        with pytest.raises(Conflict, match="already granted .* for this period"):
            app.grant(grant(feed.case_id), TOWN)

    @pytest.mark.parametrize("period", ["2026-13", "2026-00", "2026-1", "26", ""])
    def test_a_period_that_is_no_year_or_month_is_refused(self, period):
        with pytest.raises(ValidationError, match="period"):
            grant(uuid.uuid4(), period=period)


def test_a_grant_made_before_its_budget_was_set_counts_against_it():
    app = AssistanceApplication(in_memory=True)
    feed = Feed(app).open().confirm()
    app.grant(grant(feed.case_id, period="2026-11"), TOWN)
    with pytest.raises(Conflict, match="2000 yuan are already granted"):
        app.set_budget(
            BudgetIn(funding_source="district", year=2026, amount=Decimal(1000)),
            DISTRICT,
        )
    app.set_budget(
        BudgetIn(funding_source="district", year=2026, amount=Decimal(2500)),
        DISTRICT,
    )
    with pytest.raises(Conflict, match="has 500 yuan left"):
        app.grant(grant(feed.case_id), TOWN)
