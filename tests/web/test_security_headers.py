"""Security headers on every response: pages, API JSON, static files, errors, compressed bodies."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from api.security import SecurityHeadersMiddleware, content_security_policy, tile_origin
from store.users import Role
from tests.auth.conftest import ROLE_USERS, Users
from tests.web.test_pages import form_login


def assert_secured(resp: httpx.Response) -> str:
    """The headers every response carries; returns the CSP nonce."""
    what = f"{resp.request.method} {resp.request.url.path} → {resp.status_code}"
    assert resp.headers.get("x-frame-options") == "DENY", what
    assert resp.headers.get("x-content-type-options") == "nosniff", what
    assert resp.headers.get("referrer-policy") in ("same-origin", "no-referrer"), what
    csp = resp.headers.get("content-security-policy", "")
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["frame-ancestors"] == "'none'", what
    assert directives["default-src"] == "'self'", what
    assert directives["object-src"] == "'none'", what
    script = directives["script-src"].split()
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script, what
    [nonce] = [s for s in script if s.startswith("'nonce-")]
    return str(nonce).removeprefix("'nonce-").removesuffix("'")


async def test_every_kind_of_response_carries_the_headers(client: httpx.AsyncClient, users: Users) -> None:
    public = [
        await client.get("/login"),  # HTML
        await client.get("/static/sw.js"),  # static file
        await client.get("/static/no-such-file.js"),  # static 404
        await client.get("/no-such-page"),  # 404 page
        await client.get("/api/auth/me"),  # 401 JSON
        await client.get("/health"),  # JSON (503: no broker here)
        await client.post("/api/auth/login", json={"username": 1}),  # 422 JSON
    ]
    assert [r.status_code for r in public] == [200, 200, 404, 404, 401, 503, 422]
    for resp in public:
        assert_secured(resp)
    operator = users.headers(Role.OPERATOR)
    seals = await client.get("/api/seals", headers=operator)
    assert seals.status_code == 200
    assert_secured(seals)
    forbidden = await client.get("/api/users", headers=operator)
    assert forbidden.status_code == 403
    assert_secured(forbidden)


async def test_a_gzipped_response_keeps_its_headers(client: httpx.AsyncClient, users: Users) -> None:
    big = await client.get("/static/vendor/leaflet/leaflet.js", headers={"accept-encoding": "gzip"})
    assert big.status_code == 200 and big.headers["content-encoding"] == "gzip"
    assert_secured(big)


async def test_each_page_has_its_own_nonce_and_every_inline_script_carries_it(
    client: httpx.AsyncClient, users: Users
) -> None:
    await form_login(client, ROLE_USERS[Role.OPERATOR][0])
    first = await client.get("/")
    second = await client.get("/")
    assert first.status_code == second.status_code == 200
    nonce = assert_secured(first)
    assert nonce != assert_secured(second) and len(nonce) >= 16
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", first.text)
    executable = [attrs for attrs in inline if "application/json" not in attrs]
    assert executable == []  # the console's code lives in /static; its data rides in a JSON block
    docs = await client.get("/docs")
    docs_nonce = assert_secured(docs)
    docs_inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", docs.text)
    assert docs_inline and all(f'nonce="{docs_nonce}"' in attrs for attrs in docs_inline)


async def test_an_unhandled_error_is_answered_500_with_the_headers() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("a bug")

    app = SecurityHeadersMiddleware(broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        resp = await c.get("/")
    assert resp.status_code == 500
    assert_secured(resp)


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        (None, None),
        ("/static/tiles/{z}/{x}/{y}.png", None),
        ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "https://tile.openstreetmap.org"),
        ("https://{s}.tile.example.com:8443/{z}/{x}/{y}.png", "https://*.tile.example.com:8443"),
    ],
)
def test_an_external_tile_server_is_allowed_for_images_only(url: str | None, origin: str | None) -> None:
    assert tile_origin(url) == origin
    if origin:
        csp = content_security_policy("n", (origin,))
        assert f"img-src 'self' data: blob: {origin};" in csp
        assert csp.count(origin) == 1
