"""HTML pages of the operations control center (the live map at /) and the login form.

The pages authenticate with the session cookie: without one, ``/`` redirects to ``/login``, whose
form sets the cookie and goes back (``next``, a local path only).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import safe_next, same_origin, set_session_cookie
from api.deps import Conn, SettingsDep
from maps.alerts_layer import add_alerts_layer
from maps.live import render_live_map
from maps.login import render_login
from sealwatch.logging import get_logger
from store import users

log = get_logger(__name__)

router = APIRouter()

MAX_FORM_BYTES = 4096

# Rendering the map costs ~10 ms and its HTML depends only on the tile settings, so each process renders it once.
_live_map_cache: dict[tuple[str | None, str], str] = {}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def live_map(settings: SettingsDep) -> HTMLResponse:
    key = (settings.tile_url, settings.tile_attribution)
    html = _live_map_cache.get(key)
    if html is None:
        html = _live_map_cache[key] = render_live_map(settings, layers=(add_alerts_layer,))
        log.info("live map page rendered", tiles=bool(settings.tile_url))
    return HTMLResponse(html)


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_page(next_: Annotated[str | None, Query(alias="next")] = None) -> HTMLResponse:
    return HTMLResponse(render_login(safe_next(next_)))


@router.post("/login", include_in_schema=False)
async def login_form(request: Request, conn: Conn, settings: SettingsDep) -> Response:
    """The form post: on success a session cookie and a redirect to ``next``."""
    if not same_origin(request):  # no login CSRF: only this site's own form may log a browser in
        return HTMLResponse(render_login(error="cross-site login refused"), status_code=status.HTTP_403_FORBIDDEN)
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES or not request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        return HTMLResponse(render_login(error="malformed login form"), status_code=status.HTTP_400_BAD_REQUEST)
    form = parse_qs(raw.decode("utf-8", errors="replace"), max_num_fields=10)
    username = form.get("username", [""])[0].strip()[:64]
    password = form.get("password", [""])[0]
    next_path = safe_next(form.get("next", ["/"])[0])
    if not username or not password or len(password) > users.MAX_PASSWORD_LENGTH:
        page = render_login(next_path, "enter your user name and password", username)
        return HTMLResponse(page, status_code=status.HTTP_401_UNAUTHORIZED)
    ip = request.client.host if request.client else "unknown"
    outcome = await users.login(conn, username, password, ip, timedelta(seconds=settings.session_ttl_s))
    if outcome.retry_after_s is not None:
        page = render_login(next_path, "too many failed attempts: try again later", username)
        headers = {"Retry-After": str(outcome.retry_after_s)}
        return HTMLResponse(page, status_code=status.HTTP_429_TOO_MANY_REQUESTS, headers=headers)
    if outcome.token is None:
        page = render_login(next_path, "wrong user name or password", username)
        return HTMLResponse(page, status_code=status.HTTP_401_UNAUTHORIZED)
    response = RedirectResponse(next_path, status_code=status.HTTP_303_SEE_OTHER)
    set_session_cookie(response, outcome.token, settings.session_ttl_s, settings.cookie_secure)
    return response
