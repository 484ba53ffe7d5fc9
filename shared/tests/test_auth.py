"""Only a token the platform issued, unexpired, for this audience, gets in."""

import time

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fangpin.auth import DEMO_USERS, CurrentPrincipal, issue_token

SECRET = "a-test-secret-long-enough-for-hs256-0123456789"


@pytest.fixture(autouse=True)
def issuer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANGPIN_JWT_SECRET", SECRET)
    monkeypatch.setenv("FANGPIN_JWT_ISSUER", "fangpin-test")
    monkeypatch.setenv("FANGPIN_JWT_AUDIENCE", "fangpin")


@pytest.fixture
def client() -> TestClient:
    http = FastAPI()

    @http.get("/me")
    def me(principal: CurrentPrincipal) -> dict[str, str]:
        return {"user": principal.user_id, "area": principal.area_code}

    return TestClient(http)


def claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "sub": "town01",
        "role": "town",
        "area": "510904101",
        "iss": "fangpin-test",
        "aud": "fangpin",
        "iat": now,
        "exp": now + 600,
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def call(client: TestClient, token: str) -> tuple[int, str]:
    response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.text


def test_an_issued_token_names_its_user_and_area(client: TestClient) -> None:
    status, body = call(client, issue_token(DEMO_USERS["town01"]))

    assert status == 200
    assert "510904101" in body


def test_no_token_is_refused(client: TestClient) -> None:
    response = client.get("/me")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("case", "token_claims", "secret", "reason"),
    [
        ("signed by another key", claims(), SECRET[::-1], "not valid"),
        ("expired", claims(exp=int(time.time()) - 60), SECRET, "expired"),
        ("another issuer", claims(iss="somebody-else"), SECRET, "not valid"),
        ("another audience", claims(aud="another-platform"), SECRET, "not valid"),
        ("no expiry", claims(exp=None), SECRET, "not valid"),
        ("unknown role", claims(role="mayor"), SECRET, "not valid"),
    ],
)
def test_a_token_that_is_not_ours_or_no_longer_valid_is_refused(
    client: TestClient,
    case: str,
    token_claims: dict[str, object],
    secret: str,
    reason: str,
) -> None:
    token = jwt.encode(token_claims, secret, algorithm="HS256")

    status, body = call(client, token)

    assert status == 401, case
    assert reason in body, case


def test_a_token_with_no_signature_is_refused(client: TestClient) -> None:
    token = jwt.encode(claims(), key=None, algorithm="none")

    status, _ = call(client, token)

    assert status == 401
