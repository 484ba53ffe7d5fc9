"""A household's state folded from its events, and its part of each figure."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from fangpin.contracts import Envelope
from reporting.parameters import day_start
from reporting.state import Recorded, contribution, fold
from reporting.synthetic import Events
from reporting.views import effective_at

VILLAGE = "510904101201"
START = datetime(2026, 3, 2, 1, tzinfo=UTC)


def recorded(envelope: Envelope) -> Recorded:
    return Recorded(
        event_id=str(envelope.event_id),
        type=envelope.type,
        occurred_at=envelope.occurred_at,
        effective_at=effective_at(envelope),
        household_id=str(envelope.household_id),
        case_id=str(envelope.case_id) if envelope.case_id else None,
        data=envelope.data,
    )


def at(days: float) -> datetime:
    return START + timedelta(days=days)


def confirmed_target(events: Events, household: uuid.UUID) -> list[Envelope]:
    """A household registered, reported, visited, reviewed and confirmed, with a
    plan, an assignment, a grant and its income."""
    case = uuid.uuid4()
    report = events.report(household, VILLAGE, at(1))
    steps = [
        ("HomeVisitRecorded", "visit", "notice", {"consent": True, "findings": "x"}),
        (
            "NoticePublished",
            "notice",
            "notice_period",
            {"starts_on": "2026-03-04", "ends_on": "2026-03-10"},
        ),
        (
            "VillageReviewed",
            "notice_period",
            "town_check",
            {"objections": False, "summary": "x"},
        ),
        ("TownChecked", "town_check", "decision", {"summary": "x"}),
        (
            "TargetConfirmed",
            "decision",
            "plan",
            {"target_type": "expense_hardship", "reason": "x"},
        ),
    ]
    found = [
        events.registered(household, VILLAGE, at(0), group="2", members=4),
        events.income(household, VILLAGE, at(0.5), "4800.00", year=2025),
        report,
        events.opened(case, household, VILLAGE, at(1.1), report.event_id),
    ]
    for number, (kind, step, next_step, fields) in enumerate(steps):
        found.append(
            events.step(
                kind,
                case,
                household,
                VILLAGE,
                at(2 + number),
                step,
                next_step,
                **fields,
            )
        )
    found.append(
        events.step(
            "PlanDrawn",
            case,
            household,
            VILLAGE,
            at(8),
            "plan",
            "assistance",
            target_type="expense_hardship",
            paired_cadre="x",
            measures=[
                {
                    "measure": "serious_illness_aid",
                    "responsible_department": "medical_insurance",
                    "due_on": "2026-04-30",
                }
            ],
        )
    )
    found.append(
        events.assigned(
            case, household, VILLAGE, at(8.1), "serious_illness_aid", date(2026, 4, 30)
        )
    )
    found.append(
        events.granted(case, household, VILLAGE, at(9), "serious_illness_aid", "6000")
    )
    return found


def test_a_confirmed_target_counts_in_every_figure_it_belongs_to():
    events = Events()
    household = uuid.uuid4()
    state = fold(
        str(household), [recorded(e) for e in confirmed_target(events, household)]
    )
    shares = {name: share.value for name, share in contribution(state).items()}

    case = state.open_case
    assert case is not None and case.step == "assistance"
    assert shares["households"] == 1 and shares["people"] == 4
    assert shares["formerly_poor"] == 1 and "never_poor" not in shares
    assert shares["targets"] == 1 and shares["targets.expense_hardship"] == 1
    assert shares["target_people.expense_hardship"] == 4
    assert shares["targets.formerly_poor"] == 1
    assert shares["income_sum.expense_hardship"] == Decimal("4800.00") * 4
    assert shares["income_people.expense_hardship"] == 4
    assert shares["open_cases"] == 1 and shares["open_cases.assistance"] == 1
    assert shares["aid.serious_illness_aid.yuan.grants"] == 1
    assert shares["aid.serious_illness_aid.yuan.quantity"] == 6000
    assert shares["aid.serious_illness_aid.yuan.households"] == 1
    assert shares["assigned.serious_illness_aid"] == 1
    assert "flagged" not in shares and "overdue" not in shares


def test_the_order_events_arrive_in_does_not_change_the_state():
    events = Events()
    household = uuid.uuid4()
    history = [recorded(e) for e in confirmed_target(events, household)]
    expected = contribution(fold(str(household), history))
    for seed in range(20):
        shuffled = list(history)
        random.Random(seed).shuffle(shuffled)
        assert contribution(fold(str(household), shuffled)) == expected


def test_a_step_is_timed_from_when_the_case_entered_it():
    events = Events()
    household = uuid.uuid4()
    case = uuid.uuid4()
    report = events.report(household, VILLAGE, at(0))
    history = [
        report,
        events.opened(case, household, VILLAGE, at(0), report.event_id),
        # Without consent the case keeps waiting for a visit, its clock running.
        events.step(
            "HomeVisitRecorded",
            case,
            household,
            VILLAGE,
            at(1),
            "visit",
            "visit",
            consent=False,
            findings="x",
        ),
        events.step(
            "CaseOverdue",
            case,
            household,
            VILLAGE,
            at(3),
            "visit",
            "visit",
            due_at=at(2).isoformat(),
            level="village",
        ),
        events.step(
            "CaseEscalated",
            case,
            household,
            VILLAGE,
            at(5),
            "visit",
            "visit",
            escalate_at=at(4).isoformat(),
            to_level="town",
        ),
    ]
    state = fold(str(household), [recorded(e) for e in history])
    opened = state.open_case
    assert opened is not None
    assert [step.step for step in opened.steps] == ["visit"]
    assert opened.steps[0].started_at == at(0)
    assert opened.first_visit_at == at(1) and not opened.consent
    shares = contribution(state)
    assert shares["overdue"].cases == (str(case),)
    assert shares["escalated"].value == 1


def test_a_flag_carries_every_current_hit_and_a_clear_ends_them():
    events = Events()
    household = uuid.uuid4()
    record = events.record(household, VILLAGE, at(0), date(2026, 3, 1))
    first = events.flagged(household, VILLAGE, at(1), [record.event_id])
    second = events.flagged(
        household, VILLAGE, at(2), [record.event_id], codes=("R-MED-01", "R-INC-01")
    )
    cleared = events.cleared(household, VILLAGE, at(3))

    state = fold(str(household), [recorded(e) for e in (record, first, second)])
    assert sorted(state.flags) == ["R-INC-01", "R-MED-01"]
    assert contribution(state)["flagged"].value == 1
    state = fold(str(household), [recorded(e) for e in (record, second, cleared)])
    assert state.flags == {} and "flagged" not in contribution(state)


def test_an_exited_target_is_no_longer_counted_and_stopped_aid_shows_apart():
    events = Events()
    household = uuid.uuid4()
    history = confirmed_target(events, household)
    case = uuid.UUID(history[3].data["case_id"])
    grant = uuid.UUID(history[-1].data["grant_id"])
    history += [
        events.stopped(grant, case, household, VILLAGE, at(40), "serious_illness_aid"),
        events.step(
            "TargetExited",
            case,
            household,
            VILLAGE,
            at(200),
            "elimination_review",
            "closure",
            target_type="expense_hardship",
            months_monitored=6,
        ),
        events.closed(case, household, VILLAGE, at(201)),
    ]
    state = fold(str(household), [recorded(e) for e in history])
    shares = {name: share.value for name, share in contribution(state).items()}
    assert "targets" not in shares and "open_cases" not in shares
    assert "aid.serious_illness_aid.yuan.grants" not in shares
    assert shares["aid.serious_illness_aid.yuan.stopped"] == 1
    assert shares["aid.serious_illness_aid.yuan.stopped_quantity"] == 6000
    assert state.cases[str(case)].exited_at == at(200)


def test_the_latest_income_is_the_latest_year_then_the_latest_record():
    events = Events()
    household = uuid.uuid4()
    history = [
        events.registered(household, VILLAGE, at(0)),
        events.income(household, VILLAGE, at(5), "7000", year=2025),
        events.income(household, VILLAGE, at(1), "5000", year=2024),
        events.income(
            household, VILLAGE, at(6), "7200", year=2025, recorded_on=date(2026, 3, 9)
        ),
    ]
    state = fold(str(household), [recorded(e) for e in history])
    assert state.income is not None and state.income.per_capita == Decimal("7200")


def test_a_household_known_only_from_a_case_is_placed_by_the_case_area():
    events = Events()
    household = uuid.uuid4()
    report = events.report(household, VILLAGE, at(0))
    state = fold(
        str(household),
        [
            recorded(report),
            recorded(
                events.opened(uuid.uuid4(), household, VILLAGE, at(0), report.event_id)
            ),
        ],
    )
    assert (state.area_code, state.registered) == (VILLAGE, False)
    assert "households" not in contribution(state)
    assert contribution(state)["open_cases.visit"].value == 1


def test_a_household_survey_joins_the_history_dated_by_its_visit():
    events = Events()
    household = uuid.uuid4()
    history = [recorded(e) for e in confirmed_target(events, household)]
    survey = events.make(
        "HouseholdSurveyed",
        at(20),
        {
            "household_id": str(household),
            "area_code": VILLAGE,
            "village_group": "2",
            "surveyed_on": "2026-03-05",
            "facts": {"employed_count": 0, "household_debt": 30000.0},
        },
        household_id=household,
    )
    assert effective_at(survey) == day_start(date(2026, 3, 5))
    with_survey = fold(str(household), [*history, recorded(survey)])
    assert contribution(with_survey) == contribution(fold(str(household), history))
