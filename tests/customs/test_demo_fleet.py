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


def test_a_large_fleet_copies_released_transits_whole(migrated_db: str) -> None:
    """Past the templates, seals get copies of released transits: the same records the lifecycle
    writes (items, status history, risk, permit draws, seal assignment), audited, each its own."""
    from store.audit import verify

    with psycopg.connect(migrated_db) as conn:
        fleet = release_demo_fleet(conn, 9, seed=3, templates=3)
        assert [t.seal_id for t in fleet] == [f"AZS-{i:05d}" for i in range(1, 10)]
        assert len({t.transit_id for t in fleet}) == 9
        per_declaration = conn.execute(
            """SELECT d.lrn, d.status, d.mrn = t.transit_id AS same_mrn, s.status AS seal_status,
                      s.current_transit_id = t.transit_id AS seal_on_it,
                      (SELECT count(*) FROM declaration_items i WHERE i.declaration_id = d.id) > 0 AS items,
                      (SELECT array_agg(h.to_status ORDER BY h.id) FROM declaration_status_history h
                        WHERE h.declaration_id = d.id) AS history,
                      (SELECT count(*) FROM risk_assessments r WHERE r.declaration_id = d.id) AS assessed,
                      (SELECT count(*) FROM transit_seals ts WHERE ts.transit_id = t.transit_id) AS fitted,
                      t.deadline > t.released_at AS deadline_ahead
               FROM declarations d JOIN transits t ON t.declaration_id = d.id JOIN seals s ON s.seal_id = t.seal_id
               ORDER BY t.seal_id"""
        ).fetchall()
        audited = conn.execute(
            "SELECT count(*) FROM audit_log WHERE table_name = 'transits' AND op = 'INSERT'"
        ).fetchone()
    with psycopg.connect(migrated_db, row_factory=psycopg.rows.dict_row) as conn:
        chain = verify(conn)
    assert len(per_declaration) == 9
    assert len({row[0] for row in per_declaration}) == 9  # each its own LRN
    for row in per_declaration:
        assert row[1:6] == ("released", True, "in_use", True, True), row
        assert row[6] == ["submitted", "accepted", "released"], row
        assert row[7:] == (1, 1, True), row
    assert audited == (9,) and chain.ok
