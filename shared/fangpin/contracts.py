"""The events that cross service boundaries, and the envelope that carries them.

Every message on an event stream is an :class:`Envelope` whose ``data`` matches the
model registered for its ``type`` and ``schema_version``. Payloads name households and
cases by their pseudonymous ids only: names, ID numbers, phone numbers, health and
disability stay in the owning service's encrypted event store.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

AreaCode = Annotated[str, Field(pattern=r"^\d{6}(\d{3}){0,2}$")]
VillageCode = Annotated[str, Field(pattern=r"^\d{12}$")]


class Role(StrEnum):
    GRID_MONITOR = "grid_monitor"
    VILLAGE = "village"
    TOWN = "town"
    DISTRICT = "district"
    DEPARTMENT = "department"
    AUDITOR = "auditor"
    SYSTEM = "system"


class Actor(BaseModel):
    """Who did it, at what level and in which area (prefix of the area code)."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    role: Role
    area_code: AreaCode
    department: str | None = None


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: UUID
    type: str
    schema_version: int = 1
    occurred_at: datetime
    producer: str
    actor: Actor
    household_id: UUID | None = None
    case_id: UUID | None = None
    causation_id: UUID | None = None
    correlation_id: UUID
    data: dict[str, Any]


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProblemCategory(StrEnum):
    ILLNESS = "illness"
    ACCIDENT = "accident"
    DISASTER = "disaster"
    SCHOOLING = "schooling"
    HOUSING = "housing"
    DRINKING_WATER = "drinking_water"
    INCOME_DROP = "income_drop"
    EMPLOYMENT = "employment"
    OTHER = "other"


# Categories that open the "green channel": help may start before review ends.
URGENT_CATEGORIES = frozenset(
    {ProblemCategory.ILLNESS, ProblemCategory.ACCIDENT, ProblemCategory.DISASTER}
)


class PovertyStatus(StrEnum):
    FORMERLY_POOR = "formerly_poor"
    NEVER_POOR = "never_poor"


class TargetType(StrEnum):
    LOW_INCOME = "low_income"
    EXPENSE_HARDSHIP = "expense_hardship"
    SAFETY_NET = "safety_net"


# --- intake ----------------------------------------------------------------------


Facts = dict[str, float | int | bool | str]


class HouseholdRegistered(Contract):
    """``facts`` are household-level counts and flags (labour capacity, severe
    disability, elderly, children of compulsory-school age ...), never a person."""

    household_id: UUID
    area_code: VillageCode
    village_group: str
    poverty_status: PovertyStatus
    left_poverty_year: int | None = None
    member_count: int = Field(ge=1)
    facts: Facts = Field(default_factory=dict)
    household_number: str | None = Field(
        default=None,
        description="the registry's household number (户编号), as the village's "
        "public notice names the household",
    )


class HouseholdUpdated(Contract):
    """A re-imported or edited household: which fields changed, and the new facts."""

    household_id: UUID
    area_code: VillageCode
    village_group: str
    poverty_status: PovertyStatus
    left_poverty_year: int | None = None
    member_count: int = Field(ge=1)
    changed: list[str]
    facts: Facts = Field(default_factory=dict)
    household_number: str | None = Field(
        default=None, description="the registry's household number (户编号)"
    )


class IncomeRecorded(Contract):
    """A household's per-capita net income for a year, with its sources
    (the "five gold" kinds plus transfers)."""

    household_id: UUID
    area_code: VillageCode
    year: int = Field(ge=2000, le=2100)
    per_capita_net_income: Decimal
    sources: dict[str, Decimal] = Field(default_factory=dict)
    recorded_on: date


class ProblemReported(Contract):
    report_id: UUID
    household_id: UUID
    area_code: VillageCode
    village_group: str
    category: ProblemCategory
    observed_on: date
    amount: Decimal | None = Field(default=None, ge=0)
    urgent: bool = False


class DepartmentRecordReceived(Contract):
    """A department's record matched to a household (by ID number, inside intake)."""

    record_id: str
    department: str
    kind: str
    household_id: UUID
    area_code: VillageCode
    occurred_on: date
    facts: dict[str, float | int | bool | str]


class RecordRejected(Contract):
    record_id: str
    department: str
    kind: str
    reason: str


# Bounds of what one home visit can report about a rural household.
SurveyYuan = Annotated[float | None, Field(ge=0, le=10_000_000)]
SurveyMonths = Annotated[int | None, Field(ge=0, le=240)]


class SurveyFacts(Contract):
    """What a grid monitor or village official learns on a home visit (入户走访,
    摸排) about the household as a whole, under the names screening's indicators
    read. A fact left out was not asked this time: the published event carries
    only the facts given, and at least one."""

    # family structure
    single_parent: bool | None = Field(
        default=None, description="a single parent raises the children"
    )
    child_without_carer: bool | None = Field(
        default=None, description="an orphan or a child nobody in fact looks after"
    )
    main_earner_died: bool | None = Field(
        default=None, description="the main earner died"
    )
    # debt
    household_debt: SurveyYuan = Field(
        default=None, description="the household's debt, yuan"
    )
    hardship_debt: SurveyYuan = Field(
        default=None, description="debt taken on for illness or disaster, yuan"
    )
    # relocation and the dwelling
    relocated_not_moved_in: bool | None = Field(
        default=None,
        description="relocated for poverty alleviation but not moved in",
    )
    relocation_debt: SurveyYuan = Field(
        default=None, description="debt from relocation, yuan"
    )
    geohazard_point: bool | None = Field(
        default=None, description="the dwelling is at a registered geohazard"
    )
    # drinking water, as the rural water-safety assessment asks it
    water_litres_per_day: float | None = Field(
        default=None, ge=0, le=1000, description="drinking water, litres a person a day"
    )
    water_scarce_area: bool | None = Field(
        default=None, description="the village is water-scarce"
    )
    water_quality_ok: bool | None = Field(
        default=None, description="the water passed its quality test"
    )
    water_fetch_minutes: float | None = Field(
        default=None, ge=0, le=1440, description="minutes to fetch water"
    )
    water_fetch_horizontal_m: float | None = Field(
        default=None, ge=0, le=50_000, description="horizontal distance to water, m"
    )
    water_fetch_vertical_m: float | None = Field(
        default=None, ge=0, le=5000, description="vertical distance to water, m"
    )
    water_interrupted_days: int | None = Field(
        default=None, ge=0, le=366, description="days without water supply in a year"
    )
    # work
    unemployed_months: SurveyMonths = Field(
        default=None,
        description="months an able-bodied member has been out of work or back home",
    )
    wage_interrupted_months: SurveyMonths = Field(
        default=None, description="months the wage income has stopped"
    )
    public_welfare_job_ended: bool | None = Field(
        default=None, description="a public-welfare job contract ended"
    )
    employed_count: int | None = Field(
        default=None, ge=0, le=30, description="members in work"
    )
    wage_arrears_or_injury: bool | None = Field(
        default=None,
        description="a migrant worker is owed wages or was injured at work",
    )
    months_unemployed_after_training: SurveyMonths = Field(
        default=None,
        description="months without work since finishing skills training",
    )
    # schooling
    student_grant_missing: bool | None = Field(
        default=None, description="a student lacks a grant they are due"
    )
    schooling_cost: float | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="non-compulsory schooling cost, yuan a year",
    )
    vocational_grant_missing: bool | None = Field(
        default=None,
        description="an eligible vocational student is not in the Yulu grant scheme",
    )
    disabled_child_out_of_school: bool | None = Field(
        default=None,
        description="a disabled child is neither in school nor taught at home",
    )
    # farming
    pest_loss: SurveyYuan = Field(
        default=None, description="animal-disease or pest loss, yuan"
    )

    @model_validator(mode="after")
    def something_surveyed(self) -> SurveyFacts:
        if not self.given():
            raise ValueError("a survey gives at least one fact")
        return self

    @model_serializer(mode="wrap")
    def _given_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A fact not asked is left out rather than sent as null."""
        dumped: dict[str, Any] = handler(self)
        return {name: value for name, value in dumped.items() if value is not None}

    def given(self) -> dict[str, float | int | bool]:
        """The facts this survey gave, by name."""
        return {
            name: value
            for name in SurveyFacts.model_fields
            if (value := getattr(self, name)) is not None
        }


class HouseholdSurveyed(Contract):
    """A home visit's facts about a household. Each fact's value stands until a
    survey of the same or a later date gives it again."""

    household_id: UUID
    area_code: VillageCode
    village_group: str
    surveyed_on: date
    facts: SurveyFacts


# --- screening -------------------------------------------------------------------


class IndicatorHit(Contract):
    code: str
    name_zh: str
    name_en: str
    values: dict[str, float | int | bool | str]
    thresholds: dict[str, float | int]


class RiskFlagged(Contract):
    household_id: UUID
    area_code: VillageCode
    hits: list[IndicatorHit] = Field(min_length=1)
    target_type: TargetType
    catalogue_version: int
    caused_by: list[UUID]


class RiskCleared(Contract):
    household_id: UUID
    area_code: VillageCode
    catalogue_version: int
    cleared_codes: list[str] = Field(default_factory=list)


# The catalogue parameters that hold the monitoring income lines (监测收入标准),
# yuan per person and year, by the household's poverty status.
INCOME_LINE_PARAMETERS = {
    PovertyStatus.FORMERLY_POOR: "income_line_formerly_poor",
    PovertyStatus.NEVER_POOR: "income_line_never_poor",
}


class IncomeLine(Contract):
    """One dated value of an income line parameter: in force from its date until
    the next value of the same parameter."""

    parameter: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
    value: Decimal = Field(ge=0, description="yuan per person per year")
    effective_from: date


class CataloguePublished(Contract):
    """A new version of the indicator catalogue took effect."""

    version: int
    effective_from: date
    indicator_count: int
    changes: list[str]
    income_lines: list[IncomeLine] = Field(
        default_factory=list,
        description="every dated value of the income line parameters "
        "(income_line_formerly_poor, income_line_never_poor) in this version, "
        "past and future; empty when the producer predates the field",
    )


# --- casework --------------------------------------------------------------------


class CaseOpened(Contract):
    case_id: UUID
    household_id: UUID
    area_code: VillageCode
    town_code: Annotated[str, Field(pattern=r"^\d{9}$")]
    signal_type: str
    signal_event_id: UUID
    urgent: bool = False
    reentry: bool = Field(
        default=False, description="the household had left monitoring before"
    )


class SignalAttached(Contract):
    case_id: UUID
    signal_type: str
    signal_event_id: UUID


class CaseClosed(Contract):
    case_id: UUID
    household_id: UUID
    area_code: VillageCode
    verification: str = Field(min_length=1)
    verified_by: str


class CaseStepEvent(Contract):
    """Fields every step event of a case carries, so read models need no lookups."""

    case_id: UUID
    household_id: UUID
    area_code: VillageCode
    step: str = Field(description="the step this event completes or concerns")
    next_step: str = Field(description="the step the case waits in afterwards")


class HomeVisitRecorded(CaseStepEvent):
    consent: bool
    findings: str = Field(max_length=4000)


class NoticePublished(CaseStepEvent):
    """The village's public notice; it shows no ID, phone, bank or health data."""

    starts_on: date
    ends_on: date


class VillageReviewed(CaseStepEvent):
    objections: bool
    summary: str = Field(max_length=4000)


class TownChecked(CaseStepEvent):
    summary: str = Field(max_length=4000)


class TargetConfirmed(CaseStepEvent):
    target_type: TargetType
    reason: str = Field(max_length=4000)


class CaseRejected(CaseStepEvent):
    reason: str = Field(min_length=1, max_length=4000)


class PlannedMeasure(Contract):
    measure: str
    responsible_department: str
    due_on: date


class PlanDrawn(CaseStepEvent):
    """One household, one plan: the paired cadre and the measures, with dates."""

    target_type: TargetType
    paired_cadre: str
    measures: list[PlannedMeasure] = Field(min_length=1)


class ProgressRecorded(CaseStepEvent):
    kind: str = Field(description="visit, measure_delivered or income_update")
    note: str = Field(max_length=4000)


class EliminationRequested(CaseStepEvent):
    note: str = Field(max_length=4000)


class EliminationReviewed(CaseStepEvent):
    """The risk-elimination review; ``unmet`` names the conditions that failed."""

    approved: bool
    unmet: list[str]
    reason: str = Field(max_length=4000)


class TargetExited(CaseStepEvent):
    target_type: TargetType
    months_monitored: int


class CaseOverdue(CaseStepEvent):
    due_at: datetime
    level: str


class CaseEscalated(CaseStepEvent):
    escalate_at: datetime
    to_level: str


class TimeLimitChanged(Contract):
    """The district changed a step's limit; it applies to open steps from then on."""

    step: str
    days: int = Field(ge=1)
    escalate_after: int = Field(ge=2)
    working_days: bool


class WorkCalendarChanged(Contract):
    """The district's whole working calendar as it now stands: weekdays that are
    public holidays, and weekend days that are worked."""

    holidays: list[date] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list)


# --- assistance ------------------------------------------------------------------


class MeasureAssigned(Contract):
    assignment_id: UUID
    case_id: UUID
    household_id: UUID
    area_code: VillageCode
    measure: str
    department: str
    due_on: date


class BudgetSet(Contract):
    """What a funding source makes available for a year, in yuan."""

    funding_source: str
    year: int
    amount: Decimal = Field(ge=0)


class AidStopped(Contract):
    grant_id: UUID
    case_id: UUID
    household_id: UUID
    area_code: VillageCode
    measure: str
    reason: str = Field(min_length=1, max_length=2000)


class AidGranted(Contract):
    grant_id: UUID
    case_id: UUID
    household_id: UUID
    area_code: VillageCode
    measure: str
    quantity: Decimal = Field(gt=0)
    unit: str
    period: str = Field(pattern=r"^\d{4}(-\d{2})?$")
    funding_source: str
    department: str
    emergency: bool = False


@dataclass(frozen=True)
class EventSpec:
    type: str
    model: builtins.type[Contract]
    producer: str
    subject: str
    schema_version: int = 1
    summary: str = ""


EVENTS: dict[str, EventSpec] = {
    spec.type: spec
    for spec in [
        EventSpec(
            "HouseholdRegistered",
            HouseholdRegistered,
            "intake",
            "intake.household.registered",
            summary="A household entered the registry.",
        ),
        EventSpec(
            "HouseholdUpdated",
            HouseholdUpdated,
            "intake",
            "intake.household.updated",
            summary="A household's registry entry changed; the fields are named.",
        ),
        EventSpec(
            "IncomeRecorded",
            IncomeRecorded,
            "intake",
            "intake.household.income",
            summary="A household's per-capita net income for a year, by source.",
        ),
        EventSpec(
            "ProblemReported",
            ProblemReported,
            "intake",
            "intake.report.problem",
            summary="A grid monitor reported a problem for a household in their grid.",
        ),
        EventSpec(
            "DepartmentRecordReceived",
            DepartmentRecordReceived,
            "intake",
            "intake.department.record",
            summary="A department record was matched to a household.",
        ),
        EventSpec(
            "RecordRejected",
            RecordRejected,
            "intake",
            "intake.department.rejected",
            summary="A department record could not be accepted; the reason says why.",
        ),
        EventSpec(
            "HouseholdSurveyed",
            HouseholdSurveyed,
            "intake",
            "intake.household.surveyed",
            summary="A grid monitor or official recorded a home visit's facts.",
        ),
        EventSpec(
            "RiskFlagged",
            RiskFlagged,
            "screening",
            "screening.risk.flagged",
            summary="A household hit one or more indicators; every hit is explained.",
        ),
        EventSpec(
            "RiskCleared",
            RiskCleared,
            "screening",
            "screening.risk.cleared",
            summary="A household no longer hits any indicator.",
        ),
        EventSpec(
            "CataloguePublished",
            CataloguePublished,
            "screening",
            "screening.catalogue.published",
            summary="A new indicator catalogue version took effect.",
        ),
        EventSpec(
            "CaseOpened",
            CaseOpened,
            "casework",
            "casework.case.opened",
            summary="A case opened in the queue of the household's town.",
        ),
        EventSpec(
            "SignalAttached",
            SignalAttached,
            "casework",
            "casework.case.signal_attached",
            summary="A new report or flag joined a household's open case.",
        ),
        EventSpec(
            "CaseClosed",
            CaseClosed,
            "casework",
            "casework.case.closed",
            summary="An official verified the problem solved and closed the case.",
        ),
        EventSpec(
            "HomeVisitRecorded",
            HomeVisitRecorded,
            "casework",
            "casework.case.visited",
            summary="A home visit, with the household's consent or refusal.",
        ),
        EventSpec(
            "NoticePublished",
            NoticePublished,
            "casework",
            "casework.case.notice_published",
            summary="The village published the public notice.",
        ),
        EventSpec(
            "VillageReviewed",
            VillageReviewed,
            "casework",
            "casework.case.village_reviewed",
            summary="The village review ended after the notice period.",
        ),
        EventSpec(
            "TownChecked",
            TownChecked,
            "casework",
            "casework.case.town_checked",
            summary="The town checked the village's review.",
        ),
        EventSpec(
            "TargetConfirmed",
            TargetConfirmed,
            "casework",
            "casework.case.target_confirmed",
            summary="The district confirmed a monitoring target and its type.",
        ),
        EventSpec(
            "CaseRejected",
            CaseRejected,
            "casework",
            "casework.case.rejected",
            summary="The district decided the household is not a target.",
        ),
        EventSpec(
            "PlanDrawn",
            PlanDrawn,
            "casework",
            "casework.case.plan_drawn",
            summary="One household, one plan: cadre and measures.",
        ),
        EventSpec(
            "ProgressRecorded",
            ProgressRecorded,
            "casework",
            "casework.case.progress",
            summary="Progress against the plan.",
        ),
        EventSpec(
            "EliminationRequested",
            EliminationRequested,
            "casework",
            "casework.case.elimination_requested",
            summary="The town asked the district to review risk elimination.",
        ),
        EventSpec(
            "EliminationReviewed",
            EliminationReviewed,
            "casework",
            "casework.case.elimination_reviewed",
            summary="The risk-elimination review, approved or not.",
        ),
        EventSpec(
            "TargetExited",
            TargetExited,
            "casework",
            "casework.case.target_exited",
            summary="The household left monitoring: risk eliminated.",
        ),
        EventSpec(
            "CaseOverdue",
            CaseOverdue,
            "casework",
            "casework.case.overdue",
            summary="A step passed its time limit.",
        ),
        EventSpec(
            "CaseEscalated",
            CaseEscalated,
            "casework",
            "casework.case.escalated",
            summary="A step passed its second limit; the next level takes it.",
        ),
        EventSpec(
            "TimeLimitChanged",
            TimeLimitChanged,
            "casework",
            "casework.limits.changed",
            summary="The district changed a step's time limit.",
        ),
        EventSpec(
            "WorkCalendarChanged",
            WorkCalendarChanged,
            "casework",
            "casework.limits.calendar",
            summary="The district's public holidays and worked weekend days.",
        ),
        EventSpec(
            "MeasureAssigned",
            MeasureAssigned,
            "assistance",
            "assistance.measure.assigned",
            summary="A planned measure was assigned to its responsible department.",
        ),
        EventSpec(
            "BudgetSet",
            BudgetSet,
            "assistance",
            "assistance.budget.set",
            summary="The district set a funding source's budget for a year.",
        ),
        EventSpec(
            "AidStopped",
            AidStopped,
            "assistance",
            "assistance.aid.stopped",
            summary="A grant was stopped, with the reason.",
        ),
        EventSpec(
            "AidGranted",
            AidGranted,
            "assistance",
            "assistance.aid.granted",
            summary="Help was granted against a case.",
        ),
    ]
}

DEPARTMENTS = (
    "medical_insurance",
    "health",
    "education",
    "disabled_persons",
    "emergency",
    "civil_affairs",
    "traffic_police",
)


class ContractError(ValueError):
    """A message that does not match its contract; the text names field and reason."""


def describe_validation_error(error: ValidationError) -> str:
    """Field and reason for each problem, never the offending value itself.

    Values can be personal data, so only locations and pydantic's messages are kept.
    """
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "(message)"
        problems.append(f"{field}: {item['msg']}")
    return "; ".join(problems)


def parse_envelope(raw: bytes) -> tuple[Envelope, Contract]:
    """Check a message against the envelope and its event's contract."""
    try:
        document = json.loads(raw)
    except UnicodeDecodeError:
        raise ContractError("body: not valid UTF-8") from None
    except json.JSONDecodeError as error:
        raise ContractError(f"body: not valid JSON ({error.msg})") from None
    try:
        envelope = Envelope.model_validate(document)
    except ValidationError as error:
        raise ContractError(describe_validation_error(error)) from None
    spec = EVENTS.get(envelope.type)
    if spec is None:
        raise ContractError(f"type: unknown event type {envelope.type!r}")
    if envelope.schema_version > spec.schema_version:
        raise ContractError(
            f"schema_version: {envelope.type} version {envelope.schema_version}"
            f" is newer than the supported {spec.schema_version}"
        )
    try:
        data = spec.model.model_validate(envelope.data)
    except ValidationError as error:
        raise ContractError("data." + describe_validation_error(error)) from None
    return envelope, data


def envelope_json_schema() -> dict[str, Any]:
    return Envelope.model_json_schema()


def asyncapi_document() -> dict[str, Any]:
    """An AsyncAPI 3.0 document for every event, generated from the models."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {"Envelope": envelope_json_schema()}
    for spec in EVENTS.values():
        schemas[spec.type] = spec.model.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        schemas[spec.type].pop("$defs", None)
        for name, definition in (
            spec.model.model_json_schema(ref_template="#/components/schemas/{model}")
            .get("$defs", {})
            .items()
        ):
            schemas[name] = definition
        messages[spec.type] = {
            "name": spec.type,
            "title": spec.type,
            "summary": spec.summary,
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "properties": {
                    "Nats-Msg-Id": {"type": "string", "description": "event id"},
                    "Fangpin-Producer": {"type": "string"},
                    "Fangpin-Notification-Id": {"type": "string"},
                },
            },
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/Envelope"},
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": spec.type},
                            "data": {"$ref": f"#/components/schemas/{spec.type}"},
                        },
                    },
                ]
            },
        }
        channel = spec.subject.replace(".", "_")
        channels[channel] = {
            "address": spec.subject,
            "messages": {spec.type: {"$ref": f"#/components/messages/{spec.type}"}},
        }
        operations[f"publish{spec.type}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": f"{spec.producer} publishes {spec.type}",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Fangpin events",
            "version": "1.0.0",
            "description": "Events exchanged by the Fangpin services over NATS "
            "JetStream. Department feeds publish to dept.<department>.<kind>.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
