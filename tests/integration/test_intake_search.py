"""Intake's household search index on real PostgreSQL: it follows the registry,
looks only in the area asked, and two replicas following the same log apply each
household once, the later version winning."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from fangpin.auth import Principal
from fangpin.contracts import Role
from fangpin.projection import Pool, connect_pool
from intake.application import HouseholdIn, IntakeApplication
from intake.search import (
    HouseholdFinder,
    IndexedHousehold,
    PostgresSearchIndex,
    RegistryIndexer,
    SearchTerms,
)
from tests.support import DISTRICT, VILLAGE, household_form

pytestmark = pytest.mark.integration
GRID = Principal(
    user_id="grid01", role=Role.GRID_MONITOR, area_code=VILLAGE, village_group="1"
)


@pytest.fixture
def pool(database_url: str) -> Iterator[Pool]:
    found = connect_pool(database_url, size=2)
    yield found
    found.close()


@pytest.fixture
def index(pool: Pool) -> PostgresSearchIndex:
    created = PostgresSearchIndex(pool, "intake_view")
    created.setup()
    created.setup()  # a second replica starting finds everything in place
    return created


def test_the_index_follows_the_registry_and_keeps_to_the_area(index):
    app = IntakeApplication(in_memory=True)
    forms = [household_form(n) for n in range(401, 404)]
    forms[1]["village_group"] = "2"
    for form in forms:
        form["members"][0]["name"] = "黄忠"
        app.register_household(HouseholdIn.model_validate(form), DISTRICT)
    indexer = RegistryIndexer(app, index, batch_size=2)
    indexer.catch_up()
    assert index.position() == indexer.position > 0
    assert indexer.catch_up_once() == 0

    finder = HouseholdFinder(app, index)
    mine = finder.find(SearchTerms.parse("黄忠"), GRID, 20)
    assert {str(match.household.id) for match in mine.households} == {
        forms[0]["household_id"],
        forms[2]["household_id"],
    }
    everyone = finder.find(SearchTerms.parse("黄忠"), DISTRICT, 1)
    assert len(everyone.households) == 1 and everyone.more
    number = forms[1]["members"][0]["id_number"]
    (found,) = finder.find(SearchTerms.parse(number[-4:]), DISTRICT, 20).households
    assert str(found.household.id) == forms[1]["household_id"]


def test_replicas_apply_each_household_once_and_the_later_version_wins(index):
    household_id = uuid.uuid4()

    def version(group: str, tokens: set[str], position: int) -> IndexedHousehold:
        return IndexedHousehold(
            household_id, VILLAGE, group, (frozenset(tokens),), position
        )

    assert index.record([version("1", {"a", "b"}, 5)], 5) == 5
    # The other replica read the same batch, and an older one, after it.
    assert index.record([version("1", {"a", "b"}, 5)], 5) == 5
    assert index.record([version("3", {"old"}, 4)], 4) == 5
    assert index.candidates(frozenset({"a"}), VILLAGE, "1", None, 10) == [household_id]
    assert index.candidates(frozenset({"old"}), VILLAGE, None, None, 10) == []

    assert index.record([version("2", {"c"}, 9)], 9) == 9
    assert index.candidates(frozenset({"a"}), "510904", None, None, 10) == []
    assert index.candidates(frozenset({"c"}), VILLAGE, "1", None, 10) == []
    assert index.candidates(frozenset({"c"}), VILLAGE, "2", None, 10) == [household_id]
    assert index.candidates(frozenset({"c"}), "510904102", None, None, 10) == []
    assert index.candidates(frozenset({"c"}), VILLAGE, None, household_id, 10) == []
