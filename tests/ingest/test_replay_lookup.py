"""The replay check reads only the partitions (or chunks) near the batch's time, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from ingest.auth import ReplayGuard
from sealwatch.fixes import FixRecord
from store.fixes import FixWriter

NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
DAYS = 30

_TOUCHED = """SELECT count(*) AS n FROM pg_stat_xact_user_tables s JOIN pg_inherits i ON i.inhrelid = s.relid
              WHERE i.inhparent = 'fixes'::regclass AND s.seq_scan + coalesce(s.idx_scan, 0) > 0"""


def _fix(seq: int, t: datetime, lat: float = 40.0) -> FixRecord:
    return FixRecord("AZS-000001", seq, t, lat, 49.0, 60.0, 90.0, 9, 0.9, 80.0, "closed", NOW)


def test_replay_check_reads_only_the_partitions_near_the_batch(migrated_db: str) -> None:
    # One fix a day for a month (a partition or chunk each), seq = 1000 * days ago, descending.
    month = [_fix(1000 * (DAYS - d), NOW - timedelta(days=d)) for d in range(DAYS, -1, -1)]
    guard = ReplayGuard(window_seq=1_000_000)
    with psycopg.connect(migrated_db, row_factory=dict_row) as conn:
        FixWriter(conn).write(month, [])
        with conn.transaction():
            guard.advance(conn, month)
        stored = conn.execute("SELECT count(DISTINCT tableoid) AS n FROM fixes").fetchone()
        assert stored is not None and stored["n"] == DAYS + 1
        # Flush this session's pending table statistics (written to, scanned): the counts read
        # below are then those of the screening transaction alone.
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.commit()
        conn.execute("SELECT 1")
        conn.commit()

        # A seq of two days ago reused with other content, and a redelivery of yesterday's fix.
        reused = _fix(month[-3].seq, NOW + timedelta(minutes=1), lat=41.0)
        batch = [reused, month[-2]]
        origins = [("seals/AZS-000001/telemetry", b"reused"), ("seals/AZS-000001/telemetry", b"redelivered")]
        with conn.transaction():
            screened = guard.screen(conn, batch, origins)
            touched = conn.execute(_TOUCHED).fetchone()
    assert screened.records == [month[-2]]
    assert [r.payload for r in screened.rejects] == [b"reused"]
    # Within a week either side of the batch: at most 15 days of the 31 stored.
    assert touched is not None and 0 < touched["n"] <= 15
