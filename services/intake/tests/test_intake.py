"""The registry over the JSON interface, grid reports and department records."""

from __future__ import annotations

import itertools
import uuid
from datetime import date
from typing import Any

import pytest

from fangpin.auth import Principal
from fangpin.contracts import (
    EVENTS,
    HouseholdUpdated,
    IncomeRecorded,
    Role,
)
from fangpin.inbox import Incoming
from fangpin.relay import to_envelope
from fangpin.service import Conflict, NotFound
from intake.application import (
    DepartmentRecordIn,
    HouseholdIn,
    IntakeApplication,
    ProblemIn,
)
from intake.domain import NO_MATCH, DepartmentRecord, Household, department_record_id
from intake.registry import household_facts

from .conftest import DISTRICT, VILLAGE, id_number

GRID = Principal(
    user_id="g", role=Role.GRID_MONITOR, area_code=VILLAGE, village_group="1"
)
TODAY = date(2026, 12, 1)
MESSAGES = itertools.count(1)


def household(
    serial: int, group: str = "1", number: str | None = None, **values: Any
) -> HouseholdIn:
    form: dict[str, Any] = {
        "area_code": VILLAGE,
        "village_group": group,
        "poverty_status": "formerly_poor",
        "left_poverty_year": 2019,
        "members": [{"name": "测试", "id_number": number or id_number(serial)}],
    }
    form.update(values)
    return HouseholdIn.model_validate(form)


def record(record_id: str, number: str, **facts: Any) -> Incoming:
    data = DepartmentRecordIn(
        record_id=record_id,
        id_number=number,
        occurred_on=date(2026, 11, 2),
        facts=facts
        or {"total_cost": 20000, "reimbursed": 8000, "out_of_pocket": 12000},
    )
    # Each call is a message of its own, as a department sending twice.
    key = ("msg-id", next(MESSAGES))
    return Incoming(key, "dept.medical_insurance.hospital_settlement", None, data)


def public(app: IntakeApplication, aggregate_id: uuid.UUID) -> list[Any]:
    """What the relay would publish for this aggregate's stored events."""
    envelopes = []
    for stored in app.recorder.select_events(aggregate_id):
        found = to_envelope("intake", app.mapper.to_domain_event(stored))
        if found is not None:
            envelopes.append(found[1])
    return envelopes


# --- the registry ----------------------------------------------------------------


def test_a_person_in_two_households_is_reported_not_merged(app):
    number = id_number(1)
    app.register_household(household(1, number=number), DISTRICT)
    with pytest.raises(Conflict) as refused:
        app.register_household(household(2, number=number.lower()), DISTRICT)
    assert refused.value.field == "members.0.id_number"
    assert number not in refused.value.reason


def test_registration_derives_birth_date_and_sex_and_publishes_facts_only(app):
    members = [
        {"name": "户主甲", "id_number": id_number(11, date(1950, 3, 1))},
        {
            "name": "子乙",
            "id_number": id_number(12, date(2015, 6, 1)),
            "relation": "child",
            "labour_capacity": "none",
            "disability_grade": 2,
            "health": "serious",
            "schooling": "compulsory",
        },
    ]
    household_id = app.register_household(
        household(0, members=members, housing_rating="C", phone="13900000000"),
        DISTRICT,
    )

    stored = app.household(household_id, DISTRICT)
    assert stored.members[0]["birth_date"] == "1950-03-01"
    assert stored.members[0]["sex"] == "male"  # serial 011: odd digit
    assert stored.members[1]["sex"] == "female"  # serial 012: even digit
    (registered,) = public(app, household_id)
    assert registered.type == "HouseholdRegistered"
    assert registered.data["facts"]["severe_disability_count"] == 1
    assert registered.data["facts"]["housing_rating"] == "C"
    assert "drinking_water_ok" not in registered.data["facts"]
    text = registered.model_dump_json()
    for secret in ("户主甲", "子乙", members[0]["id_number"], "13900000000"):
        assert secret not in text


def test_household_facts_count_people_never_name_them():
    born = {"elder": "1950-01-01", "child": "2016-05-01", "adult": "1990-01-01"}

    def person(age: str, **values: Any) -> dict[str, Any]:
        return {
            "birth_date": born[age],
            "labour_capacity": "full",
            "disability_grade": None,
            "health": "healthy",
            "schooling": "not_in_school",
            **values,
        }

    members = [
        person("elder", labour_capacity="none", disability_grade=1, health="chronic"),
        person("elder", labour_capacity="partial", disability_grade=3),
        person("child", labour_capacity="none", schooling="compulsory"),
        person("adult", health="serious", schooling="college"),
    ]
    facts = household_facts(members, None, False, TODAY)

    assert facts == {
        "member_count": 4,
        "labour_capable_count": 2,
        "no_labour_capacity": False,
        "severe_disability_count": 1,
        "disabled_count": 2,
        "chronic_illness_count": 1,
        "serious_illness_count": 1,
        "elderly_count": 2,
        "all_elderly": False,
        "compulsory_age_children": 1,
        "students_non_compulsory": 1,
        "drinking_water_ok": False,
    }
    alone = household_facts([person("elder", labour_capacity="none")], "D", None, TODAY)
    assert alone["no_labour_capacity"] and alone["all_elderly"]
    assert alone["housing_rating"] == "D"


def test_elderly_and_school_ages_are_counted_on_the_day_of_the_event():
    turning_65 = {"labour_capacity": "none", "disability_grade": None}
    turning_65 |= {"health": "healthy", "schooling": "not_in_school"}
    before = household_facts(
        [{**turning_65, "birth_date": "1961-12-02"}], None, None, TODAY
    )
    on_the_day = household_facts(
        [{**turning_65, "birth_date": "1961-12-01"}], None, None, TODAY
    )
    assert before["elderly_count"] == 0 and on_the_day["elderly_count"] == 1
    fifteen = household_facts(
        [{**turning_65, "birth_date": "2011-01-01"}], None, None, TODAY
    )
    sixteen = household_facts(
        [{**turning_65, "birth_date": "2010-11-30"}], None, None, TODAY
    )
    assert fifteen["compulsory_age_children"] == 1
    assert sixteen["compulsory_age_children"] == 0


def test_changing_a_household_names_the_changed_fields_without_values(app):
    form = household(21, household_number="H-21")
    household_id = app.register_household(form, DISTRICT)

    same = app.update_household(household_id, form, DISTRICT)
    assert same.outcome == "unchanged" and same.changed == []

    changed = form.model_dump()
    changed["phone"] = "13700000000"
    changed["members"][0]["health"] = "chronic"
    changed["members"].append(
        {"name": "新", "id_number": id_number(22), "relation": "spouse"}
    )
    saved = app.update_household(
        household_id, HouseholdIn.model_validate(changed), DISTRICT
    )

    assert saved.outcome == "updated"
    assert saved.changed == [
        "phone",
        "members.joined",
        "member_count",
        "members.health",
    ]
    updated = public(app, household_id)[-1]
    assert updated.type == "HouseholdUpdated"
    data = HouseholdUpdated.model_validate(updated.data)
    assert data.member_count == 2 and data.facts["chronic_illness_count"] == 1
    assert "13700000000" not in updated.model_dump_json()


def test_income_is_recorded_for_new_and_changed_years_only(app):
    incomes = [{"year": 2025, "sources": {"wages": "12000", "land_rent": "600"}}]
    form = household(31, household_number="H-31", incomes=incomes)
    household_id = app.register_household(form, DISTRICT)
    assert app.update_household(household_id, form, DISTRICT).income_years == []

    more = form.model_dump()
    more["incomes"].append({"year": 2026, "per_capita_net_income": "9000"})
    saved = app.update_household(
        household_id, HouseholdIn.model_validate(more), DISTRICT
    )

    assert saved.income_years == [2026] and saved.outcome == "unchanged"
    recorded = [e for e in public(app, household_id) if e.type == "IncomeRecorded"]
    assert [IncomeRecorded.model_validate(e.data).year for e in recorded] == [
        2025,
        2026,
    ]
    assert recorded[0].data["per_capita_net_income"] == "12600.00"
    assert recorded[0].data["sources"] == {"wages": "12000.00", "land_rent": "600.00"}


def test_a_formerly_poor_household_needs_the_year_it_left_poverty():
    with pytest.raises(ValueError, match="left_poverty_year"):
        household(41, left_poverty_year=None)
    with pytest.raises(ValueError, match="exactly one head"):
        household(
            42,
            members=[
                {"name": "甲", "id_number": id_number(42), "relation": "spouse"},
            ],
        )


def test_version_1_registrations_are_read_with_the_new_fields():
    state = {
        "household_id": uuid.uuid4(),
        "area_code": VILLAGE,
        "members": [
            {
                "name": "旧",
                "id_number": id_number(51, date(1948, 2, 2)),
                "relation": "head",
                "labour_capacity": "none",
                "disability_grade": None,
                "health": "高血压",
            }
        ],
    }
    Household.HouseholdRegistered.upcast_v1_v2(state)
    (member,) = state["members"]
    assert member["health"] == "chronic" and member["birth_date"] == "1948-02-02"
    assert state["facts"] == {} and state["household_number"] is None


def test_grid_monitors_report_only_in_their_own_grid(app):
    mine = app.register_household(household(61, "1"), DISTRICT)
    other = app.register_household(household(62, "2"), DISTRICT)
    form = {"category": "illness", "description": "x", "observed_on": TODAY}
    app.report_problem(ProblemIn(household_id=mine, **form), GRID)
    with pytest.raises(NotFound):
        app.report_problem(ProblemIn(household_id=other, **form), GRID)


# --- department records --------------------------------------------------------------


def test_department_records_match_by_id_number_and_count_once(app):
    number = id_number(3)
    household_id = app.register_household(household(3, number=number), DISTRICT)
    first = app.receive_records([record("A1", number), record("A1", number)])
    again = app.receive_records([record("A1", number)])
    unmatched = app.receive_records([record("B2", id_number(9, date(1971, 1, 1)))])
    invalid = app.receive_records([record("C3", "51090419700101123")])

    assert [r.outcome for r in first] == ["accepted", "duplicate"]
    assert again[0].outcome == "duplicate"
    accepted = app.get_or_none(
        department_record_id("medical_insurance", "A1"), DepartmentRecord
    )
    assert accepted is not None and accepted.household_id == household_id
    assert unmatched[0].reason == NO_MATCH
    assert invalid[0].reason == "id_number: must have 18 characters, has 17"


def test_facts_are_checked_against_the_kind_and_reasons_name_fields_only(app):
    number = id_number(4)
    app.register_household(household(4, number=number), DISTRICT)
    results = app.receive_records(
        [
            record("F1", number, total_cost="lots", reimbursed=1, secret_note="x"),
            record("F2", number, total_cost=900.5, reimbursed=0, out_of_pocket=900.5),
        ]
    )
    unknown = Incoming(
        ("msg-id", next(MESSAGES)),
        "dept.medical_insurance.dental_visit",
        None,
        record("F3", number).data,
    )
    (unknown_kind,) = app.receive_records([unknown])

    bad, good = results
    assert bad.outcome == "rejected"
    assert "facts.total_cost" in (bad.reason or "")
    assert "facts.out_of_pocket: Field required" in (bad.reason or "")
    assert "facts.secret_note" in (bad.reason or "")
    assert "lots" not in (bad.reason or "") and number not in (bad.reason or "")
    assert good.outcome == "accepted"
    assert unknown_kind.reason is not None
    assert unknown_kind.reason.startswith("kind: medical_insurance publishes no")

    received = [
        e
        for e in public(app, department_record_id("medical_insurance", "F2"))
        if e.type == "DepartmentRecordReceived"
    ]
    assert received[0].data["facts"]["inpatient_days"] == 0, "defaults filled in"
    assert set(EVENTS) >= {"RecordRejected", "DepartmentRecordReceived"}


def test_a_corrected_record_may_be_sent_again_after_a_rejection(app):
    number = id_number(5)
    (early,) = app.receive_upload(
        "medical_insurance",
        "hospital_settlement",
        [record("R1", number).data],
        DISTRICT,
    )
    app.register_household(household(5, number=number), DISTRICT)
    (late,) = app.receive_upload(
        "medical_insurance",
        "hospital_settlement",
        [record("R1", number).data],
        DISTRICT,
    )
    (again,) = app.receive_upload(
        "medical_insurance",
        "hospital_settlement",
        [record("R1", number).data],
        DISTRICT,
    )

    assert early.reason == NO_MATCH
    assert (late.outcome, again.outcome) == ("accepted", "duplicate")
