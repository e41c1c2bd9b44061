"""The live alert stream ends with its session: a logout or the session's expiry sends a last
``session-ended`` event and closes the stream (a real server: SSE needs one)."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import psycopg
import pytest

from api.app import create_app
from sealwatch.config import Settings
from store.users import create_session
from tests.alerts.test_live import SseReader
from tests.helpers import serve_app
from tests.login import ensure_user, token


def app_settings(url: str, check_s: float) -> Settings:
    return Settings(database_url=url, mqtt_url=None, stream_session_check_s=check_s)


async def test_logout_ends_the_stream_and_only_that_one(migrated_db: str) -> None:
    leaving = token(migrated_db, "op-leaving", "operator")
    staying = token(migrated_db, "op-staying", "operator")
    with serve_app(create_app(app_settings(migrated_db, check_s=0.5))) as url:
        async with (
            httpx.AsyncClient(base_url=url, timeout=30) as http,
            http.stream("GET", "/api/alerts/stream", headers={"Authorization": f"Bearer {leaving}"}) as r1,
            http.stream("GET", "/api/alerts/stream", headers={"Authorization": f"Bearer {staying}"}) as r2,
        ):
            assert r1.status_code == r2.status_code == 200
            gone, kept = SseReader(r1), SseReader(r2)
            with pytest.raises(TimeoutError):  # nothing to say while the session lasts
                await gone.next(within=1.5)
            out = await http.post("/api/auth/logout", headers={"Authorization": f"Bearer {leaving}"})
            assert out.status_code == 204
            started = time.monotonic()
            event = await gone.next(within=5)
            assert event["event"] == "session-ended" and time.monotonic() - started < 3
            with pytest.raises(AssertionError, match="stream ended"):
                await gone.next(within=5)
            # The other user's stream is still open.
            with pytest.raises(TimeoutError):
                await kept.next(within=1.5)
            await kept.close()
            await gone.close()


async def test_expiry_ends_the_stream_on_time(migrated_db: str) -> None:
    ensure_user(migrated_db, "op-short", "operator")
    with psycopg.connect(migrated_db) as conn:
        short = create_session(conn, "op-short", ttl=timedelta(seconds=3))
    # The periodic check is far off: the stream knows the expiry time and ends at it.
    with serve_app(create_app(app_settings(migrated_db, check_s=600))) as url:
        async with (
            httpx.AsyncClient(base_url=url, timeout=30) as http,
            http.stream("GET", "/api/alerts/stream", headers={"Authorization": f"Bearer {short}"}) as r,
        ):
            assert r.status_code == 200
            reader = SseReader(r)
            started = time.monotonic()
            event = await reader.next(within=10)
            assert event["event"] == "session-ended" and time.monotonic() - started < 6
            with pytest.raises(AssertionError, match="stream ended"):
                await reader.next(within=5)
            await reader.close()
        # And the expired token opens no new stream.
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            assert (
                await http.get("/api/alerts/stream", headers={"Authorization": f"Bearer {short}"})
            ).status_code == 401
