"""Authentication and the role matrix of the whole API.

Every request to an API route passes :func:`authorize`, an app-wide dependency. It finds the
route's rule in :data:`ACCESS` — the one table of who may call what, keyed by method and path
template — and answers 401 without a valid session, 403 for a role the rule does not list.
``create_app`` refuses to start when a route has no rule, and ``tests/auth/test_matrix.py``
walks every route against every role, so a new endpoint cannot ship unguarded by accident.

A session token is accepted as ``Authorization: Bearer <token>`` or in the ``sealwatch_session``
cookie (HttpOnly, SameSite=Strict) that the login endpoint and the login form set; the browser
pages need the cookie, since an ``EventSource`` cannot send headers. Requests authenticated by
the cookie that change state must come from this origin (``Origin`` / ``Sec-Fetch-Site``).

Finer scoping is done by the handlers with :data:`CurrentUser`: a ``mobile_group`` user sees and
handles only alerts dispatched to its group, a ``declarant`` only the declarations of its TIN.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from api.deps import get_pool, get_settings
from sealwatch.logging import get_logger
from store.users import Role, User, lookup_session

log = get_logger(__name__)

COOKIE_NAME = "sealwatch_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Rule:
    """Who may call a route. ``page``: an HTML page (no session redirects to the login form);
    ``scrape``: the configured metrics scrape token is accepted as well as a session."""

    roles: frozenset[Role]
    public: bool = False
    page: bool = False
    scrape: bool = False


def _rule(*roles: Role | frozenset[Role], page: bool = False, scrape: bool = False) -> Rule:
    flat: set[Role] = set()
    for r in roles:
        flat |= r if isinstance(r, frozenset) else {r}
    return Rule(frozenset(flat), page=page, scrape=scrape)


OP, OFF, MG, AUD, DEC, ADM = Role.OPERATOR, Role.OFFICER, Role.MOBILE_GROUP, Role.AUDITOR, Role.DECLARANT, Role.ADMIN
READ = frozenset({OP, AUD, ADM})  # the control center's read access; auditors read everything
# The customs steps at an office: the operator's (a control center may act for an office) and the officer's.
CUSTOMS = frozenset({OP, OFF, ADM})
ANY = frozenset(Role)
PUBLIC = Rule(frozenset(), public=True)

# (method, path template) -> rule. Admin is in every non-public rule.
ACCESS: dict[tuple[str, str], Rule] = {
    # telemetry and operations
    ("GET", "/health"): PUBLIC,
    ("GET", "/api/seals"): _rule(READ, OFF),  # officers follow the transits they released on the console
    ("GET", "/api/seals/{seal_id}"): _rule(READ, OFF),
    ("GET", "/api/seals/{seal_id}/track"): _rule(READ),
    ("GET", "/api/dead-letters"): _rule(READ),
    ("GET", "/api/dead-letters/dropped"): _rule(READ),
    ("GET", "/metrics"): _rule(OP, ADM, scrape=True),
    # customs reference data (declarants need routes and zones to fill a declaration)
    ("GET", "/api/zones"): _rule(READ, OFF, DEC),
    ("GET", "/api/zones/{code}"): _rule(READ, OFF, DEC),
    ("PUT", "/api/zones/{code}"): _rule(ADM),
    ("GET", "/api/routes"): _rule(READ, OFF, DEC),
    ("GET", "/api/routes/{code}"): _rule(READ, OFF, DEC),
    # route geometry: customs officers and the control center import, edit and learn it
    ("GET", "/api/routes/{code}/versions"): _rule(READ, OFF),
    ("GET", "/api/routes/{code}/versions/{version}"): _rule(READ, OFF),
    ("PUT", "/api/routes/{code}/geometry"): _rule(CUSTOMS),
    ("POST", "/api/routes/{code}/geometry/import"): _rule(CUSTOMS),
    ("POST", "/api/routes/{code}/learn"): _rule(CUSTOMS),
    # permits
    ("POST", "/api/permits"): _rule(CUSTOMS),
    ("GET", "/api/permits"): _rule(READ, OFF),
    ("GET", "/api/permits/{permit_id}"): _rule(READ, OFF),
    ("GET", "/api/permit-rules"): _rule(READ, OFF),
    ("POST", "/api/permit-rules"): _rule(ADM),
    # declarations (a declarant: its own TIN only, checked by the handlers)
    ("POST", "/api/declarations"): _rule(DEC, ADM),
    ("GET", "/api/declarations"): _rule(READ, OFF, DEC),
    ("GET", "/api/declarations/{declaration_id}"): _rule(READ, OFF, DEC),
    ("GET", "/api/declarations/{declaration_id}/control"): _rule(READ, OFF, DEC),
    ("GET", "/api/declarations/{declaration_id}/permits"): _rule(READ, OFF, DEC),
    ("GET", "/api/declarations/{declaration_id}/release-preview"): _rule(READ, OFF),
    ("POST", "/api/declarations/{declaration_id}/recheck"): _rule(CUSTOMS),
    ("POST", "/api/declarations/{declaration_id}/risk"): _rule(CUSTOMS),
    ("POST", "/api/declarations/{declaration_id}/release"): _rule(CUSTOMS),
    ("POST", "/api/declarations/{declaration_id}/cancel"): _rule(CUSTOMS, DEC),
    ("POST", "/api/declarations/{declaration_id}/reject"): _rule(CUSTOMS),
    # transits and the seal inventory
    ("GET", "/api/transits"): _rule(READ, OFF),
    ("GET", "/api/transits/{transit_id}"): _rule(READ, OFF),
    ("POST", "/api/transits/{transit_id}/arrive"): _rule(CUSTOMS),
    ("POST", "/api/transits/{transit_id}/close"): _rule(CUSTOMS),
    ("GET", "/api/seal-inventory"): _rule(READ, OFF),
    ("POST", "/api/seal-inventory"): _rule(CUSTOMS),
    # alerts (a mobile group: alerts dispatched to its group only, checked by the handlers)
    ("GET", "/api/alerts"): _rule(READ, OFF, MG),
    ("GET", "/api/alerts/stats"): _rule(READ),
    ("GET", "/api/alerts/stream"): _rule(READ, OFF),
    ("GET", "/api/alerts/{alert_id}"): _rule(READ, OFF, MG),
    ("POST", "/api/alerts/{alert_id}/acknowledge"): _rule(OP, MG, ADM),
    ("POST", "/api/alerts/{alert_id}/dispatch"): _rule(OP, ADM),
    ("POST", "/api/alerts/{alert_id}/on-scene"): _rule(OP, MG, ADM),
    ("POST", "/api/alerts/{alert_id}/resolve"): _rule(OP, MG, ADM),
    ("GET", "/api/group/dispatches"): _rule(MG, ADM),  # the group's phone (admin: bound to no group, 409)
    ("POST", "/api/group/position"): _rule(MG, ADM),
    ("GET", "/api/groups"): _rule(READ),
    ("GET", "/api/groups/suggest"): _rule(READ),
    ("GET", "/api/groups/{group_id}/suggest"): _rule(READ),
    # the operations console (officers follow the transits they released)
    ("GET", "/api/console/units"): _rule(READ, OFF),
    ("GET", "/api/console/units/{seal_id}"): _rule(READ, OFF),
    ("GET", "/api/console/alerts"): _rule(READ, OFF),
    ("GET", "/api/me"): _rule(READ, OFF),
    # history, exports, TRS
    ("GET", "/api/history/transits"): _rule(READ),
    ("GET", "/api/history/transits/{transit_id}"): _rule(READ),
    ("GET", "/api/history/transits/{transit_id}/track"): _rule(READ),
    ("GET", "/api/history/export/{dataset}"): _rule(READ),
    ("GET", "/api/history/aggregates"): _rule(READ),
    ("GET", "/api/trs"): _rule(READ),
    ("GET", "/api/trs/transits/{transit_id}"): _rule(READ),
    ("GET", "/api/trs/chart.png"): _rule(READ),
    ("GET", "/api/history/transits/{transit_id}/playback"): _rule(READ),
    ("GET", "/transits/{transit_id}/playback"): _rule(READ, page=True),
    # device signing keys
    ("POST", "/api/devices/{seal_id}/keys"): _rule(ADM),
    ("GET", "/api/devices/{seal_id}/keys"): _rule(ADM),
    ("DELETE", "/api/devices/{seal_id}/keys/{kid}"): _rule(ADM),
    # pages
    ("GET", "/"): _rule(READ, OFF, page=True),
    ("GET", "/officer"): _rule(CUSTOMS, AUD, page=True),
    ("GET", "/officer/declarations/{declaration_id}"): _rule(CUSTOMS, AUD, page=True),
    ("GET", "/routes"): _rule(CUSTOMS, AUD, page=True),  # the route editor: auditors read it
    ("GET", "/routes/{code}"): _rule(CUSTOMS, AUD, page=True),
    ("GET", "/auditor"): _rule(READ, page=True),
    ("GET", "/auditor/transits/{transit_id}"): _rule(READ, page=True),
    ("GET", "/auditor/trs"): _rule(READ, page=True),
    ("GET", "/auditor/alerts"): _rule(READ, page=True),
    ("GET", "/group"): _rule(MG, ADM, page=True),
    ("GET", "/group/manifest.webmanifest"): PUBLIC,  # fetched without cookies; no data in it
    ("GET", "/group/sw.js"): PUBLIC,
    ("GET", "/declarant"): _rule(DEC, ADM, page=True),
    ("GET", "/declarant/new"): _rule(DEC, ADM, page=True),
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/lang/{locale}"): PUBLIC,
    ("GET", "/docs"): _rule(ANY, page=True),
    ("GET", "/openapi.json"): _rule(ANY),
    # sessions, users, audit
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/logout"): _rule(ANY),
    ("GET", "/api/auth/me"): _rule(ANY),
    ("GET", "/api/users"): _rule(ADM),
    ("POST", "/api/users"): _rule(ADM),
    ("GET", "/api/users/{name}"): _rule(ADM),
    ("PATCH", "/api/users/{name}"): _rule(ADM),
    ("GET", "/api/audit/verify"): _rule(AUD, ADM),
}


def may(role: Role, method: str, path: str) -> bool:
    """Whether ``role`` may call the route (pages offer only what this allows)."""
    rule = ACCESS.get((method, path))
    return rule is not None and (rule.public or role in rule.roles)


class WrongWorkspaceError(Exception):
    """A logged-in user opened a page its role may not see: answered with a redirect to its own."""

    def __init__(self, role: Role) -> None:
        super().__init__(role.value)
        self.role = role


class LoginRequiredError(Exception):
    """No valid session on an HTML page: answered with a redirect to the login form."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def api_routes(routes: list[BaseRoute]) -> list[tuple[str, str, APIRoute]]:
    """``(method, path, route)`` of every API route of an app, routers included."""
    out = []
    for ctx in iter_route_contexts(routes):
        route = ctx.original_route
        if isinstance(route, APIRoute):
            for method in sorted(ctx.methods or ()):
                out.append((method, str(ctx.path), route))
    return out


def missing_rules(routes: list[BaseRoute]) -> list[str]:
    """Every API route without a rule in :data:`ACCESS` (as ``METHOD path``). :func:`authorize`
    looks rules up by the matched route's own path, so a router included with an extra prefix
    (which that path would not show) is reported too."""
    problems = []
    for method, path, route in api_routes(routes):
        if path != route.path:
            problems.append(f"{method} {path} (included with a prefix: declare the full path on the router)")
        elif (method, path) not in ACCESS:
            problems.append(f"{method} {path}")
    return problems


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def session_token(request: Request) -> tuple[str | None, bool]:
    """The request's token and whether it came from the cookie (the header wins)."""
    token = _bearer(request)
    if token is not None:
        return token, False
    cookie = request.cookies.get(COOKIE_NAME)
    return (cookie, True) if cookie else (None, False)


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site (cookie CSRF guard)."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin != "null" and urlsplit(origin).netloc == request.headers.get("host", "")


async def authenticate(request: Request) -> User | None:
    """The user of the request's session (looked up once per request), or None."""
    if hasattr(request.state, "user"):
        cached: User | None = request.state.user
        return cached
    token, from_cookie = session_token(request)
    user = None
    if token is not None and len(token) <= 256:
        async with get_pool(request).connection() as conn:
            user = await lookup_session(conn, token)
    request.state.user = user
    request.state.via_cookie = from_cookie and user is not None
    return user


def _scrape_token_ok(request: Request) -> bool:
    expected = get_settings(request).metrics_token
    token = _bearer(request)
    if expected is None or not expected.get_secret_value() or token is None:
        return False
    # Constant-time: the token must not leak through response timing.
    return hmac.compare_digest(token.encode(), expected.get_secret_value().encode())


async def authorize(request: Request) -> None:
    """App-wide dependency: enforce the route's rule of :data:`ACCESS`."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):  # every API route is matched before its dependencies run
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "no route")
    method = "GET" if request.method == "HEAD" else request.method
    rule = ACCESS.get((method, route.path))
    if rule is None:  # create_app refuses such an app; never fail open
        log.error("route without access rule", method=method, path=route.path)
        raise HTTPException(status.HTTP_403_FORBIDDEN, "no access rule for this route")
    if rule.public:
        return
    if rule.scrape and _scrape_token_ok(request):
        return
    user = await authenticate(request)
    if user is None:
        if rule.page:
            raise LoginRequiredError(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "authentication required", headers={"WWW-Authenticate": "Bearer"}
        )
    if user.role not in rule.roles:
        if rule.page:
            raise WrongWorkspaceError(user.role)
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {user.role.value} may not {method} {route.path}")
    if request.state.via_cookie and method not in SAFE_METHODS and not same_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-site request refused")


def current_user(request: Request) -> User:
    """The authenticated user (set by :func:`authorize`, which runs before every handler)."""
    user: User | None = getattr(request.state, "user", None)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "authentication required", headers={"WWW-Authenticate": "Bearer"}
        )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def safe_next(value: str | None) -> str:
    """A local path to go to after login (never another site: no scheme, host or ``//``)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


async def login_required_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequiredError)
    return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=status.HTTP_303_SEE_OTHER)


def set_session_cookie(response: Response, token: str, max_age_s: int, secure: bool) -> None:
    response.set_cookie(
        COOKIE_NAME, token, max_age=max_age_s, path="/", httponly=True, samesite="strict", secure=secure
    )


def clear_session_cookie(response: Response, secure: bool) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict", secure=secure)
