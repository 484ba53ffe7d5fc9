"""Calls to the five services with the signed-in user's bearer token, and their
errors turned into something a form can show beside its fields."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

logger = logging.getLogger(__name__)


class SignInRequired(Exception):
    """The token is missing, expired or refused: the user signs in again."""


@dataclass
class ApiError(Exception):
    """A 4xx or 5xx answer: a general message and the reasons per field."""

    status: int
    message: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.message} {self.fields}"

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        try:
            body = response.json()
        except ValueError:
            return cls(response.status_code, response.text[:300])
        detail = body.get("detail") if isinstance(body, dict) else None
        if isinstance(detail, list):
            # Validation errors: [{"field": ..., "reason": ...}, ...]
            fields: dict[str, str] = {}
            for problem in detail:
                if isinstance(problem, dict):
                    name = str(problem.get("field") or "body")
                    fields.setdefault(name, str(problem.get("reason", "")))
            return cls(response.status_code, "", fields)
        message = str(detail) if detail is not None else response.reason_phrase
        if isinstance(body, dict) and body.get("field"):
            return cls(response.status_code, "", {str(body["field"]): message})
        return cls(response.status_code, message)


class Services:
    """One HTTP client for the whole web process, shared by all requests."""

    def __init__(
        self,
        urls: dict[str, str],
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.urls = urls
        self.http = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def close(self) -> None:
        await self.http.aclose()

    async def sign_in(self, username: str, password: str) -> str:
        """Ask intake's development issuer for a token."""
        response = await self._send(
            "POST",
            "intake",
            "/auth/token",
            data={"username": username, "password": password},
        )
        if response.status_code == 401:
            raise ApiError(401, "wrong user or password")
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return str(response.json()["access_token"])

    async def demo_users(self) -> list[dict[str, Any]]:
        """The development issuer's users, for the sign-in page; none elsewhere."""
        try:
            response = await self._send("GET", "intake", "/auth/demo-users")
        except ApiError:
            return []
        if response.status_code != 200:
            return []
        found: list[dict[str, Any]] = response.json()
        return found

    async def call(
        self, method: str, service: str, path: str, token: str, **kwargs: Any
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        response = await self._send(method, service, path, headers=headers, **kwargs)
        if response.status_code == 401:
            raise SignInRequired()
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def fetch(
        self, service: str, path: str, token: str, params: dict[str, Any]
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        response = await self._send(
            "GET", service, path, headers=headers, params=params
        )
        if response.status_code == 401:
            raise SignInRequired()
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return response

    async def _send(
        self, method: str, service: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        try:
            return await self.http.request(method, self.urls[service] + path, **kwargs)
        except httpx.HTTPError as error:
            logger.warning("%s unreachable: %s", service, type(error).__name__)
            raise ApiError(503, f"{service} is not reachable") from None


class UserApi:
    """The services as one signed-in user sees them."""

    def __init__(self, services: Services, token: str):
        self.services = services
        self.token = token

    async def get(self, service: str, path: str, **params: Any) -> Any:
        query = {name: value for name, value in params.items() if value is not None}
        return await self.services.call("GET", service, path, self.token, params=query)

    async def post(self, service: str, path: str, body: Any) -> Any:
        return await self.services.call("POST", service, path, self.token, json=body)

    async def put(self, service: str, path: str, body: Any) -> Any:
        return await self.services.call("PUT", service, path, self.token, json=body)

    async def post_file(
        self, service: str, path: str, name: str, content: bytes, media_type: str
    ) -> Any:
        files = {"file": (name, content, media_type)}
        return await self.services.call("POST", service, path, self.token, files=files)

    async def download(self, service: str, path: str, **params: Any) -> httpx.Response:
        """A file from a service (an export), passed on as it came."""
        query = {name: value for name, value in params.items() if value is not None}
        return await self.services.fetch(service, path, self.token, query)

    async def optional(self, service: str, path: str, **params: Any) -> Any:
        """GET that answers None when the resource is not there (404)."""
        try:
            return await self.get(service, path, **params)
        except ApiError as error:
            if error.status == 404:
                return None
            raise
