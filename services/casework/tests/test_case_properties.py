"""Properties of the case life cycle, over random sequences of commands."""

import contextlib
import uuid
from datetime import UTC, date, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from casework.domain import Case, CaseError
from casework.steps import Step

USERS = st.sampled_from(["village01", "village02", "town01", "town02", "district01"])
NOTICE_STARTS = date(2026, 11, 1)


def meta(user: str) -> dict:
    return {"actor": {"user_id": user, "role": "town", "area_code": "510904"}}


class CaseLifeCycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.case = Case(
            case_id=uuid.uuid4(),
            household_id=uuid.uuid4(),
            area_code="510904101201",
            town_code="510904101",
            signal_type="ProblemReported",
            signal_event_id=uuid.uuid4(),
            urgent=False,
            reentry=False,
            meta=meta("grid01"),
        )
        self.events: list = []
        # The day each village review was recorded on: the event keeps no date
        # of its own but the moment it was stored.
        self.review_days: list[date] = []

    def attempt(self, command) -> None:
        with contextlib.suppress(CaseError):
            command()
        self.events.extend(self.case.collect_events())

    @rule(consent=st.booleans(), user=USERS)
    def visit(self, consent, user):
        self.attempt(lambda: self.case.record_visit(consent, "seen", meta(user)))

    @rule(days=st.integers(0, 10), user=USERS)
    def notice(self, days, user):
        end = NOTICE_STARTS + timedelta(days=days)
        self.attempt(lambda: self.case.publish_notice(NOTICE_STARTS, end, meta(user)))

    @rule(days_from_end=st.integers(-3, 3), user=USERS)
    def village_review(self, days_from_end, user):
        # Around the end of the notice, where the rule bites.
        ends = self.case.notice_ends_on or NOTICE_STARTS
        today = ends + timedelta(days=days_from_end)
        before = len(self.events)
        self.attempt(
            lambda: self.case.complete_village_review(False, "ok", today, meta(user))
        )
        reviewed = [
            event
            for event in self.events[before:]
            if type(event).__name__ == "VillageReviewed"
        ]
        self.review_days.extend(today for _ in reviewed)

    @rule(user=USERS)
    def town_check(self, user):
        self.attempt(lambda: self.case.town_check("ok", meta(user)))

    @rule(confirm=st.booleans(), user=USERS)
    def decide(self, confirm, user):
        if confirm:
            self.attempt(
                lambda: self.case.confirm_target("low_income", "ok", meta(user))
            )
        else:
            self.attempt(lambda: self.case.reject("not eligible", meta(user)))

    @rule(user=USERS)
    def plan(self, user):
        measures = [{"measure": "wages_local", "responsible_department": "hr"}]
        self.attempt(lambda: self.case.draw_plan("cadre", measures, meta(user)))

    @rule(user=USERS)
    def request_review(self, user):
        self.attempt(lambda: self.case.request_elimination("ready", meta(user)))

    @rule(
        unmet=st.lists(st.sampled_from(["income", "measures"]), max_size=2), user=USERS
    )
    def review(self, unmet, user):
        self.attempt(lambda: self.case.review_elimination(unmet, "review", meta(user)))

    @rule(evidence=st.sampled_from(["", "  ", "verified on a visit"]), user=USERS)
    def close(self, evidence, user):
        self.attempt(lambda: self.case.close(evidence, user, meta(user)))

    @rule(hasty=st.booleans())
    def advance(self, hasty):
        """The fitting command for the step the case waits in, so that random
        runs also reach the later steps and try the other rules there. A hasty
        official cuts the identification short: a visit without consent, a
        notice a day short, the review a day early, a closure before the
        district decides."""
        other = "town02" if self.case.submitted_by == "town01" else "town01"
        step = self.case.step
        if step is Step.VISIT:
            self.visit(not hasty, "village01")
        elif step is Step.NOTICE:
            self.notice(4 if hasty else 5, "village01")
        elif step is Step.NOTICE_PERIOD:
            self.village_review(-1 if hasty else 0, "village01")
        elif step is Step.TOWN_CHECK:
            self.town_check(other)
        elif step is Step.DECISION and hasty:
            self.close("solved already", other)
        elif step is Step.DECISION:
            self.decide(True, other)
        elif step is Step.PLAN:
            self.plan(other)
        elif step is Step.ASSISTANCE:
            self.request_review(other)
        elif step is Step.ELIMINATION_REVIEW:
            self.review([], other)
        elif step is Step.CLOSURE:
            self.close("verified on a visit", other)

    @rule(replicas=st.integers(1, 4))
    def deadline_passes(self, replicas):
        # Several replicas notice the same overdue step.
        due = datetime(2026, 1, 1, tzinfo=UTC)
        for _ in range(replicas):
            self.attempt(
                lambda: self.case.mark_overdue(self.case.step_seq, due, meta("sys"))
            )
            self.attempt(
                lambda: self.case.escalate(self.case.step_seq, due, meta("sys"))
            )

    @invariant()
    def no_closure_without_verification(self):
        for event in self.events:
            if type(event).__name__ == "CaseClosed":
                assert event.verification.strip()

    @invariant()
    def a_target_leaves_only_through_elimination(self):
        names = [type(event).__name__ for event in self.events]
        if "CaseClosed" in names and "TargetConfirmed" in names:
            assert "TargetExited" in names

    @invariant()
    def one_warning_and_one_escalation_per_step(self):
        seen: set[tuple[str, int]] = set()
        step_seq = 1
        for event in self.events:
            name = type(event).__name__
            if name in ("CaseOverdue", "CaseEscalated"):
                assert (name, step_seq) not in seen
                seen.add((name, step_seq))
            elif getattr(event, "next_step", None) not in (
                None,
                getattr(event, "step", None),
            ):
                step_seq += 1

    @invariant()
    def the_notice_follows_the_households_consent(self):
        consented = False
        for event in self.events:
            name = type(event).__name__
            if name == "HomeVisitRecorded":
                consented = event.consent
            elif name == "NoticePublished":
                assert consented, "a notice published without the household's consent"

    @invariant()
    def the_notice_runs_at_least_five_days(self):
        for event in self.events:
            if type(event).__name__ == "NoticePublished":
                assert (event.ends_on - event.starts_on).days >= 5

    @invariant()
    def the_village_reviews_only_after_the_notice_ends(self):
        notice_ends: date | None = None
        reviews = iter(self.review_days)
        for event in self.events:
            name = type(event).__name__
            if name == "NoticePublished":
                notice_ends = event.ends_on
            elif name == "VillageReviewed":
                assert notice_ends is not None, "a review without a notice"
                assert next(reviews) >= notice_ends

    @invariant()
    def no_closure_while_the_district_decides(self):
        waiting_in = Step.VISIT.value
        for event in self.events:
            if type(event).__name__ == "CaseClosed":
                assert waiting_in != Step.DECISION.value
            waiting_in = getattr(event, "next_step", waiting_in)

    @invariant()
    def nothing_happens_after_closure(self):
        names = [type(event).__name__ for event in self.events]
        if "CaseClosed" in names:
            assert names[-1] == "CaseClosed"
            assert self.case.step is Step.ENDED

    @invariant()
    def nobody_approves_their_own_submission(self):
        previous = "grid01"
        for event in self.events:
            name = type(event).__name__
            user = event.meta["actor"]["user_id"]
            if name in ("TownChecked", "TargetConfirmed", "CaseRejected"):
                assert user != previous
            if getattr(event, "next_step", None) not in (
                None,
                getattr(event, "step", None),
            ):
                previous = user


CaseLifeCycle.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None
)
TestCaseLifeCycle = CaseLifeCycle.TestCase
