"""A command that loses an optimistic-concurrency race is run again on fresh state."""

import pytest
from eventsourcing.persistence import IntegrityError
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from fangpin.service import COMMAND_ATTEMPTS, RetryLostRace


class Closing(BaseModel):
    verification: str


def app_losing(races: int) -> tuple[FastAPI, list[str]]:
    """An app whose command loses the first `races` attempts."""
    seen: list[str] = []
    router = APIRouter(route_class=RetryLostRace)

    @router.post("/close", status_code=204)
    def close(form: Closing) -> None:
        seen.append(form.verification)
        if len(seen) <= races:
            raise IntegrityError("version already taken")

    app = FastAPI()
    app.include_router(router)
    return app, seen


def test_a_lost_race_is_run_again_with_the_same_body() -> None:
    app, seen = app_losing(races=2)

    response = TestClient(app).post("/close", json={"verification": "入户核实"})

    assert response.status_code == 204
    assert seen == ["入户核实"] * 3


def test_a_race_lost_every_time_reaches_the_caller() -> None:
    app, seen = app_losing(races=COMMAND_ATTEMPTS)

    with pytest.raises(IntegrityError):
        TestClient(app).post("/close", json={"verification": "入户核实"})

    assert len(seen) == COMMAND_ATTEMPTS
