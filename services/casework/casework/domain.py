"""Cases: one per household episode, from the first signal to verified closure."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from fangpin.eventstore import stable_id


class CaseError(Exception):
    """A command the case's state does not allow; the text says why."""


class Case(Aggregate):
    @staticmethod
    def create_id(case_id: UUID) -> UUID:
        return case_id

    @event("CaseOpened")
    def __init__(
        self,
        case_id: UUID,
        household_id: UUID,
        area_code: str,
        town_code: str,
        signal_type: str,
        signal_event_id: UUID,
        urgent: bool,
        meta: dict[str, Any],
    ):
        self.household_id = household_id
        self.area_code = area_code
        self.town_code = town_code
        self.urgent = urgent
        self.signals = [signal_event_id]
        self.status = "open"

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def attach(self, signal_type: str, signal_event_id: UUID, meta: dict[str, Any]):
        if signal_event_id in self.signals:
            return
        self._attached(
            case_id=self.id,
            signal_type=signal_type,
            signal_event_id=signal_event_id,
            meta=meta,
        )

    @event("SignalAttached")
    def _attached(
        self,
        case_id: UUID,
        signal_type: str,
        signal_event_id: UUID,
        meta: dict[str, Any],
    ) -> None:
        self.signals.append(signal_event_id)

    def close(self, verification: str, verified_by: str, meta: dict[str, Any]) -> None:
        if not self.is_open:
            raise CaseError("the case is already closed")
        if not verification.strip():
            raise CaseError("closing needs the verification evidence")
        self._closed(
            case_id=self.id,
            household_id=self.household_id,
            area_code=self.area_code,
            verification=verification,
            verified_by=verified_by,
            meta=meta,
        )

    @event("CaseClosed")
    def _closed(
        self,
        case_id: UUID,
        household_id: UUID,
        area_code: str,
        verification: str,
        verified_by: str,
        meta: dict[str, Any],
    ) -> None:
        self.status = "closed"


class HouseholdCases(Aggregate):
    """Which case of a household is open, so a new signal joins it."""

    @staticmethod
    def create_id(household_id: UUID) -> UUID:
        return household_cases_id(household_id)

    @event("HouseholdCasesStarted")
    def __init__(self, household_id: UUID):
        self.open_case_id: UUID | None = None

    @event("OpenCaseSet")
    def set_open(self, case_id: UUID | None) -> None:
        self.open_case_id = case_id


def household_cases_id(household_id: UUID) -> UUID:
    return stable_id("household-cases", household_id)
