"""Risk elimination (风险消除): when a monitoring target may leave monitoring.

The conditions follow national practice: income stable above the line for at
least six months, at least one measure received, at least six months in
monitoring, no open expense or safety-net risk. A household with no labour
capacity at all is never marked eliminated: it stays under the safety net.

The income lines are the district's: dated parameters of screening's indicator
catalogue, learnt from each published version. Each day of the six months is
judged by the line in force that day, so a line raised half-way holds the
household to the higher line from its date on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from casework.domain import Case, HouseholdCases, months_between
from fangpin.contracts import INCOME_LINE_PARAMETERS, PovertyStatus, TargetType

MINIMUM_MONTHS = 6
# The brief's lines, per person and year: they apply until casework has seen a
# catalogue, and to days before the catalogue's first value of a line.
DEFAULT_LINES = {
    PovertyStatus.FORMERLY_POOR: 5000.0,
    PovertyStatus.NEVER_POOR: 6000.0,
}
BLOCKING_RISKS = {TargetType.EXPENSE_HARDSHIP.value, TargetType.SAFETY_NET.value}


@dataclass(frozen=True)
class Line:
    """A monitoring income line, yuan per person and year, and where it is from."""

    value: float
    parameter: str
    effective_from: date | None = None
    catalogue_version: int | None = None

    def describe(self) -> str:
        if self.effective_from is None:
            source = "the default line, no catalogue value in force"
        else:
            source = (
                f"{self.parameter} from {self.effective_from.isoformat()}, "
                f"catalogue version {self.catalogue_version}"
            )
        amount = f"{self.value:,.2f}".rstrip("0").rstrip(".")
        return f"the line of {amount} yuan ({source})"


class IncomeLineTable:
    """The income lines in force on each date, by poverty status."""

    def __init__(
        self,
        settings: Iterable[Mapping[str, Any]] = (),
        catalogue_version: int | None = None,
    ):
        self._dated: dict[str, list[Line]] = {}
        for item in settings:
            self._dated.setdefault(item["parameter"], []).append(
                Line(
                    value=float(item["value"]),
                    parameter=item["parameter"],
                    effective_from=date.fromisoformat(str(item["effective_from"])),
                    catalogue_version=catalogue_version,
                )
            )
        for lines in self._dated.values():
            lines.sort(key=lambda line: line.effective_from or date.min)

    def line_on(self, poverty_status: str | None, on: date) -> Line:
        status = PovertyStatus(poverty_status or PovertyStatus.NEVER_POOR)
        parameter = INCOME_LINE_PARAMETERS[status]
        found = Line(DEFAULT_LINES[status], parameter)
        for line in self._dated.get(parameter, []):
            if line.effective_from and line.effective_from <= on:
                found = line
        return found

    def changes_between(
        self, poverty_status: str | None, start: date, end: date
    ) -> list[date]:
        """The dates in (start, end] on which the household's line moves."""
        status = PovertyStatus(poverty_status or PovertyStatus.NEVER_POOR)
        return [
            line.effective_from
            for line in self._dated.get(INCOME_LINE_PARAMETERS[status], [])
            if line.effective_from and start < line.effective_from <= end
        ]


def unmet_conditions(
    case: Case,
    household: HouseholdCases,
    now: datetime,
    lines: IncomeLineTable | None = None,
) -> list[str]:
    unmet = []
    if household.no_labour_capacity:
        unmet.append("no_labour_capacity: the household stays under the safety net")
    assert case.confirmed_at is not None
    if months_between(case.confirmed_at, now) < MINIMUM_MONTHS:
        unmet.append(f"months_monitored: fewer than {MINIMUM_MONTHS}")
    if household.measures_received < 1:
        unmet.append("measures: no measure received yet")
    shortfall = income_shortfall(household, now.date(), lines or IncomeLineTable())
    if shortfall:
        unmet.append(f"income: {shortfall}")
    if BLOCKING_RISKS & set(household.open_risk_types):
        unmet.append("risks: an expense or safety-net risk is still open")
    return unmet


def income_shortfall(
    household: HouseholdCases, today: date, lines: IncomeLineTable
) -> str | None:
    """Why the income on record was not above the line in force on every day of
    the last six months, naming the line; None when it was.

    The income on record changes only when a new year's income is recorded and
    the line only on the dates its values take effect, so judging the first day
    and those dates judges every day. The latest shortfall is the one named: the
    six months count again from there.
    """
    status = household.poverty_status
    records = sorted(
        (date.fromisoformat(recorded), household.income_by_year[year])
        for year, recorded in household.income_recorded_on.items()
    )
    horizon = today - timedelta(days=MINIMUM_MONTHS * 30)
    standing = [income for recorded_on, income in records if recorded_on <= horizon]
    if not standing:
        return (
            f"not above the line for {MINIMUM_MONTHS} months on record: no income "
            f"recorded by {horizon.isoformat()}; "
            f"{lines.line_on(status, today).describe()} is in force today"
        )
    # Of several records on the horizon's last recording day, the higher stands.
    checks = [(horizon, standing[-1])]
    checks += [(day, income) for day, income in records if horizon < day <= today]
    for moved in lines.changes_between(status, horizon, today):
        before = [income for day, income in records if day <= moved]
        checks.append((moved, before[-1]))
    for day, income in sorted(checks, reverse=True):
        line = lines.line_on(status, day)
        if income < line.value:
            return (
                f"not above the line for {MINIMUM_MONTHS} months on record: below "
                f"{line.describe()} on {day.isoformat()}"
            )
    return None
