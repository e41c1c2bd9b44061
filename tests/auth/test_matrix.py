"""The role matrix, endpoint by endpoint: every API route of the app against every role.

For each route: no token → 401 (an HTML page: a redirect to the login form), a forged token →
401, a role the matrix does not list → 403, a listed role → neither 401 nor 403 (what it gets
then — 200, 404, 409, 422 — is the endpoint's business). A route missing from the matrix fails
here and makes ``create_app`` refuse to start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
from fastapi import APIRouter, FastAPI

from api.app import create_app
from api.auth import ACCESS, api_routes, missing_rules
from maps.workspaces import WORKSPACES
from store.users import Role
from tests.auth.conftest import Users, app_settings

# The role matrix as the README's roles table describes it, written out by hand: ACCESS must say
# exactly this, and the requests below expect what this says (not what ACCESS says), so a rule
# changed in ACCESS alone fails here. OP operator, OFF officer, MG mobile_group, AUD auditor,
# DEC declarant, ADM admin; "page": an HTML page; "scrape": the metrics scrape token also works.
# operator: the control center — map, seals, alerts (acknowledge, dispatch, resolve), customs steps,
#   history, /metrics. officer: the declaration queue, control, risk, release, arrival, closing,
#   permits; reads the console and the alerts, handles none. mobile_group: the alerts dispatched to
#   its group, its position. auditor: reads everything, verifies the audit log. declarant: lodges,
#   reads and cancels its declarations; reads routes and zones. admin: everything.
MATRIX_TABLE = """
GET    /health                                             public
GET    /api/seals                                          OP OFF AUD ADM
GET    /api/seals/{seal_id}                                OP OFF AUD ADM
GET    /api/seals/{seal_id}/track                          OP AUD ADM
GET    /api/dead-letters                                   OP AUD ADM
GET    /api/dead-letters/dropped                           OP AUD ADM
GET    /metrics                                            OP ADM scrape
GET    /api/zones                                          OP OFF AUD DEC ADM
GET    /api/zones/{code}                                   OP OFF AUD DEC ADM
PUT    /api/zones/{code}                                   ADM
GET    /api/routes                                         OP OFF AUD DEC ADM
GET    /api/routes/{code}                                  OP OFF AUD DEC ADM
GET    /api/routes/{code}/versions                         OP OFF AUD ADM
GET    /api/routes/{code}/versions/{version}               OP OFF AUD ADM
PUT    /api/routes/{code}/geometry                         OP OFF ADM
POST   /api/routes/{code}/geometry/import                  OP OFF ADM
POST   /api/routes/{code}/learn                            OP OFF ADM
POST   /api/permits                                        OP OFF ADM
GET    /api/permits                                        OP OFF AUD ADM
GET    /api/permits/{permit_id}                            OP OFF AUD ADM
GET    /api/permit-rules                                   OP OFF AUD ADM
POST   /api/permit-rules                                   ADM
POST   /api/declarations                                   DEC ADM
GET    /api/declarations                                   OP OFF AUD DEC ADM
GET    /api/declarations/{declaration_id}                  OP OFF AUD DEC ADM
GET    /api/declarations/{declaration_id}/control          OP OFF AUD DEC ADM
GET    /api/declarations/{declaration_id}/permits          OP OFF AUD DEC ADM
GET    /api/declarations/{declaration_id}/release-preview  OP OFF AUD ADM
POST   /api/declarations/{declaration_id}/recheck          OP OFF ADM
POST   /api/declarations/{declaration_id}/risk             OP OFF ADM
POST   /api/declarations/{declaration_id}/release          OP OFF ADM
POST   /api/declarations/{declaration_id}/cancel           OP OFF DEC ADM
POST   /api/declarations/{declaration_id}/reject           OP OFF ADM
GET    /api/transits                                       OP OFF AUD ADM
GET    /api/transits/{transit_id}                          OP OFF AUD ADM
POST   /api/transits/{transit_id}/arrive                   OP OFF ADM
POST   /api/transits/{transit_id}/close                    OP OFF ADM
GET    /api/seal-inventory                                 OP OFF AUD ADM
POST   /api/seal-inventory                                 OP OFF ADM
GET    /api/alerts                                         OP OFF MG AUD ADM
GET    /api/alerts/stats                                   OP AUD ADM
GET    /api/alerts/stream                                  OP OFF AUD ADM
GET    /api/alerts/{alert_id}                              OP OFF MG AUD ADM
POST   /api/alerts/{alert_id}/acknowledge                  OP MG ADM
POST   /api/alerts/{alert_id}/dispatch                     OP ADM
POST   /api/alerts/{alert_id}/on-scene                     OP MG ADM
POST   /api/alerts/{alert_id}/resolve                      OP MG ADM
GET    /api/group/dispatches                               MG ADM
POST   /api/group/position                                 MG ADM
GET    /api/groups                                         OP AUD ADM
GET    /api/groups/suggest                                 OP AUD ADM
GET    /api/groups/{group_id}/suggest                      OP AUD ADM
GET    /api/console/units                                  OP OFF AUD ADM
GET    /api/console/units/{seal_id}                        OP OFF AUD ADM
GET    /api/console/alerts                                 OP OFF AUD ADM
GET    /api/me                                             OP OFF AUD ADM
GET    /api/history/transits                               OP AUD ADM
GET    /api/history/transits/{transit_id}                  OP AUD ADM
GET    /api/history/transits/{transit_id}/track            OP AUD ADM
GET    /api/history/export/{dataset}                       OP AUD ADM
GET    /api/history/aggregates                             OP AUD ADM
GET    /api/trs                                            OP AUD ADM
GET    /api/trs/transits/{transit_id}                      OP AUD ADM
GET    /api/trs/chart.png                                  OP AUD ADM
GET    /api/history/transits/{transit_id}/playback         OP AUD ADM
GET    /transits/{transit_id}/playback                     OP AUD ADM page
POST   /api/devices/{seal_id}/keys                         ADM
GET    /api/devices/{seal_id}/keys                         ADM
DELETE /api/devices/{seal_id}/keys/{kid}                   ADM
GET    /                                                   OP OFF AUD ADM page
GET    /officer                                            OP OFF AUD ADM page
GET    /officer/declarations/{declaration_id}              OP OFF AUD ADM page
GET    /routes                                             OP OFF AUD ADM page
GET    /routes/{code}                                      OP OFF AUD ADM page
GET    /auditor                                            OP AUD ADM page
GET    /auditor/transits/{transit_id}                      OP AUD ADM page
GET    /auditor/trs                                        OP AUD ADM page
GET    /auditor/alerts                                     OP AUD ADM page
GET    /group                                              MG ADM page
GET    /group/manifest.webmanifest                         public
GET    /group/sw.js                                        public
GET    /declarant                                          DEC ADM page
GET    /declarant/new                                      DEC ADM page
GET    /login                                              public
POST   /login                                              public
POST   /logout                                             public
GET    /lang/{locale}                                      public
GET    /docs                                               OP OFF MG AUD DEC ADM page
GET    /openapi.json                                       OP OFF MG AUD DEC ADM
POST   /api/auth/login                                     public
POST   /api/auth/logout                                    OP OFF MG AUD DEC ADM
GET    /api/auth/me                                        OP OFF MG AUD DEC ADM
GET    /api/users                                          ADM
POST   /api/users                                          ADM
GET    /api/users/{name}                                   ADM
PATCH  /api/users/{name}                                   ADM
GET    /api/audit/verify                                   AUD ADM
"""
ABBREVIATIONS = {
    "OP": Role.OPERATOR,
    "OFF": Role.OFFICER,
    "MG": Role.MOBILE_GROUP,
    "AUD": Role.AUDITOR,
    "DEC": Role.DECLARANT,
    "ADM": Role.ADMIN,
}


@dataclass(frozen=True)
class Expected:
    roles: frozenset[Role]
    public: bool
    page: bool
    scrape: bool


def _matrix() -> dict[tuple[str, str], Expected]:
    out: dict[tuple[str, str], Expected] = {}
    for line in MATRIX_TABLE.strip().splitlines():
        method, path, *words = line.split()
        roles = frozenset(ABBREVIATIONS[w] for w in words if w in ABBREVIATIONS)
        assert (method, path) not in out, f"{method} {path} is in the matrix twice"
        out[(method, path)] = Expected(roles, "public" in words, "page" in words, "scrape" in words)
    return out


MATRIX = _matrix()

# The only routes anybody may call without a session.
EXPECTED_PUBLIC = {
    ("GET", "/health"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/api/auth/login"),
    ("POST", "/logout"),
    ("GET", "/lang/{locale}"),
    ("GET", "/group/manifest.webmanifest"),
    ("GET", "/group/sw.js"),
}

# A value for each path parameter, valid for its pattern (the resource need not exist).
SAMPLE = {
    "seal_id": "AZS-000001",
    "kid": "k1",
    "code": "AZBAK",
    "permit_id": "1",
    "declaration_id": "1",
    "transit_id": "TR000001",
    "alert_id": "1",
    "group_id": "G1",
    "dataset": "tracks",
    "name": "nobody",
    "version": "1",
    "locale": "az",
}

# Endpoints whose allowed answer never ends (the SSE stream): an invalid query makes it a 422
# after the authorization, which runs first.
QUERY = {("GET", "/api/alerts/stream"): {"after": "-1"}}


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: SAMPLE[m.group(1)], path)


async def call(client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    body: dict[str, object] | None = {} if method in ("POST", "PUT", "PATCH") else None
    params = QUERY.get((method, path))
    return await client.request(method, concrete(path), headers=headers, json=body, params=params)


def test_every_route_has_exactly_one_rule_and_no_rule_is_stale() -> None:
    app = create_app(app_settings("postgresql://unused"))
    routes = {(method, path) for method, path, _ in api_routes(app.routes)}
    assert missing_rules(app.routes) == []
    assert set(ACCESS) == routes, "ACCESS names a route the app does not have"
    assert {key for key, rule in ACCESS.items() if rule.public} == EXPECTED_PUBLIC
    for key, rule in ACCESS.items():
        assert rule.public or Role.ADMIN in rule.roles, f"admin may do everything, not {key}"


def test_access_is_the_documented_matrix() -> None:
    actual = {key: Expected(rule.roles, rule.public, rule.page, rule.scrape) for key, rule in ACCESS.items()}
    assert set(actual) == set(MATRIX), (
        f"not in the matrix: {sorted(set(actual) - set(MATRIX))}; not in ACCESS: {sorted(set(MATRIX) - set(actual))}"
    )
    wrong = {key: (actual[key], MATRIX[key]) for key in MATRIX if actual[key] != MATRIX[key]}
    assert wrong == {}, "ACCESS differs from the documented matrix (ACCESS, matrix)"
    # Spot checks of the README's sentences against the table itself.
    assert Role.DECLARANT not in MATRIX[("GET", "/api/dead-letters")].roles
    assert Role.AUDITOR not in MATRIX[("POST", "/api/alerts/{alert_id}/dispatch")].roles
    assert not {Role.OFFICER, Role.AUDITOR} & MATRIX[("POST", "/api/alerts/{alert_id}/acknowledge")].roles
    assert {r for r in Role if all(r in e.roles for e in MATRIX.values() if not e.public)} == {Role.ADMIN}


def test_a_route_without_a_rule_is_reported_and_refused() -> None:
    router = APIRouter()

    @router.get("/api/new-thing")
    async def new_thing() -> dict[str, str]:
        return {}

    prefixed = APIRouter()

    @prefixed.get("/seals")
    async def seals_again() -> dict[str, str]:
        return {}

    app = FastAPI()
    app.include_router(router)
    app.include_router(prefixed, prefix="/api")  # the matrix matches the route's own path: refused
    assert missing_rules(app.routes) == [
        "GET /api/new-thing",
        "GET /api/seals (included with a prefix: declare the full path on the router)",
    ]


async def test_every_route_against_every_role(client: httpx.AsyncClient, users: Users) -> None:
    app = create_app(app_settings(users.url))
    checked = 0
    for method, path, _ in api_routes(app.routes):
        rule = MATRIX[(method, path)]
        where = f"{method} {path}"
        if rule.public:
            anonymous = await call(client, method, path, {})
            assert anonymous.status_code not in (401, 403), where
            continue
        for headers in ({}, {"Authorization": "Bearer forged-token"}, {"Authorization": "Basic YWRtOmFkbQ=="}):
            r = await call(client, method, path, headers)
            if rule.page:
                assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/"), where
            else:
                assert r.status_code == 401, (where, r.status_code, r.text)
                assert r.headers["www-authenticate"] == "Bearer", where
        for role in Role:
            r = await call(client, method, path, users.headers(role))
            if role in rule.roles:
                assert r.status_code not in (401, 403), (where, role.value, r.status_code, r.text)
            elif rule.page:  # a page of another role: the user's own workspace instead of a 403
                assert r.status_code == 303 and r.headers["location"] == WORKSPACES[role.value], (where, role)
            else:
                assert r.status_code == 403, (where, role.value, r.status_code, r.text)
            checked += 1
    assert checked >= 60 * len(Role)


async def test_metrics_takes_the_scrape_token_or_an_operator(client: httpx.AsyncClient, users: Users) -> None:
    scrape = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert scrape.status_code == 200 and "sealwatch_fixes_stored_total" in scrape.text
    assert (await client.get("/metrics", headers={"Authorization": "Bearer scrape-m"})).status_code == 401
    assert (await client.get("/metrics", headers=users.headers(Role.OPERATOR))).status_code == 200
    assert (await client.get("/metrics", headers=users.headers(Role.AUDITOR))).status_code == 403
    # The scrape token is for /metrics only.
    assert (await client.get("/api/seals", headers={"Authorization": "Bearer scrape-me"})).status_code == 401


async def test_openapi_documents_the_security(client: httpx.AsyncClient, users: Users) -> None:
    assert (await client.get("/openapi.json")).status_code == 401
    schema = (await client.get("/openapi.json", headers=users.headers(Role.DECLARANT))).json()
    assert schema["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "token from POST /api/auth/login",
    }
    assert "security" not in schema["paths"]["/health"]["get"]
    devices = schema["paths"]["/api/devices/{seal_id}/keys"]["post"]
    assert devices["security"] == [{"bearer": []}, {"cookie": []}] and "Roles: admin." in devices["description"]
