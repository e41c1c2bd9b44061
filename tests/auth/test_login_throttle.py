"""The login throttle: guessing is bounded, yet nobody without the password can keep a user out.

Client addresses are set per client (httpx's ASGI transport passes them as the socket peer).
Failures from many addresses are inserted straight into ``login_failures``, as that many
attempts through the API would leave them; time passes by moving them into the past.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from api.app import create_app
from store.login_throttle import ACCOUNT_FREE, ADDRESS_FREE, MAX_DELAY, PAIR_FREE, backoff_s
from tests.auth.conftest import Users, app_settings
from tests.helpers import count
from tests.login import PASSWORD


async def login(client: httpx.AsyncClient, name: str, password: str, **headers: str) -> httpx.Response:
    return await client.post("/api/auth/login", json={"username": name, "password": password}, headers=headers)


@pytest.fixture
async def app(migrated_db: str) -> AsyncIterator[FastAPI]:
    application = create_app(app_settings(migrated_db))
    async with application.router.lifespan_context(application):
        yield application


def client_from(app: FastAPI, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url="http://t")


def failures(url: str, name: str, addresses: list[str], ago: timedelta = timedelta(0)) -> None:
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO login_failures (username, ip, at) VALUES (%s, %s, now() - %s)",
            [(name, a, ago) for a in addresses],
        )


def age(url: str, by: timedelta, where: str = "true") -> None:
    with psycopg.connect(url) as conn:
        conn.execute(f"UPDATE login_failures SET at = at - %s WHERE {where}", (by,))


def test_the_wait_doubles_per_failure_past_the_free_ones_up_to_a_cap() -> None:
    assert [backoff_s(n, 3, MAX_DELAY) for n in range(7)] == [0, 0, 0, 1, 2, 4, 8]
    assert backoff_s(13, 3, MAX_DELAY) == MAX_DELAY.total_seconds()
    assert backoff_s(10_000, 3, MAX_DELAY) == MAX_DELAY.total_seconds()


async def test_guessing_one_account_from_one_address_backs_off_exponentially(app: FastAPI, users: Users) -> None:
    async with client_from(app, "10.0.0.9") as attacker:
        assert [(await login(attacker, "op", f"guess-{i}")).status_code for i in range(PAIR_FREE)] == [401] * 3
        for n in range(PAIR_FREE, PAIR_FREE + 7):
            wait = 2 ** (n - PAIR_FREE)
            # Right after a failure the next attempt waits, even with the right password (not checked).
            r = await login(attacker, "op", PASSWORD)
            assert r.status_code == 429 and int(r.headers["retry-after"]) == wait, n
            age(users.url, timedelta(seconds=wait))  # the wait is over: one more guess
            assert (await login(attacker, "op", f"guess-{n}")).status_code == 401
    # Bounded: 3 free guesses, then one per doubling wait (15 minutes at most).
    assert count(users.url, "SELECT count(*) FROM login_failures WHERE username = 'op'") == PAIR_FREE + 7


async def test_the_throttle_holds_across_api_processes(migrated_db: str, users: Users) -> None:
    apps = [create_app(app_settings(migrated_db)) for _ in range(2)]
    async with apps[0].router.lifespan_context(apps[0]), apps[1].router.lifespan_context(apps[1]):
        clients = [client_from(a, "10.0.0.1") for a in apps]
        statuses = [(await login(clients[i % 2], "op", f"guess-{i}")).status_code for i in range(PAIR_FREE)]
        assert statuses == [401] * PAIR_FREE
        for c in clients:
            assert (await login(c, "op", PASSWORD)).status_code == 429
            await c.aclose()


async def test_an_attacker_without_the_password_cannot_lock_a_user_out(app: FastAPI, users: Users) -> None:
    # Hundreds of guesses at the admin, from one address and from many.
    async with client_from(app, "198.51.100.66") as attacker:
        for i in range(PAIR_FREE + 2):
            await login(attacker, "adm", f"guess-{i}")
    failures(users.url, "adm", [f"198.51.100.{i}" for i in range(1, 60)] * 4)
    assert count(users.url, "SELECT count(*) FROM login_failures WHERE username = 'adm'") > 4 * ACCOUNT_FREE
    # The real admin, from an address that has not failed, gets in at once.
    async with client_from(app, "192.0.2.10") as admin:
        assert (await login(admin, "adm", PASSWORD)).status_code == 200
    # ...and so would the admin from an address that had failed once before (a typo), once its
    # pair's own small wait is over: the account ceiling slows, it never locks.
    failures(users.url, "adm", ["192.0.2.11"], ago=timedelta(seconds=61))
    age(users.url, timedelta(seconds=61))
    async with client_from(app, "192.0.2.11") as admin:
        assert (await login(admin, "adm", PASSWORD)).status_code == 200


async def test_a_success_clears_its_own_pair_only(app: FastAPI, users: Users) -> None:
    failures(users.url, "op", ["10.1.0.1", "10.1.0.1", "10.1.0.2", "10.1.0.2", "10.1.0.2"])
    async with client_from(app, "10.1.0.1") as user:
        assert (await login(user, "op", PASSWORD)).status_code == 200
    assert count(users.url, "SELECT count(*) FROM login_failures WHERE ip = '10.1.0.1'") == 0
    # The other address's guesses stay counted: a login elsewhere does not reset an attacker.
    assert count(users.url, "SELECT count(*) FROM login_failures WHERE ip = '10.1.0.2'") == 3
    async with client_from(app, "10.1.0.2") as attacker:
        assert (await login(attacker, "op", "guess")).status_code == 429


async def test_the_account_ceiling_slows_a_guess_spread_over_many_addresses(app: FastAPI, users: Users) -> None:
    spread = [f"203.0.113.{i}" for i in range(1, ACCOUNT_FREE + 11)]
    failures(users.url, "aud", spread, ago=timedelta(seconds=30))
    failures(users.url, "aud", ["203.0.113.200"])  # the account's newest failure, now
    async with client_from(app, spread[0]) as again:
        r = await login(again, "aud", "next guess")
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
    # Not a lock: a minute later the same address may guess again (and fails, one more failure).
    age(users.url, timedelta(seconds=61))
    async with client_from(app, spread[0]) as again:
        assert (await login(again, "aud", "next guess")).status_code == 401
    # An address that has not failed on the account is not held back by the others.
    async with client_from(app, "192.0.2.77") as fresh:
        assert (await login(fresh, "aud", PASSWORD)).status_code == 200


async def test_one_address_does_not_block_everyone_behind_it(app: FastAPI, users: Users) -> None:
    office = "100.64.0.1"  # one NAT address for a whole office
    async with client_from(app, office) as someone:
        assert (await login(someone, "op", PASSWORD)).status_code == 200  # op works from this office
    # Someone in the office sprays names (one guess each, never tripping a pair's back-off).
    with psycopg.connect(users.url) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO login_failures (username, ip) VALUES (%s, %s)",
            [(f"name-{i}", office) for i in range(ADDRESS_FREE + 5)],
        )
    async with client_from(app, office) as colleague:
        # The people who log in from here keep doing so...
        assert (await login(colleague, "op", PASSWORD)).status_code == 200
        # ...while spraying more names from it is slowed.
        r = await login(colleague, "name-new", "guess")
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 1
    # Other addresses are not affected at all.
    async with client_from(app, "100.64.0.2") as elsewhere:
        assert (await login(elsewhere, "aud", PASSWORD)).status_code == 200


def recorded_address(url: str, name: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT ip FROM login_failures WHERE username = %s ORDER BY id", (name,))]


async def test_x_forwarded_for_is_ignored_without_a_trusted_proxy(app: FastAPI, users: Users) -> None:
    async with client_from(app, "10.2.0.5") as c:
        await login(c, "op", "guess", **{"x-forwarded-for": "192.0.2.1"})
    assert recorded_address(users.url, "op") == ["10.2.0.5"]


async def test_behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client(
    migrated_db: str, users: Users
) -> None:
    app = create_app(app_settings(migrated_db, trusted_proxies="10.3.0.0/24, fd00::/8"))
    cases = [
        # (socket peer, X-Forwarded-For, the address throttled)
        ("10.3.0.5", "203.0.113.7", "203.0.113.7"),
        ("10.3.0.5", "6.6.6.6, 203.0.113.8", "203.0.113.8"),  # the left part is the client's own claim
        ("10.3.0.5", "203.0.113.9, 10.3.0.7", "203.0.113.9"),  # two proxies in a row
        ("fd00::1", "2001:db8::5", "2001:db8::5"),
        ("10.3.0.5", "not-an-address, 10.3.0.8", "10.3.0.8"),
        ("10.3.0.5", "", "10.3.0.5"),
        ("198.51.100.1", "203.0.113.10", "198.51.100.1"),  # not from a trusted proxy: header ignored
    ]
    async with app.router.lifespan_context(app):
        for i, (peer, forwarded, _) in enumerate(cases):
            async with client_from(app, peer) as c:
                headers = {"x-forwarded-for": forwarded} if forwarded else {}
                assert (await login(c, f"ghost-{i}", "guess", **headers)).status_code == 401
        # The login form reads the same address.
        async with client_from(app, "10.3.0.5") as c:
            form = "username=ghost-form&password=guess"
            await c.post(
                "/login",
                content=form,
                headers={
                    "content-type": "application/x-www-form-urlencoded",
                    "x-forwarded-for": "203.0.113.50",
                },
            )
    for i, (_, _, expected) in enumerate(cases):
        assert recorded_address(migrated_db, f"ghost-{i}") == [expected], cases[i]
    assert recorded_address(migrated_db, "ghost-form") == ["203.0.113.50"]


def test_a_bad_trusted_proxy_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="not an address or CIDR"):
        app_settings("postgresql://x/y", trusted_proxies="10.0.0.0/8, proxy.example")
