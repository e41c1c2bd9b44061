"""Login, sessions and cookies, against the real database (the throttle: test_login_throttle.py)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import httpx
import psycopg

from store.users import Role
from tests.auth.conftest import Users
from tests.helpers import count
from tests.login import PASSWORD


async def login(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    return await client.post("/api/auth/login", json={"username": name, "password": password})


async def test_login_gives_a_hashed_session_as_bearer_and_httponly_strict_cookie(
    client: httpx.AsyncClient, users: Users
) -> None:
    r = await login(client, "op", PASSWORD)
    assert r.status_code == 200
    body = r.json()
    assert body["user"] == {"name": "op", "role": "operator", "group_id": None, "tin": None, "disabled": False}
    token = body["token"]
    assert len(token) >= 40
    assert datetime.fromisoformat(body["expires_at"]) > datetime.now(UTC)
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"sealwatch_session={token};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    # Only the sha256 of the token is stored.
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert count(users.url, "SELECT count(*) FROM sessions WHERE token_hash = %s AND name = 'op'", digest) == 1
    assert count(users.url, "SELECT count(*) FROM sessions WHERE token_hash = %s", token) == 0

    # The cookie alone authenticates (the client kept it), and so does the header alone.
    assert (await client.get("/api/auth/me")).json()["name"] == "op"
    client.cookies.clear()
    me = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["role"] == "operator"

    # Logout ends the session at once and clears the cookie.
    out = await client.post("/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert out.status_code == 204 and 'sealwatch_session=""' in out.headers["set-cookie"]
    assert (await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    assert count(users.url, "SELECT count(*) FROM sessions WHERE token_hash = %s", digest) == 0


async def test_wrong_password_unknown_user_and_disabled_user_are_401(client: httpx.AsyncClient, users: Users) -> None:
    assert (await login(client, "op", "wrong password")).status_code == 401
    assert (await login(client, "ghost", PASSWORD)).status_code == 401
    token = users.token(Role.OPERATOR)
    admin = users.headers(Role.ADMIN)
    r = await client.patch("/api/users/op", json={"disabled": True}, headers=admin)
    assert r.status_code == 200 and r.json()["disabled"] is True
    # Disabling ends its sessions and refuses new ones.
    assert (await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    assert (await login(client, "op", PASSWORD)).status_code == 401


async def test_an_expired_session_is_refused(client: httpx.AsyncClient, users: Users) -> None:
    token = users.token(Role.AUDITOR)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/auth/me", headers=headers)).status_code == 200
    with psycopg.connect(users.url) as conn:
        conn.execute("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE name = 'aud'")
    assert (await client.get("/api/auth/me", headers=headers)).status_code == 401


async def test_login_form_sets_the_cookie_and_returns_to_a_local_page(client: httpx.AsyncClient, users: Users) -> None:
    page = await client.get("/")
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/"
    form = await client.get("/login", params={"next": "/transits/TR1/playback"})
    assert form.status_code == 200 and 'value="/transits/TR1/playback"' in form.text

    data = {"username": "op", "password": PASSWORD, "next": "/"}
    r = await client.post("/login", data=data)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "HttpOnly" in r.headers["set-cookie"] and "SameSite=strict" in r.headers["set-cookie"]
    assert (await client.get("/")).status_code == 200  # the cookie now opens the map

    # Never redirect off-site after login.
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        client.cookies.clear()
        r = await client.post("/login", data={**data, "next": evil})
        assert r.status_code == 303 and r.headers["location"] == "/", evil

    bad = await client.post("/login", data={**data, "password": "nope"}, headers={"accept-language": "en"})
    assert bad.status_code == 401 and "Wrong user name or password." in bad.text and "set-cookie" not in bad.headers


async def test_cookie_sessions_refuse_cross_site_writes(client: httpx.AsyncClient, users: Users) -> None:
    token = users.token(Role.OPERATOR)
    client.cookies.set("sealwatch_session", token)
    cross = await client.post(
        "/api/alerts/1/acknowledge", json={}, headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403 and "cross-site" in cross.text
    same = await client.post("/api/alerts/1/acknowledge", json={}, headers={"Origin": "http://testserver"})
    assert same.status_code == 404  # authorized; the alert does not exist
    # A cross-site login form post is refused too (no login CSRF).
    client.cookies.clear()
    forged = await client.post(
        "/login", data={"username": "op", "password": PASSWORD}, headers={"Origin": "https://evil.example"}
    )
    assert forged.status_code == 403 and "set-cookie" not in forged.headers
