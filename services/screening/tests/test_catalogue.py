"""The shipped catalogue, checked indicator by indicator from its own data: every
example hits or not as it says, at the threshold included, and a household about
which nothing is known hits nothing."""

from __future__ import annotations

from datetime import date

import pytest

from fangpin.contracts import PovertyStatus
from screening.catalogue import (
    Catalogue,
    CatalogueError,
    Indicator,
    InvalidCondition,
    default_catalogue,
    default_definition,
)
from screening.inputs import INPUTS

TODAY = date(2026, 12, 1)
CATALOGUE = default_catalogue(TODAY)
EXAMPLES = [
    pytest.param(indicator, example, id=f"{indicator.code}: {example.case}")
    for indicator in CATALOGUE.indicators
    for example in indicator.examples
]
INDICATORS = [pytest.param(i, id=i.code) for i in CATALOGUE.indicators]


def status_of(indicator: Indicator) -> PovertyStatus:
    return sorted(indicator.applies_to)[0]


@pytest.mark.parametrize(("indicator", "example"), EXAMPLES)
def test_each_example_hits_exactly_when_the_catalogue_says(indicator, example):
    inputs = indicator.example_inputs(example, CATALOGUE.params_on(TODAY))
    hits = CATALOGUE.hits(status_of(indicator), inputs, TODAY)
    assert (indicator.code in [hit.code for hit in hits]) is example.hits
    if example.hits:
        (hit,) = [hit for hit in hits if hit.code == indicator.code]
        assert hit.values == {k: v for k, v in inputs.items() if k in indicator.reads}
        assert set(hit.thresholds) == set(indicator.thresholds)


@pytest.mark.parametrize("indicator", INDICATORS)
def test_each_indicator_has_a_hit_a_miss_and_a_case_at_its_threshold(indicator):
    cases = [example.case for example in indicator.examples]
    assert any(example.hits for example in indicator.examples)
    assert not all(example.hits for example in indicator.examples)
    if indicator.thresholds:
        assert any("threshold" in case for case in cases)


@pytest.mark.parametrize("indicator", INDICATORS)
def test_an_indicator_does_not_hit_when_its_inputs_are_unknown(indicator):
    (evaluation,) = [
        e
        for e in CATALOGUE.evaluate(status_of(indicator), {}, TODAY, everything=True)
        if e.code == indicator.code
    ]
    assert not evaluation.hit and not evaluation.known
    assert set(evaluation.missing) == set(indicator.reads)


def test_the_catalogue_has_55_return_and_26_causing_indicators():
    codes = [indicator.code for indicator in CATALOGUE.indicators]
    refs = [indicator.ref for indicator in CATALOGUE.indicators]
    assert len(set(codes)) == 81
    assert sorted(r for r in refs if r.startswith("R")) == [
        f"R{n:02d}" for n in range(1, 56)
    ]
    assert sorted(r for r in refs if r.startswith("P")) == [
        f"P{n:02d}" for n in range(1, 27)
    ]
    for indicator in CATALOGUE.indicators:
        expected = "formerly_poor" if indicator.code.startswith("R") else "never_poor"
        assert [s.value for s in indicator.applies_to] == [expected]


def test_every_parameter_is_read_by_some_condition_and_every_input_is_declared():
    used = {name for i in CATALOGUE.indicators for name in i.thresholds}
    assert used == set(CATALOGUE.parameters)
    assert {n for i in CATALOGUE.indicators for n in i.reads} <= set(INPUTS)


def test_the_income_line_depends_on_the_household_and_on_the_date():
    lines = CATALOGUE.params_on(TODAY)
    assert lines["income_line_formerly_poor"] == 5000
    assert lines["income_line_never_poor"] == 6000
    provincial = CATALOGUE.parameters["provincial_rural_income"]
    assert provincial.value_on(date(2022, 6, 1)) == 17575
    assert provincial.value_on(date(2024, 6, 1)) == 19978
    assert provincial.value_on(date(2020, 6, 1)) is None


def test_indicators_that_need_a_missing_feed_cannot_fire_but_the_rest_can():
    silent = set(CATALOGUE.cannot_fire(TODAY))
    assert {"R-INC-08", "R-MED-09", "P-CHN-01"} <= silent
    assert not {"R-MED-01", "R-INC-01", "R-HOU-01", "P-CHN-02"} & silent
    # Fed by home-visit surveys.
    assert not {"R-WAT-01", "R-EMP-03", "R-FAM-01", "P-EXP-02"} & silent
    for code in silent:
        reads = CATALOGUE.by_code[code].reads
        assert any(INPUTS[name].feed is None for name in reads)


def edited(code: str, **changes) -> dict:
    definition = default_definition()
    for spec in definition["indicators"]:
        if spec["code"] == code:
            spec.update(changes)
    return definition


def test_a_condition_that_does_not_compile_is_refused_naming_the_indicator():
    definition = edited("R-MED-01", condition="out_of_pocket >")
    with pytest.raises(InvalidCondition, match="R-MED-01: the condition does not"):
        Catalogue.build(2, TODAY, definition)


def test_a_condition_reading_an_unknown_name_is_refused():
    definition = edited("R-MED-01", condition="out_of_pocket > oop_line_low_incme")
    with pytest.raises(InvalidCondition, match="'oop_line_low_incme', which is nei"):
        Catalogue.build(2, TODAY, definition)


def test_a_condition_that_contradicts_its_examples_is_refused():
    definition = edited("R-MED-01", condition="out_of_pocket >= oop_line_low_income")
    with pytest.raises(CatalogueError, match="'at the threshold' hits but should not"):
        Catalogue.build(2, TODAY, definition)


def test_a_condition_that_fails_on_types_is_refused_before_use():
    definition = edited("R-MED-01", condition="out_of_pocket > oop_line_low_income * 2")
    with pytest.raises(CatalogueError, match="R-MED-01: the condition fails on"):
        Catalogue.build(2, TODAY, definition)


def test_a_future_threshold_is_checked_against_the_examples_too():
    definition = default_definition()
    definition["parameters"]["oop_line_low_income"]["values"].append(
        {"from": "2027-01-01", "value": "high"}
    )
    with pytest.raises(CatalogueError, match="oop_line_low_income: a parameter valu"):
        Catalogue.build(2, TODAY, definition)
