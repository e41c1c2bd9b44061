"""The demo fleet: every seal belongs to a real released transit; a rerun reuses them."""

from __future__ import annotations

import psycopg

from customs.demo_fleet import release_demo_fleet
from sealwatch.geography import ROUTES


def test_demo_fleet_releases_one_transit_per_seal_and_is_rerunnable(migrated_db: str) -> None:
    with psycopg.connect(migrated_db) as conn:
        first = release_demo_fleet(conn, 12, seed=7)
        assert [t.seal_id for t in first] == [f"AZS-{i:05d}" for i in range(1, 13)]
        assert all(t.route_code in ROUTES and t.deadline > t.released_at for t in first)
        again = release_demo_fleet(conn, 14, seed=7)
        assert [t.transit_id for t in again[:12]] == [t.transit_id for t in first]
        assert len(again) == 14
        active = conn.execute("SELECT transit_id, seal_id FROM active_transits ORDER BY seal_id").fetchall()
        statuses = conn.execute("SELECT DISTINCT status FROM declarations").fetchall()
        batteries = conn.execute("SELECT min(battery_pct), max(battery_pct) FROM seals").fetchone()
    assert [(t.transit_id, t.seal_id) for t in again] == active
    assert statuses == [("released",)]
    assert batteries is not None and 60 <= batteries[0] <= batteries[1] <= 100
