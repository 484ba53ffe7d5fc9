"""Risk elimination (风险消除): when a monitoring target may leave monitoring.

The conditions follow national practice: income stable above the line for at
least six months, at least one measure received, at least six months in
monitoring, no open expense or safety-net risk. A household with no labour
capacity at all is never marked eliminated: it stays under the safety net.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from casework.domain import Case, HouseholdCases, months_between
from fangpin.contracts import PovertyStatus, TargetType

MINIMUM_MONTHS = 6
# The brief's lines, per person and year; the district's dated parameters live in
# screening's catalogue, these are the ones the exit review applies.
INCOME_LINE = {
    PovertyStatus.FORMERLY_POOR.value: 5000.0,
    PovertyStatus.NEVER_POOR.value: 6000.0,
}
BLOCKING_RISKS = {TargetType.EXPENSE_HARDSHIP.value, TargetType.SAFETY_NET.value}


def unmet_conditions(case: Case, household: HouseholdCases, now: datetime) -> list[str]:
    unmet = []
    if household.no_labour_capacity:
        unmet.append("no_labour_capacity: the household stays under the safety net")
    assert case.confirmed_at is not None
    if months_between(case.confirmed_at, now) < MINIMUM_MONTHS:
        unmet.append(f"months_monitored: fewer than {MINIMUM_MONTHS}")
    if household.measures_received < 1:
        unmet.append("measures: no measure received yet")
    if not income_stable_above_line(household, now.date()):
        unmet.append(
            f"income: not above the line for {MINIMUM_MONTHS} months on record"
        )
    if BLOCKING_RISKS & set(household.open_risk_types):
        unmet.append("risks: an expense or safety-net risk is still open")
    return unmet


def income_stable_above_line(household: HouseholdCases, today: date) -> bool:
    """A record above the line at least six months old, and none below since."""
    line = INCOME_LINE.get(household.poverty_status or "", INCOME_LINE["never_poor"])
    records = sorted(
        (date.fromisoformat(recorded), household.income_by_year[year])
        for year, recorded in household.income_recorded_on.items()
    )
    horizon = today - timedelta(days=MINIMUM_MONTHS * 30)
    anchored = False
    for recorded_on, income in records:
        if income < line:
            anchored = False
        elif recorded_on <= horizon and not anchored:
            anchored = True
    return anchored and all(income >= line for _, income in records[-1:])
