"""The console's units feed: every monitored seal as one columnar row, and what changed since a cursor.

A unit is a seal of an active monitored transit. Its state is :func:`maps.seal_status.classify`
evaluated in SQL (:data:`STATE_SQL`, the same precedence; ``tests/api/test_console_api.py``
checks the two agree), so 100,000 rows take one statement and no Python per row: PostgreSQL
builds the rows' JSON and the API sends it on as bytes.

A cursor names the database time of the previous answer and the alert stream id it had seen.
A unit changed since then when:

- a fix moved it: ``seal_latest.updated_at`` later than the cursor (minus :data:`COMMIT_LAG_S`,
  since a fix is stamped just before its transaction commits, not at the commit; a few rows are
  sent twice);
- its transit's alerts changed: an ``alert_stream`` row after the cursor's stream id (stream ids
  become visible in order, so this needs no margin);
- time alone changed its state: its last fix (or its release, without a fix) crossed the silence
  threshold, or its deadline passed, between the cursor's time and now;
- it joined the monitored set (seal assigned, transit status changed).

Units that left the set (transit arrived or closed, seal returned) are listed in ``gone``.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import tuple_row

from alerts.store import ALERT_COLUMNS, fetch_all, fetch_one
from maps.seal_status import SealStatus
from sealwatch.config import Settings

FIELDS: tuple[str, ...] = (
    "seal_id",
    "transit_id",
    "plate",
    "carrier",
    "route_code",
    "lat",
    "lon",
    "t",
    "state",
    "battery",
    "open_alerts",
    "worst_severity",
    "alert_types",
)

# A fix's updated_at is stamped by ingest's last write before the commit (store.fixes); one that
# commits later than this after the stamp could be missed by a cursor taken in between. The margin
# is paid in rows sent twice: at a 3 s poll, a third more rows than changed.
COMMIT_LAG_S = 1.0
# A cursor older than this gets a full answer: the client was away, a delta would be as large.
CURSOR_MAX_AGE = timedelta(minutes=15)
TRACK_SPAN = timedelta(hours=2)
TRACK_MAX_POINTS = 300
SEVERITY_RANK_SQL = "CASE a.severity WHEN 'critical' THEN 2 WHEN 'warning' THEN 1 ELSE 0 END"
SEVERITY_BY_RANK = ("info", "warning", "critical")

# maps.seal_status.classify, clause for clause; parameters: now, no_signal_s, low_battery, stopped_below.
STATE_SQL = """CASE
    WHEN sl.seal_state = 'tampered' OR 'seal_tampered' = ANY(oa.types) THEN 'tampered'
    WHEN sl.seal_state = 'opened' OR 'seal_opened' = ANY(oa.types) THEN 'opened'
    WHEN oa.types && ARRAY['route_deviation', 'restricted_zone'] THEN 'deviating'
    WHEN extract(epoch FROM %(now)s - coalesce(sl.t, u.released_at)) > %(no_signal_s)s
      OR 'signal_lost' = ANY(oa.types) THEN 'silent'
    WHEN 'overdue' = ANY(oa.types) OR %(now)s > u.deadline THEN 'overdue'
    WHEN 'unauthorized_stop' = ANY(oa.types) THEN 'stopped'
    WHEN sl.battery_pct < %(low_battery)s OR 'low_battery' = ANY(oa.types) THEN 'low_battery'
    WHEN sl.speed_kmh IS NULL OR sl.speed_kmh < %(stopped_below)s THEN 'stopped'
    ELSE 'moving'
END"""

# Seals of active monitored transits, with what the list shows about them.
_UNITS = """
SELECT ts.seal_id, t.transit_id, t.route_code, t.deadline, t.released_at,
       d.vehicle_plate AS plate, d.carrier_name AS carrier
FROM transit_seals ts
JOIN transits t ON t.transit_id = ts.transit_id
JOIN declarations d ON d.id = t.declaration_id
WHERE ts.returned_at IS NULL AND t.status = 'active' AND t.monitored
"""

# Unresolved alerts per transit: how many, the worst severity (0 info .. 2 critical), their types.
_OPEN_ALERTS = f"""
SELECT a.transit_id, count(*) AS n, max({SEVERITY_RANK_SQL}) AS worst, array_agg(DISTINCT a.type) AS types
FROM alerts a WHERE a.status <> 'resolved'
GROUP BY a.transit_id
"""

_STATED = f"""
SELECT u.seal_id, u.transit_id, u.plate, u.carrier, u.route_code, sl.lat, sl.lon, sl.t, sl.battery_pct,
       oa.n, oa.worst, oa.types, {STATE_SQL} AS state
FROM units u
LEFT JOIN seal_latest sl ON sl.seal_id = u.seal_id
LEFT JOIN open_alerts oa ON oa.transit_id = u.transit_id
"""

# One unit as a JSON array in FIELDS order (about 1 m of precision, whole percent of battery).
_ROW_JSON = """json_build_array(
    seal_id, transit_id, plate, carrier, route_code, round(lat::numeric, 5), round(lon::numeric, 5),
    to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), state, round(battery_pct), coalesce(n, 0),
    (ARRAY['info', 'warning', 'critical'])[worst + 1], coalesce(types, '{}'))"""

_COUNTS = """(SELECT coalesce(json_object_agg(state, n), '{}')
    FROM (SELECT state, count(*) AS n FROM stated GROUP BY state) c)"""

# string_agg of the rows' text rather than json_agg: a quarter faster at 100,000 rows (json_agg
# reformats every element), and the order of a full answer does not matter.
FULL_SQL = f"""
WITH units AS ({_UNITS}), open_alerts AS ({_OPEN_ALERTS}), stated AS ({_STATED})
SELECT (SELECT '[' || coalesce(string_agg({_ROW_JSON}::text, ','), '') || ']' FROM stated), {_COUNTS}::text
"""

# A row version's xmin (32 bits) as the 64-bit transaction id, by the epoch of the snapshot's xmax:
# exact for the recent versions it is asked of.
_XMIN8 = """(((%(xmax)s::bigint >> 32 << 32) | xmin::text::bigint)
    - CASE WHEN ((%(xmax)s::bigint >> 32 << 32) | xmin::text::bigint) > %(xmax)s::bigint THEN 4294967296 ELSE 0 END)"""

# Units changed since the cursor; each branch is a range scan on an index of migration 0660.
# A fix stamped within the commit-lag margin before the cursor is sent again, unless its transaction
# id lies below the previous answer's snapshot xmin: every transaction below it had ended when that
# answer was read, so the fix was in it (subtransactions too: their parent is older still).
_CHANGED = f"""
SELECT seal_id FROM seal_latest
      WHERE updated_at > %(since_fix)s AND (updated_at > %(since)s OR {_XMIN8} >= %(prev_xmin)s)
UNION SELECT seal_id FROM seal_latest WHERE t >= %(silent_from)s AND t < %(silent_to)s
UNION SELECT ts.seal_id FROM transit_seals ts JOIN transits t ON t.transit_id = ts.transit_id
      WHERE ts.returned_at IS NULL AND t.status = 'active'
        AND (t.deadline >= %(since)s AND t.deadline < %(now)s
             OR t.released_at >= %(silent_from)s AND t.released_at < %(silent_to)s)
UNION SELECT seal_id FROM transit_seals WHERE returned_at IS NULL AND assigned_at > %(since_fix)s
UNION SELECT ts.seal_id FROM transits t JOIN transit_seals ts ON ts.transit_id = t.transit_id
      WHERE t.changed_at > %(since_fix)s AND ts.returned_at IS NULL
UNION SELECT ts.seal_id FROM alert_stream s JOIN alerts a ON a.id = s.alert_id
      JOIN transit_seals ts ON ts.transit_id = a.transit_id AND ts.returned_at IS NULL
      WHERE s.id > %(stream_id)s
"""

# Seals that were units and are no longer: their transit left 'active' (or stopped being
# monitored), or the seal was returned (taken off a transit), after the cursor; minus any that are
# units again (a seal already on its next transit).
_GONE = """
SELECT DISTINCT ts.seal_id FROM transits t JOIN transit_seals ts ON ts.transit_id = t.transit_id
WHERE (t.changed_at > %(since_fix)s AND (t.status <> 'active' OR NOT t.monitored)
       OR ts.returned_at > %(since_fix)s)
  AND NOT EXISTS (SELECT 1 FROM transit_seals now_ts JOIN transits now_t ON now_t.transit_id = now_ts.transit_id
                  WHERE now_ts.seal_id = ts.seal_id AND now_ts.returned_at IS NULL
                    AND now_t.status = 'active' AND now_t.monitored)
"""

DELTA_SQL = f"""
WITH changed AS ({_CHANGED}),
     units AS ({_UNITS} AND ts.seal_id IN (SELECT seal_id FROM changed)),
     open_alerts AS ({_OPEN_ALERTS.replace("GROUP BY", "AND a.transit_id IN (SELECT transit_id FROM units) GROUP BY")}),
     stated AS ({_STATED})
SELECT (SELECT coalesce(json_agg({_ROW_JSON} ORDER BY seal_id), '[]') FROM stated)::text,
       (SELECT coalesce(json_agg(seal_id ORDER BY seal_id), '[]') FROM ({_GONE}) g)::text
"""

# Units per state, over every unit: only the columns the state needs.
COUNTS_SQL = f"""
WITH open_alerts AS ({_OPEN_ALERTS})
SELECT coalesce(json_object_agg(state, n), '{{}}')::text FROM (
    SELECT {STATE_SQL} AS state, count(*) AS n
    FROM transit_seals ts
    JOIN transits u ON u.transit_id = ts.transit_id
    LEFT JOIN seal_latest sl ON sl.seal_id = ts.seal_id
    LEFT JOIN open_alerts oa ON oa.transit_id = u.transit_id
    WHERE ts.returned_at IS NULL AND u.status = 'active' AND u.monitored
    GROUP BY 1
) c
"""


@dataclass(slots=True)
class CountsCache:
    """Counts per state, reused for ``ttl_s`` when counting took longer than ``slow_s``.

    At 100,000 units counting is a join over all of them: with many consoles polling, one
    count every ``ttl_s`` serves them all (the totals are then at most that old). Small fleets
    count fresh every time.
    """

    ttl_s: float = 2.0
    slow_s: float = 0.2
    value: str | None = None
    at: float = 0.0

    async def get(self, cur: AsyncCursor[Any], params: dict[str, Any]) -> str:
        started = time.monotonic()
        if self.value is not None and started - self.at < self.ttl_s:
            return self.value
        await cur.execute(COUNTS_SQL, params)
        got = await cur.fetchone()
        assert got is not None
        value: str = got[0]
        slow = time.monotonic() - started > self.slow_s
        self.value, self.at = (value, started) if slow else (None, 0.0)
        return value


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a client's copy of the units stands: the database time, the alert stream id and the
    snapshot's xmin (oldest transaction then still running, 64-bit) of its last answer."""

    at: datetime
    stream_id: int
    xmin: int = 0

    def encode(self) -> str:
        raw = orjson.dumps([2, self.at.timestamp(), self.stream_id, self.xmin])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str | None) -> Cursor | None:
        """The cursor, or None when absent or not one of ours (the client then gets everything)."""
        if not value:
            return None
        try:
            version, at, stream_id, *rest = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
            xmin = rest[0] if version == 2 and len(rest) == 1 else 0 if version == 1 and not rest else None
            if not isinstance(xmin, int) or not isinstance(stream_id, int) or not isinstance(at, int | float):
                return None
            return cls(datetime.fromtimestamp(at, UTC), stream_id, xmin)
        except (ValueError, TypeError, binascii.Error, OverflowError, orjson.JSONDecodeError):
            return None


@dataclass(frozen=True, slots=True)
class UnitsAnswer:
    cursor: Cursor
    full: bool
    rows_json: str  # JSON array of rows, in FIELDS order
    counts_json: str  # JSON object state -> count, over every unit
    gone_json: str  # JSON array of seal ids

    def to_json(self) -> bytes:
        """The API's answer, with the rows spliced in as PostgreSQL wrote them (no parsing per row)."""
        head = orjson.dumps(
            {
                "cursor": self.cursor.encode(),
                "full": self.full,
                "now": self.cursor.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "fields": FIELDS,
            }
        )
        tail = b',"rows":%s,"gone":%s,"counts":%s}' % (
            self.rows_json.encode(),
            self.gone_json.encode(),
            self.counts_json.encode(),
        )
        return head[:-1] + tail


def _params(settings: Settings, now: datetime) -> dict[str, Any]:
    return {
        "now": now,
        "no_signal_s": settings.no_signal_after_s,
        "low_battery": settings.low_battery_pct,
        "stopped_below": settings.stopped_below_kmh,
    }


async def units(
    conn: AsyncConnection[Any], settings: Settings, cursor: Cursor | None, counts: CountsCache | None = None
) -> UnitsAnswer:
    """Every unit (no usable cursor) or the units changed since ``cursor``, with counts per state."""
    async with conn.transaction():
        # One snapshot: the rows, the counts and the stream id of the new cursor agree.
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(
                """SELECT now(), coalesce(max(id), 0), pg_snapshot_xmin(pg_current_snapshot())::text::bigint,
                          pg_snapshot_xmax(pg_current_snapshot())::text::bigint FROM alert_stream"""
            )
            head = await cur.fetchone()
            assert head is not None
            now, stream_id, xmin, xmax = head[0], int(head[1]), int(head[2]), int(head[3])
            params = _params(settings, now)
            if cursor is None or not (now - CURSOR_MAX_AGE <= cursor.at <= now):
                await cur.execute(FULL_SQL, params)
                got = await cur.fetchone()
                assert got is not None
                return UnitsAnswer(Cursor(now, stream_id, xmin), True, got[0], got[1], "[]")
            silence = timedelta(seconds=settings.no_signal_after_s)
            params |= {
                "since": cursor.at,
                "since_fix": cursor.at - timedelta(seconds=COMMIT_LAG_S),
                "silent_from": cursor.at - silence,
                "silent_to": now - silence,
                "stream_id": cursor.stream_id,
                "prev_xmin": cursor.xmin,
                "xmax": xmax,
            }
            await cur.execute(DELTA_SQL, params)
            got = await cur.fetchone()
            assert got is not None
            counted = await (counts or CountsCache(ttl_s=0)).get(cur, params)
            return UnitsAnswer(Cursor(now, stream_id, xmin), False, got[0], counted, got[1])


# ---- the transit card ----


_CARD_SQL = f"""
WITH units AS ({_UNITS} AND ts.seal_id = %(seal_id)s),
     open_alerts AS ({_OPEN_ALERTS.replace("GROUP BY", "AND a.transit_id IN (SELECT transit_id FROM units) GROUP BY")})
SELECT u.seal_id, u.transit_id, t.declaration_id, d.mrn, u.plate, u.carrier, u.route_code, r.name AS route_name,
       t.office_departure AS origin, t.office_destination AS destination, u.deadline,
       sl.battery_pct AS battery, sl.t, sl.lat, sl.lon, sl.speed_kmh, sl.heading_deg, sl.seal_state,
       extract(epoch FROM %(now)s - sl.t) AS age_s, {STATE_SQL} AS state
FROM units u
JOIN transits t ON t.transit_id = u.transit_id
JOIN declarations d ON d.id = t.declaration_id
LEFT JOIN routes r ON r.code = u.route_code
LEFT JOIN seal_latest sl ON sl.seal_id = u.seal_id
LEFT JOIN open_alerts oa ON oa.transit_id = u.transit_id
"""


def thin(points: list[tuple[float, float]], max_points: int = TRACK_MAX_POINTS) -> list[tuple[float, float]]:
    """At most ``max_points`` of a track, evenly spaced, always keeping the first and the last."""
    if len(points) <= max_points:
        return points
    step = (len(points) - 1) / (max_points - 1)
    return [points[round(i * step)] for i in range(max_points)]


async def transit_card(conn: AsyncConnection[Any], settings: Settings, seal_id: str) -> dict[str, Any] | None:
    """What the console shows of one unit: its transit, its latest fix, its open alerts, its recent track."""
    now_row = await fetch_one(conn, "SELECT now() AS now")
    assert now_row is not None
    now = now_row["now"]
    card = await fetch_one(conn, _CARD_SQL, _params(settings, now) | {"seal_id": seal_id})
    if card is None:
        return None
    alerts = await fetch_all(
        conn,
        f"""SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.transit_id = %s AND a.status <> 'resolved'
            ORDER BY {SEVERITY_RANK_SQL} DESC, a.raised_at DESC, a.id DESC""",
        (card["transit_id"],),
    )
    track: list[tuple[float, float]] = []
    if card["t"] is not None:
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(
                "SELECT lon, lat FROM fixes WHERE seal_id = %s AND t >= %s AND t <= %s ORDER BY t, seq",
                (seal_id, card["t"] - TRACK_SPAN, card["t"]),
            )
            track = [(round(lon, 5), round(lat, 5)) for lon, lat in await cur.fetchall()]
    card["age_s"] = float(card["age_s"]) if card["age_s"] is not None else None
    card["state"] = SealStatus(card["state"])
    card["open_alerts"] = alerts
    card["track"] = {"type": "LineString", "coordinates": thin(track)}
    return card
