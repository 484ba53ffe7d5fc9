"""What a page handler needs, as FastAPI dependencies."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from web.client import Services, UserApi
from web.session import CsrfFailed, User, current_user, language


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def user_api(
    user: Annotated[User, Depends(current_user)],
    clients: Annotated[Services, Depends(services)],
) -> UserApi:
    return UserApi(clients, user.token)


async def form_of(request: Request) -> dict[str, str]:
    """The posted form as plain strings, after checking its session token."""
    form = await request.form()
    values = {
        name: value for name, value in form.multi_items() if isinstance(value, str)
    }
    user = current_user(request)
    if not hmac.compare_digest(values.get("csrf", ""), user.csrf):
        raise CsrfFailed()
    return values


CurrentUser = Annotated[User, Depends(current_user)]
Api = Annotated[UserApi, Depends(user_api)]
Lang = Annotated[str, Depends(language)]
Form = Annotated[dict[str, str], Depends(form_of)]
