"""Finding a household by a member's name or ID number: within the caller's grid
or area only, ID numbers masked, the query never kept or repeated."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fangpin.auth import Principal, issue_token
from fangpin.contracts import Role
from fangpin.idnumber import mask
from fangpin.service import Forbidden, Runtime, create_http_app
from fangpin.settings import Settings, get_settings
from intake.api import router
from intake.application import HouseholdIn, IntakeApplication
from intake.search import (
    HouseholdFinder,
    InvalidQuery,
    MemorySearchIndex,
    RegistryIndexer,
    SearchTerms,
    member_tokens,
)

from .conftest import DISTRICT, TOWN, VILLAGE, id_number

GRID = Principal(
    user_id="g", role=Role.GRID_MONITOR, area_code=VILLAGE, village_group="1"
)
OTHER_TOWN_VILLAGE = "510904102301"


def household(
    serial: int, names: list[str], group: str = "1", area: str = VILLAGE
) -> HouseholdIn:
    """A household whose first member is its head; members get serials from
    ``serial`` on."""
    members = [
        {
            "name": name,
            "id_number": id_number(serial + position),
            "relation": "head" if position == 0 else "child",
        }
        for position, name in enumerate(names)
    ]
    return HouseholdIn.model_validate(
        {
            "area_code": area,
            "village_group": group,
            "poverty_status": "formerly_poor",
            "left_poverty_year": 2019,
            "members": members,
        }
    )


class Registry:
    """Intake in memory with its search index kept up to date."""

    def __init__(self, app: IntakeApplication):
        self.app = app
        self.index = MemorySearchIndex()
        self.indexer = RegistryIndexer(app, self.index, batch_size=2)
        self.finder = HouseholdFinder(app, self.index)

    def register(self, *forms: HouseholdIn) -> list[Any]:
        ids = [self.app.register_household(form, DISTRICT) for form in forms]
        self.indexer.catch_up()
        return ids

    def find(self, query: str, who: Principal = GRID, limit: int = 20) -> list[Any]:
        found = self.finder.find(SearchTerms.parse(query), who, limit)
        return [match.household.id for match in found.households]


@pytest.fixture
def registry(app: IntakeApplication) -> Registry:
    return Registry(app)


def test_finds_a_household_by_part_of_its_heads_name(registry):
    wanted, _ = registry.register(
        household(1, ["张三丰", "张翠山"]), household(3, ["李四"])
    )
    assert registry.find("张三丰") == [wanted]
    assert registry.find("三丰") == [wanted]
    assert registry.find("张三") == [wanted]
    assert registry.find("丰张") == []


def test_finds_a_household_by_another_members_name(registry):
    wanted, _ = registry.register(
        household(10, ["王大明", "王小红"]), household(12, ["赵小"])
    )
    found = registry.finder.find(SearchTerms.parse("小红"), GRID, 20)
    (match,) = found.households
    assert match.household.id == wanted
    assert [member["name"] for member in match.members] == ["王小红"]
    # Spaces, the dot of minority names and letter case do not matter.
    (uyghur,) = registry.register(household(20, ["阿依古丽·买买提"]))
    (latin,) = registry.register(household(21, ["Li Wei"]))
    assert registry.find("阿依古丽买买") == [uyghur]
    assert registry.find("liwei") == registry.find("LI WEI") == [latin]


def test_finds_a_household_by_the_last_digits_of_an_id_number(registry):
    wanted, other = registry.register(
        household(30, ["周一", "周二"]), household(40, ["吴一"])
    )
    second = id_number(31)
    for query in (second[-4:], second[-5:], second[-6:], second, second.lower()):
        assert registry.find(query) == [wanted], len(query)
    assert registry.find(id_number(40)[-6:]) == [other]
    assert registry.find(id_number(99)[-6:]) == []


def test_does_not_return_households_outside_the_monitors_grid(registry):
    mine, next_group, next_town = registry.register(
        household(50, ["陈明"], group="1"),
        household(51, ["陈明"], group="2"),
        household(52, ["陈明"], area=OTHER_TOWN_VILLAGE),
    )
    assert registry.find("陈明") == [mine]
    assert registry.find(id_number(51)[-6:]) == []
    # Officials look in their area: the town in its villages, the district in all.
    assert set(registry.find("陈明", TOWN)) == {next_town}
    assert set(registry.find("陈明", DISTRICT)) == {mine, next_group, next_town}


def test_a_household_moved_or_renamed_is_found_as_it_is_now(registry):
    (household_id,) = registry.register(household(60, ["刘备"]))
    renamed = household(60, ["刘玄德"], group="2")
    registry.app.update_household(household_id, renamed, DISTRICT)

    # Until the index catches up, the household as it stands decides.
    assert registry.find("刘备") == []
    registry.indexer.catch_up()
    assert registry.find("刘备", DISTRICT) == []
    assert registry.find("玄德", DISTRICT) == [household_id]
    assert registry.find("玄德") == []


def test_a_page_says_when_more_households_match(registry):
    registry.register(*[household(70 + n, [f"杨过{n}"]) for n in range(5)])
    page = registry.finder.find(SearchTerms.parse("杨过"), GRID, 2)
    assert len(page.households) == 2 and page.more
    page = registry.finder.find(SearchTerms.parse("杨过"), GRID, 5)
    assert len(page.households) == 5 and not page.more


def test_the_index_keeps_hashes_never_names_or_id_numbers():
    member = {"name": "孙悟空", "id_number": id_number(80)}
    tokens = member_tokens(member, "key")
    # Two pairs of characters of the name, three endings of the ID number.
    assert len(tokens) == 5
    assert all(re.fullmatch(r"[0-9a-f]{16}", token) for token in tokens)
    assert member_tokens(member, "another key").isdisjoint(tokens)


@pytest.mark.parametrize(
    "query", ["", " ", "张", " 张 ", "12", "123", "1234567", "12345678901234567"]
)
def test_a_query_too_short_or_not_an_id_suffix_is_refused(query):
    with pytest.raises(InvalidQuery) as refused:
        SearchTerms.parse(query)
    assert query.strip() == "" or query.strip() not in str(refused.value)


def test_departments_do_not_look_up_households(registry):
    medical = Principal(
        user_id="m",
        role=Role.DEPARTMENT,
        area_code="510904",
        department="medical_insurance",
    )
    with pytest.raises(Forbidden):
        registry.find("张三", medical)


# --- over HTTP -----------------------------------------------------------------


@pytest.fixture
def client(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("FANGPIN_JWT_SECRET", secrets.token_urlsafe(32))
    get_settings.cache_clear()
    # No lifespan: the runtime's NATS connections are not needed here.
    http = create_http_app(
        Runtime("intake", Settings(), registry.app), "intake", "", [router]
    )
    http.state.finder = registry.finder
    yield TestClient(http)
    get_settings.cache_clear()


def search(client: TestClient, body: dict[str, Any], who: Principal = GRID) -> Any:
    headers = {"Authorization": f"Bearer {issue_token(who)}"}
    return client.post("/households/search", json=body, headers=headers)


def test_answers_show_id_numbers_masked_only(client, registry):
    (household_id,) = registry.register(household(90, ["郑成功", "郑经"]))
    head, son = id_number(90), id_number(91)

    answer = search(client, {"q": son[-6:]})

    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "households": [
            {
                "household_id": str(household_id),
                "household_number": None,
                "area_code": VILLAGE,
                "village_group": "1",
                "head_name": "郑成功",
                "head_id_number_masked": mask(head),
                "member_count": 2,
                "matched": [
                    {"name": "郑经", "relation": "child", "id_number_masked": mask(son)}
                ],
            }
        ],
        "more": False,
    }
    for number in (head, son):
        assert number not in answer.text
        assert number[-6:] not in answer.text


def test_a_short_query_is_refused_with_its_field_and_reason(client):
    answer = search(client, {"q": "张"})
    assert answer.status_code == 422
    (problem,) = answer.json()["detail"]
    assert problem["field"] == "q"
    assert "at least 2 characters" in problem["reason"]
    assert "张" not in answer.text

    long_digits = search(client, {"q": "1234567"})
    assert long_digits.status_code == 422
    assert "1234567" not in long_digits.text
