"""The role matrix, endpoint by endpoint: every API route of the app against every role.

For each route: no token → 401 (an HTML page: a redirect to the login form), a forged token →
401, a role the matrix does not list → 403, a listed role → neither 401 nor 403 (what it gets
then — 200, 404, 409, 422 — is the endpoint's business). A route missing from the matrix fails
here and makes ``create_app`` refuse to start.
"""

from __future__ import annotations

import re

import httpx
from fastapi import APIRouter, FastAPI

from api.app import create_app
from api.auth import ACCESS, api_routes, missing_rules
from maps.workspaces import WORKSPACES
from store.users import Role
from tests.auth.conftest import Users, app_settings

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
        rule = ACCESS[(method, path)]
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
