"""Bad input answers 422 with each field and its reason, and never the input."""

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from fangpin.service import invalid_request


class Visit(BaseModel):
    household_number: str = Field(min_length=4)
    members_seen: int


def app() -> TestClient:
    http = FastAPI()
    http.add_exception_handler(RequestValidationError, invalid_request)

    @http.post("/visits")
    def record(visit: Visit) -> dict[str, str]:
        return {"household_number": visit.household_number}

    return TestClient(http)


def test_malformed_json_names_the_body_and_where_it_breaks() -> None:
    response = app().post(
        "/visits",
        content='{"household_number": "王五0042",'.encode(),
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["field"] == "body"
    assert "not valid JSON" in problem["reason"]
    assert "at character" in problem["reason"]
    assert "王五" not in response.text


def test_each_bad_field_is_named_with_its_reason() -> None:
    response = app().post(
        "/visits", json={"household_number": "王五", "members_seen": "three"}
    )

    assert response.status_code == 422
    problems = {p["field"]: p["reason"] for p in response.json()["detail"]}
    assert set(problems) == {"household_number", "members_seen"}
    assert "at least 4" in problems["household_number"]
    assert "王五" not in response.text
