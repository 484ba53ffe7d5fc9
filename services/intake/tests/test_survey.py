"""Household surveys from home visits: who may record one, what a survey may say,
and which value of each fact stands."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from fangpin.areas import county_today
from fangpin.auth import Principal, issue_token
from fangpin.contracts import HouseholdSurveyed, Role
from fangpin.relay import to_envelope
from fangpin.service import Forbidden, NotFound, Runtime, create_http_app
from fangpin.settings import Settings, get_settings
from intake.api import router
from intake.application import HouseholdIn, IntakeApplication
from intake.errors import InconsistentSurvey
from intake.survey import SurveyIn

from .conftest import DISTRICT, TOWN, VILLAGE, id_number

GRID = Principal(
    user_id="grid01", role=Role.GRID_MONITOR, area_code=VILLAGE, village_group="1"
)
VILLAGE_OFFICIAL = Principal(user_id="village01", role=Role.VILLAGE, area_code=VILLAGE)
MEDICAL = Principal(
    user_id="medical01",
    role=Role.DEPARTMENT,
    area_code="510904",
    department="medical_insurance",
)
TODAY = county_today()
NAME = "王某"


def register(app: IntakeApplication, serial: int, group: str = "1") -> UUID:
    form = HouseholdIn.model_validate(
        {
            "area_code": VILLAGE,
            "village_group": group,
            "poverty_status": "formerly_poor",
            "left_poverty_year": 2019,
            "members": [
                {"name": NAME, "id_number": id_number(serial)},
                {
                    "name": "王某某",
                    "id_number": id_number(serial + 500),
                    "relation": "spouse",
                },
            ],
        }
    )
    return app.register_household(form, DISTRICT)


def survey(on: date = TODAY, **facts: Any) -> SurveyIn:
    return SurveyIn.model_validate({"surveyed_on": on, **facts})


def surveyed_events(app: IntakeApplication, household_id: UUID) -> list[Any]:
    found = []
    for stored in app.recorder.select_events(household_id):
        public = to_envelope("intake", app.mapper.to_domain_event(stored))
        if public is not None and public[1].type == "HouseholdSurveyed":
            found.append(public)
    return found


# --- the command ---------------------------------------------------------------


def test_a_grid_monitor_surveys_only_households_of_their_own_grid(app):
    mine = register(app, 1, group="1")
    other = register(app, 2, group="2")
    app.survey_household(mine, survey(single_parent=True), GRID)
    with pytest.raises(NotFound):
        app.survey_household(other, survey(single_parent=True), GRID)
    assert app.household(other, DISTRICT).survey == {}


def test_village_town_and_district_officials_survey_in_their_area(app):
    household = register(app, 3, group="2")
    for official in (VILLAGE_OFFICIAL, DISTRICT):
        app.survey_household(household, survey(pest_loss=1200.0), official)
    with pytest.raises(NotFound):
        app.survey_household(household, survey(pest_loss=1200.0), TOWN)
    with pytest.raises(Forbidden):
        app.survey_household(household, survey(pest_loss=1200.0), MEDICAL)
    assert len(surveyed_events(app, household)) == 2


def test_the_survey_is_published_with_its_facts_only(app):
    household = register(app, 4)
    app.survey_household(
        household, survey(household_debt=52000.0, employed_count=0), GRID
    )
    ((subject, envelope),) = surveyed_events(app, household)
    assert subject == "intake.household.surveyed"
    assert envelope.actor.user_id == "grid01"
    assert envelope.household_id == household
    assert envelope.data == {
        "household_id": str(household),
        "area_code": VILLAGE,
        "village_group": "1",
        "surveyed_on": TODAY.isoformat(),
        "facts": {"household_debt": 52000.0, "employed_count": 0},
    }
    assert HouseholdSurveyed.model_validate(envelope.data).facts.given() == {
        "household_debt": 52000.0,
        "employed_count": 0,
    }
    assert NAME not in envelope.model_dump_json()
    assert id_number(4) not in envelope.model_dump_json()


def test_the_latest_survey_of_each_fact_stands(app):
    household = register(app, 5)
    earlier, later = TODAY - timedelta(days=40), TODAY - timedelta(days=10)
    app.survey_household(household, survey(earlier, household_debt=50000.0), GRID)
    app.survey_household(
        household, survey(later, household_debt=20000.0, single_parent=False), GRID
    )
    # An older paper form entered afterwards does not overrule a later visit ...
    superseded = app.survey_household(
        household,
        survey(earlier, household_debt=90000.0, water_scarce_area=True),
        GRID,
    )
    assert superseded == ["household_debt"]
    # ... and a fact a survey does not ask keeps its value.
    app.survey_household(household, survey(TODAY, pest_loss=300.0), GRID)

    standing = app.household(household, DISTRICT).survey
    assert standing["household_debt"] == {"value": 20000.0, "surveyed_on": later}
    assert standing["single_parent"] == {"value": False, "surveyed_on": later}
    assert standing["water_scarce_area"] == {"value": True, "surveyed_on": earlier}
    assert standing["pest_loss"]["value"] == 300.0

    # Of two surveys of the same day, the one recorded later is the last word.
    app.survey_household(household, survey(later, household_debt=0.0), GRID)
    assert app.household(household, DISTRICT).survey["household_debt"]["value"] == 0


def test_more_members_in_work_than_registered_is_refused(app):
    household = register(app, 6)
    with pytest.raises(InconsistentSurvey) as refused:
        app.survey_household(household, survey(employed_count=3), GRID)
    assert refused.value.field == "employed_count"
    assert "3" not in refused.value.reason
    app.survey_household(household, survey(employed_count=2), GRID)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        # "": the survey as a whole
        ({}, ""),
        ({"household_debt": None}, ""),
        ({"household_debt": -1}, "household_debt"),
        ({"water_interrupted_days": 400}, "water_interrupted_days"),
        ({"employed_count": 1.5}, "employed_count"),
        ({"single_parent": "perhaps"}, "single_parent"),
        ({"debt": 100}, "debt"),
    ],
)
def test_bad_surveys_are_refused_naming_the_field(body, field):
    with pytest.raises(ValidationError) as refused:
        SurveyIn.model_validate({"surveyed_on": TODAY, **body})
    (problem,) = refused.value.errors()
    assert ".".join(str(part) for part in problem["loc"]) == field


def test_the_survey_day_may_not_lie_ahead_or_before_2013():
    for day in (TODAY + timedelta(days=1), date(2012, 12, 31)):
        with pytest.raises(ValidationError, match="surveyed_on"):
            survey(day, single_parent=True)


# --- over HTTP -------------------------------------------------------------------


@pytest.fixture
def client(
    app: IntakeApplication, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv("FANGPIN_JWT_SECRET", secrets.token_urlsafe(32))
    get_settings.cache_clear()
    # No lifespan: the runtime's NATS connections are not needed here.
    http = create_http_app(Runtime("intake", Settings(), app), "intake", "", [router])
    yield TestClient(http)
    get_settings.cache_clear()


def post_survey(
    client: TestClient, household: UUID, body: dict[str, Any], who: Principal = GRID
) -> Any:
    return client.post(
        f"/households/{household}/survey",
        json={"surveyed_on": TODAY.isoformat(), **body},
        headers={"Authorization": f"Bearer {issue_token(who)}"},
    )


def test_a_survey_posted_is_recorded_and_shown_with_the_household(app, client):
    household = register(app, 7)
    answer = post_survey(client, household, {"hardship_debt": 64000, "pest_loss": 0})
    assert answer.status_code == 201, answer.text
    assert answer.json() == {
        "household_id": str(household),
        "surveyed_on": TODAY.isoformat(),
        "recorded": ["hardship_debt", "pest_loss"],
        "superseded": [],
    }
    shown = client.get(
        f"/households/{household}",
        headers={"Authorization": f"Bearer {issue_token(DISTRICT)}"},
    ).json()
    assert shown["survey"]["hardship_debt"] == {
        "value": 64000.0,
        "surveyed_on": TODAY.isoformat(),
    }


def test_posted_surveys_are_refused_as_reports_are(app, client):
    other_grid = register(app, 8, group="2")
    assert post_survey(client, other_grid, {"single_parent": True}).status_code == 404
    refused = post_survey(client, other_grid, {"single_parent": True}, MEDICAL)
    assert refused.status_code == 403
    missing = post_survey(client, UUID(int=1), {"single_parent": True}, DISTRICT)
    assert missing.status_code == 404


def test_a_bad_value_is_refused_with_422_naming_the_field_not_the_value(app, client):
    household = register(app, 9)
    refused = post_survey(client, household, {"household_debt": -73519})
    assert refused.status_code == 422
    (problem,) = refused.json()["detail"]
    assert problem["field"] == "household_debt"
    assert "greater than or equal to 0" in problem["reason"]
    assert "73519" not in refused.text

    empty = post_survey(client, household, {})
    assert empty.status_code == 422
    assert "at least one fact" in empty.text

    too_many = post_survey(client, household, {"employed_count": 5})
    assert too_many.status_code == 422
    assert too_many.json()["field"] == "employed_count"
    assert app.household(household, DISTRICT).survey == {}
