"""The web process's composition root: settings, the services client, templates,
the pages and the handlers that turn failures into pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from web.client import ApiError, Services, SignInRequired
from web.config import WebSettings
from web.pages import auth, cases, department, district, figures, grid, households
from web.pages.ledger import router as ledger_router
from web.pages.survey import router as survey_router
from web.render import HERE, build_templates, render
from web.session import (
    LANG_COOKIE,
    LANGUAGES,
    TOKEN_COOKIE,
    CsrfFailed,
    safe_next,
    sign_in_url,
)

CONTENT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'"
)


def create_app(
    settings: WebSettings, transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    services = Services(
        settings.service_urls(), settings.timeout_seconds, transport=transport
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await services.close()

    http = FastAPI(
        title="Fangpin web",
        description="Pages for officials, grid monitors and departments.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @http.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        # Everything is served from here: no page may load code from elsewhere,
        # be framed by another site, or post a form off the platform.
        response.headers.setdefault("Content-Security-Policy", CONTENT_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    http.state.settings = settings
    http.state.services = services
    http.state.templates = build_templates()
    http.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (auth, cases, grid, department, district, figures, households):
        http.include_router(module.router)
    http.include_router(survey_router)
    http.include_router(ledger_router)

    @http.exception_handler(SignInRequired)
    async def sign_in_again(request: Request, _: SignInRequired) -> Response:
        response = RedirectResponse(sign_in_url(request), status_code=303)
        response.delete_cookie(TOKEN_COOKIE, path="/")
        return response

    @http.exception_handler(CsrfFailed)
    async def stale_form(request: Request, _: CsrfFailed) -> Response:
        return render(
            request, "error.html", {"message_key": "error.csrf"}, status_code=403
        )

    @http.exception_handler(ApiError)
    async def service_error(request: Request, error: ApiError) -> Response:
        key = {
            404: "error.not_found",
            403: "error.forbidden",
            503: "error.unavailable",
        }.get(error.status, "error.generic")
        return render(
            request,
            "error.html",
            {"message_key": key, "status": error.status, "error": error},
            status_code=error.status if error.status >= 400 else 502,
        )

    @http.exception_handler(StarletteHTTPException)
    async def not_found(request: Request, error: StarletteHTTPException) -> Response:
        key = "error.not_found" if error.status_code == 404 else "error.generic"
        return render(
            request,
            "error.html",
            {"message_key": key, "status": error.status_code},
            status_code=error.status_code,
        )

    @http.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"service": "web"}

    @http.get("/lang/{code}", include_in_schema=False)
    async def switch_language(code: str, next: str = "/") -> Response:
        response = RedirectResponse(safe_next(next), status_code=303)
        if code in LANGUAGES:
            response.set_cookie(
                LANG_COOKIE,
                code,
                max_age=365 * 24 * 3600,
                samesite="lax",
                secure=settings.secure_cookies,
            )
        return response

    return http
