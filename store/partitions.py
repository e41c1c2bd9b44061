"""Time partitioning of ``fixes``: daily native partitions, or TimescaleDB policies.

Native mode: partitions are created ahead of time by the service, created on demand for any
day a batch touches, and dropped whole once they fall out of retention (dropping a partition
is instant; deleting rows is not). TimescaleDB mode: chunks are automatic, and the
compression and retention policies are (re)set from settings.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import psycopg
from psycopg import sql

from sealwatch.logging import get_logger

log = get_logger(__name__)

_LOCK_KEY = 0x5EA1_0002
PREFIX = "fixes_p"
# Late fixes up to this old are folded into the seal-hour rollup (both modes).
LATE_FIX_WINDOW = timedelta(days=7)


def partition_name(day: date) -> str:
    return f"{PREFIX}{day:%Y%m%d}"


def _day_of(name: str) -> date | None:
    try:
        return datetime.strptime(name.removeprefix(PREFIX), "%Y%m%d").date()
    except ValueError:
        return None


def existing_partitions(conn: psycopg.Connection[dict[str, object]]) -> set[date]:
    rows = conn.execute(
        """SELECT c.relname AS name FROM pg_inherits i
           JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
           WHERE p.relname = 'fixes'"""
    ).fetchall()
    return {d for r in rows if (d := _day_of(str(r["name"]))) is not None}


def ensure_partitions(conn: psycopg.Connection[dict[str, object]], days: Iterable[date]) -> list[date]:
    """Create the daily partitions that are missing; returns the days created."""
    wanted = sorted(set(days))
    if not wanted or wanted[0] is None:
        return []
    created: list[date] = []
    with conn.transaction():
        # Serialise creators: two ingest workers may need the same new day at once.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        have = existing_partitions(conn)
        for day in wanted:
            if day in have:
                continue
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            conn.execute(
                sql.SQL("CREATE TABLE {} PARTITION OF fixes FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(partition_name(day)),
                    sql.Literal(start),
                    sql.Literal(start + timedelta(days=1)),
                )
            )
            created.append(day)
    if created:
        log.debug("partitions created", days=[d.isoformat() for d in created])
    return created


def drop_expired(conn: psycopg.Connection[dict[str, object]], retention_days: int, today: date) -> list[date]:
    """Drop the daily partitions wholly older than the retention period."""
    cutoff = today - timedelta(days=retention_days)
    dropped: list[date] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        for day in sorted(existing_partitions(conn)):
            if day < cutoff:
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(partition_name(day))))
                dropped.append(day)
    if dropped:
        log.info("partitions dropped by retention", days=[d.isoformat() for d in dropped])
    return dropped


def apply_timescale_policies(
    conn: psycopg.Connection[dict[str, object]], retention_days: int, compress_after_days: int
) -> None:
    # The continuous aggregate's refresh window stays inside retention: TimescaleDB refreshing
    # hours whose raw chunks were dropped recomputes them from nothing and erases their history.
    cagg_window = min(LATE_FIX_WINDOW, timedelta(days=retention_days) - timedelta(hours=1))
    with conn.transaction():
        conn.execute("SELECT remove_retention_policy('fixes', if_exists => true)")
        conn.execute("SELECT add_retention_policy('fixes', make_interval(days => %s))", (retention_days,))
        conn.execute("SELECT remove_compression_policy('fixes', if_exists => true)")
        conn.execute("SELECT add_compression_policy('fixes', make_interval(days => %s))", (compress_after_days,))
        conn.execute("SELECT remove_continuous_aggregate_policy('history_seal_hourly', if_exists => true)")
        conn.execute(
            """SELECT add_continuous_aggregate_policy('history_seal_hourly', start_offset => %s,
                   end_offset => interval '1 hour', schedule_interval => interval '15 minutes')""",
            (cagg_window,),
        )


def maintain(
    conn: psycopg.Connection[dict[str, object]],
    mode: str,
    *,
    retention_days: int,
    ahead_days: int,
    compress_after_days: int,
    today: date | None = None,
) -> None:
    """One maintenance pass; the service runs it at start and then hourly."""
    if mode == "timescale":
        apply_timescale_policies(conn, retention_days, compress_after_days)
        return
    today = today or datetime.now(UTC).date()
    ensure_partitions(conn, (today + timedelta(days=i) for i in range(-1, ahead_days + 1)))
    drop_expired(conn, retention_days, today)
