import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from fangpin.contracts import (
    EVENTS,
    INCOME_LINE_PARAMETERS,
    CataloguePublished,
    ContractError,
    ProblemReported,
    asyncapi_document,
    parse_envelope,
)


def envelope(**changes):
    document = {
        "event_id": str(uuid.uuid4()),
        "type": "ProblemReported",
        "schema_version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "producer": "intake",
        "actor": {"user_id": "grid01", "role": "grid_monitor", "area_code": "510904"},
        "correlation_id": str(uuid.uuid4()),
        "data": {
            "report_id": str(uuid.uuid4()),
            "household_id": str(uuid.uuid4()),
            "area_code": "510904101201",
            "village_group": "1",
            "category": "illness",
            "observed_on": "2026-11-30",
        },
    }
    document.update(changes)
    return json.dumps(document).encode()


def test_a_valid_envelope_parses_into_its_contract():
    parsed, data = parse_envelope(envelope())
    assert parsed.type == "ProblemReported"
    assert isinstance(data, ProblemReported)


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        (b'{"a": "\xc3\x28"}', "not valid UTF-8"),
        (b"{", "not valid JSON"),
        (envelope(type="Mystery"), "unknown event type"),
        (envelope(schema_version=9), "schema_version"),
        (envelope(correlation_id="nope"), "correlation_id"),
    ],
)
def test_bad_messages_are_refused_naming_the_field(raw, names):
    with pytest.raises(ContractError, match=names):
        parse_envelope(raw)


def test_data_errors_name_the_data_field_but_not_its_value():
    document = json.loads(envelope())
    document["data"]["category"] = "secret-value-123"
    with pytest.raises(ContractError) as refused:
        parse_envelope(json.dumps(document).encode())
    assert "data.category" in str(refused.value)
    assert "secret-value-123" not in str(refused.value)


def test_asyncapi_document_lists_every_event():
    document = asyncapi_document()
    assert set(document["components"]["messages"]) == set(EVENTS)
    for name in ("ProblemReported", "RiskFlagged", "CaseClosed", "AidGranted"):
        assert name in document["components"]["schemas"]


def catalogue_envelope(**data_changes):
    data = {
        "version": 2,
        "effective_from": "2026-12-01",
        "indicator_count": 81,
        "changes": ["parameter income_line_formerly_poor: 5500 from 2027-01-01"],
    }
    data.update(data_changes)
    return envelope(type="CataloguePublished", producer="screening", data=data)


def test_a_catalogue_published_before_the_income_lines_parses_without_them():
    _, data = parse_envelope(catalogue_envelope())

    assert isinstance(data, CataloguePublished)
    assert data.income_lines == []


def test_a_catalogue_carries_its_dated_income_lines():
    lines = [
        {
            "parameter": "income_line_formerly_poor",
            "value": "5000",
            "effective_from": "2020-01-01",
        },
        {
            "parameter": "income_line_formerly_poor",
            "value": 5500,
            "effective_from": "2027-01-01",
        },
    ]

    _, data = parse_envelope(catalogue_envelope(income_lines=lines))

    assert isinstance(data, CataloguePublished)
    assert [(line.value, line.effective_from) for line in data.income_lines] == [
        (Decimal("5000"), date(2020, 1, 1)),
        (Decimal("5500"), date(2027, 1, 1)),
    ]
    assert set(INCOME_LINE_PARAMETERS.values()) == {
        "income_line_formerly_poor",
        "income_line_never_poor",
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [("parameter", "Line"), ("value", -1), ("effective_from", "soon")],
)
def test_a_malformed_income_line_is_refused_naming_the_field(field, value):
    line = {
        "parameter": "income_line_never_poor",
        "value": 6000,
        "effective_from": "2020-01-01",
        field: value,
    }

    with pytest.raises(ContractError, match=f"data.income_lines.0.{field}"):
        parse_envelope(catalogue_envelope(income_lines=[line]))
