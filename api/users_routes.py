"""Sessions, users and audit verification.

``POST /api/auth/login`` exchanges a name and password for an opaque session token (returned in
the JSON and set as an HttpOnly, SameSite=Strict cookie); failed attempts are throttled
(429 with ``Retry-After``; ``store.login_throttle``). ``/api/users`` is the admin's user management;
``/api/audit/verify`` recomputes the audit log's hash chain for auditors.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.auth import CurrentUser, clear_session_cookie, session_token, set_session_cookie
from api.client_address import client_address
from api.deps import Conn, SettingsDep, get_settings
from sealwatch.config import Settings
from sealwatch.logging import get_logger
from store import users
from store.audit import verify
from store.db import connect, database_url
from store.users import GROUP_PATTERN, NAME_PATTERN, TIN_PATTERN, Role, User

log = get_logger(__name__)

router = APIRouter()

Password = Annotated[str, Field(min_length=users.MIN_PASSWORD_LENGTH, max_length=users.MAX_PASSWORD_LENGTH)]
UserName = Annotated[str, Path(pattern=NAME_PATTERN, description="user name")]


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=users.MAX_PASSWORD_LENGTH)


class UserOut(BaseModel):
    name: str
    role: Role
    group_id: str | None = Field(default=None, description="mobile_group: its group")
    tin: str | None = Field(default=None, description="declarant: its TIN")
    disabled: bool = False


class LoginOut(BaseModel):
    token: str = Field(description="send as 'Authorization: Bearer <token>' (also set as a cookie)")
    token_type: str = "bearer"
    expires_at: datetime
    user: UserOut


class MessageOut(BaseModel):
    detail: str


class UserIn(BaseModel):
    name: str = Field(pattern=NAME_PATTERN)
    role: Role
    password: Password
    group_id: str | None = Field(default=None, pattern=GROUP_PATTERN)
    tin: str | None = Field(default=None, pattern=TIN_PATTERN)


class UserPatch(BaseModel):
    role: Role | None = Field(default=None, description="a new role; group_id / tin then bind it afresh")
    group_id: str | None = Field(default=None, pattern=GROUP_PATTERN)
    tin: str | None = Field(default=None, pattern=TIN_PATTERN)
    disabled: bool | None = None
    password: Password | None = None


class AuditVerifyOut(BaseModel):
    ok: bool
    checked: int
    last_id: int
    bad_id: int | None
    reason: str | None
    detail: str


def user_out(user: User) -> UserOut:
    return UserOut(name=user.name, role=user.role, group_id=user.group_id, tin=user.tin, disabled=user.disabled)


def client_ip(request: Request) -> str:
    return client_address(request, get_settings(request).trusted_proxy_networks)


async def start_session(
    conn: Conn, settings: Settings, request: Request, name: str, password: str
) -> users.LoginOutcome:
    return await users.login(conn, name, password, client_ip(request), timedelta(seconds=settings.session_ttl_s))


# ---- sessions ----


@router.post(
    "/api/auth/login",
    response_model=LoginOut,
    responses={
        401: {"model": MessageOut, "description": "wrong name or password"},
        429: {"model": MessageOut, "description": "too many failed attempts; see Retry-After"},
    },
    tags=["auth"],
)
async def login(body: LoginIn, request: Request, conn: Conn, settings: SettingsDep) -> Any:
    """Log in: a session token in the answer and in an HttpOnly cookie."""
    outcome = await start_session(conn, settings, request, body.username, body.password)
    if outcome.retry_after_s is not None:
        return JSONResponse(
            {"detail": "too many failed login attempts; try again later"},
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(outcome.retry_after_s)},
        )
    if outcome.token is None or outcome.user is None:
        return JSONResponse(
            {"detail": "wrong user name or password"},
            status_code=status.HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": "Bearer"},
        )
    out = LoginOut(
        token=outcome.token,
        expires_at=datetime.now(UTC) + timedelta(seconds=settings.session_ttl_s),
        user=user_out(outcome.user),
    )
    response = JSONResponse(out.model_dump(mode="json"))
    set_session_cookie(response, outcome.token, settings.session_ttl_s, settings.cookie_secure)
    return response


@router.post("/api/auth/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
async def logout(request: Request, conn: Conn, settings: SettingsDep, user: CurrentUser) -> Response:
    """End this session (the token stops working at once) and clear the cookie."""
    token, _ = session_token(request)
    if token is not None:
        await users.revoke_session(conn, token)
    log.info("logout", name=user.name)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookie(response, settings.cookie_secure)
    return response


@router.get("/api/auth/me", response_model=UserOut, tags=["auth"])
async def me(user: CurrentUser) -> UserOut:
    """Who the token belongs to."""
    return user_out(user)


# ---- users (admin) ----


_USER_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": MessageOut, "description": "no such user"},
    409: {"model": MessageOut, "description": "the user exists"},
}


@router.get("/api/users", response_model=list[UserOut], tags=["users"])
async def get_users(conn: Conn) -> list[UserOut]:
    return [user_out(u) for u in await users.list_users(conn)]


@router.post(
    "/api/users", response_model=UserOut, status_code=status.HTTP_201_CREATED, responses=_USER_ERRORS, tags=["users"]
)
async def post_user(body: UserIn, conn: Conn) -> UserOut:
    """Create a user: a mobile_group user needs group_id, a declarant tin, and nobody else has them."""
    try:
        created = await users.add_user(conn, body.name, body.role, body.password, group_id=body.group_id, tin=body.tin)
    except users.UserExistsError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except users.UserError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return user_out(created)


@router.get("/api/users/{name}", response_model=UserOut, responses=_USER_ERRORS, tags=["users"])
async def get_user(name: UserName, conn: Conn) -> UserOut:
    found = await users.get_user(conn, name)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"user {name!r} does not exist")
    return user_out(found)


@router.patch("/api/users/{name}", response_model=UserOut, responses=_USER_ERRORS, tags=["users"])
async def patch_user(name: UserName, body: UserPatch, conn: Conn) -> UserOut:
    """Change role (and binding), disable or enable, or set a new password; the user's sessions end
    on a role change, a disable or a new password."""
    try:
        updated = await users.update_user(
            conn,
            name,
            role=body.role,
            group_id=body.group_id,
            tin=body.tin,
            disabled=body.disabled,
            password=body.password,
        )
    except users.UnknownUserError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except users.UserError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return user_out(updated)


# ---- audit ----


@router.get("/api/audit/verify", response_model=AuditVerifyOut, tags=["audit"])
async def audit_verify(settings: SettingsDep) -> AuditVerifyOut:
    """Recompute the audit log's whole hash chain (as ``sealwatch audit verify``)."""

    def run() -> AuditVerifyOut:
        with connect(database_url(settings)) as conn:
            r = verify(conn)
        return AuditVerifyOut(
            ok=r.ok, checked=r.checked, last_id=r.last_id, bad_id=r.bad_id, reason=r.reason, detail=r.detail
        )

    return await asyncio.to_thread(run)
