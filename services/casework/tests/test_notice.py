"""The village's public notice (公示) and the plan's measures, over HTTP."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from casework.api import router
from casework.application import CaseworkApplication
from fangpin.auth import Principal, issue_token
from fangpin.contracts import Role, TargetType
from fangpin.service import Runtime, create_http_app
from fangpin.settings import Settings, get_settings

from .conftest import (
    DISTRICT,
    GRID,
    TOWN,
    VILLAGE,
    VILLAGE_CODE,
    flag,
    open_case,
    registered,
    report,
    to_decision,
)

NOTICE_FIELDS = {
    "case_id",
    "village_code",
    "town_code",
    "village_group",
    "household_number",
    "proposed_type",
    "starts_on",
    "ends_on",
    "objections_to",
}
# Words that would betray an ID number, a phone, a bank account, health or
# disability, in a field's name or in its value.
FORBIDDEN = (
    "id_number",
    "phone",
    "bank",
    "account",
    "health",
    "illness",
    "disab",
    "labour",
    "facts",
    "findings",
    "signal",
    "household_id",
)
FINDINGS = "户主患尿毒症，每周透析三次，二级残疾"


@pytest.fixture
def app() -> CaseworkApplication:
    return CaseworkApplication(in_memory=True)


@pytest.fixture
def client(
    app: CaseworkApplication, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv("FANGPIN_JWT_SECRET", secrets.token_urlsafe(32))
    get_settings.cache_clear()
    # No lifespan: the runtime's NATS connections are not needed here.
    http = create_http_app(
        Runtime("casework", Settings(), app), "casework", "", [router]
    )
    yield TestClient(http)
    get_settings.cache_clear()


def call(client: TestClient, who: Principal, method: str, path: str, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {issue_token(who)}"}
    return client.request(method, path, headers=headers, **kw)


def noticed_case(client: TestClient, app: CaseworkApplication, **notice: Any) -> str:
    """An ill household's case, visited (with health findings) and put on notice."""
    household = uuid.uuid4()
    facts = {
        "no_labour_capacity": False,
        "severe_disability_count": 1,
        "serious_illness_count": 1,
    }
    app.process(
        [
            registered(household, 1, facts, village_group="3", household_number="0042"),
            report(household, 2, "illness"),
            flag(household, 3, TargetType.EXPENSE_HARDSHIP),
        ]
    )
    case_id = str(open_case(app, household).id)
    visit = {"consent": True, "findings": FINDINGS}
    answer = call(client, VILLAGE, "POST", f"/cases/{case_id}/visit", json=visit)
    assert answer.status_code == 200, answer.text
    body = {"starts_on": "2026-11-02", "ends_on": "2026-11-09", **notice}
    answer = call(client, VILLAGE, "POST", f"/cases/{case_id}/notice", json=body)
    assert answer.status_code == 200, answer.text
    return case_id


def words(value: Any) -> Iterator[str]:
    """Every key and every value in a JSON answer, as lower-case text."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key).lower()
            yield from words(item)
    elif isinstance(value, list):
        for item in value:
            yield from words(item)
    else:
        yield str(value).lower()


def test_the_notice_shows_what_the_village_posts(client, app):
    case_id = noticed_case(client, app)

    answer = call(client, VILLAGE, "GET", f"/cases/{case_id}/notice")

    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "case_id": case_id,
        "village_code": VILLAGE_CODE,
        "town_code": "510904101",
        "village_group": "3",
        "household_number": "0042",
        "proposed_type": "expense_hardship",
        "starts_on": "2026-11-02",
        "ends_on": "2026-11-09",
        "objections_to": [
            {"level": "village", "area_code": VILLAGE_CODE},
            {"level": "town", "area_code": "510904101"},
        ],
    }


def test_the_notice_shows_no_id_phone_bank_health_or_disability(client, app):
    case_id = noticed_case(client, app)

    notice = call(client, VILLAGE, "GET", f"/cases/{case_id}/notice").json()

    assert set(notice) == NOTICE_FIELDS
    for word in words(notice):
        assert not any(forbidden in word for forbidden in FORBIDDEN), word
    assert FINDINGS not in str(notice)
    # The case itself holds the findings: the notice left them out on purpose.
    assert call(client, TOWN, "GET", f"/cases/{case_id}/history").text.count(FINDINGS)


def test_the_village_may_propose_the_type_on_the_notice(client, app):
    case_id = noticed_case(client, app, proposed_type="safety_net")

    notice = call(client, TOWN, "GET", f"/cases/{case_id}/notice").json()

    assert notice["proposed_type"] == "safety_net"


def test_the_notice_is_for_the_area_and_the_households_village(client, app):
    case_id = noticed_case(client, app)
    path = f"/cases/{case_id}/notice"
    other_group = GRID.model_copy(update={"village_group": "7"})
    other_village = VILLAGE.model_copy(update={"area_code": "510904101202"})
    other_town = TOWN.model_copy(update={"area_code": "510904102"})
    department = Principal(
        user_id="medical01",
        role=Role.DEPARTMENT,
        area_code="510904",
        department="medical_insurance",
    )

    for reader in (GRID, other_group, VILLAGE, TOWN, DISTRICT):
        assert call(client, reader, "GET", path).status_code == 200, reader
    for stranger in (other_village, other_town):
        assert call(client, stranger, "GET", path).status_code == 404, stranger
    assert call(client, department, "GET", path).status_code == 403


def test_there_is_no_notice_before_the_village_publishes_one(client, app):
    household = uuid.uuid4()
    app.process([report(household, 1)])
    case_id = open_case(app, household).id

    answer = call(client, VILLAGE, "GET", f"/cases/{case_id}/notice")

    assert answer.status_code == 404
    assert "no notice" in answer.json()["detail"]


def test_a_plan_with_a_measure_of_another_type_is_refused_naming_it(client, app):
    household = uuid.uuid4()
    app.process([report(household, 1)])
    case = open_case(app, household)
    to_decision(app, case.id)
    decision = {"confirm": True, "target_type": "low_income", "reason": "income low"}
    call(client, DISTRICT, "POST", f"/cases/{case.id}/decision", json=decision)
    due = (date.today() + timedelta(days=30)).isoformat()
    plan = {
        "paired_cadre": "cadre07",
        "measures": [
            {
                "measure": "wages_local",
                "responsible_department": "human_resources",
                "due_on": due,
            },
            {
                "measure": "serious_illness_aid",
                "responsible_department": "medical_insurance",
                "due_on": due,
            },
        ],
    }

    answer = call(client, TOWN, "POST", f"/cases/{case.id}/plan", json=plan)

    assert answer.status_code == 422
    assert answer.json()["field"] == "measures.1.measure"
    assert "serious_illness_aid" in answer.json()["detail"]
    plan["measures"] = plan["measures"][:1]
    answer = call(client, TOWN, "POST", f"/cases/{case.id}/plan", json=plan)
    assert answer.status_code == 200, answer.text
    assert answer.json()["step"] == "assistance"


def test_an_unknown_measure_is_refused_naming_it(client, app):
    household = uuid.uuid4()
    app.process([report(household, 1)])
    case = open_case(app, household)
    to_decision(app, case.id)
    decision = {"confirm": True, "target_type": "low_income", "reason": "income low"}
    call(client, DISTRICT, "POST", f"/cases/{case.id}/decision", json=decision)
    lottery = {
        "measure": "lottery",
        "responsible_department": "finance",
        "due_on": date.today().isoformat(),
    }
    plan = {"paired_cadre": "cadre07", "measures": [lottery]}

    answer = call(client, TOWN, "POST", f"/cases/{case.id}/plan", json=plan)

    assert answer.status_code == 422
    assert answer.json()["field"] == "measures.0.measure"
    assert "lottery" in answer.json()["detail"]
