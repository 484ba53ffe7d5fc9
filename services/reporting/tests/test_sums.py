"""How a household's figures move the running sums of every level above it."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

from reporting.synthetic import Events
from reporting.views import WHOLE, effective_at, move_sums, parent

VILLAGE = "510904101201"
ELSEWHERE = "510904102203"


def moved(old_home, new_home, old, new) -> dict:
    deltas: dict = defaultdict(Decimal)
    move_sums(deltas, old_home, new_home, old, new)
    return {key: value for key, value in deltas.items() if value}


def test_only_the_figures_that_changed_move_and_at_every_level():
    old = {"households": Decimal(1), "people": Decimal(3)}
    new = {"households": Decimal(1), "people": Decimal(4), "flagged": Decimal(1)}
    found = moved((VILLAGE, "2"), (VILLAGE, "2"), old, new)
    assert found == {
        (VILLAGE, "2", "people"): 1,
        (VILLAGE, WHOLE, "people"): 1,
        ("510904101", WHOLE, "people"): 1,
        ("510904", WHOLE, "people"): 1,
        (VILLAGE, "2", "flagged"): 1,
        (VILLAGE, WHOLE, "flagged"): 1,
        ("510904101", WHOLE, "flagged"): 1,
        ("510904", WHOLE, "flagged"): 1,
    }
    assert moved((VILLAGE, "2"), (VILLAGE, "2"), old, old) == {}


def test_a_household_that_moves_leaves_its_old_town_and_stays_in_the_district():
    figures = {"households": Decimal(1)}
    found = moved((VILLAGE, "2"), (ELSEWHERE, "1"), figures, figures)
    assert found == {
        (VILLAGE, "2", "households"): -1,
        (VILLAGE, WHOLE, "households"): -1,
        ("510904101", WHOLE, "households"): -1,
        (ELSEWHERE, "1", "households"): 1,
        (ELSEWHERE, WHOLE, "households"): 1,
        ("510904102", WHOLE, "households"): 1,
    }


def test_each_sum_knows_the_area_it_is_a_child_of():
    assert parent((VILLAGE, "2", "households")) == "510904101"
    assert parent((VILLAGE, WHOLE, "households")) == "510904101"
    assert parent(("510904101", WHOLE, "households")) == "510904"
    assert parent(("510904", WHOLE, "households")) == ""


def test_a_record_holds_from_its_own_date_in_county_time():
    events = Events()
    household = uuid.uuid4()
    arrived = datetime(2026, 4, 12, 3, tzinfo=UTC)
    record = events.record(household, VILLAGE, arrived, date(2026, 3, 25))
    assert effective_at(record) == datetime(2026, 3, 24, 16, tzinfo=UTC)
    report = events.report(household, VILLAGE, arrived)
    assert effective_at(report) == arrived
