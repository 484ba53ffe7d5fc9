"""The platform with its web process, and Chromium driven by Playwright.

Debian's Chromium is used (Playwright's own browser download does not work
here). Without it the tests fail and say so, unless FANGPIN_SKIP_BROWSER=1 asks
to skip them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from fangpin.cli import Platform
from tests.support import running_platform

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if os.environ.get("FANGPIN_SKIP_BROWSER") == "1":
        pytest.skip("FANGPIN_SKIP_BROWSER=1: browser tests skipped on request")
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium "
            "(apt-get install -y chromium; .ci/run does this). Set "
            "FANGPIN_SKIP_BROWSER=1 to skip them instead.",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def platform(
    chromium_path: Path, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    """The five services and the web process, on servers of their own."""
    data = tmp_path_factory.mktemp("web-platform")
    with running_platform(postgres_url, data, web=True) as running:
        yield running


@pytest.fixture(scope="module")
def browser(chromium_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


class OnlyFromThePlatform:
    """Every request a browser context makes, to check at the end that the pages
    loaded nothing from elsewhere: no fonts, scripts or maps from a CDN."""

    def __init__(self, context: Any, base: str):
        own = urlsplit(base)
        self.origin = (own.scheme, own.netloc)
        self.elsewhere: list[str] = []
        context.on("request", self.record)

    def record(self, request: Any) -> None:
        url = request.url
        if url.startswith(("about:", "data:")):
            return
        found = urlsplit(url)
        if (found.scheme, found.netloc) != self.origin:
            self.elsewhere.append(url)

    def check(self) -> None:
        assert not self.elsewhere, f"loaded from outside the platform: {self.elsewhere}"


class Api:
    """Direct calls to the services, to set up data the pages then work on."""

    def __init__(self, urls: dict[str, str]):
        self.urls = urls
        self.http = httpx.Client(timeout=30)
        self.tokens: dict[str, str] = {}

    def headers(self, user: str) -> dict[str, str]:
        if user not in self.tokens:
            response = self.http.post(
                f"{self.urls['intake']}/auth/token",
                data={"username": user, "password": "demo"},
            )
            response.raise_for_status()
            self.tokens[user] = response.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def call(self, user: str, method: str, service: str, path: str, **kw: Any) -> Any:
        response = self.http.request(
            method, self.urls[service] + path, headers=self.headers(user), **kw
        )
        assert response.status_code < 400, response.text
        return response.json() if response.content else None


@pytest.fixture(scope="module")
def api(platform: Platform) -> Api:
    return Api(platform.urls)
