import uuid
from datetime import date

import pytest

from fangpin.auth import Principal
from fangpin.contracts import Role
from fangpin.idnumber import make_id_number
from fangpin.inbox import Incoming
from fangpin.service import Conflict, NotFound
from intake.application import (
    DepartmentRecordIn,
    HouseholdIn,
    IntakeApplication,
    ProblemIn,
)
from intake.domain import DepartmentRecord, RejectedRecord, department_record_id
from intake.domain import rejected_record_id as rejected_id

DISTRICT = Principal(user_id="d", role=Role.DISTRICT, area_code="510904")
GRID = Principal(
    user_id="g", role=Role.GRID_MONITOR, area_code="510904101201", village_group="1"
)


def household(number: int, group: str = "1", id_number: str | None = None):
    return HouseholdIn(
        area_code="510904101201",
        village_group=group,
        poverty_status="formerly_poor",
        members=[
            {
                "name": "测试",
                "id_number": id_number
                or make_id_number("510904", date(1970, 1, 1), number),
            }
        ],
    )


def record(record_id: str, id_number: str) -> Incoming:
    data = DepartmentRecordIn(
        record_id=record_id,
        id_number=id_number,
        occurred_on=date(2026, 11, 2),
        facts={"out_of_pocket": 12000.0},
    )
    key = ("upload", hash(record_id) & 0xFFFFFF)
    return Incoming(key, "dept.medical_insurance.hospital_settlement", None, data)


def test_a_person_in_two_households_is_reported_not_merged():
    app = IntakeApplication(in_memory=True)
    number = make_id_number("510904", date(1970, 1, 1), 1)
    app.register_household(household(1, id_number=number), DISTRICT)
    with pytest.raises(Conflict) as refused:
        app.register_household(household(2, id_number=number.lower()), DISTRICT)
    assert refused.value.field == "members.0.id_number"


def test_grid_monitors_report_only_in_their_own_grid():
    app = IntakeApplication(in_memory=True)
    mine = app.register_household(household(1, "1"), DISTRICT)
    other = app.register_household(household(2, "2"), DISTRICT)
    form = {"category": "illness", "description": "x", "observed_on": date.today()}
    app.report_problem(ProblemIn(household_id=mine, **form), GRID)
    with pytest.raises(NotFound):
        app.report_problem(ProblemIn(household_id=other, **form), GRID)


def test_department_records_match_by_id_number_and_count_once():
    app = IntakeApplication(in_memory=True)
    number = make_id_number("510904", date(1970, 1, 1), 3)
    household_id = app.register_household(household(3, id_number=number), DISTRICT)
    app.receive_records([record("A1", number), record("A1", number)])
    app.receive_records([record("B2", make_id_number("510904", date(1971, 1, 1), 9))])
    app.receive_records([record("C3", "51090419700101123")])

    accepted = app.get_or_none(
        department_record_id("medical_insurance", "A1"), DepartmentRecord
    )
    assert accepted is not None and accepted.household_id == household_id
    unmatched = app.get_or_none(rejected_id("medical_insurance", "B2"), RejectedRecord)
    assert unmatched is not None and "no registered person" in unmatched.reason
    invalid = app.get_or_none(rejected_id("medical_insurance", "C3"), RejectedRecord)
    assert invalid is not None and invalid.reason.startswith("id_number:")
    assert uuid.UUID(str(household_id))
