"""HTML pages: the login form, logout, the language switch, and each role's landing.

The pages authenticate with the session cookie: without one, a page redirects to ``/login``, whose
form sets the cookie and goes on to ``next`` (a local path only) or, without one, to the user's
own workspace (:data:`maps.workspaces.WORKSPACES`). A page the role may not see redirects to the
role's workspace instead of answering 403.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import (
    COOKIE_NAME,
    WrongWorkspaceError,
    clear_session_cookie,
    safe_next,
    same_origin,
    session_token,
    set_session_cookie,
)
from api.client_address import client_address
from api.deps import Conn, SettingsDep, get_pool
from api.web import home_of, render, translate
from maps.i18n import LANG_COOKIE, LOCALES, N_
from sealwatch.logging import get_logger
from store import users

log = get_logger(__name__)

router = APIRouter()

MAX_FORM_BYTES = 4096
LANG_COOKIE_MAX_AGE_S = 365 * 86_400


def _login_page(
    request: Request, next_path: str, error: str | None = None, username: str = "", status_code: int = 200
) -> HTMLResponse:
    notice = (
        translate(request, N_("Your session has ended. Log in again.")) if request.query_params.get("ended") else None
    )
    return render(
        request,
        "login.html",
        status_code=status_code,
        next_path=next_path,
        error=translate(request, error) if error else None,
        notice=notice,
        username=username,
    )


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_page(request: Request, next_: Annotated[str | None, Query(alias="next")] = None) -> HTMLResponse:
    return _login_page(request, safe_next(next_) if next_ else "")


@router.post("/login", include_in_schema=False)
async def login_form(request: Request, conn: Conn, settings: SettingsDep) -> Response:
    """The form post: on success a session cookie and a redirect to ``next`` or the user's workspace."""
    if not same_origin(request):  # no login CSRF: only this site's own form may log a browser in
        return _login_page(request, "", N_("Cross-site login refused."), status_code=status.HTTP_403_FORBIDDEN)
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES or not request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        return _login_page(request, "", N_("Malformed login form."), status_code=status.HTTP_400_BAD_REQUEST)
    form = parse_qs(raw.decode("utf-8", errors="replace"), max_num_fields=10)
    username = form.get("username", [""])[0].strip()[:64]
    password = form.get("password", [""])[0]
    requested = form.get("next", [""])[0]
    next_path = safe_next(requested) if requested else ""
    if not username or not password or len(password) > users.MAX_PASSWORD_LENGTH:
        return _login_page(
            request, next_path, N_("Enter your user name and password."), username, status.HTTP_401_UNAUTHORIZED
        )
    ip = client_address(request, settings.trusted_proxy_networks)
    outcome = await users.login(conn, username, password, ip, timedelta(seconds=settings.session_ttl_s))
    if outcome.retry_after_s is not None:
        page = _login_page(request, next_path, N_("Too many failed attempts. Try again later."), username, 429)
        page.headers["Retry-After"] = str(outcome.retry_after_s)
        return page
    if outcome.token is None or outcome.user is None:
        return _login_page(
            request, next_path, N_("Wrong user name or password."), username, status.HTTP_401_UNAUTHORIZED
        )
    response = RedirectResponse(next_path or home_of(outcome.user.role), status_code=status.HTTP_303_SEE_OTHER)
    set_session_cookie(response, outcome.token, settings.session_ttl_s, settings.cookie_secure)
    return response


@router.post("/logout", include_in_schema=False)
async def logout_form(request: Request, settings: SettingsDep) -> Response:
    """End the session (if any) and go to the login form; streams of the session close with it."""
    token, _ = session_token(request)
    if token is not None and len(token) <= 256 and same_origin(request):
        async with get_pool(request).connection() as conn:
            await users.revoke_session(conn, token)
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    if request.cookies.get(COOKIE_NAME):
        clear_session_cookie(response, settings.cookie_secure)
    return response


@router.get("/lang/{locale}", include_in_schema=False)
async def set_language(
    locale: Annotated[str, Path(pattern="^[a-z]{2}$")],
    next_: Annotated[str | None, Query(alias="next")] = None,
) -> Response:
    """The language switch: remember the choice in a cookie and go back."""
    response = RedirectResponse(safe_next(next_), status_code=status.HTTP_303_SEE_OTHER)
    if locale in LOCALES:
        response.set_cookie(LANG_COOKIE, locale, max_age=LANG_COOKIE_MAX_AGE_S, path="/", samesite="lax")
    return response


async def wrong_workspace_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WrongWorkspaceError)
    return RedirectResponse(home_of(exc.role), status_code=status.HTTP_303_SEE_OTHER)
