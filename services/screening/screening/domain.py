"""A household's risk profile: what screening knows and which indicators it hits."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event


class RiskProfile(Aggregate):
    @staticmethod
    def create_id(household_id: UUID) -> UUID:
        return household_id

    @event("ProfileOpened")
    def __init__(
        self,
        household_id: UUID,
        area_code: str,
        poverty_status: str,
        meta: dict[str, Any],
    ):
        self.area_code = area_code
        self.poverty_status = poverty_status
        self.active_codes: list[str] = []
        self.records: list[dict[str, Any]] = []

    @event("FactsRecorded")
    def record_facts(
        self,
        record_id: str,
        department: str,
        kind: str,
        occurred_on: str,
        facts: dict[str, Any],
        meta: dict[str, Any],
    ) -> None:
        self.records.append(
            {
                "record_id": record_id,
                "department": department,
                "kind": kind,
                "occurred_on": occurred_on,
                "facts": facts,
            }
        )

    @event("RiskFlagged")
    def flag(
        self,
        household_id: UUID,
        area_code: str,
        hits: list[dict[str, Any]],
        target_type: str,
        catalogue_version: int,
        caused_by: list[UUID],
        meta: dict[str, Any],
    ) -> None:
        for hit in hits:
            if hit["code"] not in self.active_codes:
                self.active_codes.append(hit["code"])
