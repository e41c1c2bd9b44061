"""History outlives the retention of raw fixes, on both storage backends.

A day of transits three weeks back (older than the TimescaleDB refresh policy's week, as after a
bulk import), aggregated by a full refresh; then retention drops every raw fix of that day and
the month's aggregates must read the same as before.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from store import aggregates
from store.migrate import storage_mode
from tests.history.conftest import build_day
from tests.tsdb import drop_raw_fixes, materialized_seal_hours, run_jobs

DAYS_AGO = 21


async def _month(url: str, bucket: aggregates.Bucket) -> list[dict[str, Any]]:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        return await aggregates.query(conn, bucket, start=end - timedelta(days=30), end=end, group_by="route")


async def test_aggregates_survive_dropped_raw_fixes(migrated_db: str) -> None:
    day = await asyncio.to_thread(build_day, migrated_db, days_ago=DAYS_AGO)
    with psycopg.connect(migrated_db, row_factory=dict_row, autocommit=True) as conn:
        mode = storage_mode(conn)
        result = aggregates.refresh(conn, full=True)
        materialized = materialized_seal_hours(conn)
    # Every seal-hour of the day is stored by the rollup, none computed live from raw fixes.
    assert result.seal_hours > 0 and materialized >= result.seal_hours
    daily, hourly = await _month(migrated_db, "day"), await _month(migrated_db, "hour")
    moved = sum(len(t.fixes) for t in day.transits)
    assert sum(r["fixes"] for r in daily) >= moved and sum(r["distance_km"] for r in daily) > 10

    with psycopg.connect(migrated_db, row_factory=dict_row, autocommit=True) as conn:
        drop_raw_fixes(conn, retention_days=DAYS_AGO - 7, today=datetime.now(UTC).date())
        left = conn.execute("SELECT count(*) AS n FROM fixes WHERE t < now() - interval '7 days'").fetchone()
        assert left is not None and left["n"] == 0
        # The service's next passes, a full one (after a bulk import), and TimescaleDB's own policy.
        aggregates.refresh(conn)
        aggregates.refresh(conn, full=True)
        if mode == "timescale":
            assert run_jobs(conn, "policy_refresh_continuous_aggregate") == 1
        assert materialized_seal_hours(conn) == materialized

    assert await _month(migrated_db, "day") == daily
    assert await _month(migrated_db, "hour") == hourly
