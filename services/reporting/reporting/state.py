"""A household's state, folded from its events, and what it adds to each figure.

The same fold serves the live tables (all events known) and the questions about a
past date (only the events effective by then and known by then), so both answer
alike. Events are folded in the order their producers stored them (``occurred_at``,
then event id): each household's flags come from one screening aggregate and each
case from one casework aggregate, so that order is theirs, whatever order the
streams delivered them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from reporting.figures import TARGET_TYPES, aid_figure

STEP_EVENTS = frozenset(
    {
        "HomeVisitRecorded",
        "NoticePublished",
        "VillageReviewed",
        "TownChecked",
        "TargetConfirmed",
        "CaseRejected",
        "PlanDrawn",
        "ProgressRecorded",
        "EliminationRequested",
        "EliminationReviewed",
        "TargetExited",
        "CaseOverdue",
        "CaseEscalated",
    }
)
ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True)
class Recorded:
    """One event as reporting keeps it; ids as text, the form they are read in."""

    event_id: str
    type: str
    occurred_at: datetime
    effective_at: datetime
    household_id: str | None
    case_id: str | None
    data: dict[str, Any]

    @property
    def order(self) -> tuple[datetime, str]:
        # Canonical UUID text sorts as the number does.
        return self.occurred_at, self.event_id


@dataclass
class StepRecord:
    step: str
    started_at: datetime
    ended_at: datetime | None = None
    overdue: bool = False
    escalated: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "overdue": self.overdue,
            "escalated": self.escalated,
        }


@dataclass
class CaseState:
    case_id: str
    household_id: str
    area_code: str
    town_code: str
    opened_at: datetime
    urgent: bool
    reentry: bool
    signal_type: str
    signals: int = 1
    status: str = "open"
    steps: list[StepRecord] = field(default_factory=list)
    target_type: str | None = None
    decision: str | None = None
    decided_at: datetime | None = None
    first_visit_at: datetime | None = None
    consent: bool = False
    plan_measures: list[str] = field(default_factory=list)
    plan_drawn_at: datetime | None = None
    progress: int = 0
    elimination_reviews: int = 0
    exited_at: datetime | None = None
    closed_at: datetime | None = None
    warnings: int = 0
    escalations: int = 0

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def current(self) -> StepRecord | None:
        if not self.is_open or not self.steps:
            return None
        return self.steps[-1]

    @property
    def step(self) -> str:
        current = self.current
        return current.step if current else "ended"

    @property
    def is_target(self) -> bool:
        return self.decision == "confirmed" and self.exited_at is None

    def as_json(self) -> dict[str, Any]:
        current = self.current
        return {
            "case_id": self.case_id,
            "area_code": self.area_code,
            "town_code": self.town_code,
            "status": self.status,
            "step": self.step,
            "step_started_at": current.started_at.isoformat() if current else None,
            "overdue": bool(current and current.overdue),
            "escalated": bool(current and current.escalated),
            "opened_at": self.opened_at.isoformat(),
            "urgent": self.urgent,
            "reentry": self.reentry,
            "signal_type": self.signal_type,
            "signals": self.signals,
            "decision": self.decision,
            "decided_at": _iso(self.decided_at),
            "target_type": self.target_type,
            "first_visit_at": _iso(self.first_visit_at),
            "consent": self.consent,
            "plan_measures": self.plan_measures,
            "plan_drawn_at": _iso(self.plan_drawn_at),
            "progress": self.progress,
            "exited_at": _iso(self.exited_at),
            "closed_at": _iso(self.closed_at),
            "warnings": self.warnings,
            "escalations": self.escalations,
            "steps": [step.as_json() for step in self.steps],
        }


@dataclass
class Grant:
    grant_id: str
    case_id: str
    measure: str
    quantity: Decimal
    unit: str
    period: str
    funding_source: str
    department: str
    emergency: bool
    granted_at: datetime
    stopped_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "grant_id": self.grant_id,
            "case_id": self.case_id,
            "measure": self.measure,
            "quantity": str(self.quantity),
            "unit": self.unit,
            "period": self.period,
            "funding_source": self.funding_source,
            "department": self.department,
            "emergency": self.emergency,
            "granted_at": self.granted_at.isoformat(),
            "stopped_at": _iso(self.stopped_at),
        }


@dataclass
class Assignment:
    assignment_id: str
    case_id: str
    measure: str
    department: str
    due_on: date
    assigned_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "assignment_id": self.assignment_id,
            "case_id": self.case_id,
            "measure": self.measure,
            "department": self.department,
            "due_on": self.due_on.isoformat(),
            "assigned_at": self.assigned_at.isoformat(),
        }


@dataclass(frozen=True)
class Income:
    year: int
    per_capita: Decimal
    recorded_on: date
    known_at: datetime

    @property
    def rank(self) -> tuple[int, date, datetime]:
        return self.year, self.recorded_on, self.known_at


@dataclass
class HouseholdState:
    household_id: str
    registered: bool = False
    area_code: str = ""
    village_group: str = ""
    poverty_status: str | None = None
    left_poverty_year: int | None = None
    member_count: int = 0
    flags: dict[str, dict[str, Any]] = field(default_factory=dict)
    flag_version: int | None = None
    flagged_at: datetime | None = None
    proposed_type: str | None = None
    income: Income | None = None
    cases: dict[str, CaseState] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    assignments: dict[str, Assignment] = field(default_factory=dict)
    reports: int = 0
    records: int = 0

    @property
    def target_case(self) -> CaseState | None:
        """The case that made the household a monitoring target, if it still is."""
        targets = [case for case in self.cases.values() if case.is_target]
        return max(targets, key=lambda case: case.opened_at) if targets else None

    @property
    def open_case(self) -> CaseState | None:
        found = [case for case in self.cases.values() if case.is_open]
        return max(found, key=lambda case: case.opened_at) if found else None

    def as_json(self) -> dict[str, Any]:
        target = self.target_case
        income = self.income
        return {
            "household_id": self.household_id,
            "registered": self.registered,
            "area_code": self.area_code,
            "village_group": self.village_group,
            "poverty_status": self.poverty_status,
            "left_poverty_year": self.left_poverty_year,
            "member_count": self.member_count,
            "flags": [
                {"code": code, **details}
                for code, details in sorted(self.flags.items())
            ],
            "flag_catalogue_version": self.flag_version,
            "flagged_at": _iso(self.flagged_at),
            "proposed_type": self.proposed_type,
            "target_type": target.target_type if target else None,
            "income": None
            if income is None
            else {
                "year": income.year,
                "per_capita_net_income": str(income.per_capita),
                "recorded_on": income.recorded_on.isoformat(),
            },
            "cases": [
                case.as_json()
                for case in sorted(self.cases.values(), key=lambda c: c.opened_at)
            ],
            "grants": [
                grant.as_json()
                for grant in sorted(self.grants.values(), key=lambda g: g.granted_at)
            ],
            "assignments": [
                item.as_json()
                for item in sorted(
                    self.assignments.values(), key=lambda a: a.assigned_at
                )
            ],
            "reports": self.reports,
            "department_records": self.records,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _id(value: Any) -> str:
    return str(value)


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def fold(household_id: str, events: list[Recorded]) -> HouseholdState:
    """The household's state after these events, whatever order they came in."""
    state = HouseholdState(household_id)
    for event in sorted(events, key=lambda item: item.order):
        apply(state, event)
    return state


def apply(state: HouseholdState, event: Recorded) -> None:
    data = event.data
    kind = event.type
    if not state.area_code and data.get("area_code"):
        state.area_code = data["area_code"]
    if kind in ("HouseholdRegistered", "HouseholdUpdated"):
        state.registered = True
        state.area_code = data["area_code"]
        state.village_group = data["village_group"]
        state.poverty_status = data["poverty_status"]
        state.left_poverty_year = data.get("left_poverty_year")
        state.member_count = int(data["member_count"])
    elif kind == "IncomeRecorded":
        income = Income(
            year=int(data["year"]),
            per_capita=Decimal(str(data["per_capita_net_income"])),
            recorded_on=_date(data["recorded_on"]),
            known_at=event.occurred_at,
        )
        if state.income is None or income.rank >= state.income.rank:
            state.income = income
    elif kind == "ProblemReported":
        state.reports += 1
        if not state.registered and data.get("village_group"):
            state.village_group = data["village_group"]
    elif kind == "DepartmentRecordReceived":
        state.records += 1
    elif kind == "RiskFlagged":
        # A flag carries every indicator that hits now, not only the new ones.
        state.flags = {
            hit["code"]: {
                "name_zh": hit["name_zh"],
                "name_en": hit["name_en"],
                "catalogue_version": data["catalogue_version"],
            }
            for hit in data["hits"]
        }
        state.flag_version = int(data["catalogue_version"])
        state.flagged_at = event.occurred_at
        state.proposed_type = data["target_type"]
    elif kind == "RiskCleared":
        state.flags = {}
        state.flag_version = int(data["catalogue_version"])
        state.flagged_at = None
        state.proposed_type = None
    elif kind in ("CaseOpened", "SignalAttached", "CaseClosed") or kind in STEP_EVENTS:
        _apply_case(state, event)
    elif kind == "MeasureAssigned":
        assignment_id = _id(data["assignment_id"])
        state.assignments[assignment_id] = Assignment(
            assignment_id=assignment_id,
            case_id=_id(data["case_id"]),
            measure=data["measure"],
            department=data["department"],
            due_on=_date(data["due_on"]),
            assigned_at=event.occurred_at,
        )
    elif kind == "AidGranted":
        grant_id = _id(data["grant_id"])
        state.grants[grant_id] = Grant(
            grant_id=grant_id,
            case_id=_id(data["case_id"]),
            measure=data["measure"],
            quantity=Decimal(str(data["quantity"])),
            unit=data["unit"],
            period=data["period"],
            funding_source=data["funding_source"],
            department=data["department"],
            emergency=bool(data.get("emergency", False)),
            granted_at=event.occurred_at,
        )
    elif kind == "AidStopped":
        grant = state.grants.get(_id(data["grant_id"]))
        if grant is not None:
            grant.stopped_at = event.occurred_at


def _apply_case(state: HouseholdState, event: Recorded) -> None:
    data = event.data
    kind = event.type
    if kind == "CaseOpened":
        case_id = _id(data["case_id"])
        state.cases[case_id] = CaseState(
            case_id=case_id,
            household_id=state.household_id,
            area_code=data["area_code"],
            town_code=data["town_code"],
            opened_at=event.occurred_at,
            urgent=bool(data.get("urgent", False)),
            reentry=bool(data.get("reentry", False)),
            signal_type=data["signal_type"],
            steps=[StepRecord("visit", event.occurred_at)],
        )
        return
    case = state.cases.get(_id(data.get("case_id") or event.case_id))
    if case is None:
        # Casework stores a case's opening first; a case without it is not one
        # reporting can place.
        return
    current = case.current
    at = event.occurred_at
    if kind == "SignalAttached":
        case.signals += 1
    elif kind == "CaseClosed":
        if current is not None:
            current.ended_at = at
        case.status = "closed"
        case.closed_at = at
    elif kind == "CaseOverdue":
        case.warnings += 1
        if current is not None:
            current.overdue = True
    elif kind == "CaseEscalated":
        case.escalations += 1
        if current is not None:
            current.escalated = True
    else:
        _apply_step(case, event)


def _apply_step(case: CaseState, event: Recorded) -> None:
    data = event.data
    kind = event.type
    at = event.occurred_at
    if kind == "HomeVisitRecorded":
        case.first_visit_at = case.first_visit_at or at
        case.consent = bool(data.get("consent"))
    elif kind == "TargetConfirmed":
        case.decision = "confirmed"
        case.decided_at = at
        case.target_type = data["target_type"]
    elif kind == "CaseRejected":
        case.decision = "rejected"
        case.decided_at = at
    elif kind == "PlanDrawn":
        case.plan_measures = [item["measure"] for item in data.get("measures", [])]
        case.plan_drawn_at = at
        case.target_type = data.get("target_type") or case.target_type
    elif kind == "ProgressRecorded":
        case.progress += 1
    elif kind == "EliminationReviewed":
        case.elimination_reviews += 1
    elif kind == "TargetExited":
        case.exited_at = at
    # The case moves on only when the step changes: a visit without consent, or
    # progress recorded, leaves the case where it was and its clock running.
    current = case.current
    next_step = data.get("next_step")
    if current is not None and next_step and next_step != current.step:
        current.ended_at = at
        case.steps.append(StepRecord(next_step, at))


# --- what a household adds to each figure -----------------------------------------


@dataclass(frozen=True)
class Share:
    """A household's part of one figure, and the cases behind it."""

    value: Decimal
    cases: tuple[str, ...] = ()


def contribution(state: HouseholdState) -> dict[str, Share]:
    """The household's part of every state figure (see :mod:`reporting.figures`)."""
    shares: dict[str, Share] = {}

    def add(name: str, value: Decimal = ONE, case: CaseState | None = None) -> None:
        cases = (case.case_id,) if case else ()
        old = shares.get(name)
        if old is None:
            shares[name] = Share(value, cases)
        else:
            merged = tuple(sorted(set(old.cases) | set(cases)))
            shares[name] = Share(old.value + value, merged)

    people = Decimal(state.member_count)
    if state.registered:
        add("households")
        add("people", people)
        if state.poverty_status:
            add(state.poverty_status)
    if state.flags:
        add("flagged")

    target = state.target_case
    if target is not None and target.target_type in TARGET_TYPES:
        kind = target.target_type
        add("targets", case=target)
        add(f"targets.{kind}", case=target)
        if state.registered:
            add("target_people", people, target)
            add(f"target_people.{kind}", people, target)
            if state.poverty_status:
                add(f"targets.{state.poverty_status}", case=target)
            if state.income is not None and people > 0:
                add(f"income_sum.{kind}", state.income.per_capita * people, target)
                add(f"income_people.{kind}", people, target)
                add(f"income_households.{kind}", case=target)

    for case in state.cases.values():
        current = case.current
        if current is None:
            continue
        add("open_cases", case=case)
        add(f"open_cases.{current.step}", case=case)
        if current.overdue:
            add("overdue", case=case)
        if current.escalated:
            add("escalated", case=case)

    reached: set[str] = set()
    for grant in state.grants.values():
        owner = state.cases.get(grant.case_id)
        if grant.stopped_at is None:
            add(aid_figure(grant.measure, grant.unit, "grants"), ONE, owner)
            add(
                aid_figure(grant.measure, grant.unit, "quantity"), grant.quantity, owner
            )
            households = aid_figure(grant.measure, grant.unit, "households")
            if households not in reached:
                reached.add(households)
                add(households, ONE, owner)
            elif owner is not None:
                add(households, ZERO, owner)
        else:
            add(aid_figure(grant.measure, grant.unit, "stopped"), ONE, owner)
            add(
                aid_figure(grant.measure, grant.unit, "stopped_quantity"),
                grant.quantity,
                owner,
            )
    for assignment in state.assignments.values():
        add(f"assigned.{assignment.measure}", ONE, state.cases.get(assignment.case_id))
    return shares


def home(state: HouseholdState) -> tuple[str, str]:
    """Where a household's figures are counted: its village and village group."""
    return state.area_code, state.village_group
