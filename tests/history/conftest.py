"""A simulated day in a real database: demo transits released through customs, their fixes written
with FixWriter along each route, and an app over it for the HTTP-level tests."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from api.app import create_app
from customs.demo_fleet import release_demo_fleet
from sealwatch.config import Settings
from sealwatch.fixes import FixRecord
from store.fixes import FixWriter
from tests.login import auth

FIX_INTERVAL = timedelta(seconds=60)
FIXES_PER_TRANSIT = 360  # six hours at one fix a minute


@dataclass(frozen=True)
class SimTransit:
    transit_id: str
    seal_id: str
    released_at: datetime
    route_code: str | None
    fixes: list[FixRecord]  # exactly the fixes of the transit's window, in time order


@dataclass(frozen=True)
class SimDay:
    url: str
    transits: list[SimTransit]
    extra_fixes: int  # fixes outside any transit window (before release, or of an unassigned seal)

    @property
    def total_fixes(self) -> int:
        return sum(len(t.fixes) for t in self.transits) + self.extra_fixes


def _along(coords: list[list[float]], frac: float) -> tuple[float, float]:
    """(lon, lat) at a fraction of the polyline's vertex-to-vertex path (linear in degrees: enough here)."""
    seglen = [((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2) ** 0.5 for a, b in itertools.pairwise(coords)]
    target = frac * sum(seglen)
    for (a, b), length in zip(itertools.pairwise(coords), seglen, strict=True):
        if target <= length and length > 0:
            k = target / length
            return a[0] + (b[0] - a[0]) * k, a[1] + (b[1] - a[1]) * k
        target -= length
    return coords[-1][0], coords[-1][1]


def make_track(seal_id: str, start: datetime, coords: list[list[float]], n: int, seq0: int = 1) -> list[FixRecord]:
    out = []
    received = datetime.now(UTC)  # delivered now, as a replay would be
    for i in range(n):
        lon, lat = _along(coords, i / max(n - 1, 1))
        t = start + i * FIX_INTERVAL
        speed = 0.5 if 100 <= i < 110 else 62.0 + (i % 7)  # a ten-minute stop in the middle
        out.append(FixRecord(seal_id, seq0 + i, t, lat, lon, speed, 90.0, 9, 0.9, 90.0 - i * 0.01, "closed", received))
    return out


def _shift_back(conn: psycopg.Connection[dict[str, object]], transit_ids: list[str], by: timedelta) -> None:
    """Move released transits ``by`` into the past, as if the day had happened then."""
    conn.execute(
        "UPDATE transits SET released_at = released_at - %s, deadline = deadline - %s WHERE transit_id = ANY(%s)",
        (by, by, transit_ids),
    )
    conn.execute(
        "UPDATE transit_seals SET assigned_at = assigned_at - %s WHERE transit_id = ANY(%s)", (by, transit_ids)
    )
    conn.commit()


def build_day(url: str, n_transits: int = 4, seed: int = 11, days_ago: int = 0) -> SimDay:
    """The demo fleet's day: now, or ``days_ago`` days back (transits and fixes alike)."""
    with psycopg.connect(url) as conn:
        released = release_demo_fleet(conn, n_transits, seed)
    back = timedelta(days=days_ago)
    sims: list[SimTransit] = []
    extra = 0
    with psycopg.connect(url, row_factory=dict_row) as conn:
        if days_ago:
            _shift_back(conn, [r.transit_id for r in released], back)
        writer = FixWriter(conn)
        for r in released:
            assert r.seal_id is not None
            released_at = r.released_at - back
            row = conn.execute("SELECT route_line FROM transits WHERE transit_id = %s", (r.transit_id,)).fetchone()
            assert row is not None
            coords = row["route_line"]["coordinates"]
            # Fixes from before the release (seal fitted, truck waiting) are not part of the transit.
            before = make_track(r.seal_id, released_at - timedelta(minutes=30), coords[:1] * 2, 10, seq0=1)
            track = make_track(r.seal_id, released_at + timedelta(seconds=1), coords, FIXES_PER_TRANSIT, seq0=100)
            writer.write(before + track, [])
            conn.commit()
            extra += len(before)
            sims.append(SimTransit(r.transit_id, r.seal_id, released_at, r.route_code, track))
        stray = make_track("AZS-STRAY", datetime.now(UTC) - timedelta(hours=2), [[49.0, 40.0], [49.5, 40.2]], 50)
        writer.write(stray, [])
        conn.commit()
        extra += len(stray)
    return SimDay(url, sims, extra)


@pytest.fixture
async def day(migrated_db: str) -> SimDay:
    # release_demo_fleet runs its own event loop (asyncio.run): keep it off this test's loop.
    return await asyncio.to_thread(build_day, migrated_db)


@pytest.fixture
async def client(day: SimDay) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=day.url))
    headers = auth(day.url, "auditor", "auditor")  # history is the auditor's: read-only, everything
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            timeout=60,
            headers=headers,
        ) as c,
    ):
        yield c
