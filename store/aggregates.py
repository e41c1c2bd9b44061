"""Aggregates per hour and day, route and carrier: refresh (for the service) and the query API.

Native mode: ``refresh`` rolls fixes up into ``history_seal_hourly`` incrementally — only the
(seal, day) pairs that received fixes since the last refresh, found by ``received_at`` — and then
refreshes the route/carrier materialized views CONCURRENTLY (readers are never blocked).
TimescaleDB mode: the seal-hour rollup is a continuous aggregate kept by its own policy (the
last 7 days), so ``refresh`` refreshes the materialized views on top, and on a full refresh
(or the first one) also materializes the continuous aggregate over every raw chunk that is still
there — a bulk import older than the policy's window is otherwise never materialized. See
migration 0302.

In both modes the seal-hours outlive the raw fixes: a refresh only ever recomputes days (or
chunks) whose raw data is still stored, so retention dropping old raw data leaves its history.

Buckets are UTC hours and days. Alerts are counted at query time from the ``alerts`` table when
it exists (it may be created after the views), so they are always current.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import DictRow, tuple_row

from sealwatch.logging import get_logger
from store import partitions
from store.history import alerts_available
from store.migrate import storage_mode

log = get_logger(__name__)

SyncConn = psycopg.Connection[dict[str, object]]  # store.db.connect: dict rows
Bucket = Literal["hour", "day"]
GroupBy = Literal["route_carrier", "route", "carrier"]

_LOCK_KEY = 0x5EA1_0300
# Fixes are committed within seconds of received_at; this margin covers batches in flight at refresh time.
IN_FLIGHT_MARGIN = timedelta(minutes=5)
# Store-and-forward seals deliver late; fixes older than this at delivery are not rolled up again.
MAX_LATENESS = partitions.LATE_FIX_WINDOW

_ROLLUP = """
INSERT INTO history_seal_hourly AS h (seal_id, bucket, fixes, first_t, last_t, first_lat, first_lon,
                                      last_lat, last_lon, distance_m, max_speed_kmh)
SELECT seal_id, bucket, count(*), min(t), max(t),
       max(lat) FILTER (WHERE is_first), max(lon) FILTER (WHERE is_first),
       max(lat) FILTER (WHERE is_last), max(lon) FILTER (WHERE is_last),
       COALESCE(sum(history_haversine_m(plat, plon, lat, lon)) FILTER (WHERE NOT is_first), 0),
       max(speed_kmh)
FROM (
    SELECT seal_id, t, lat, lon, speed_kmh, bucket, plat, plon,
           pt IS NULL OR date_trunc('hour', pt, 'UTC') <> bucket AS is_first,
           nt IS NULL OR date_trunc('hour', nt, 'UTC') <> bucket AS is_last
    FROM (
        SELECT seal_id, t, lat, lon, speed_kmh, date_trunc('hour', t, 'UTC') AS bucket,
               lag(t) OVER w AS pt, lag(lat) OVER w AS plat, lag(lon) OVER w AS plon, lead(t) OVER w AS nt
        FROM fixes
        WHERE t >= %(lo)s AND t < %(hi)s AND (%(seals)s::text[] IS NULL OR seal_id = ANY(%(seals)s::text[]))
        WINDOW w AS (PARTITION BY seal_id ORDER BY t, seq)
    ) p
) q
GROUP BY seal_id, bucket
ON CONFLICT (seal_id, bucket) DO UPDATE SET
    fixes = EXCLUDED.fixes, first_t = EXCLUDED.first_t, last_t = EXCLUDED.last_t,
    first_lat = EXCLUDED.first_lat, first_lon = EXCLUDED.first_lon,
    last_lat = EXCLUDED.last_lat, last_lon = EXCLUDED.last_lon,
    distance_m = EXCLUDED.distance_m, max_speed_kmh = EXCLUDED.max_speed_kmh
"""


@dataclass(frozen=True, slots=True)
class RefreshResult:
    mode: str
    days_rolled_up: int
    seal_hours: int
    seconds: float


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def rollup_day(conn: SyncConn, day: date, seals: Sequence[str] | None = None) -> int:
    """(Re)compute the seal-hours of one UTC day (all seals, or only ``seals``); returns rows written.

    A day is the unit because partitions are daily and an hour never spans two days, so a day's
    window functions see every fix they need.
    """
    lo = _day_start(day)
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(_ROLLUP.encode(), {"lo": lo, "hi": lo + timedelta(days=1), "seals": list(seals) if seals else None})
        return max(cur.rowcount, 0)


def _dirty_days(conn: SyncConn, since: datetime) -> dict[date, list[str]]:
    """Seals per UTC day that received fixes since ``since`` (late fixes up to MAX_LATENESS old)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            """SELECT (date_trunc('day', t, 'UTC') AT TIME ZONE 'UTC')::date, array_agg(DISTINCT seal_id)
               FROM fixes WHERE t >= %s AND received_at >= %s GROUP BY 1""",
            (since - MAX_LATENESS, since),
        )
        return {row[0]: list(row[1]) for row in cur.fetchall()}


def _materialize_continuous_aggregate(conn: SyncConn) -> tuple[int, int]:
    """Refresh ``history_seal_hourly`` over the stored raw chunks; returns (days, seal-hours) covered.

    The window starts at the oldest chunk still stored: refreshing a window whose raw chunks
    retention has dropped would replace the history kept there with nothing. It ends where the
    policy's window ends (its end_offset before now), so the open hours stay real-time: hours
    materialized before they are complete would hide new fixes until the policy reached them.
    """
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            # hi: the policy's window end, on an hour (the aggregate's bucket) so all below it is stored.
            """SELECT min(c.range_start), time_bucket(interval '1 hour', now() - coalesce(
                   (SELECT (j.config->>'end_offset')::interval FROM timescaledb_information.jobs j
                    JOIN timescaledb_information.continuous_aggregates a
                      ON a.materialization_hypertable_schema = j.hypertable_schema
                     AND a.materialization_hypertable_name = j.hypertable_name
                    WHERE a.view_name = 'history_seal_hourly' AND j.proc_name = 'policy_refresh_continuous_aggregate'),
                   interval '1 hour'))
               FROM timescaledb_information.chunks c
               WHERE c.hypertable_schema = current_schema() AND c.hypertable_name = 'fixes'"""
        )
        row = cur.fetchone()
    if row is None or row[0] is None or row[0] >= row[1]:
        return 0, 0
    lo, hi = row
    was_autocommit = conn.autocommit
    if not was_autocommit:
        conn.commit()
        conn.autocommit = True  # refresh_continuous_aggregate cannot run inside a transaction
    try:
        with conn.cursor(row_factory=tuple_row) as cur:
            cur.execute("CALL refresh_continuous_aggregate('history_seal_hourly', %s, %s)", (lo, hi))
            cur.execute("SELECT count(*) FROM history_seal_hourly WHERE bucket >= %s AND bucket < %s", (lo, hi))
            counted = cur.fetchone()
    finally:
        conn.autocommit = was_autocommit
    return (hi - lo).days + 1, int(counted[0]) if counted else 0


def refresh(conn: SyncConn, *, full: bool = False, in_flight_margin: timedelta = IN_FLIGHT_MARGIN) -> RefreshResult:
    """One refresh pass; the service calls it periodically (every few minutes).

    ``full`` recomputes every day whose raw fixes are stored (a partition in native mode, a
    chunk in TimescaleDB mode), e.g. after a bulk import whose ``received_at`` lies in the past;
    the first refresh is a full one. Fixes received within ``in_flight_margin`` before the
    previous refresh are looked at again (their batch may have committed after it).
    """
    started = datetime.now(UTC)
    mode = storage_mode(conn)
    days = 0
    seal_hours = 0
    with conn.cursor(row_factory=tuple_row) as cur:
        # One refresher at a time (session lock: the work below spans several transactions).
        cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    if not conn.autocommit:
        conn.commit()  # the session lock stays; each day below is its own short transaction
    try:
        with conn.cursor(row_factory=tuple_row) as cur:
            cur.execute("SELECT fixes_watermark, clock_timestamp() FROM history_refresh_state")
            row = cur.fetchone()
        watermark: datetime | None = row[0] if row else None
        new_watermark: datetime = row[1] if row else started
        if mode == "native":
            if full or watermark is None:
                work: dict[date, list[str] | None] = {d: None for d in sorted(partitions.existing_partitions(conn))}
            else:
                work = dict(_dirty_days(conn, watermark - in_flight_margin))
            for day, seals in sorted(work.items()):
                seal_hours += rollup_day(conn, day, seals)
                days += 1
        elif full or watermark is None:
            days, seal_hours = _materialize_continuous_aggregate(conn)
        with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
            for view in ("history_route_hourly", "history_route_daily"):
                cur.execute(sql.SQL("REFRESH MATERIALIZED VIEW CONCURRENTLY {}").format(sql.Identifier(view)))
            cur.execute(
                "UPDATE history_refresh_state SET fixes_watermark = %s, refreshed_at = clock_timestamp()",
                (new_watermark,),
            )
    finally:
        with conn.cursor(row_factory=tuple_row) as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
        if not conn.autocommit:
            conn.commit()
    seconds = (datetime.now(UTC) - started).total_seconds()
    log.info("history aggregates refreshed", mode=mode, days=days, seal_hours=seal_hours, seconds=round(seconds, 3))
    return RefreshResult(mode, days, seal_hours, seconds)


_GROUP_KEYS: dict[str, tuple[str, ...]] = {
    "route_carrier": ("route_code", "carrier_tin"),
    "route": ("route_code",),
    "carrier": ("carrier_tin",),
}


async def query(
    conn: psycopg.AsyncConnection[DictRow],
    bucket: Bucket,
    *,
    route: str | None = None,
    carrier: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    group_by: GroupBy = "route_carrier",
) -> list[dict[str, Any]]:
    """Aggregates per bucket and group, oldest bucket first.

    Transit durations are of the transits that *arrived* in the bucket; ``alerts`` is None when
    the alerts table does not exist. ``route`` '' selects ad-hoc itineraries; ``carrier`` is a TIN.
    """
    view = sql.Identifier(f"history_route_{'hourly' if bucket == 'hour' else 'daily'}")
    keys = _GROUP_KEYS[group_by]
    key_cols = sql.SQL(", ").join(sql.SQL("v.{}").format(sql.Identifier(k)) for k in keys)
    with_alerts = await alerts_available(conn)
    clauses = [
        sql.SQL("(%(route)s::text IS NULL OR v.route_code = %(route)s)"),
        sql.SQL("(%(carrier)s::text IS NULL OR v.carrier_tin = %(carrier)s)"),
        sql.SQL("(%(start)s::timestamptz IS NULL OR v.bucket >= %(start)s)"),
        sql.SQL("(%(end)s::timestamptz IS NULL OR v.bucket < %(end)s)"),
    ]
    where = sql.SQL(" AND ").join(clauses)
    name = sql.SQL(", max(v.carrier_name) AS carrier_name") if "carrier_tin" in keys else sql.SQL("")
    alerts_cte = sql.SQL("")
    alerts_col = sql.SQL("NULL::bigint AS alerts")
    alerts_join = sql.SQL("")
    if with_alerts:
        # Counted live from the alerts table; an alert is raised from a fix, so its bucket has a row here.
        alerts_cte = sql.SQL(
            """, al AS (
                SELECT date_trunc(%(unit)s, a.first_t, 'UTC') AS bucket, k.route_code, k.carrier_tin, count(*) AS n
                FROM alerts a JOIN history_transit_keys k ON k.transit_id = a.transit_id
                WHERE (%(start)s::timestamptz IS NULL OR a.first_t >= %(start)s)
                  AND (%(end)s::timestamptz IS NULL OR a.first_t < %(end)s)
                GROUP BY 1, 2, 3)"""
        )
        alerts_col = sql.SQL("COALESCE(sum(al.n), 0)::bigint AS alerts")
        alerts_join = sql.SQL(
            " LEFT JOIN al ON al.bucket = v.bucket AND al.route_code = v.route_code AND al.carrier_tin = v.carrier_tin"
        )
    query_sql = sql.SQL(
        """WITH v0 AS (SELECT 1){alerts_cte}
           SELECT v.bucket, {keys}{name},
                  sum(v.fixes)::bigint AS fixes, sum(v.distance_km)::float8 AS distance_km,
                  sum(v.transits_tracked)::bigint AS transits_tracked, sum(v.stops)::bigint AS stops,
                  sum(v.released)::bigint AS released, sum(v.arrived)::bigint AS arrived,
                  CASE WHEN sum(v.arrived) > 0 THEN sum(v.duration_s_sum) / sum(v.arrived) / 3600 END::float8
                      AS avg_duration_h,
                  (max(v.duration_s_max) / 3600)::float8 AS max_duration_h,
                  {alerts_col}
           FROM {view} v{alerts_join}
           WHERE {where}
           GROUP BY v.bucket, {keys}
           ORDER BY v.bucket, {keys}"""
    ).format(
        alerts_cte=alerts_cte,
        keys=key_cols,
        name=name,
        alerts_col=alerts_col,
        view=view,
        alerts_join=alerts_join,
        where=where,
    )
    params = {"route": route, "carrier": carrier, "start": start, "end": end, "unit": bucket}
    cur = await conn.execute(query_sql, params)
    return [dict(r) for r in await cur.fetchall()]
