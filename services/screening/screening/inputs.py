"""What an indicator's condition can read about a household, and where it comes from.

Every input has a name (the CEL identifier a condition uses), a type, an origin in
the risk profile and the feed that supplies it today. Inputs are derived from the
profile for one evaluation date: department records and grid reports count only
within the twelve months before that date. An input with no value is unknown, never
zero: a condition that needs it cannot hit, and "why" says what was missing.

Inputs whose origin is the household are read from the registry facts intake sends,
under the same name, so a fact intake starts sending feeds its indicators at once.
Home-visit surveys give household facts too: each fact's latest survey up to the
evaluation date stands, over the registry's value of the same name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol
from uuid import UUID

WINDOW = timedelta(days=365)

HOUSEHOLD = "household"
INCOME = "income"
RECORDS = "records"
REPORTS = "reports"

REGISTRY_FEED = "intake: household registry facts"
INCOME_FEED = "intake: income survey (IncomeRecorded)"
REPORT_FEED = "intake: grid reports (ProblemReported)"
SURVEY_FEED = "intake: household survey (HouseholdSurveyed)"


@dataclass(frozen=True)
class Input:
    name: str
    kind: type
    origin: str
    feed: str | None
    description: str
    kinds: tuple[str, ...] = ()

    @property
    def fed(self) -> bool:
        return self.feed is not None


def _household(name: str, kind: type, description: str, feed: str | None) -> Input:
    return Input(name, kind, HOUSEHOLD, feed, description)


def _surveyed(name: str, kind: type, description: str) -> Input:
    return Input(name, kind, HOUSEHOLD, SURVEY_FEED, description)


def _income(name: str, kind: type, description: str) -> Input:
    return Input(name, kind, INCOME, INCOME_FEED, description)


def _records(name: str, kind: type, description: str, feed: str, *kinds: str) -> Input:
    return Input(name, kind, RECORDS, feed, description, kinds)


_INPUTS = [
    # The registry, as intake computes it from the members.
    _household("member_count", int, "people in the household", REGISTRY_FEED),
    _household("labour_capable_count", int, "members able to work", REGISTRY_FEED),
    _household("no_labour_capacity", bool, "no member is able to work", REGISTRY_FEED),
    _household(
        "severe_disability_count",
        int,
        "members with a grade 1 or 2 disability",
        REGISTRY_FEED,
    ),
    _household("disabled_count", int, "members with a disability", REGISTRY_FEED),
    _household(
        "chronic_illness_count", int, "members with a chronic illness", REGISTRY_FEED
    ),
    _household(
        "serious_illness_count", int, "members with a serious illness", REGISTRY_FEED
    ),
    _household("elderly_count", int, "members aged 65 or more", REGISTRY_FEED),
    _household("all_elderly", bool, "every member is aged 65 or more", REGISTRY_FEED),
    _household(
        "compulsory_age_children",
        int,
        "children of compulsory-school age",
        REGISTRY_FEED,
    ),
    _household(
        "students_non_compulsory",
        int,
        "members in senior secondary, vocational or higher education",
        REGISTRY_FEED,
    ),
    _household(
        "housing_rating",
        str,
        "housing safety rating, A (safe) to D (dangerous)",
        REGISTRY_FEED,
    ),
    _household(
        "drinking_water_ok",
        bool,
        "drinking water passes the rural water-safety assessment",
        REGISTRY_FEED,
    ),
    # What grid monitors and village officials learn on home visits; each fact's
    # latest survey stands.
    _surveyed("single_parent", bool, "a single parent raises the children"),
    _surveyed(
        "child_without_carer", bool, "an orphan or a child nobody in fact looks after"
    ),
    _surveyed("main_earner_died", bool, "the main earner died"),
    _surveyed("household_debt", float, "the household's debt, yuan"),
    _surveyed("hardship_debt", float, "debt taken on for illness or disaster, yuan"),
    _surveyed(
        "relocated_not_moved_in",
        bool,
        "relocated for poverty alleviation but not moved in",
    ),
    _surveyed("relocation_debt", float, "debt from relocation, yuan"),
    _surveyed("geohazard_point", bool, "the dwelling is at a registered geohazard"),
    _surveyed("water_litres_per_day", float, "drinking water, litres a person a day"),
    _surveyed("water_scarce_area", bool, "the village is water-scarce"),
    _surveyed("water_quality_ok", bool, "the water passed its quality test"),
    _surveyed("water_fetch_minutes", float, "minutes to fetch water"),
    _surveyed("water_fetch_horizontal_m", float, "horizontal distance to water, m"),
    _surveyed("water_fetch_vertical_m", float, "vertical distance to water, m"),
    _surveyed("water_interrupted_days", int, "days without water supply in a year"),
    _surveyed(
        "unemployed_months",
        int,
        "months an able-bodied member has been out of work or back home",
    ),
    _surveyed("wage_interrupted_months", int, "months the wage income has stopped"),
    _surveyed("public_welfare_job_ended", bool, "a public-welfare job contract ended"),
    _surveyed("employed_count", int, "members in work"),
    _surveyed(
        "wage_arrears_or_injury",
        bool,
        "a migrant worker is owed wages or was injured at work",
    ),
    _surveyed(
        "months_unemployed_after_training",
        int,
        "months without work since finishing skills training",
    ),
    _surveyed("student_grant_missing", bool, "a student lacks a grant they are due"),
    _surveyed("schooling_cost", float, "non-compulsory schooling cost, yuan"),
    _surveyed(
        "vocational_grant_missing",
        bool,
        "an eligible vocational student is not in the Yulu grant scheme",
    ),
    _surveyed(
        "disabled_child_out_of_school",
        bool,
        "a disabled child is neither in school nor taught at home",
    ),
    _surveyed("pest_loss", float, "animal-disease or pest loss, yuan"),
    # Household facts no feed supplies yet. They belong to the records of a lender
    # (the micro-loan book), of civil affairs or medical insurance (an application
    # waiting for a decision) and of the police (a criminal case), not to a home
    # visit's answers; intake can add them under these names.
    _household(
        "micro_loan_due_days",
        int,
        "days until a poverty micro-loan falls due",
        None,
    ),
    _household("micro_loan_overdue", bool, "a poverty micro-loan is overdue", None),
    _household(
        "medical_aid_pending_days",
        int,
        "days a medical-aid application has waited for a decision",
        None,
    ),
    _household(
        "criminal_injury",
        bool,
        "a criminal case injured or killed a key labourer",
        None,
    ),
    # The income survey: the latest year recorded, and the one before it.
    _income("per_capita_income", float, "per-capita net income, latest year"),
    _income("income_year", int, "the year of the latest income"),
    _income(
        "household_income",
        float,
        "household net income, latest year (per capita times members)",
    ),
    _income(
        "previous_per_capita_income", float, "per-capita net income, the year before"
    ),
    _income(
        "income_drop_ratio",
        float,
        "how far per-capita income fell since the year before (0.3 is 30%)",
    ),
    _income("wage_income", float, "wages in the latest year's sources"),
    _income("own_industry_income", float, "own-industry income, latest year"),
    _income("wage_share", float, "wages as a share of all income sources"),
    _income("transfer_share", float, "transfers as a share of all income sources"),
    _income(
        "industry_income_drop_ratio",
        float,
        "how far own-industry income fell since the year before",
    ),
    _income(
        "industry_loss_share",
        float,
        "own-industry income lost, as a share of the year before's income",
    ),
    _income(
        "rent_or_dividend_lost",
        bool,
        "land rent or dividends paid the year before, none in the latest year",
    ),
    _income("income_age_days", int, "days since the latest income was recorded"),
    # Department records of the last twelve months.
    _records(
        "out_of_pocket",
        float,
        "out-of-pocket medical cost after insurance, last 12 months, yuan",
        "medical insurance: hospital settlements",
        "hospital_settlement",
    ),
    _records(
        "hospital_stays",
        int,
        "hospital stays (settlements with inpatient days), last 12 months",
        "medical insurance: hospital settlements",
        "hospital_settlement",
    ),
    _records(
        "inpatient_days",
        int,
        "days in hospital, last 12 months",
        "medical insurance: hospital settlements",
        "hospital_settlement",
    ),
    _records(
        "uninsured",
        bool,
        "the latest insurance status says a member is not insured",
        "medical insurance: insurance status",
        "insurance_status",
    ),
    _records(
        "serious_illness",
        bool,
        "a listed serious illness diagnosed or settled, last 12 months",
        "health: diagnoses; medical insurance: settlements",
        "diagnosis",
        "hospital_settlement",
    ),
    _records(
        "chronic_without_cover",
        bool,
        "a chronic illness without outpatient chronic-disease cover",
        "health: diagnoses",
        "diagnosis",
    ),
    _records(
        "no_family_doctor",
        bool,
        "the latest diagnosis record shows no contracted family doctor",
        "health: diagnoses",
        "diagnosis",
    ),
    _records(
        "lost_work_capacity",
        bool,
        "a member lost the capacity to work, last 12 months",
        "health: diagnoses",
        "diagnosis",
    ),
    _records(
        "dropout_age",
        int,
        "age of the child in the latest dropout record, last 12 months",
        "education: school dropouts",
        "school_dropout",
    ),
    _records(
        "disability_grade",
        int,
        "most severe disability grade certified, last 12 months (1 is worst)",
        "disabled persons' federation: certifications",
        "disability_certification",
    ),
    _records(
        "grade_without_nursing_subsidy",
        int,
        "most severe grade certified without the nursing subsidy",
        "disabled persons' federation: certifications",
        "disability_certification",
    ),
    _records(
        "grade_without_living_subsidy",
        int,
        "most severe grade certified without the living subsidy",
        "disabled persons' federation: certifications",
        "disability_certification",
    ),
    _records(
        "disaster_loss",
        float,
        "losses from disasters and accidents, last 12 months, yuan",
        "emergency management: disaster losses",
        "disaster_loss",
    ),
    _records(
        "crop_loss_ratio",
        float,
        "largest crop loss in a disaster, last 12 months (0.3 is 30%)",
        "emergency management: disaster losses",
        "disaster_loss",
    ),
    _records(
        "house_damage",
        str,
        "worst damage to the house: none, damaged or collapsed",
        "emergency management: disaster losses",
        "disaster_loss",
    ),
    _records(
        "rigid_expenditure",
        float,
        "out-of-pocket medical cost plus disaster losses, last 12 months, yuan",
        "medical insurance; emergency management",
        "hospital_settlement",
        "disaster_loss",
    ),
    _records(
        "allowances_granted",
        int,
        "minimum allowance, extreme-poverty or temporary aid granted, 12 months",
        "civil affairs: allowances granted",
        "allowance_granted",
    ),
    _records(
        "temporary_aid_count",
        int,
        "temporary aid granted, last 12 months",
        "civil affairs: allowances granted",
        "allowance_granted",
    ),
    _records(
        "minimum_allowance_stopped",
        bool,
        "the minimum allowance was stopped and not granted again since",
        "civil affairs: allowances stopped",
        "allowance_stopped",
        "allowance_granted",
    ),
    _records(
        "traffic_accident_severity",
        str,
        "worst traffic accident, last 12 months: injury, disability or death",
        "traffic police: accidents",
        "traffic_accident",
    ),
    # Grid reports of the last twelve months.
    Input(
        "grid_reports",
        int,
        REPORTS,
        REPORT_FEED,
        "problems reported by grid monitors and cadres, last 12 months",
    ),
    Input(
        "self_reports",
        int,
        REPORTS,
        None,
        "problems the household reported itself, last 12 months",
    ),
]

INPUTS: dict[str, Input] = {item.name: item for item in _INPUTS}
FED_INPUTS = frozenset(name for name, item in INPUTS.items() if item.fed)

SEVERITY_ORDER = {"injury": 1, "disability": 2, "death": 3}
DAMAGE_ORDER = {"none": 0, "damaged": 1, "collapsed": 2}


class ProfileFacts(Protocol):
    """What derivation needs from a risk profile."""

    member_count: int | None
    facts: dict[str, Any]
    incomes: dict[int, dict[str, Any]]
    records: list[dict[str, Any]]
    reports: list[dict[str, Any]]
    surveys: list[dict[str, Any]]


def coerce(kind: type, value: Any) -> Any:
    """The value as the input's type, or None when it cannot be one."""
    if value is None:
        return None
    if kind is bool:
        return value if isinstance(value, bool) else None
    if kind is str:
        return value if isinstance(value, str) else None
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if kind is int:
        return int(number) if number.is_integer() else None
    return number


def _number(facts: Mapping[str, Any], name: str) -> float | None:
    value = coerce(float, facts.get(name))
    assert value is None or isinstance(value, float)
    return value


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def in_window(items: Iterable[dict[str, Any]], field: str, on: date) -> list[Any]:
    start = on - WINDOW
    return [item for item in items if start < _day(item[field]) <= on]


def derive(profile: ProfileFacts, on: date) -> dict[str, Any]:
    """The inputs known about the household on this date; unknown ones are absent."""
    found: dict[str, Any] = {}
    for name, value in profile.facts.items():
        spec = INPUTS.get(name)
        if spec is not None and spec.origin == HOUSEHOLD:
            typed = coerce(spec.kind, value)
            if typed is not None:
                found[name] = typed
    for name, (value, _) in standing_survey(profile.surveys, on).items():
        spec = INPUTS.get(name)
        typed = coerce(spec.kind, value) if spec is not None else None
        if typed is not None:
            found[name] = typed
    if profile.member_count:
        found["member_count"] = profile.member_count
    _derive_income(profile, on, found)
    _derive_records(in_window(profile.records, "occurred_on", on), found)
    reports = in_window(profile.reports, "observed_on", on)
    for channel, name in (("grid", "grid_reports"), ("self", "self_reports")):
        count = sum(1 for report in reports if report.get("channel") == channel)
        if count:
            found[name] = count
    return found


def standing_survey(
    surveys: Iterable[dict[str, Any]], on: date
) -> dict[str, tuple[Any, UUID | None]]:
    """Each fact's value from its latest survey up to this date, with the event
    that gave it; of two surveys of the same day, the one recorded later."""
    standing: dict[str, tuple[Any, UUID | None]] = {}
    dated = sorted(surveys, key=lambda survey: _day(survey["surveyed_on"]))
    for survey in dated:
        if _day(survey["surveyed_on"]) <= on:
            for name, value in survey["facts"].items():
                standing[name] = (value, survey.get("event"))
    return standing


def _total(sources: Mapping[str, Any]) -> float:
    return sum(_number(sources, name) or 0.0 for name in sources)


def _derive_income(profile: ProfileFacts, on: date, found: dict[str, Any]) -> None:
    years = sorted(year for year in profile.incomes if year <= on.year)
    if not years:
        return
    latest = profile.incomes[years[-1]]
    per_capita = float(latest["per_capita"])
    found["per_capita_income"] = per_capita
    found["income_year"] = years[-1]
    found["income_age_days"] = max(0, (on - _day(latest["recorded_on"])).days)
    if profile.member_count:
        found["household_income"] = per_capita * profile.member_count
    sources = latest.get("sources") or {}
    total = _total(sources)
    if sources:
        found["wage_income"] = _number(sources, "wages") or 0.0
        found["own_industry_income"] = _number(sources, "own_industry") or 0.0
    if total > 0:
        found["wage_share"] = found["wage_income"] / total
        found["transfer_share"] = (_number(sources, "transfers") or 0.0) / total
    if len(years) < 2:
        return
    before = profile.incomes[years[-2]]
    previous = float(before["per_capita"])
    found["previous_per_capita_income"] = previous
    if previous > 0:
        found["income_drop_ratio"] = (previous - per_capita) / previous
    old_sources = before.get("sources") or {}
    if not (sources and old_sources):
        return
    old_industry = _number(old_sources, "own_industry") or 0.0
    lost = old_industry - found["own_industry_income"]
    if old_industry > 0:
        found["industry_income_drop_ratio"] = lost / old_industry
    old_total = _total(old_sources)
    if old_total > 0:
        found["industry_loss_share"] = lost / old_total
    rent = ("land_rent", "dividends")
    had = sum(_number(old_sources, name) or 0.0 for name in rent)
    has = sum(_number(sources, name) or 0.0 for name in rent)
    found["rent_or_dividend_lost"] = had > 0 and has == 0


def _derive_records(records: list[dict[str, Any]], found: dict[str, Any]) -> None:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(records, key=lambda item: str(item["occurred_on"])):
        by_kind.setdefault(record["kind"], []).append(record["facts"])
    settlements = by_kind.get("hospital_settlement", [])
    diagnoses = by_kind.get("diagnosis", [])
    disasters = by_kind.get("disaster_loss", [])
    serious = [f.get("serious_illness") is True for f in settlements + diagnoses]

    if settlements:
        found["out_of_pocket"] = sum(
            _number(f, "out_of_pocket") or 0.0 for f in settlements
        )
        days = [int(_number(f, "inpatient_days") or 0) for f in settlements]
        found["hospital_stays"] = sum(1 for day in days if day > 0)
        found["inpatient_days"] = sum(days)
    if settlements or disasters:
        found["rigid_expenditure"] = found.get("out_of_pocket", 0.0) + sum(
            _number(f, "loss_amount") or 0.0 for f in disasters
        )
    if serious:
        found["serious_illness"] = any(serious)
    if diagnoses:
        found["chronic_without_cover"] = any(
            f.get("chronic") is True and f.get("outpatient_chronic_cover") is False
            for f in diagnoses
        )
        found["lost_work_capacity"] = any(
            f.get("lost_work_capacity") is True for f in diagnoses
        )
        if isinstance(diagnoses[-1].get("family_doctor"), bool):
            found["no_family_doctor"] = not diagnoses[-1]["family_doctor"]
    statuses = by_kind.get("insurance_status", [])
    if statuses and isinstance(statuses[-1].get("insured"), bool):
        found["uninsured"] = not statuses[-1]["insured"]
    dropouts = by_kind.get("school_dropout", [])
    if dropouts:
        _set(found, "dropout_age", coerce(int, dropouts[-1].get("age")))
    _derive_disability(by_kind.get("disability_certification", []), found)

    if disasters:
        found["disaster_loss"] = sum(
            _number(f, "loss_amount") or 0.0 for f in disasters
        )
        found["crop_loss_ratio"] = max(
            _number(f, "crop_loss_ratio") or 0.0 for f in disasters
        )
        damages = [str(f.get("house_damage", "none")) for f in disasters]
        found["house_damage"] = max(damages, key=lambda d: DAMAGE_ORDER.get(d, 0))
    _derive_allowances(records, found)
    accidents = [
        f["severity"]
        for f in by_kind.get("traffic_accident", [])
        if isinstance(f.get("severity"), str)
    ]
    if accidents:
        found["traffic_accident_severity"] = max(
            accidents, key=lambda severity: SEVERITY_ORDER.get(severity, 0)
        )


def _set(found: dict[str, Any], name: str, value: Any) -> None:
    if value is not None:
        found[name] = value


def _derive_disability(
    certificates: list[dict[str, Any]], found: dict[str, Any]
) -> None:
    grades = [(coerce(int, f.get("grade")), f) for f in certificates]
    known = [(grade, f) for grade, f in grades if grade is not None]
    if not known:
        return
    found["disability_grade"] = min(grade for grade, _ in known)
    for subsidy in ("nursing", "living"):
        missing = [grade for grade, f in known if f.get(f"{subsidy}_subsidy") is False]
        if missing:
            found[f"grade_without_{subsidy}_subsidy"] = min(missing)


def _derive_allowances(records: list[dict[str, Any]], found: dict[str, Any]) -> None:
    granted = [r["facts"] for r in records if r["kind"] == "allowance_granted"]
    if granted:
        found["allowances_granted"] = len(granted)
        found["temporary_aid_count"] = sum(
            1 for f in granted if f.get("scheme") == "temporary_aid"
        )
    allowance = [
        r
        for r in sorted(records, key=lambda item: str(item["occurred_on"]))
        if r["kind"] in ("allowance_granted", "allowance_stopped")
        and r["facts"].get("scheme") == "minimum_allowance"
    ]
    if any(r["kind"] == "allowance_stopped" for r in allowance):
        found["minimum_allowance_stopped"] = allowance[-1]["kind"] == (
            "allowance_stopped"
        )


class Sourced(ProfileFacts, Protocol):
    facts_event: UUID | None


def sources(profile: Sourced, on: date, names: Iterable[str]) -> list[UUID]:
    """The upstream events behind these inputs on this date, oldest first."""
    origins = {INPUTS[name].origin for name in names if name in INPUTS}
    kinds = {kind for name in names if name in INPUTS for kind in INPUTS[name].kinds}
    found: list[UUID] = []
    if HOUSEHOLD in origins:
        surveyed = standing_survey(profile.surveys, on)
        household = [n for n in names if n in INPUTS and INPUTS[n].origin == HOUSEHOLD]
        if profile.facts_event is not None and any(
            name not in surveyed for name in household
        ):
            found.append(profile.facts_event)
        used = {surveyed[name][1] for name in household if name in surveyed}
        found.extend(
            survey["event"] for survey in profile.surveys if survey.get("event") in used
        )
    if INCOME in origins:
        years = sorted(year for year in profile.incomes if year <= on.year)[-2:]
        found.extend(profile.incomes[year]["event"] for year in years)
    if kinds:
        found.extend(
            record["event"]
            for record in in_window(profile.records, "occurred_on", on)
            if record["kind"] in kinds and record.get("event") is not None
        )
    if REPORTS in origins:
        found.extend(
            report["event"] for report in in_window(profile.reports, "observed_on", on)
        )
    return list(dict.fromkeys(event for event in found if event is not None))
