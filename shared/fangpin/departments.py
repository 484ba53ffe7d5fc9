"""What each department publishes: one versioned model per record kind.

A department publishes ``{"record_id", "id_number", "occurred_on", "facts"}`` to
``dept.<department>.<kind>`` (or uploads the same as a file); ``facts`` must match
the kind's model below. Amounts are yuan. ``fangpin contracts`` writes each kind's
JSON Schema for the departments' developers (:func:`record_schemas`).

A new field with a default is an additive change within a version; anything else
(a new required field, a removed or renamed one) is a new ``version``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Facts(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HospitalSettlement(Facts):
    total_cost: float = Field(ge=0, description="total cost of the stay or visit")
    reimbursed: float = Field(ge=0, description="paid by the insurance layers")
    out_of_pocket: float = Field(ge=0, description="left for the household to pay")
    inpatient_days: int = Field(default=0, ge=0)
    serious_illness: bool = Field(default=False, description="a listed serious illness")


class InsuranceStatus(Facts):
    insured: bool = Field(description="enrolled in basic medical insurance this year")


class Diagnosis(Facts):
    serious_illness: bool = False
    chronic: bool = False
    outpatient_chronic_cover: bool = True
    family_doctor: bool = True
    lost_work_capacity: bool = False


class SchoolDropout(Facts):
    age: int = Field(ge=3, le=25)
    suspected_only: bool = Field(default=True, description="not yet confirmed")


class DisabilityCertification(Facts):
    grade: int = Field(ge=1, le=4, description="1 is the most severe")
    nursing_subsidy: bool = False
    living_subsidy: bool = False


class DisasterLoss(Facts):
    loss_amount: float = Field(ge=0)
    crop_loss_ratio: float = Field(default=0, ge=0, le=1)
    house_damage: Literal["none", "damaged", "collapsed"] = "none"


class AllowanceGranted(Facts):
    scheme: Literal["minimum_allowance", "extreme_poverty", "temporary_aid"]
    amount: float = Field(ge=0)


class AllowanceStopped(Facts):
    scheme: Literal["minimum_allowance", "extreme_poverty", "temporary_aid"]


class TrafficAccident(Facts):
    severity: Literal["injury", "disability", "death"]


@dataclass(frozen=True)
class RecordKind:
    department: str
    kind: str
    model: type[Facts]
    name_zh: str
    version: int = 1


RECORD_KINDS = {
    (kind.department, kind.kind): kind
    for kind in [
        RecordKind(
            "medical_insurance", "hospital_settlement", HospitalSettlement, "住院结算"
        ),
        RecordKind(
            "medical_insurance", "insurance_status", InsuranceStatus, "参保状态"
        ),
        RecordKind("health", "diagnosis", Diagnosis, "疾病诊断"),
        RecordKind("education", "school_dropout", SchoolDropout, "疑似辍学"),
        RecordKind(
            "disabled_persons",
            "disability_certification",
            DisabilityCertification,
            "残疾认定",
        ),
        RecordKind("emergency", "disaster_loss", DisasterLoss, "灾害损失"),
        RecordKind("civil_affairs", "allowance_granted", AllowanceGranted, "救助新增"),
        RecordKind("civil_affairs", "allowance_stopped", AllowanceStopped, "救助停发"),
        RecordKind("traffic_police", "traffic_accident", TrafficAccident, "交通事故"),
    ]
}


class UnknownRecordKind(LookupError):
    """The department publishes no such kind; the text lists the ones it does."""


class InvalidFacts(ValueError):
    """Facts that do not match their kind; the text names fields, never values."""


def record_kind(department: str, kind: str) -> RecordKind:
    found = RECORD_KINDS.get((department, kind))
    if found is None:
        known = sorted(k for d, k in RECORD_KINDS if d == department)
        raise UnknownRecordKind(
            f"kind: {department} publishes no record kind {kind!r}"
            f" (known: {', '.join(known) or 'none'})"
        )
    return found


def check_facts(
    kind: RecordKind, facts: Mapping[str, object]
) -> dict[str, float | int | bool | str]:
    """The facts as the kind's model reads them, defaults filled in."""
    try:
        model = kind.model.model_validate(dict(facts))
    except ValidationError as error:
        problems = []
        for item in error.errors(include_input=False, include_url=False):
            field = ".".join(str(part) for part in item["loc"])
            problems.append(f"facts.{field}: {item['msg']}")
        raise InvalidFacts("; ".join(problems)) from None
    dumped: dict[str, float | int | bool | str] = model.model_dump(mode="json")
    return dumped


def record_schema(kind: RecordKind) -> dict[str, Any]:
    """The JSON Schema of one record as published on ``dept.<department>.<kind>``."""
    facts = kind.model.model_json_schema()
    facts["title"] = kind.model.__name__
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:fangpin:dept.{kind.department}.{kind.kind}.v{kind.version}",
        "title": f"{kind.department}.{kind.kind} v{kind.version} ({kind.name_zh})",
        "description": (
            f"One {kind.department} record of kind {kind.kind}, published on "
            f"dept.{kind.department}.{kind.kind} with Nats-Msg-Id set to a "
            "unique message id, or uploaded over HTTP. Amounts are yuan."
        ),
        "type": "object",
        "properties": {
            "record_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": 100,
                "description": "the department's own id; sent twice, counted once",
            },
            "id_number": {
                "type": "string",
                "pattern": "^[0-9]{17}[0-9Xx]$",
                "description": "resident ID number of the person concerned",
            },
            "occurred_on": {"type": "string", "format": "date"},
            "facts": facts,
        },
        "required": ["record_id", "id_number", "occurred_on", "facts"],
        "additionalProperties": False,
    }


def record_schemas() -> dict[str, dict[str, Any]]:
    """Every record kind's JSON Schema, keyed ``<department>.<kind>.v<version>``."""
    return {
        f"{kind.department}.{kind.kind}.v{kind.version}": record_schema(kind)
        for kind in RECORD_KINDS.values()
    }
