"""The API's connection pool after the database dropped its connections (a restart, a failover).

The shared server is not restarted: its backends for this test's database are terminated, which
is what a restart does to the pool's idle connections.
"""

from __future__ import annotations

import asyncio

import httpx
import psycopg

from api.app import create_app
from launcher.servers import Mosquitto
from sealwatch.config import Settings
from store.users import Role
from tests.login import PASSWORD, ensure_user


def _terminate_backends(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


async def test_after_the_pools_connections_are_killed_the_very_next_requests_succeed(
    migrated_db: str, broker: Mosquitto
) -> None:
    ensure_user(migrated_db, "op", Role.OPERATOR)
    app = create_app(Settings(database_url=migrated_db, mqtt_url=broker.url))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        # Several pooled connections, all idle afterwards.
        first = await asyncio.gather(*(client.get("/health") for _ in range(6)))
        assert [r.status_code for r in first] == [200] * 6
        assert app.state.pool.get_stats()["pool_size"] >= 2
        assert _terminate_backends(migrated_db) >= 2

        login = await client.post("/api/auth/login", json={"username": "op", "password": PASSWORD})
        assert login.status_code == 200, login.text
        health = await client.get("/health")
        assert health.status_code == 200, health.text
        again = await asyncio.gather(*(client.get("/health") for _ in range(6)))
        assert [r.status_code for r in again] == [200] * 6
