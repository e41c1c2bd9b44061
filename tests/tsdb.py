"""Storage-backend helpers for tests: run TimescaleDB policy jobs explicitly, count what is materialized.

Tests never wait for TimescaleDB's background scheduler: they run a policy's job with
``CALL run_job`` (as the scheduler would), which keeps them deterministic.
"""

from __future__ import annotations

from datetime import date

import psycopg
from psycopg import sql

from store import partitions
from store.migrate import storage_mode

SyncConn = psycopg.Connection[dict[str, object]]


def pause_jobs(conn: SyncConn) -> None:
    """Take the database's policy jobs off TimescaleDB's scheduler: tests run them when they choose."""
    conn.execute("SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs WHERE job_id >= 1000")


def run_jobs(conn: SyncConn, proc_name: str) -> int:
    """Run every job of one policy kind now (``policy_compression``, ``policy_retention``,
    ``policy_refresh_continuous_aggregate``); returns how many ran. Needs an autocommit connection."""
    rows = conn.execute("SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = %s", (proc_name,)).fetchall()
    for row in rows:
        conn.execute("CALL run_job(%s)", (row["job_id"],))
    return len(rows)


def drop_raw_fixes(conn: SyncConn, retention_days: int, today: date) -> None:
    """Apply retention as the service does: drop whole partitions, or run TimescaleDB's retention job."""
    if storage_mode(conn) == "native":
        partitions.drop_expired(conn, retention_days, today)
        return
    partitions.apply_timescale_policies(conn, retention_days, compress_after_days=7)
    pause_jobs(conn)
    assert run_jobs(conn, "policy_retention") == 1


def materialized_seal_hours(conn: SyncConn) -> int:
    """Seal-hours stored by the rollup (not computed live from raw fixes)."""
    if storage_mode(conn) == "native":
        row = conn.execute("SELECT count(*) AS n FROM history_seal_hourly").fetchone()
    else:
        target = conn.execute(
            """SELECT materialization_hypertable_schema AS s, materialization_hypertable_name AS t
               FROM timescaledb_information.continuous_aggregates WHERE view_name = 'history_seal_hourly'"""
        ).fetchone()
        assert target is not None
        table = sql.Identifier(str(target["s"]), str(target["t"]))
        row = conn.execute(sql.SQL("SELECT count(*) AS n FROM {}").format(table)).fetchone()
    assert row is not None
    return int(str(row["n"]))
