"""What the HTML page routes share: the request's locale and user, and rendering a template with both."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from api.auth import may
from api.deps import get_settings
from api.security import csp_nonce
from maps.i18n import LANG_COOKIE, best_locale, gettext
from maps.render import PageUser, render_page
from maps.workspaces import CAPABILITIES, WORKSPACES, Capability
from store.users import Role, User


def request_locale(request: Request) -> str:
    return best_locale(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def home_of(role: Role | str) -> str:
    return WORKSPACES[str(role)]


def page_user(request: Request) -> PageUser | None:
    user: User | None = getattr(request.state, "user", None)
    return None if user is None else PageUser(user.name, user.role.value, home_of(user.role))


def translate(request: Request, message: str) -> str:
    return gettext(request_locale(request), message)


def allowed(user: User | None, routes: dict[str, tuple[str, str]]) -> dict[str, bool]:
    """Which of the named (method, path) routes the user's role may call, for the JS modules."""
    return {key: user is not None and may(user.role, method, path) for key, (method, path) in routes.items()}


def capabilities(user: User | None) -> list[Capability]:
    """What the user's role can do, as its workspace lists it (derived from ``api.auth.ACCESS``)."""
    return [] if user is None else [c for c in CAPABILITIES if may(user.role, c.method, c.path)]


def render(
    request: Request, template: str, *, status_code: int = 200, js: dict[str, Any] | None = None, **context: Any
) -> HTMLResponse:
    settings = get_settings(request)
    html = render_page(
        template,
        locale=request_locale(request),
        tz=settings.display_tz,
        user=page_user(request),
        path=request.url.path,
        js=js,
        capabilities=capabilities(getattr(request.state, "user", None)),
        csp_nonce=csp_nonce(request),
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers={"Content-Language": request_locale(request)})
