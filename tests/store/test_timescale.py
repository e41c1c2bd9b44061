"""TimescaleDB storage: daily chunks, compression and retention run by their policies' jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from sealwatch.fixes import FixRecord
from store import aggregates, partitions
from store.fixes import FixWriter
from tests.tsdb import materialized_seal_hours, pause_jobs, run_jobs

pytestmark = pytest.mark.backends("timescale")

NOW = datetime.now(UTC).replace(microsecond=0)
ALL = "SELECT seal_id, seq, t, lat, lon, speed_kmh, battery_pct, seal_state FROM fixes ORDER BY seal_id, t, seq"


def _fixes(seal: str, start: datetime, n: int, seq0: int = 1) -> list[FixRecord]:
    return [
        FixRecord(seal, seq0 + i, start + timedelta(minutes=i), 40.0 + i * 1e-4, 49.0, 60.0, 90.0, 9, 0.9,
                  80.0, "closed", NOW)
        for i in range(n)
    ]  # fmt: skip


def _chunks(conn: psycopg.Connection[dict[str, Any]]) -> list[dict[str, Any]]:
    return conn.execute(
        """SELECT range_start, range_end, is_compressed FROM timescaledb_information.chunks
           WHERE hypertable_name = 'fixes' ORDER BY range_start"""
    ).fetchall()


def test_fixes_are_compressed_by_the_policy_and_late_fixes_still_store_once(migrated_db: str) -> None:
    old = (NOW - timedelta(days=12)).replace(hour=10, minute=0, second=0)
    with psycopg.connect(migrated_db, row_factory=dict_row, autocommit=True) as conn:
        writer = FixWriter(conn)
        assert writer.mode == "timescale"
        for seal in ("AZS-000001", "AZS-000002"):
            writer.write(_fixes(seal, old, 300) + _fixes(seal, old + timedelta(days=1), 300, seq0=301), [])
            writer.write(_fixes(seal, NOW.replace(hour=12, minute=0, second=0), 60, seq0=1000), [])
        chunks = _chunks(conn)
        assert len(chunks) == 3 and all(c["range_end"] - c["range_start"] == timedelta(days=1) for c in chunks)
        before = conn.execute(ALL).fetchall()

        assert run_jobs(conn, "policy_compression") == 1
        assert [c["is_compressed"] for c in _chunks(conn)] == [True, True, False]
        assert conn.execute(ALL).fetchall() == before

        # A late fix into a compressed day, delivered twice, and a redelivery of a compressed fix.
        late = _fixes("AZS-000001", old + timedelta(hours=8), 1, seq0=5000)
        assert writer.write(late, []).inserted == 1
        again = writer.write(late + _fixes("AZS-000001", old, 1), [])
        assert (again.inserted, again.duplicates) == (0, 2)
        n = conn.execute("SELECT count(*) AS n FROM fixes WHERE seal_id = 'AZS-000001' AND seq = 5000").fetchone()
        assert n is not None and n["n"] == 1
        assert len(conn.execute(ALL).fetchall()) == len(before) + 1


def test_retention_policy_drops_whole_chunks(migrated_db: str) -> None:
    with psycopg.connect(migrated_db, row_factory=dict_row, autocommit=True) as conn:
        writer = FixWriter(conn)
        for days in (40, 20, 0):
            noon = (NOW - timedelta(days=days)).replace(hour=12, minute=0, second=0)
            writer.write(_fixes("AZS-000001", noon, 10, seq0=100 * days + 1), [])
        partitions.maintain(conn, "timescale", retention_days=30, ahead_days=3, compress_after_days=7)
        pause_jobs(conn)
        assert run_jobs(conn, "policy_retention") == 1
        remaining = conn.execute("SELECT min(t) AS t, count(*) AS n FROM fixes").fetchone()
        assert len(_chunks(conn)) == 2
    assert remaining is not None and remaining["n"] == 20 and remaining["t"] > NOW - timedelta(days=30)


def test_aggregate_policy_never_refreshes_hours_that_retention_dropped(migrated_db: str) -> None:
    """With retention shorter than the aggregate's week, its policy must not erase dropped days."""
    five_days_ago = (NOW - timedelta(days=5)).replace(hour=10, minute=0, second=0)
    with psycopg.connect(migrated_db, row_factory=dict_row, autocommit=True) as conn:
        FixWriter(conn).write(_fixes("AZS-000001", five_days_ago, 120), [])
        aggregates.refresh(conn, full=True)
        kept = materialized_seal_hours(conn)
        assert kept == 2
        partitions.maintain(conn, "timescale", retention_days=3, ahead_days=3, compress_after_days=7)
        pause_jobs(conn)
        assert run_jobs(conn, "policy_retention") == 1
        assert run_jobs(conn, "policy_refresh_continuous_aggregate") == 1
        left = conn.execute("SELECT count(*) AS n FROM fixes").fetchone()
        assert left is not None and left["n"] == 0
        assert materialized_seal_hours(conn) == kept
