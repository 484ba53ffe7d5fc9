"""Home-visit surveys: their facts feed the indicators no other feed reaches, each
fact's latest survey stands, and a flag names the survey among its causes."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID

from fangpin.contracts import HouseholdSurveyed, SurveyFacts
from screening.catalogue import default_catalogue
from screening.inputs import INPUTS, SURVEY_FEED, derive

from .conftest import TODAY, VILLAGE

REGISTRY = {"labour_capable_count": 2, "housing_rating": "B", "all_elderly": False}


def survey(household_id: UUID, on: date = TODAY, **facts: Any) -> HouseholdSurveyed:
    return HouseholdSurveyed(
        household_id=household_id,
        area_code=VILLAGE,
        village_group="1",
        surveyed_on=on,
        facts=SurveyFacts(**facts),
    )


def test_a_survey_that_hits_raises_a_flag_with_its_values_and_causes(feed):
    household = feed.household(facts=REGISTRY)
    registration = feed.last_event_id
    assert feed.events(household, "RiskFlagged") == []

    feed.send(survey(household, employed_count=0, main_earner_died=True))
    visit = feed.last_event_id

    (flag,) = feed.events(household, "RiskFlagged")
    hits = {hit["code"]: hit for hit in flag.hits}
    assert sorted(hits) == ["R-EMP-03", "R-FAM-01"]
    assert hits["R-EMP-03"]["values"] == {
        "employed_count": 0,
        "labour_capable_count": 2,
    }
    assert hits["R-FAM-01"]["values"] == {"main_earner_died": True}
    # The registry gave the labour count, the survey the rest.
    assert flag.caused_by == [registration, visit]
    assert flag.meta["causation_id"] == str(visit)


def test_a_fact_stands_until_a_later_survey_gives_it_again(feed):
    household = feed.household(facts=REGISTRY)
    feed.send(survey(household, TODAY - timedelta(days=30), employed_count=0))
    assert feed.flagged(household) == ["R-EMP-03"]

    # A later visit that does not ask about work leaves the answer standing.
    feed.send(survey(household, TODAY - timedelta(days=10), water_scarce_area=False))
    # A paper form of an earlier visit, entered late, does not overrule it.
    feed.send(survey(household, TODAY - timedelta(days=60), employed_count=2))
    assert feed.events(household, "HitsLapsed") == []
    assert feed.events(household, "RiskCleared") == []

    feed.send(survey(household, TODAY, employed_count=1))
    (cleared,) = feed.events(household, "RiskCleared")
    assert cleared.cleared_codes == ["R-EMP-03"]


def test_a_registry_change_keeps_the_surveyed_facts(feed):
    household = feed.household(facts=REGISTRY)
    feed.send(survey(household, water_interrupted_days=90))
    assert feed.flagged(household) == ["R-WAT-04"]
    feed.update(household, {**REGISTRY, "housing_rating": "A"})
    assert feed.events(household, "RiskCleared") == []
    assert feed.events(household, "HitsLapsed") == []


def test_an_evaluation_reads_only_what_was_surveyed_by_its_date(feed, app):
    household = feed.household(facts=REGISTRY)
    feed.send(survey(household, TODAY - timedelta(days=5), household_debt=80000.0))
    profile = app.store.load([household])[household]
    assert derive(profile, TODAY)["household_debt"] == 80000.0
    assert "household_debt" not in derive(profile, TODAY - timedelta(days=6))


def test_the_survey_feeds_the_facts_it_names_and_cannot_fire_shrank():
    surveyed = {name for name, item in INPUTS.items() if item.feed == SURVEY_FEED}
    assert surveyed == set(SurveyFacts.model_fields)
    for name in surveyed:
        annotation = str(SurveyFacts.model_fields[name].annotation)
        assert INPUTS[name].kind.__name__ in annotation, name

    catalogue = default_catalogue(TODAY)
    # Before the survey, 27 indicators read a fact nobody sent; what is left
    # needs a lender's, a department's or the police's records, or households
    # reporting for themselves.
    assert catalogue.cannot_fire(TODAY) == [
        "R-INC-08",
        "R-MED-09",
        "R-ACC-02",
        "P-ACC-02",
        "P-CHN-01",
    ]
    without_survey = frozenset(
        name for name, item in INPUTS.items() if item.fed and item.feed != SURVEY_FEED
    )
    silent_before = [
        i.code
        for i in catalogue.indicators
        if not catalogue.can_fire(i, TODAY, without_survey)
    ]
    assert len(silent_before) == 27
