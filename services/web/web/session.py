"""The signed-in user: a token in an HttpOnly cookie, its claims read for display.

The web process never decides what a user may do: every call carries the token
and the services verify it. The claims here only choose the landing page, the
menu and which step forms to offer, so they are read without the signing key.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import quote

import jwt
from fastapi import Request

from web.client import SignInRequired

TOKEN_COOKIE = "fangpin_token"
LANG_COOKIE = "fangpin_lang"
LANGUAGES = ("zh", "en")


class CsrfFailed(Exception):
    """A form came without this session's token (or from another site)."""


@dataclass(frozen=True)
class User:
    user_id: str
    role: str
    area_code: str
    department: str | None
    village_group: str | None
    token: str
    expires_at: int

    @property
    def csrf(self) -> str:
        """Form token bound to the session: a page elsewhere cannot know it."""
        digest = hmac.new(self.token.encode(), b"fangpin-web-form", hashlib.sha256)
        return digest.hexdigest()[:32]


def read_user(token: str) -> User:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        user = User(
            user_id=str(claims["sub"]),
            role=str(claims["role"]),
            area_code=str(claims["area"]),
            department=claims.get("department"),
            village_group=claims.get("village_group"),
            token=token,
            expires_at=int(claims["exp"]),
        )
    except (jwt.InvalidTokenError, KeyError, TypeError, ValueError):
        raise SignInRequired() from None
    if user.expires_at <= time.time():
        raise SignInRequired()
    return user


def current_user(request: Request) -> User:
    token = request.cookies.get(TOKEN_COOKIE)
    if not token:
        raise SignInRequired()
    return read_user(token)


def language(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE, "zh")
    return chosen if chosen in LANGUAGES else "zh"


def safe_next(target: str | None) -> str:
    """Only paths on this site: never redirect to another host after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def sign_in_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/sign-in?next=" + quote(here, safe="")
