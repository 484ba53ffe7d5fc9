import json
import uuid
from datetime import UTC, datetime

import pytest

from fangpin.contracts import (
    EVENTS,
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
