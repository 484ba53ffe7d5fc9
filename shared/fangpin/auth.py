"""Identity: every HTTP request carries a bearer token (JWT) the services verify.

Embedded mode adds a development issuer (``POST /auth/token``) with one demo user
per role and area; production points the services at the real issuer's secret,
issuer and audience through the same settings.
"""

from __future__ import annotations

import time
from typing import Annotated

import jwt
from fastapi import APIRouter, Depends, Form, HTTPException, status
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel

from fangpin.areas import within
from fangpin.contracts import Actor, Role
from fangpin.settings import get_settings

TOKEN_LIFETIME_SECONDS = 8 * 3600
DEMO_PASSWORD = "demo"


class Principal(BaseModel):
    user_id: str
    role: Role
    area_code: str
    department: str | None = None
    village_group: str | None = None

    def actor(self) -> Actor:
        return Actor(
            user_id=self.user_id,
            role=self.role,
            area_code=self.area_code,
            department=self.department,
        )

    def covers(self, area_code: str, village_group: str | None = None) -> bool:
        """Whether a resource in this area (and village group) is in scope."""
        if not within(self.area_code, area_code):
            return False
        if self.role is Role.GRID_MONITOR and self.village_group is not None:
            return village_group == self.village_group
        return True


DEMO_USERS: dict[str, Principal] = {
    user.user_id: user
    for user in [
        Principal(
            user_id="grid01",
            role=Role.GRID_MONITOR,
            area_code="510904101201",
            village_group="1",
        ),
        Principal(user_id="village01", role=Role.VILLAGE, area_code="510904101201"),
        Principal(user_id="town01", role=Role.TOWN, area_code="510904101"),
        Principal(user_id="town02", role=Role.TOWN, area_code="510904102"),
        Principal(user_id="district01", role=Role.DISTRICT, area_code="510904"),
        Principal(
            user_id="medical01",
            role=Role.DEPARTMENT,
            area_code="510904",
            department="medical_insurance",
        ),
        Principal(user_id="auditor01", role=Role.AUDITOR, area_code="510904"),
    ]
}


def issue_token(principal: Principal, lifetime: int = TOKEN_LIFETIME_SECONDS) -> str:
    settings = get_settings()
    now = int(time.time())
    claims = {
        "sub": principal.user_id,
        "role": principal.role.value,
        "area": principal.area_code,
        "department": principal.department,
        "village_group": principal.village_group,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + lifetime,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


_bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


def _unauthorised(reason: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail=reason,
        headers={"WWW-Authenticate": "Bearer"},
    )


def current_principal(token: Annotated[str | None, Depends(_bearer)]) -> Principal:
    if not token:
        raise _unauthorised("a bearer token is required (Authorization: Bearer …)")
    settings = get_settings()
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=["HS256"],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
        return Principal(
            user_id=claims["sub"],
            role=Role(claims["role"]),
            area_code=claims["area"],
            department=claims.get("department"),
            village_group=claims.get("village_group"),
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorised("the token has expired; sign in again") from None
    except (jwt.InvalidTokenError, KeyError, ValueError):
        raise _unauthorised("the token is not valid for this platform") from None


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        allowed = ", ".join(role.value for role in roles)
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"this action needs one of the roles: {allowed}",
        )


dev_issuer = APIRouter(prefix="/auth", tags=["development sign-in"])


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"


@dev_issuer.post("/token", response_model=TokenResponse)
def sign_in(
    username: Annotated[str, Form()], password: Annotated[str, Form()]
) -> TokenResponse:
    """Sign in as one of the demo users (development issuer only)."""
    user = DEMO_USERS.get(username)
    if user is None or password != DEMO_PASSWORD:
        raise _unauthorised("unknown demo user or wrong password")
    return TokenResponse(access_token=issue_token(user))


@dev_issuer.get("/demo-users", response_model=list[Principal])
def demo_users() -> list[Principal]:
    return list(DEMO_USERS.values())
