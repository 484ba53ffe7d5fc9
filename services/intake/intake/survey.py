"""The household survey (入户走访, 摸排): facts grid monitors and village officials
learn on home visits that neither the registry nor a department supplies, such as
debt, drinking water, work and family structure.

Each fact keeps the value of its latest survey until a later one gives it again.
The values are personal to the household: they stay out of logs and error texts,
which name the fact and never its value.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import field_validator

from fangpin.areas import county_today
from fangpin.contracts import Role, SurveyFacts
from intake.errors import InconsistentSurvey

SURVEYORS = (Role.GRID_MONITOR, Role.VILLAGE, Role.TOWN, Role.DISTRICT)
# Targeted poverty alleviation, and the household files it keeps, began in 2013.
FIRST_SURVEY_YEAR = 2013


class SurveyIn(SurveyFacts):
    """A home visit's findings and the day of the visit."""

    surveyed_on: date

    @field_validator("surveyed_on")
    @classmethod
    def plausible_day(cls, value: date) -> date:
        if value > county_today():
            raise ValueError("lies in the future")
        if value.year < FIRST_SURVEY_YEAR:
            raise ValueError(f"lies before {FIRST_SURVEY_YEAR}")
        return value


def check_survey(facts: dict[str, Any], member_count: int) -> None:
    """Refuse facts the registry contradicts."""
    employed = facts.get("employed_count")
    if employed is not None and employed > member_count:
        raise InconsistentSurvey(
            "more members in work than the household has registered",
            "employed_count",
        )
