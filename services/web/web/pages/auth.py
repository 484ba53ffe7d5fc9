"""Sign-in and sign-out, the landing page of each role, the language switch."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from web.client import ApiError, SignInRequired
from web.deps import Lang
from web.i18n import translate_reason, translator
from web.render import landing_page, render
from web.session import TOKEN_COOKIE, current_user, read_user, safe_next

router = APIRouter()


@router.get("/", include_in_schema=False)
async def home(request: Request) -> Response:
    try:
        user = current_user(request)
    except SignInRequired:
        return RedirectResponse("/sign-in", status_code=303)
    return RedirectResponse(landing_page(user.role), status_code=303)


@router.get("/sign-in", include_in_schema=False)
async def sign_in_page(
    request: Request, next: str = "/", signed_out: bool = False
) -> Response:
    return render(
        request,
        "sign_in.html",
        {
            "next": safe_next(next),
            "signed_out": signed_out,
            "demo_users": await request.app.state.services.demo_users(),
        },
    )


@router.post("/sign-in", include_in_schema=False)
async def sign_in(
    request: Request,
    lang: Lang,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    services = request.app.state.services
    try:
        token = await services.sign_in(username.strip(), password)
    except ApiError as error:
        message = (
            translator(lang)("signin.failed")
            if error.status == 401
            else translate_reason(error.message or str(error.fields), lang)
        )
        return render(
            request,
            "sign_in.html",
            {
                "next": safe_next(next),
                "username": username,
                "error": message,
                "demo_users": await services.demo_users(),
            },
            status_code=401 if error.status == 401 else 503,
        )
    user = read_user(token)
    target = safe_next(next)
    if target == "/":
        target = landing_page(user.role)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        max_age=max(60, user.expires_at - int(time.time())),
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.secure_cookies,
        path="/",
    )
    return response


@router.post("/sign-out", include_in_schema=False)
async def sign_out() -> Response:
    response = RedirectResponse("/sign-in?signed_out=true", status_code=303)
    response.delete_cookie(TOKEN_COOKIE, path="/")
    return response
