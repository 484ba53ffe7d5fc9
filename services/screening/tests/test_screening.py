"""Screening a household: flags that explain themselves, never repeated, cleared
when nothing hits any more; why (and why not); a record before its household."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from fangpin.contracts import PovertyStatus, RiskFlagged, Role, TargetType
from fangpin.relay import to_envelope
from fangpin.service import NotFound
from screening.application import ProfileNotYetKnown
from screening.catalogue import default_catalogue
from screening.inputs import INPUTS

from .conftest import DISTRICT, OTHER_TOWN, TODAY, TOWN

NEVER = PovertyStatus.NEVER_POOR


def settlement(feed, household, out_of_pocket: float, **facts):
    return feed.record(
        household,
        "hospital_settlement",
        {
            "total_cost": out_of_pocket * 3,
            "reimbursed": out_of_pocket * 2,
            "out_of_pocket": out_of_pocket,
            **facts,
        },
    )


def test_a_flag_carries_values_thresholds_type_version_and_causes(feed):
    household = feed.household()
    feed.send(settlement(feed, household, 16000.0))
    record_event = feed.last_event_id

    (flag,) = feed.events(household, "RiskFlagged")
    first = flag.hits[0]
    assert first["code"] == "R-MED-01"
    assert first["values"] == {"out_of_pocket": 16000.0}
    assert first["thresholds"] == {"oop_line_low_income": 10000}
    assert flag.target_type == TargetType.EXPENSE_HARDSHIP.value
    assert flag.catalogue_version == 1
    assert flag.caused_by == [record_event]
    assert flag.meta["causation_id"] == str(record_event)

    subject, envelope = to_envelope("screening", flag)
    assert subject == "screening.risk.flagged"
    assert RiskFlagged.model_validate(envelope.data).hits[0].code == "R-MED-01"


def test_the_line_depends_on_poverty_status(feed):
    formerly, never = feed.household(), feed.household(NEVER)
    feed.send(settlement(feed, formerly, 12000.0), settlement(feed, never, 12000.0))
    assert feed.flagged(formerly) == ["R-MED-01", "R-MED-02"]
    assert feed.flagged(never) == []
    feed.send(settlement(feed, never, 16000.0))
    assert feed.flagged(never) == ["P-MED-01", "P-MED-02"]


def test_the_same_indicators_are_not_flagged_again_and_again(feed, app):
    household = feed.household()
    feed.send(settlement(feed, household, 15000.0))
    feed.send(settlement(feed, household, 18000.0))
    feed.send(settlement(feed, household, 1000.0))
    assert len(feed.events(household, "RiskFlagged")) == 1
    assert len(app.store.load([household])[household].records) == 3


def test_a_new_hit_raises_a_new_flag_that_lists_every_hit(feed):
    household = feed.household()
    feed.send(settlement(feed, household, 16000.0))
    feed.send(feed.record(household, "traffic_accident", {"severity": "injury"}))
    first, second = feed.events(household, "RiskFlagged")
    assert second.new_codes == ["R-ACC-01"]
    assert [hit["code"] for hit in second.hits] == ["R-MED-01", "R-MED-02", "R-ACC-01"]


def test_income_recorded_above_the_line_clears_the_flag(feed):
    household = feed.household()
    feed.send(feed.income(household, 4200.0, year=2025))
    assert feed.flagged(household) == ["R-INC-01"]
    feed.send(feed.income(household, 9000.0, year=2026))
    (cleared,) = feed.events(household, "RiskCleared")
    assert cleared.cleared_codes == ["R-INC-01"]
    assert feed.app.store.load([household])[household].active == {}


def test_a_hit_that_ends_while_others_remain_lapses_without_clearing(feed):
    household = feed.household()
    feed.send(settlement(feed, household, 16000.0), feed.income(household, 4000.0))
    feed.send(feed.income(household, 9000.0, year=2026))
    assert feed.events(household, "RiskCleared") == []
    (lapsed,) = feed.events(household, "HitsLapsed")
    # Rigid spending is now below the household's income as well.
    assert lapsed.codes == ["R-INC-01", "R-EXP-01"]
    assert feed.flagged(household)[:2] == ["R-INC-01", "R-EXP-01"]


def test_records_older_than_twelve_months_no_longer_count(app, feed):
    household = feed.household()
    old = TODAY - timedelta(days=400)
    feed.send(feed.record(household, "traffic_accident", {"severity": "death"}, old))
    assert feed.flagged(household) == []


def test_a_grid_report_on_an_ordinary_household_is_always_a_lead(feed):
    household = feed.household(NEVER)
    feed.send(feed.report(household, "housing"), role=Role.GRID_MONITOR)
    (flag,) = feed.events(household, "RiskFlagged")
    assert [hit["code"] for hit in flag.hits] == ["P-CHN-02"]
    assert flag.target_type == TargetType.SAFETY_NET.value
    feed.send(feed.report(household, "illness"), role=Role.GRID_MONITOR)
    assert len(feed.events(household, "RiskFlagged")) == 1


def test_registry_facts_flag_on_registration(feed):
    household = feed.household(facts={"housing_rating": "D", "all_elderly": False})
    flag = feed.events(household, "RiskFlagged")[0]
    assert flag.hits[0]["values"] == {"housing_rating": "D"}
    assert flag.target_type == TargetType.SAFETY_NET.value
    feed.update(household, {"housing_rating": "A"})
    assert len(feed.events(household, "RiskCleared")) == 1


def test_a_household_with_nothing_known_is_not_flagged(feed):
    household = feed.household(facts={})
    assert feed.events(household, "RiskFlagged") == []


HOUSEHOLD_EXAMPLES = [
    pytest.param(indicator, example, id=f"{indicator.code}: {example.case}")
    for indicator in default_catalogue(TODAY).indicators
    for example in indicator.examples
    if all(INPUTS[name].origin == "household" for name in example.inputs)
]


@pytest.mark.parametrize(("indicator", "example"), HOUSEHOLD_EXAMPLES)
def test_registry_examples_flag_through_the_inbox(feed, app, indicator, example):
    inputs = indicator.example_inputs(example, app.current_catalogue().params_on(TODAY))
    members = inputs.pop("member_count", 3)
    household = feed.household(
        sorted(indicator.applies_to)[0], facts=inputs, member_count=members
    )
    assert (indicator.code in feed.flagged(household)) is example.hits


def test_a_record_before_its_household_waits(app, feed):
    with pytest.raises(ProfileNotYetKnown):
        feed.send(settlement(feed, uuid.uuid4(), 15000.0))


def test_why_explains_hits_misses_and_unknowns(app, feed):
    household = feed.household(facts={"housing_rating": "B", "all_elderly": False})
    feed.send(settlement(feed, household, 16000.0), feed.income(household, 5200.0))
    found = app.why(household, TOWN)
    reasons = {e.code: e for e in found["evaluations"]}
    assert len(reasons) == 55

    assert reasons["R-MED-01"].hit
    assert reasons["R-MED-01"].values == {"out_of_pocket": 16000.0}
    assert reasons["R-INC-01"].known and not reasons["R-INC-01"].hit
    assert reasons["R-INC-01"].values == {"per_capita_income": 5200.0}
    assert reasons["R-INC-01"].thresholds == {"income_line_formerly_poor": 5000}
    assert reasons["R-INC-02"].hit
    assert reasons["R-HOU-01"].known and not reasons["R-HOU-01"].hit
    assert not reasons["R-WAT-01"].known
    assert reasons["R-WAT-01"].missing == ("water_litres_per_day", "water_scarce_area")


def test_why_is_not_shown_outside_the_callers_area(app, feed):
    household = feed.household()
    assert app.why(household, DISTRICT)["profile"].id == household
    with pytest.raises(NotFound):
        app.why(household, OTHER_TOWN)
    with pytest.raises(NotFound):
        app.why(uuid.uuid4(), DISTRICT)
