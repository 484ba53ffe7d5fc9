"""Screening: turns intake's facts into explained risk flags."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fangpin.contracts import (
    DepartmentRecordReceived,
    HouseholdRegistered,
    PovertyStatus,
)
from fangpin.eventstore import Cause, ServiceApplication, UnitOfWork
from fangpin.inbox import Incoming
from fangpin.service import NotFound
from screening.catalogue import Catalogue, default_catalogue, proposed_type
from screening.domain import RiskProfile


class ProfileNotYetKnown(Exception):
    """A record arrived before its household's registration; retried later."""


class ScreeningApplication(ServiceApplication):
    service = "screening"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.catalogue: Catalogue = default_catalogue()

    def process(self, messages: list[Incoming]) -> None:
        unit = UnitOfWork(self)
        for incoming in messages:
            unit.track(incoming.key)
            if isinstance(incoming.data, HouseholdRegistered):
                self._open_profile(unit, incoming)
            elif isinstance(incoming.data, DepartmentRecordReceived):
                self._screen_record(unit, incoming)
        unit.commit()

    def _open_profile(self, unit: UnitOfWork, incoming: Incoming) -> None:
        data = incoming.data
        assert isinstance(data, HouseholdRegistered) and incoming.envelope
        if unit.get(data.household_id, RiskProfile) is not None:
            return
        cause = Cause.following(incoming.envelope, self.service, data.area_code)
        unit.add(
            RiskProfile(
                household_id=data.household_id,
                area_code=data.area_code,
                poverty_status=data.poverty_status.value,
                meta=cause.meta(household_id=data.household_id),
            )
        )

    def _screen_record(self, unit: UnitOfWork, incoming: Incoming) -> None:
        data = incoming.data
        assert isinstance(data, DepartmentRecordReceived) and incoming.envelope
        profile = unit.get(data.household_id, RiskProfile)
        if profile is None:
            raise ProfileNotYetKnown(str(data.household_id))
        cause = Cause.following(incoming.envelope, self.service, data.area_code)
        meta = cause.meta(household_id=data.household_id)
        profile.record_facts(
            record_id=data.record_id,
            department=data.department,
            kind=data.kind,
            occurred_on=data.occurred_on.isoformat(),
            facts=data.facts,
            meta=meta,
        )
        status = PovertyStatus(profile.poverty_status)
        context = {
            "kind": data.kind,
            "department": data.department,
            "facts": data.facts,
            "poverty_status": status.value,
        }
        hits = self.catalogue.evaluate(status, context)
        new_hits = [hit for hit in hits if hit.code not in profile.active_codes]
        if not new_hits:
            return
        profile.flag(
            household_id=data.household_id,
            area_code=profile.area_code,
            hits=[
                {
                    "code": hit.code,
                    "name_zh": hit.name_zh,
                    "name_en": hit.name_en,
                    "values": {
                        name: data.facts[name]
                        for name in (read.split(".", 1)[-1] for read in hit.reads)
                        if name in data.facts
                    },
                    "thresholds": dict(hit.params),
                }
                for hit in new_hits
            ],
            target_type=proposed_type(new_hits).value,
            catalogue_version=self.catalogue.version,
            caused_by=[incoming.envelope.event_id],
            meta=meta,
        )

    def profile(self, household_id: UUID) -> RiskProfile:
        profile = self.get_or_none(household_id, RiskProfile)
        if profile is None:
            raise NotFound("no risk profile for this household")
        return profile
