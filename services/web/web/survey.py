"""The household survey (入户摸排) as a form: intake's facts grouped the way a
home visit asks them, the form read into intake's body with every fact not
asked left out, and a household's standing facts for its file.

The facts, their types and bounds come from the shared contract, so a fact
intake starts taking is a field here once it is placed in a group.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, get_args

from fangpin.contracts import SurveyFacts
from web import format as fmt

# The roles intake lets record a survey; others are not offered the form.
SURVEYORS = frozenset({"grid_monitor", "village", "town", "district"})

# The facts in the order a visit asks them: the family first, then money,
# the house, water, work, school and the farm.
SURVEY_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("family", ("single_parent", "child_without_carer", "main_earner_died")),
    ("debt", ("household_debt", "hardship_debt", "relocation_debt")),
    ("housing", ("relocated_not_moved_in", "geohazard_point")),
    (
        "water",
        (
            "water_litres_per_day",
            "water_scarce_area",
            "water_quality_ok",
            "water_fetch_minutes",
            "water_fetch_horizontal_m",
            "water_fetch_vertical_m",
            "water_interrupted_days",
        ),
    ),
    (
        "work",
        (
            "unemployed_months",
            "wage_interrupted_months",
            "employed_count",
            "months_unemployed_after_training",
            "public_welfare_job_ended",
            "wage_arrears_or_injury",
        ),
    ),
    (
        "schooling",
        (
            "student_grant_missing",
            "vocational_grant_missing",
            "disabled_child_out_of_school",
            "schooling_cost",
        ),
    ),
    ("farming", ("pest_loss",)),
)
# A yes/no question answered either way is a fact; "not asked" sends nothing.
ANSWERS = {"yes": True, "no": False}
NOISE = (",", "，", " ", "元")

Kind = Literal["yes_no", "whole", "number"]


@dataclass(frozen=True)
class SurveyFact:
    name: str
    kind: Kind

    @property
    def input_mode(self) -> str:
        return "numeric" if self.kind == "whole" else "decimal"


def _kind(name: str) -> Kind:
    types = get_args(SurveyFacts.model_fields[name].annotation)
    if bool in types:
        return "yes_no"
    if int in types:
        return "whole"
    return "number"


FACTS = {
    name: SurveyFact(name, _kind(name)) for _, names in SURVEY_GROUPS for name in names
}


def survey_groups() -> list[tuple[str, list[SurveyFact]]]:
    return [(group, [FACTS[name] for name in names]) for group, names in SURVEY_GROUPS]


def read_number(typed: str) -> Decimal | None:
    """A figure as people type it: full-width digits, thousands separators and a
    trailing 元 are fine; anything that is not a finite number is None."""
    text = unicodedata.normalize("NFKC", typed)
    for noise in NOISE:
        text = text.replace(noise, "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def survey_body(form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Intake's body from the form, only the facts given, and the problems found
    before sending (as catalogue keys). Bounds are intake's to judge and name."""
    body: dict[str, Any] = {"surveyed_on": form.get("surveyed_on", "").strip()}
    problems: dict[str, str] = {}
    for fact in FACTS.values():
        typed = form.get(fact.name, "").strip()
        if fact.kind == "yes_no":
            if typed in ANSWERS:
                body[fact.name] = ANSWERS[typed]
            continue
        if not typed:
            continue
        number = read_number(typed)
        if number is None:
            problems[fact.name] = "survey.not_a_number"
        elif number == number.to_integral_value():
            body[fact.name] = int(number)
        else:
            # A fraction for a count reaches intake as it is, to be refused there.
            body[fact.name] = float(number)
    return body, problems


def fact_value(value: Any, t: Callable[..., str]) -> str:
    """A standing value as read beside its label, whose unit the label gives."""
    if isinstance(value, bool):
        return t("yes" if value else "no")
    return fmt.format_number(value)


def standing_facts(
    survey: Mapping[str, Any] | None, lang: str, t: Callable[..., str]
) -> list[tuple[str, list[dict[str, str]]]]:
    """Per group, the facts a survey has given, each with its value and the
    day of the survey that gave it; groups with none are left out."""
    survey = survey or {}
    shown = []
    for group, names in SURVEY_GROUPS:
        rows = [
            {
                "name": name,
                "value": fact_value(survey[name]["value"], t),
                "on": fmt.format_date(survey[name]["surveyed_on"], lang),
            }
            for name in names
            if name in survey
        ]
        if rows:
            shown.append((group, rows))
    return shown


def standing_hints(
    survey: Mapping[str, Any] | None, lang: str, t: Callable[..., str]
) -> dict[str, str]:
    """Per fact on the form, what the latest survey found, so a visit can see
    what it would change."""
    return {
        row["name"]: t("survey.standing", value=row["value"], on=row["on"])
        for _, rows in standing_facts(survey, lang, t)
        for row in rows
    }
