import uuid
from datetime import UTC, date, datetime

import pytest

from fangpin.contracts import (
    Actor,
    DepartmentRecordReceived,
    Envelope,
    HouseholdRegistered,
    PovertyStatus,
    Role,
    TargetType,
)
from fangpin.inbox import Incoming
from screening.application import ProfileNotYetKnown, ScreeningApplication
from screening.catalogue import (
    FOUNDATION_INDICATORS,
    Catalogue,
    InvalidCondition,
    proposed_type,
)
from screening.domain import RiskProfile

VILLAGE = "510904101201"


def wrap(data, number: int) -> Incoming:
    envelope = Envelope(
        event_id=uuid.uuid4(),
        type=type(data).__name__,
        occurred_at=datetime.now(UTC),
        producer="intake",
        actor=Actor(user_id="intake", role=Role.SYSTEM, area_code="510904"),
        correlation_id=uuid.uuid4(),
        data=data.model_dump(mode="json"),
    )
    return Incoming(("intake", number), "intake.x", envelope, data)


def registered(household, status=PovertyStatus.FORMERLY_POOR, number=1):
    return wrap(
        HouseholdRegistered(
            household_id=household,
            area_code=VILLAGE,
            village_group="1",
            poverty_status=status,
            member_count=3,
        ),
        number,
    )


def settlement(household, out_of_pocket: float, number: int):
    return wrap(
        DepartmentRecordReceived(
            record_id=f"R{number}",
            department="medical_insurance",
            kind="hospital_settlement",
            household_id=household,
            area_code=VILLAGE,
            occurred_on=date(2026, 11, 1),
            facts={"out_of_pocket": out_of_pocket},
        ),
        number,
    )


def flags(app, household):
    return [
        event
        for event in app.events.get(household)
        if type(event).__name__ == "RiskFlagged"
    ]


def test_the_line_depends_on_poverty_status():
    app = ScreeningApplication(in_memory=True)
    formerly, never = uuid.uuid4(), uuid.uuid4()
    app.process([registered(formerly, number=1)])
    app.process([registered(never, PovertyStatus.NEVER_POOR, number=2)])
    app.process([settlement(formerly, 12000, 3), settlement(never, 12000, 4)])
    (flag,) = flags(app, formerly)
    assert flag.hits[0]["code"] == "R-MED-01"
    assert flag.hits[0]["values"] == {"out_of_pocket": 12000}
    assert flag.hits[0]["thresholds"] == {"out_of_pocket_line": 10000}
    assert flag.target_type == TargetType.EXPENSE_HARDSHIP.value
    assert flags(app, never) == []


def test_the_same_indicator_is_not_flagged_again_and_again():
    app = ScreeningApplication(in_memory=True)
    household = uuid.uuid4()
    app.process([registered(household)])
    app.process([settlement(household, 15000, 2), settlement(household, 18000, 3)])
    assert len(flags(app, household)) == 1
    profile = app.get_or_none(household, RiskProfile)
    assert profile is not None and len(profile.records) == 2


def test_a_record_before_its_household_waits():
    app = ScreeningApplication(in_memory=True)
    with pytest.raises(ProfileNotYetKnown):
        app.process([settlement(uuid.uuid4(), 15000, 1)])


def test_a_condition_that_does_not_compile_is_refused_before_use():
    broken = FOUNDATION_INDICATORS[0].__class__(
        **{**FOUNDATION_INDICATORS[0].__dict__, "condition": "facts.out_of_pocket >"}
    )
    with pytest.raises(InvalidCondition, match="R-MED-01"):
        Catalogue.build(2, [broken])


def test_safety_net_outranks_expense_hardship():
    by_code = {indicator.code: indicator for indicator in FOUNDATION_INDICATORS}
    hits = [by_code["R-MED-01"], by_code["R-DIS-01"]]
    assert proposed_type(hits) == TargetType.SAFETY_NET
