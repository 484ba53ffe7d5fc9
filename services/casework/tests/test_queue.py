"""The officials' queue on PostgreSQL: open steps ordered by their exact deadline,
working days counted by the district's calendar, re-dated when the limits or the
calendar change."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from casework.application import CaseworkApplication
from casework.domain import Case, HouseholdCases, household_cases_id
from casework.main import DeadlineWatch
from casework.steps import DEFAULT_LIMITS, DeadlineRules, Step, WorkCalendar, add_days
from casework.views import QueueView
from fangpin.areas import COUNTY_TIME
from fangpin.auth import Principal
from fangpin.contracts import (
    Actor,
    CaseOpened,
    Contract,
    Envelope,
    HomeVisitRecorded,
    NoticePublished,
    ProblemReported,
    Role,
    WorkCalendarChanged,
)
from fangpin.eventstore import system_actor
from fangpin.inbox import Incoming
from fangpin.projection import LocalFollower, Pool, connect_pool
from tests.servers import postgres_server
from tests.support import create_database

pytestmark = pytest.mark.integration

VILLAGE_CODE = "510904101201"
VILLAGE = Principal(user_id="village01", role=Role.VILLAGE, area_code=VILLAGE_CODE)
TOWN = Principal(user_id="town01", role=Role.TOWN, area_code="510904101")
DISTRICT = Principal(user_id="district01", role=Role.DISTRICT, area_code="510904")

# National Day 2026 off, with Sunday 27 September and Saturday 10 October worked.
NATIONAL_DAY = [date(2026, 10, 1) + timedelta(days=n) for n in range(7)]
MAKE_UP_DAYS = [date(2026, 9, 27), date(2026, 10, 10)]
REPORTS = itertools.count(1)


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if "DATABASE_URL" in os.environ:
        yield os.environ["DATABASE_URL"]
        return
    with postgres_server(tmp_path_factory.mktemp("pg")) as url:
        yield url


@pytest.fixture
def pool(postgres_url: str) -> Iterator[Pool]:
    pool = connect_pool(create_database(postgres_url), size=2)
    yield pool
    pool.close()


@pytest.fixture
def view(pool: Pool) -> QueueView:
    view = QueueView(pool, "casework_view")
    view.setup()
    return view


def county_time(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=COUNTY_TIME)


def queue_order(view: QueueView, principal: Principal = VILLAGE) -> list[UUID]:
    found = view.queue(principal.role, principal.area_code, {}, 50, 0)
    return [row["case_id"] for row in found["cases"]]


def dated(view: QueueView, schema: str | None = None) -> dict[UUID, tuple[Any, ...]]:
    with view.pool.connection() as conn:
        found = conn.execute(
            "SELECT case_id, status, step, due_at, escalate_at "
            f"FROM {schema or view.schema}.cases"
        ).fetchall()
    return {
        row["case_id"]: (row["status"], row["step"], row["due_at"], row["escalate_at"])
        for row in found
    }


# --- the view fed directly, at chosen moments -----------------------------------


class Feed:
    """Casework's public events at chosen moments, applied as the follower does."""

    def __init__(self, view: QueueView):
        self.view = view
        self.position = 0

    def __call__(self, data: Contract, at: datetime) -> None:
        self.position += 1
        envelope = Envelope(
            event_id=uuid.uuid4(),
            type=type(data).__name__,
            occurred_at=at,
            producer="casework",
            actor=system_actor("casework", VILLAGE_CODE),
            correlation_id=uuid.uuid4(),
            data=data.model_dump(mode="json"),
        )
        self.view.process(
            [Incoming(("casework", self.position), "casework", envelope, data)]
        )

    def open(self, at: datetime) -> UUID:
        case_id = uuid.uuid4()
        self(
            CaseOpened(
                case_id=case_id,
                household_id=uuid.uuid4(),
                area_code=VILLAGE_CODE,
                town_code=VILLAGE_CODE[:9],
                signal_type="ProblemReported",
                signal_event_id=uuid.uuid4(),
            ),
            at,
        )
        return case_id

    def step(self, case_id: UUID, data_type: type[Contract], **fields: Any) -> None:
        at = fields.pop("at")
        self(
            data_type(
                case_id=case_id,
                household_id=uuid.uuid4(),
                area_code=VILLAGE_CODE,
                **fields,
            ),
            at,
        )


def test_the_queue_puts_the_earliest_real_deadline_first(view):
    feed = Feed(view)
    calendar = WorkCalendar(frozenset(NATIONAL_DAY), frozenset(MAKE_UP_DAYS))
    feed(
        WorkCalendarChanged(holidays=NATIONAL_DAY, workdays=MAKE_UP_DAYS),
        county_time(date(2026, 9, 1)),
    )

    # A home visit (two working days) from the eve of the holiday: due on the
    # second working day after it, Friday 9 October.
    before_holiday = county_time(date(2026, 9, 30))
    holiday_visit = feed.open(before_holiday)
    # A public notice (seven calendar days) from 1 October: due 8 October.
    notice_start = county_time(date(2026, 10, 1))
    notice = feed.open(county_time(date(2026, 9, 20)))
    feed.step(
        notice,
        HomeVisitRecorded,
        step="visit",
        next_step="notice",
        consent=True,
        findings="visited",
        at=county_time(date(2026, 9, 21)),
    )
    feed.step(
        notice,
        NoticePublished,
        step="notice",
        next_step="notice_period",
        starts_on=date(2026, 10, 1),
        ends_on=date(2026, 10, 8),
        at=notice_start,
    )
    # A home visit from Friday evening: the worked Sunday counts, due Monday.
    friday = county_time(date(2026, 9, 25), hour=18)
    weekend_visit = feed.open(friday)

    # Counting working days as calendar days would put the holiday visit first.
    assert before_holiday + timedelta(days=2) < notice_start + timedelta(days=7)
    assert queue_order(view) == [weekend_visit, notice, holiday_visit]
    rows = dated(view)
    assert rows[holiday_visit][2] == county_time(date(2026, 10, 9))
    assert rows[holiday_visit][3] == add_days(before_holiday, 4, True, calendar)
    assert rows[holiday_visit][3] == county_time(date(2026, 10, 12))
    assert rows[notice][2] == county_time(date(2026, 10, 8))
    assert rows[weekend_visit][2] == county_time(date(2026, 9, 28), hour=18)


def test_the_queue_shows_each_level_only_its_steps_by_deadline(view):
    feed = Feed(view)
    first = feed.open(county_time(date(2026, 9, 21)))
    second = feed.open(county_time(date(2026, 9, 22)))

    assert queue_order(view) == [first, second]
    assert queue_order(view, DISTRICT) == []


# --- through the application and its follower ----------------------------------


def new_visit(app: CaseworkApplication) -> Case:
    """A case a report has just opened: it waits for the home visit."""
    household = uuid.uuid4()
    data = ProblemReported(
        report_id=uuid.uuid4(),
        household_id=household,
        area_code=VILLAGE_CODE,
        village_group="1",
        category="income_drop",
        observed_on=date(2026, 9, 1),
    )
    envelope = Envelope(
        event_id=uuid.uuid4(),
        type="ProblemReported",
        occurred_at=datetime.now(COUNTY_TIME),
        producer="intake",
        actor=Actor(user_id="grid01", role=Role.GRID_MONITOR, area_code="510904"),
        correlation_id=uuid.uuid4(),
        data=data.model_dump(mode="json"),
    )
    app.process(
        [Incoming(("intake", next(REPORTS)), "intake.report.problem", envelope, data)]
    )
    index = app.get_or_none(household_cases_id(household), HouseholdCases)
    assert index is not None and index.open_case_id is not None
    case = app.get_or_none(index.open_case_id, Case)
    assert case is not None
    return case


def visited(app: CaseworkApplication) -> Case:
    """A case visited with consent, now waiting for its public notice."""
    case = new_visit(app)
    return app.act(
        case.id, VILLAGE, lambda case, meta: case.record_visit(True, "visited", meta)
    )


def follow(app: CaseworkApplication, view: QueueView) -> LocalFollower:
    view.prepare_deadlines(app.deadline_rules())
    follower = LocalFollower(app, view)
    follower.catch_up_once()
    return follower


def assert_dated_as_the_watch_dates(app: CaseworkApplication, view: QueueView):
    rules = app.deadline_rules()
    for case_id, (status, step, due, escalate) in dated(view).items():
        if status == "open":
            case = app.get_or_none(case_id, Case)
            assert case is not None
            assert (due, escalate) == rules.deadlines(Step(step), case.step_started_at)


def test_a_changed_limit_reorders_open_steps(view):
    app = CaseworkApplication(in_memory=True)
    visit = new_visit(app)
    notice = visited(app)
    # Two working days are four calendar days at most: the visit comes first.
    app.change_time_limit(Step.NOTICE, 5, 10, False, DISTRICT)
    follower = follow(app, view)
    assert queue_order(view) == [visit.id, notice.id]

    app.change_time_limit(Step.NOTICE, 1, 2, False, DISTRICT)
    follower.catch_up_once()

    assert queue_order(view) == [notice.id, visit.id]
    assert_dated_as_the_watch_dates(app, view)


def test_a_changed_calendar_reorders_open_steps(view):
    app = CaseworkApplication(in_memory=True)
    visit = new_visit(app)
    notice = visited(app)
    app.change_time_limit(Step.NOTICE, 5, 10, False, DISTRICT)
    follower = follow(app, view)
    assert queue_order(view) == [visit.id, notice.id]

    # Ten days off right after the visit's start push its two working days past
    # the notice's five calendar days.
    first_day = visit.step_started_at.astimezone(COUNTY_TIME).date()
    holidays = [first_day + timedelta(days=n) for n in range(1, 11)]
    app.change_calendar(holidays, [], DISTRICT)
    follower.catch_up_once()

    assert queue_order(view) == [notice.id, visit.id]
    assert_dated_as_the_watch_dates(app, view)


def test_the_deadline_watch_finds_steps_by_their_exact_deadline_and_warns_once(view):
    now = [datetime.now(COUNTY_TIME)]
    app = CaseworkApplication(in_memory=True, clock=lambda: now[0])
    case = new_visit(app)
    started = case.step_started_at
    first_day = started.astimezone(COUNTY_TIME).date()
    app.change_calendar(
        [first_day + timedelta(days=n) for n in range(1, 11)], [], DISTRICT
    )
    follower = follow(app, view)
    watch = DeadlineWatch(app, view, interval=60)
    due, escalate = app.deadline_rules().deadlines(Step.VISIT, started)

    # Five days on, a Monday-to-Friday count would already list the visit.
    assert add_days(started, 2, True) < started + timedelta(days=5)
    assert view.deadline_candidates(started + timedelta(days=5)) == []
    assert view.deadline_candidates(due - timedelta(microseconds=1)) == []
    assert [row["case_id"] for row in view.deadline_candidates(due)] == [case.id]

    now[0] = due
    assert watch.check_once() == (1, 0)
    follower.catch_up_once()
    assert watch.check_once() == (0, 0)
    now[0] = escalate
    assert watch.check_once() == (0, 1)
    follower.catch_up_once()
    assert watch.check_once() == (0, 0)
    assert view.deadline_candidates(escalate + timedelta(days=30)) == []


def busy_history(app: CaseworkApplication) -> list[Case]:
    """Steps started before and after changes of the limits and the calendar."""
    early = new_visit(app)
    waiting = new_visit(app)
    app.change_time_limit(Step.NOTICE, 1, 2, False, DISTRICT)
    noticed = visited(app)
    first_day = early.step_started_at.astimezone(COUNTY_TIME).date()
    app.change_calendar([first_day + timedelta(days=3)], [], DISTRICT)
    app.change_time_limit(Step.VISIT, 3, 5, True, DISTRICT)
    late = new_visit(app)
    app.close_case(early.id, "visited, the bills are paid", TOWN)
    return [waiting, noticed, late]


@pytest.mark.parametrize("seeded", [True, False])
def test_a_rebuilt_view_dates_open_steps_alike(view, pool, seeded):
    app = CaseworkApplication(in_memory=True)
    busy_history(app)
    follow(app, view)
    assert_dated_as_the_watch_dates(app, view)

    rebuilt = QueueView(pool, "casework_rebuilt")
    rebuilt.setup()
    if seeded:
        rebuilt.prepare_deadlines(app.deadline_rules())
    LocalFollower(app, rebuilt).catch_up_once()

    assert dated(rebuilt) == dated(view)
    assert queue_order(rebuilt) == queue_order(view)


def test_an_old_view_gets_its_deadlines_at_start_up(view):
    app = CaseworkApplication(in_memory=True)
    open_cases = busy_history(app)
    follow(app, view)
    before = dated(view)
    # The view as it stood before it kept deadlines.
    with view.pool.connection() as conn:
        conn.execute(
            "ALTER TABLE casework_view.cases DROP COLUMN due_at, "
            "DROP COLUMN escalate_at"
        )
        conn.execute("DROP TABLE casework_view.time_limits")
        conn.execute("DROP TABLE casework_view.work_calendar")
        conn.execute(
            "CREATE INDEX cases_open_by_level ON casework_view.cases "
            "(level, area_code text_pattern_ops, step_started_at) "
            "WHERE status = 'open'"
        )

    upgraded = QueueView(view.pool, "casework_view")
    upgraded.setup()
    assert upgraded.prepare_deadlines(app.deadline_rules()) == len(open_cases)
    assert upgraded.prepare_deadlines(app.deadline_rules()) == 0

    assert dated(upgraded) == before
    with view.pool.connection() as conn:
        indexes = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'casework_view'"
        ).fetchall()
    assert "cases_open_by_level" not in {row["indexname"] for row in indexes}
    # The limits changed before the upgrade date the steps started after it.
    later = visited(app)
    LocalFollower(app, upgraded).catch_up_once()
    assert dated(upgraded)[later.id][2] == later.step_started_at + timedelta(days=1)
    assert_dated_as_the_watch_dates(app, upgraded)


def test_deadline_rules_date_steps_as_add_days_does():
    calendar = WorkCalendar(frozenset(NATIONAL_DAY), frozenset(MAKE_UP_DAYS))
    rules = DeadlineRules(DEFAULT_LIMITS, calendar)
    start = county_time(date(2026, 9, 20), hour=0)
    for hours in range(0, 24 * 30, 5):
        started = start + timedelta(hours=hours, minutes=hours % 60)
        for step, limit in DEFAULT_LIMITS.items():
            expected = (
                add_days(started, limit.days, limit.working_days, calendar),
                add_days(started, limit.escalate_after, limit.working_days, calendar),
            )
            assert rules.deadlines(step, started) == expected
