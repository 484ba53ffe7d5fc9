"""Events as the services publish them, made up: for tests and the benchmark.

:class:`Events` builds one envelope of any contract at a chosen moment, checked
against its contract and in the JSON form the relays send. :func:`county` makes a
whole county's history, lazily, in the order it could have happened.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from fangpin.contracts import EVENTS, Actor, Contract, Envelope, Role
from fangpin.inbox import Incoming
from fangpin.measures import MEASURES

SYSTEM = {
    "intake": Actor(user_id="intake", role=Role.SYSTEM, area_code="510904"),
    "screening": Actor(user_id="screening", role=Role.SYSTEM, area_code="510904"),
    "casework": Actor(user_id="casework", role=Role.SYSTEM, area_code="510904"),
    "assistance": Actor(user_id="assistance", role=Role.SYSTEM, area_code="510904"),
}
TOWN = Actor(user_id="town01", role=Role.TOWN, area_code="510904101")
VILLAGE = Actor(user_id="village01", role=Role.VILLAGE, area_code="510904101201")
DISTRICT = Actor(user_id="district01", role=Role.DISTRICT, area_code="510904")
STEP_ACTORS = {
    "visit": VILLAGE,
    "notice": VILLAGE,
    "notice_period": VILLAGE,
    "town_check": TOWN,
    "decision": DISTRICT,
}


@dataclass
class Events:
    """Makes envelopes; ``validate=False`` skips the contract check for volume."""

    validate: bool = True
    notification: dict[str, int] = field(default_factory=dict)

    def incoming(self, envelope: Envelope) -> Incoming:
        """As the inbox hands it over: named by producer and notification id."""
        number = self.notification.get(envelope.producer, 0) + 1
        self.notification[envelope.producer] = number
        spec = EVENTS[envelope.type]
        data: Contract = (
            spec.model.model_validate(envelope.data)
            if self.validate
            else spec.model.model_construct(**envelope.data)
        )
        return Incoming((envelope.producer, number), spec.subject, envelope, data)

    def make(
        self,
        kind: str,
        at: datetime,
        data: dict[str, Any],
        actor: Actor | None = None,
        household_id: UUID | None = None,
        case_id: UUID | None = None,
        causation_id: UUID | None = None,
    ) -> Envelope:
        spec = EVENTS[kind]
        if self.validate:
            data = spec.model.model_validate(data).model_dump(mode="json")
        fields: dict[str, Any] = {
            "event_id": uuid.uuid4(),
            "type": kind,
            "occurred_at": at,
            "producer": spec.producer,
            "actor": actor or SYSTEM[spec.producer],
            "household_id": household_id,
            "case_id": case_id,
            "causation_id": causation_id,
            "correlation_id": uuid.uuid4(),
            "data": data,
        }
        if self.validate:
            return Envelope(**fields)
        return Envelope.model_construct(schema_version=1, **fields)

    # --- intake ---------------------------------------------------------------------

    def registered(
        self,
        household: UUID,
        village: str,
        at: datetime,
        group: str = "1",
        status: str = "formerly_poor",
        members: int = 3,
    ) -> Envelope:
        data = {
            "household_id": str(household),
            "area_code": village,
            "village_group": group,
            "poverty_status": status,
            "left_poverty_year": 2019 if status == "formerly_poor" else None,
            "member_count": members,
        }
        return self.make(
            "HouseholdRegistered", at, data, DISTRICT, household_id=household
        )

    def income(
        self,
        household: UUID,
        village: str,
        at: datetime,
        per_capita: str,
        year: int = 2025,
        recorded_on: date | None = None,
    ) -> Envelope:
        data = {
            "household_id": str(household),
            "area_code": village,
            "year": year,
            "per_capita_net_income": per_capita,
            "recorded_on": (recorded_on or at.date()).isoformat(),
        }
        return self.make("IncomeRecorded", at, data, household_id=household)

    def report(
        self, household: UUID, village: str, at: datetime, category: str = "illness"
    ) -> Envelope:
        data = {
            "report_id": str(uuid.uuid4()),
            "household_id": str(household),
            "area_code": village,
            "village_group": "1",
            "category": category,
            "observed_on": at.date().isoformat(),
            "urgent": category in ("illness", "accident", "disaster"),
        }
        actor = Actor(user_id="grid01", role=Role.GRID_MONITOR, area_code=village)
        return self.make("ProblemReported", at, data, actor, household_id=household)

    def record(
        self,
        household: UUID,
        village: str,
        at: datetime,
        occurred_on: date,
        department: str = "medical_insurance",
        record_id: str | None = None,
    ) -> Envelope:
        data = {
            "record_id": record_id or f"R-{uuid.uuid4().hex[:12]}",
            "department": department,
            "kind": "hospital_settlement",
            "household_id": str(household),
            "area_code": village,
            "occurred_on": occurred_on.isoformat(),
            "facts": {"out_of_pocket": 16000.0},
        }
        return self.make("DepartmentRecordReceived", at, data, household_id=household)

    def rejected(self, at: datetime, department: str = "medical_insurance") -> Envelope:
        data = {
            "record_id": f"R-{uuid.uuid4().hex[:12]}",
            "department": department,
            "kind": "hospital_settlement",
            "reason": "no registered person matches",
        }
        return self.make("RecordRejected", at, data)

    # --- screening ------------------------------------------------------------------

    def flagged(
        self,
        household: UUID,
        village: str,
        at: datetime,
        caused_by: list[UUID],
        version: int = 1,
        codes: tuple[str, ...] = ("R-MED-01",),
        target_type: str = "expense_hardship",
    ) -> Envelope:
        data = {
            "household_id": str(household),
            "area_code": village,
            "hits": [
                {
                    "code": code,
                    "name_zh": "医疗支出",
                    "name_en": "medical spending",
                    "values": {"out_of_pocket": 16000.0},
                    "thresholds": {"line": 10000},
                }
                for code in codes
            ],
            "target_type": target_type,
            "catalogue_version": version,
            "caused_by": [str(cause) for cause in caused_by],
        }
        return self.make(
            "RiskFlagged",
            at,
            data,
            household_id=household,
            causation_id=caused_by[0] if caused_by else None,
        )

    def cleared(
        self,
        household: UUID,
        village: str,
        at: datetime,
        version: int = 1,
        causation: UUID | None = None,
    ) -> Envelope:
        data = {
            "household_id": str(household),
            "area_code": village,
            "catalogue_version": version,
            "cleared_codes": ["R-MED-01"],
        }
        return self.make(
            "RiskCleared", at, data, household_id=household, causation_id=causation
        )

    def catalogue(self, version: int, effective_from: date, at: datetime) -> Envelope:
        data = {
            "version": version,
            "effective_from": effective_from.isoformat(),
            "indicator_count": 81,
            "changes": [f"version {version}"],
        }
        return self.make("CataloguePublished", at, data, DISTRICT)

    # --- casework -------------------------------------------------------------------

    def opened(
        self,
        case: UUID,
        household: UUID,
        village: str,
        at: datetime,
        signal: UUID,
        reentry: bool = False,
        urgent: bool = True,
    ) -> Envelope:
        data = {
            "case_id": str(case),
            "household_id": str(household),
            "area_code": village,
            "town_code": village[:9],
            "signal_type": "ProblemReported",
            "signal_event_id": str(signal),
            "urgent": urgent,
            "reentry": reentry,
        }
        return self.make(
            "CaseOpened",
            at,
            data,
            household_id=household,
            case_id=case,
            causation_id=signal,
        )

    def step(
        self,
        event_type: str,
        case: UUID,
        household: UUID,
        village: str,
        at: datetime,
        step: str,
        next_step: str,
        **fields: Any,
    ) -> Envelope:
        data = {
            "case_id": str(case),
            "household_id": str(household),
            "area_code": village,
            "step": step,
            "next_step": next_step,
            **fields,
        }
        actor = STEP_ACTORS.get(step, TOWN)
        if event_type in ("CaseOverdue", "CaseEscalated"):
            actor = SYSTEM["casework"]
        return self.make(
            event_type, at, data, actor, household_id=household, case_id=case
        )

    def closed(
        self, case: UUID, household: UUID, village: str, at: datetime
    ) -> Envelope:
        data = {
            "case_id": str(case),
            "household_id": str(household),
            "area_code": village,
            "verification": "入户核实",
            "verified_by": "town01",
        }
        return self.make(
            "CaseClosed", at, data, TOWN, household_id=household, case_id=case
        )

    # --- assistance -----------------------------------------------------------------

    def assigned(
        self,
        case: UUID,
        household: UUID,
        village: str,
        at: datetime,
        measure: str,
        due_on: date,
    ) -> Envelope:
        data = {
            "assignment_id": str(uuid.uuid4()),
            "case_id": str(case),
            "household_id": str(household),
            "area_code": village,
            "measure": measure,
            "department": MEASURES[measure].department,
            "due_on": due_on.isoformat(),
        }
        return self.make(
            "MeasureAssigned", at, data, household_id=household, case_id=case
        )

    def granted(
        self,
        case: UUID,
        household: UUID,
        village: str,
        at: datetime,
        measure: str,
        quantity: str,
        grant: UUID | None = None,
        emergency: bool = False,
    ) -> Envelope:
        data = {
            "grant_id": str(grant or uuid.uuid4()),
            "case_id": str(case),
            "household_id": str(household),
            "area_code": village,
            "measure": measure,
            "quantity": quantity,
            "unit": MEASURES[measure].unit,
            "period": at.strftime("%Y-%m"),
            "funding_source": "district relief fund",
            "department": MEASURES[measure].department,
            "emergency": emergency,
        }
        return self.make(
            "AidGranted", at, data, TOWN, household_id=household, case_id=case
        )

    def stopped(
        self,
        grant: UUID,
        case: UUID,
        household: UUID,
        village: str,
        at: datetime,
        measure: str,
    ) -> Envelope:
        data = {
            "grant_id": str(grant),
            "case_id": str(case),
            "household_id": str(household),
            "area_code": village,
            "measure": measure,
            "reason": "income restored",
        }
        return self.make(
            "AidStopped", at, data, TOWN, household_id=household, case_id=case
        )


IDENTIFICATION: list[tuple[str, str, str, dict[str, Any]]] = [
    ("HomeVisitRecorded", "visit", "notice", {"consent": True, "findings": "核实"}),
    (
        "NoticePublished",
        "notice",
        "notice_period",
        {"starts_on": "2026-01-01", "ends_on": "2026-01-08"},
    ),
    (
        "VillageReviewed",
        "notice_period",
        "town_check",
        {"objections": False, "summary": "无异议"},
    ),
    ("TownChecked", "town_check", "decision", {"summary": "属实"}),
]
MEASURES_BY_TYPE = {
    "low_income": ["own_industry", "wages_local", "policy_bonus"],
    "expense_hardship": ["serious_illness_aid", "temporary_aid", "health_fund"],
    "safety_net": ["minimum_allowance", "medical_cover"],
}


def towns_and_villages(households: int) -> list[str]:
    """Villages of a county of this size, as counties are laid out: about 750
    households a village, 16 villages a town (300,000 households: 25 towns)."""
    villages = max(1, households // 750)
    return [
        f"510904{101 + number // 16:03d}{201 + number % 16:03d}"
        for number in range(villages)
    ]


def county(
    households: int, events: int, seed: int = 7, start: datetime | None = None
) -> Iterator[Envelope]:
    """About ``events`` events for ``households`` households over most of a year:
    registrations first, then incomes and department records, then cases taken
    through their steps, wave by wave, so every wave follows the one before."""
    rng = random.Random(seed)
    maker = Events(validate=False)
    moment = start or datetime(2026, 1, 5, 1, tzinfo=UTC)
    villages = towns_and_villages(households)
    homes = [
        (uuid.UUID(int=rng.getrandbits(128)), villages[n % len(villages)])
        for n in range(households)
    ]
    made = 0

    def tick() -> datetime:
        nonlocal moment
        moment += timedelta(seconds=20)
        return moment

    for number, (household, village) in enumerate(homes):
        status = "formerly_poor" if number % 25 else "never_poor"
        group = str(1 + (number // len(villages)) % 10)
        yield maker.registered(
            household, village, tick(), group, status, 1 + number % 5
        )
        made += 1
    for household, village in homes:
        if rng.random() < 0.6:
            income = f"{rng.randint(3000, 12000)}.00"
            yield maker.income(household, village, tick(), income)
            made += 1

    # What is left goes to cases: about 14 events each, a third of them after a
    # department record and a flag.
    remaining = max(0, events - made)
    cases = remaining // 14
    chosen = rng.sample(homes, min(cases, len(homes)))
    active = []
    for household, village in chosen:
        at = tick()
        if rng.random() < 0.35:
            record = maker.record(household, village, at, at.date())
            yield record
            flag = maker.flagged(household, village, tick(), [record.event_id])
            yield flag
            signal = flag.event_id
            made += 2
        else:
            report = maker.report(household, village, at)
            yield report
            signal = report.event_id
            made += 1
        case = uuid.uuid4()
        yield maker.opened(case, household, village, tick(), signal)
        made += 1
        active.append((case, household, village, rng.random()))

    for kind, step, next_step, fields in IDENTIFICATION:
        moment += timedelta(days=3)
        for case, household, village, _ in active:
            yield maker.step(
                kind, case, household, village, tick(), step, next_step, **fields
            )
            made += 1
    moment += timedelta(days=5)
    confirmed = []
    for case, household, village, fate in active:
        if fate < 0.75:
            kind = ["low_income", "expense_hardship", "safety_net"][int(fate * 4) % 3]
            yield maker.step(
                "TargetConfirmed",
                case,
                household,
                village,
                tick(),
                "decision",
                "plan",
                target_type=kind,
                reason="符合条件",
            )
            confirmed.append((case, household, village, kind))
        else:
            yield maker.step(
                "CaseRejected",
                case,
                household,
                village,
                tick(),
                "decision",
                "closure",
                reason="不符合条件",
            )
            yield maker.closed(case, household, village, tick())
            made += 1
        made += 1
    moment += timedelta(days=10)
    for case, household, village, kind in confirmed:
        measure = MEASURES_BY_TYPE[kind][rng.randrange(len(MEASURES_BY_TYPE[kind]))]
        due = (moment + timedelta(days=30)).date()
        yield maker.step(
            "PlanDrawn",
            case,
            household,
            village,
            tick(),
            "plan",
            "assistance",
            target_type=kind,
            paired_cadre="帮扶干部",
            measures=[
                {
                    "measure": measure,
                    "responsible_department": MEASURES[measure].department,
                    "due_on": due.isoformat(),
                }
            ],
        )
        yield maker.assigned(case, household, village, tick(), measure, due)
        made += 2
    for month in range(3):
        moment += timedelta(days=30)
        for case, household, village, kind in confirmed:
            if made >= events:
                return
            measure = MEASURES_BY_TYPE[kind][month % len(MEASURES_BY_TYPE[kind])]
            unit = MEASURES[measure].unit
            quantity = "1" if unit != "yuan" else f"{rng.randint(5, 60)}00.00"
            yield maker.granted(case, household, village, tick(), measure, quantity)
            yield maker.step(
                "ProgressRecorded",
                case,
                household,
                village,
                tick(),
                "assistance",
                "assistance",
                kind="measure_delivered",
                note="已发放",
            )
            made += 2
    while made < events:
        household, village = homes[rng.randrange(len(homes))]
        at = tick()
        yield maker.record(household, village, at, at.date())
        made += 1
