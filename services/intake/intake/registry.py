"""The household registry's vocabulary: members, households and incomes, what
changed between two versions of a household, and the household-level facts that
screening reads.

Everything here is plain data and pure functions; the aggregates in
``intake.domain`` record it as events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from uuid import UUID

from fangpin.contracts import Facts, PovertyStatus
from fangpin.eventstore import stable_id
from fangpin.idnumber import birth_date

ELDERLY_AGE = 65
COMPULSORY_SCHOOL_AGES = range(6, 16)
CENTS = Decimal("0.01")
LARGEST_AMOUNT = Decimal("100000000")


class Relation(StrEnum):
    HEAD = "head"
    SPOUSE = "spouse"
    CHILD = "child"
    CHILD_IN_LAW = "child_in_law"
    GRANDCHILD = "grandchild"
    PARENT = "parent"
    PARENT_IN_LAW = "parent_in_law"
    GRANDPARENT = "grandparent"
    SIBLING = "sibling"
    OTHER = "other"


class LabourCapacity(StrEnum):
    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"


class Health(StrEnum):
    HEALTHY = "healthy"
    CHRONIC = "chronic"
    SERIOUS = "serious"


class Schooling(StrEnum):
    NOT_IN_SCHOOL = "not_in_school"
    PRESCHOOL = "preschool"
    COMPULSORY = "compulsory"
    HIGH_SCHOOL = "high_school"
    VOCATIONAL = "vocational"
    COLLEGE = "college"


NON_COMPULSORY_STUDIES = frozenset(
    {Schooling.HIGH_SCHOOL, Schooling.VOCATIONAL, Schooling.COLLEGE}
)


class HousingRating(StrEnum):
    """Housing safety appraisal: A and B are safe, C and D are dangerous."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"


class IncomeSource(StrEnum):
    """The "five gold" kinds (五金) plus transfers."""

    LAND_RENT = "land_rent"
    DIVIDENDS = "dividends"
    OWN_INDUSTRY = "own_industry"
    WAGES = "wages"
    POLICY_BONUS = "policy_bonus"
    TRANSFERS = "transfers"


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


def sex_of(id_number: str) -> Sex:
    """The 17th character of a resident ID number is odd for men, even for women."""
    return Sex.MALE if int(id_number[16]) % 2 else Sex.FEMALE


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def amount(value: object) -> Decimal:
    """A yuan amount to the cent; raises ValueError naming the problem."""
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise ValueError("is not a number") from None
    if not number.is_finite() or abs(number) >= LARGEST_AMOUNT:
        raise ValueError("is not a plausible amount of yuan")
    return number.quantize(CENTS)


@dataclass(frozen=True, slots=True)
class MemberData:
    name: str
    id_number: str
    relation: Relation
    labour_capacity: LabourCapacity
    disability_grade: int | None
    health: Health
    schooling: Schooling

    def record(self) -> dict[str, Any]:
        """The member as stored in the household's (encrypted) events."""
        return {
            "name": self.name,
            "id_number": self.id_number,
            "relation": self.relation.value,
            "birth_date": birth_date(self.id_number).isoformat(),
            "sex": sex_of(self.id_number).value,
            "labour_capacity": self.labour_capacity.value,
            "disability_grade": self.disability_grade,
            "health": self.health.value,
            "schooling": self.schooling.value,
        }


@dataclass(frozen=True, slots=True)
class IncomeData:
    """Per-capita annual net income, and the household's income by source."""

    year: int
    per_capita_net_income: Decimal
    sources: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HouseholdData:
    household_id: UUID
    household_number: str | None
    area_code: str
    village_group: str
    poverty_status: PovertyStatus
    left_poverty_year: int | None
    phone: str | None
    housing_rating: HousingRating | None
    drinking_water_ok: bool | None
    members: tuple[MemberData, ...]
    incomes: tuple[IncomeData, ...] = ()

    def registry_fields(self) -> dict[str, Any]:
        return {
            "household_number": self.household_number,
            "area_code": self.area_code,
            "village_group": self.village_group,
            "poverty_status": self.poverty_status.value,
            "left_poverty_year": self.left_poverty_year,
            "phone": self.phone,
            "housing_rating": self.housing_rating.value
            if self.housing_rating
            else None,
            "drinking_water_ok": self.drinking_water_ok,
        }

    def member_records(self) -> list[dict[str, Any]]:
        return [member.record() for member in self.members]


HOUSEHOLD_FIELDS = (
    "household_number",
    "area_code",
    "village_group",
    "poverty_status",
    "left_poverty_year",
    "phone",
    "housing_rating",
    "drinking_water_ok",
)
MEMBER_FIELDS = (
    "name",
    "relation",
    "labour_capacity",
    "disability_grade",
    "health",
    "schooling",
)


def household_id_for(area_code: str, household_number: str) -> UUID:
    """Household numbers (户编号) are unique within a county."""
    return stable_id("household", area_code[:6], household_number)


def changed_fields(
    old_fields: Mapping[str, Any],
    old_members: Sequence[Mapping[str, Any]],
    new: HouseholdData,
) -> list[str]:
    """Names of what differs, never the values: ``members.<field>`` for a change
    in any member, ``members.joined`` / ``members.left`` for who came and went."""
    changed = [
        name
        for name, value in new.registry_fields().items()
        if old_fields.get(name) != value
    ]
    before = {member["id_number"]: member for member in old_members}
    after = {member["id_number"]: member for member in new.member_records()}
    if after.keys() - before.keys():
        changed.append("members.joined")
    if before.keys() - after.keys():
        changed.append("members.left")
    if len(before) != len(after):
        changed.append("member_count")
    for name in MEMBER_FIELDS:
        if any(
            before[number].get(name) != after[number][name]
            for number in before.keys() & after.keys()
        ):
            changed.append(f"members.{name}")
    return changed


def household_facts(
    members: Iterable[Mapping[str, Any]],
    housing_rating: str | None,
    drinking_water_ok: bool | None,
    on: date,
) -> Facts:
    """Household-level counts and flags, as of ``on``; never a person."""
    people = list(members)
    ages = [age_on(date.fromisoformat(m["birth_date"]), on) for m in people]
    grades = [m["disability_grade"] for m in people]
    capable = sum(m["labour_capacity"] in ("full", "partial") for m in people)
    elderly = sum(age >= ELDERLY_AGE for age in ages)
    facts: Facts = {
        "member_count": len(people),
        "labour_capable_count": capable,
        "no_labour_capacity": capable == 0,
        "severe_disability_count": sum(g is not None and g <= 2 for g in grades),
        "disabled_count": sum(g is not None for g in grades),
        "chronic_illness_count": sum(m["health"] == "chronic" for m in people),
        "serious_illness_count": sum(m["health"] == "serious" for m in people),
        "elderly_count": elderly,
        "all_elderly": bool(people) and elderly == len(people),
        "compulsory_age_children": sum(age in COMPULSORY_SCHOOL_AGES for age in ages),
        "students_non_compulsory": sum(
            m["schooling"] in NON_COMPULSORY_STUDIES for m in people
        ),
    }
    if housing_rating is not None:
        facts["housing_rating"] = housing_rating
    if drinking_water_ok is not None:
        facts["drinking_water_ok"] = drinking_water_ok
    return facts
