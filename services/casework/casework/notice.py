"""The village's public notice (公示): what is posted on the village board.

Everyone in the village reads a notice, so it names the household only by its
village group and household number, and says what is proposed, for how long, and
where to object. ID numbers, phone numbers, bank accounts, health and disability
never appear: the notice is built field by field from this list, never from the
case or the household as a whole, so nothing else can slip onto the board.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from casework.domain import Case, HouseholdCases
from casework.steps import Level
from fangpin.contracts import TargetType

# When the village proposes no type, the screening's flags propose the one that
# needs the most help.
TYPE_PRIORITY = [
    TargetType.SAFETY_NET.value,
    TargetType.EXPENSE_HARDSHIP.value,
    TargetType.LOW_INCOME.value,
]


@dataclass(frozen=True)
class ObjectionOffice:
    """Where a villager may object while the notice runs."""

    level: str
    area_code: str


@dataclass(frozen=True)
class PublicNotice:
    case_id: UUID
    village_code: str
    town_code: str
    village_group: str | None
    household_number: str | None
    proposed_type: str | None
    starts_on: date
    ends_on: date
    objections_to: tuple[ObjectionOffice, ...]


def public_notice(case: Case, household: HouseholdCases | None) -> PublicNotice | None:
    """The notice as posted, or None while the village has published none."""
    if case.notice_starts_on is None or case.notice_ends_on is None:
        return None
    return PublicNotice(
        case_id=case.id,
        village_code=case.area_code,
        town_code=case.town_code,
        village_group=household.village_group if household else None,
        household_number=household.household_number if household else None,
        proposed_type=case.proposed_type,
        starts_on=case.notice_starts_on,
        ends_on=case.notice_ends_on,
        objections_to=(
            ObjectionOffice(Level.VILLAGE.value, case.area_code),
            ObjectionOffice(Level.TOWN.value, case.town_code),
        ),
    )


def flagged_type(household: HouseholdCases | None) -> str | None:
    """The type screening's open flags point to, the neediest first."""
    open_types = set(household.open_risk_types) if household else set()
    return next((kind for kind in TYPE_PRIORITY if kind in open_types), None)
