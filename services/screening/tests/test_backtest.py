"""A back-test replays each household's history day by day: it reports since when
the draft would have flagged each indicator, beside what the catalogue in force did,
when the facts arrived over months rather than all on one day."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from uuid import UUID

import eventsourcing.domain
import pytest

from screening.application import ScreeningApplication

from .conftest import DISTRICT, TODAY, Feed
from .test_survey import REGISTRY, survey


@dataclass
class Clock:
    """The day the service believes it is; stored events are stamped with it too."""

    day: date

    def now(self) -> datetime:
        return datetime.combine(self.day, time(9, 30), UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    clock = Clock(date(2026, 2, 10))
    # Every aggregate event takes its timestamp from this function; the back-test
    # dates a fact by the day its event was stored.
    monkeypatch.setattr(eventsourcing.domain, "datetime_now_with_tzinfo", clock.now)
    yield clock


@pytest.fixture
def dated_feed(clock: Clock) -> Feed:
    return Feed(ScreeningApplication(in_memory=True, today=lambda: clock.day))


def settlement(feed: Feed, household: UUID, out_of_pocket: float, on: date):
    return feed.record(
        household, "hospital_settlement", {"out_of_pocket": out_of_pocket}, on
    )


def test_a_backtest_dates_each_run_from_the_day_its_facts_arrived(clock, dated_feed):
    feed, app = dated_feed, dated_feed.app

    # February: registered with last-but-one year's income, well above the band.
    household = feed.household(facts=REGISTRY)
    quiet = feed.household(facts=REGISTRY)
    feed.send(feed.income(household, 6000.0, 2024, recorded_on=clock.day))
    feed.send(feed.income(quiet, 9000.0, 2024, recorded_on=clock.day))

    # March: last year's income lands in the yellow band of the line in force.
    clock.day = date(2026, 3, 15)
    feed.send(feed.income(household, 5300.0, 2025, recorded_on=clock.day))

    # May and June: two hospital bills, each under the line in force.
    clock.day = date(2026, 5, 20)
    feed.send(settlement(feed, household, 7000.0, date(2026, 5, 18)))
    clock.day = date(2026, 6, 2)
    feed.send(settlement(feed, household, 2500.0, date(2026, 6, 1)))

    # September: a home visit finds nobody working; October, someone found work;
    # November, they lost it again.
    clock.day = date(2026, 9, 1)
    feed.send(survey(household, date(2026, 8, 28), employed_count=0))
    clock.day = date(2026, 10, 20)
    feed.send(survey(household, clock.day, employed_count=1))
    clock.day = date(2026, 11, 10)
    feed.send(survey(household, clock.day, employed_count=0))

    flags = feed.events(household, "RiskFlagged")
    assert [flag.timestamp.date() for flag in flags] == [
        date(2026, 3, 15),
        date(2026, 9, 1),
        date(2026, 11, 10),
    ]
    assert feed.events(quiet, "RiskFlagged") == []

    # The draft narrows the yellow band from the start and lowers the medical
    # line from June; the back-test runs on the first of December.
    clock.day = TODAY
    draft = app.open_draft(DISTRICT)
    line = "income_line_formerly_poor"
    app.set_parameter(draft, line, date(2020, 1, 1), 4800, DISTRICT)
    app.set_parameter(draft, "oop_line_low_income", date(2026, 6, 1), 6000, DISTRICT)
    job_id = app.start_backtest(draft, DISTRICT)
    job = app.run_job(job_id, page_size=1)
    assert (job.status, job.done, job.total) == ("finished", 2, 2)

    report = app.backtest_report(draft, job_id, DISTRICT, limit=10, offset=0)
    (found,) = report["findings"]
    assert found["household_id"] == str(household)
    # 5300 is above the draft's band (4800 to 5280), so its first flag waits for
    # the second bill: 9500 in twelve months is over the June line of 6000. The
    # first bill came before June, against the old line of 10000. Work lost
    # twice counts from the second time.
    assert found["draft"] == {"R-MED-01": "2026-06-02", "R-EMP-03": "2026-11-10"}
    assert found["draft_first_flagged_on"] == "2026-06-02"
    assert found["current"] == {"R-INC-02": "2026-03-15", "R-EMP-03": "2026-11-10"}
    assert found["current_first_flagged_on"] == "2026-03-15"

    summary = report["summary"]
    assert (summary["households_scanned"], summary["flagged_by_both"]) == (2, 1)
    assert summary["by_indicator"] == {
        "R-EMP-03": {"draft": 1, "current": 1},
        "R-INC-02": {"draft": 0, "current": 1},
        "R-MED-01": {"draft": 1, "current": 0},
    }
