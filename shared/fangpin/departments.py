"""What each department publishes: one versioned model per record kind.

A department publishes ``{"record_id", "id_number", "occurred_on", "facts"}`` to
``dept.<department>.<kind>`` (or uploads the same as a file); ``facts`` must match
the kind's model below. Amounts are yuan. ``fangpin contracts`` writes each kind's
JSON Schema for the departments' developers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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
