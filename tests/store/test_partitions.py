"""Native partition maintenance: created ahead, created on demand, dropped by retention."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from store import partitions

pytestmark = pytest.mark.backends("native")  # TimescaleDB's chunks: tests/store/test_timescale.py


def _conn(url: str) -> psycopg.Connection[dict[str, object]]:
    return psycopg.connect(url, row_factory=dict_row)


def test_maintain_creates_partitions_ahead_and_drops_expired(migrated_db: str) -> None:
    today = date(2026, 11, 23)
    with _conn(migrated_db) as conn:
        old = [today - timedelta(days=d) for d in (40, 31, 30, 29)]
        partitions.ensure_partitions(conn, old)
        partitions.maintain(conn, "native", retention_days=30, ahead_days=3, compress_after_days=7, today=today)
        have = partitions.existing_partitions(conn)
    expected_ahead = {today + timedelta(days=d) for d in range(-1, 4)}
    assert expected_ahead <= have
    # Days wholly older than the retention cut-off are gone; the cut-off day itself stays.
    assert today - timedelta(days=40) not in have and today - timedelta(days=31) not in have
    assert {today - timedelta(days=30), today - timedelta(days=29)} <= have


def test_ensure_partitions_is_idempotent_and_rows_route_by_day(migrated_db: str) -> None:
    day = date(2026, 1, 15)
    with _conn(migrated_db) as conn:
        assert partitions.ensure_partitions(conn, [day]) == [day]
        assert partitions.ensure_partitions(conn, [day]) == []
        conn.execute(
            "INSERT INTO fixes (seal_id, seq, t, lat, lon, battery_pct, seal_state, received_at) "
            "VALUES ('AZS-000001', 1, '2026-01-15T23:59:59Z', 40, 49, 90, 'closed', now())"
        )
        row = conn.execute("SELECT tableoid::regclass::text AS part FROM fixes").fetchone()
    assert row is not None and row["part"] == "fixes_p20260115"
