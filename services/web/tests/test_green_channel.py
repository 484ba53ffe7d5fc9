"""Who is offered help before a household is confirmed (the green channel)."""

from __future__ import annotations

import pytest

from web.aid import grant_fields, green_channel, may_grant
from web.session import User


def user(role: str) -> User:
    return User(
        user_id=f"{role}01",
        role=role,
        area_code="510904",
        department="civil_affairs" if role == "department" else None,
        village_group=None,
        token="t",
        expires_at=0,
    )


def case(urgent: bool, step: str = "visit") -> dict[str, object]:
    return {"status": "open", "urgent": urgent, "step": step}


@pytest.mark.parametrize("role", ["town", "district", "department"])
def test_an_urgent_case_opens_the_green_channel_to_every_granting_role(role):
    assert green_channel(case(urgent=True), user(role))
    assert may_grant(user(role), case(urgent=True))
    assert "emergency" in grant_fields(case(urgent=True), user(role))


def test_on_a_case_that_is_not_urgent_only_the_district_office_may_help_early():
    calm = case(urgent=False)

    assert green_channel(calm, user("district"))
    assert may_grant(user("district"), calm)
    assert "emergency" in grant_fields(calm, user("district"))
    for role in ("town", "department"):
        assert not green_channel(calm, user(role))
        assert not may_grant(user(role), calm)
        assert "emergency" not in grant_fields(calm, user(role))


def test_after_the_decision_aid_is_ordinary_and_no_green_channel_is_offered():
    decided = case(urgent=True, step="plan")

    assert not green_channel(decided, user("district"))
    assert may_grant(user("town"), decided)
    assert "emergency" not in grant_fields(decided, user("town"))
