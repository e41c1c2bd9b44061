"""History queries: transits with filters and keyset pagination, a transit's full record, its track.

The transit list is sorted by (released_at DESC, transit_id DESC): the pair is unique, so the sort
is stable and a page boundary is exact (keyset pages, ``store.paging``).

A transit's track is the fixes of each of its seals from release until the seal was returned
(or the transit closed). Alerts are optional: the ``alerts`` table comes from another migration
range, so every query checks ``to_regclass('alerts')`` at query time and degrades without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import DictRow, tuple_row

from sealwatch.logging import get_logger
from store.paging import decode_cursor, encode_cursor

log = get_logger(__name__)

AsyncConn = psycopg.AsyncConnection[DictRow]

MAX_PAGE = 500
TRACK_MAX_POINTS = 200_000


class TransitNotFoundError(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class TransitFilter:
    """Filters of the transit list; every one is optional and they combine with AND."""

    start: datetime | None = None  # transits still open at or after this time
    end: datetime | None = None  # transits released before this time
    seal_id: str | None = None
    transit_id: str | None = None
    declaration: str | None = None  # declaration id, MRN or LRN
    carrier: str | None = None  # carrier TIN, or part of its name (any case)
    route: str | None = None
    alert_type: str | None = None
    channel: str | None = None
    status: str | None = None
    outcome: str | None = None  # transits with an alert resolved with this outcome


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
    alerts_available: bool


async def alerts_available(conn: AsyncConn) -> bool:
    """Whether the alerts tables exist (checked per query: they may be created after this module loads)."""
    cur = await conn.execute("SELECT to_regclass('alerts') IS NOT NULL AS a")
    row = await cur.fetchone()
    return bool(row and row["a"])


_LIST_COLUMNS = sql.SQL(
    """t.transit_id, t.declaration_id, d.mrn, d.lrn, t.route_code, d.carrier_name, d.carrier_tin,
       d.vehicle_plate, t.channel, t.monitored, t.status, t.office_departure, t.office_destination,
       t.released_at, t.deadline, t.arrived_at, t.closed_at,
       COALESCE((SELECT array_agg(ts.seal_id ORDER BY ts.seal_id) FROM transit_seals ts
                 WHERE ts.transit_id = t.transit_id), '{}') AS seal_ids"""
)


# Alerts per transit (informational arrival alerts are not alarms): what a search result shows.
_ALERT_COUNTS = sql.SQL(
    """(SELECT count(*) FROM alerts a WHERE a.transit_id = t.transit_id AND a.type <> 'arrival') AS alert_count,
       (SELECT count(*) FROM alerts a WHERE a.transit_id = t.transit_id AND a.type <> 'arrival'
                                        AND a.status <> 'resolved') AS open_alert_count"""
)
_NO_ALERT_COUNTS = sql.SQL("0 AS alert_count, 0 AS open_alert_count")


def contains(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its own % and _ taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def transit_where(f: TransitFilter, with_alerts: bool) -> tuple[list[sql.Composable], dict[str, Any]]:
    clauses: list[sql.Composable] = []
    params: dict[str, Any] = {}

    def add(clause: str, **values: Any) -> None:
        clauses.append(sql.SQL(clause))  # fixed text from this module; values are parameters
        params.update(values)

    if f.start is not None:
        add("COALESCE(t.closed_at, 'infinity') >= %(start)s", start=f.start)
    if f.end is not None:
        add("t.released_at < %(end)s", end=f.end)
    if f.seal_id is not None:
        add(
            "EXISTS (SELECT 1 FROM transit_seals s WHERE s.transit_id = t.transit_id AND s.seal_id = %(seal)s)",
            seal=f.seal_id,
        )
    if f.transit_id is not None:
        add("t.transit_id = %(transit)s", transit=f.transit_id)
    if f.declaration is not None:
        decl_id = int(f.declaration) if f.declaration.isdigit() else None
        add(
            "(t.declaration_id = %(decl_id)s OR d.mrn = %(decl)s OR d.lrn = %(decl)s)",
            decl_id=decl_id,
            decl=f.declaration,
        )
    if f.carrier is not None:
        add(
            "(d.carrier_tin = %(carrier)s OR d.carrier_name ILIKE %(carrier_like)s)",
            carrier=f.carrier,
            carrier_like=contains(f.carrier),
        )
    if f.route is not None:
        add("t.route_code = %(route)s", route=f.route)
    if f.channel is not None:
        add("t.channel = %(channel)s", channel=f.channel)
    if f.status is not None:
        add("t.status = %(status)s", status=f.status)
    if f.alert_type is not None:
        if with_alerts:
            add(
                "EXISTS (SELECT 1 FROM alerts a WHERE a.transit_id = t.transit_id AND a.type = %(alert_type)s)",
                alert_type=f.alert_type,
            )
        else:
            add("false")  # no alerts table: no transit has an alert of any type
    if f.outcome is not None:
        if with_alerts:
            add(
                "EXISTS (SELECT 1 FROM alerts a WHERE a.transit_id = t.transit_id AND a.outcome = %(outcome)s)",
                outcome=f.outcome,
            )
        else:
            add("false")
    return clauses, params


async def list_transits(conn: AsyncConn, f: TransitFilter, limit: int = 100, cursor: str | None = None) -> Page:
    """One page of transits, newest release first."""
    limit = max(1, min(limit, MAX_PAGE))
    with_alerts = await alerts_available(conn)
    clauses, params = transit_where(f, with_alerts)
    if cursor is not None:
        at, tid = decode_cursor(cursor, str)
        # Row comparison matches the index order (released_at DESC, transit_id DESC) exactly.
        clauses.append(sql.SQL("(t.released_at, t.transit_id) < (%(c_at)s, %(c_id)s)"))
        params.update(c_at=at, c_id=tid)
    where = sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("true")
    cols = sql.SQL("{}, {}").format(_LIST_COLUMNS, _ALERT_COUNTS if with_alerts else _NO_ALERT_COUNTS)
    query = sql.SQL(
        "SELECT {cols} FROM transits t JOIN declarations d ON d.id = t.declaration_id"
        " WHERE {where} ORDER BY t.released_at DESC, t.transit_id DESC LIMIT %(limit)s"
    ).format(cols=cols, where=where)
    params["limit"] = limit + 1  # one extra row tells whether there is a next page
    cur = await conn.execute(query, params)
    rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["released_at"], rows[-1]["transit_id"]) if more and rows else None
    return Page(items=[dict(r) for r in rows], next_cursor=next_cursor, alerts_available=with_alerts)


async def _one(conn: AsyncConn, query: str, params: Sequence[Any] | dict[str, Any]) -> dict[str, Any] | None:
    cur = await conn.execute(query.encode(), params)
    row = await cur.fetchone()
    return dict(row) if row is not None else None


async def _all(conn: AsyncConn, query: str, params: Sequence[Any] | dict[str, Any]) -> list[dict[str, Any]]:
    cur = await conn.execute(query.encode(), params)
    return [dict(r) for r in await cur.fetchall()]


_WINDOW = """
    SELECT ts.seal_id, ts.assigned_at, ts.returned_at, t.released_at AS start,
           COALESCE(ts.returned_at, t.closed_at) AS stop
    FROM transit_seals ts JOIN transits t ON t.transit_id = ts.transit_id
    WHERE ts.transit_id = %s ORDER BY ts.seal_id"""


async def seal_windows(conn: AsyncConn, transit_id: str) -> list[dict[str, Any]]:
    """Each seal of the transit with the time window its fixes belong to the transit (stop None: open)."""
    return await _all(conn, _WINDOW, (transit_id,))


async def fix_counts(conn: AsyncConn, transit_id: str) -> dict[str, int]:
    rows = await _all(
        conn,
        f"""SELECT w.seal_id, (SELECT count(*) FROM fixes f WHERE f.seal_id = w.seal_id
                                  AND f.t >= w.start AND f.t <= COALESCE(w.stop, 'infinity')) AS n
            FROM ({_WINDOW}) w""",
        (transit_id,),
    )
    return {r["seal_id"]: int(r["n"]) for r in rows}


async def transit_detail(conn: AsyncConn, transit_id: str) -> dict[str, Any]:
    """Everything known about one transit, for an auditor: declaration to closure."""
    transit = await _one(conn, "SELECT * FROM transits WHERE transit_id = %s", (transit_id,))
    if transit is None:
        raise TransitNotFoundError(transit_id)
    decl_id = transit["declaration_id"]
    declaration = await _one(
        conn,
        """SELECT id, lrn, mrn, status, status_reason, declarant_tin, declarant_name, carrier_name, carrier_tin,
                  vehicle_plate, trailers, containers, office_departure, offices_transit, office_destination,
                  route_code, itinerary_places, seal_count, origin_country, hold_reasons, submitted_at,
                  accepted_at, held_at, released_at, arrived_at, closed_at, cancelled_at
           FROM declarations WHERE id = %s""",
        (decl_id,),
    )
    items = await _all(
        conn,
        """SELECT item_no, hs_code, description, gross_mass_kg::float8 AS gross_mass_kg,
                  net_mass_kg::float8 AS net_mass_kg, value::float8 AS value, currency, packages
           FROM declaration_items WHERE declaration_id = %s ORDER BY item_no""",
        (decl_id,),
    )
    status_history = await _all(
        conn,
        """SELECT from_status, to_status, at, actor, reason FROM declaration_status_history
           WHERE declaration_id = %s ORDER BY at, id""",
        (decl_id,),
    )
    risk = await _one(
        conn,
        """SELECT profile_version, score, channel, score_channel, random_selected, fired, controls, monitored,
                  assessed_at FROM risk_assessments WHERE declaration_id = %s ORDER BY id DESC LIMIT 1""",
        (decl_id,),
    )
    seals = await seal_windows(conn, transit_id)
    counts = await fix_counts(conn, transit_id)
    observations = await _all(
        conn,
        """SELECT id, seal_id, kind, t, lat, lon, zone_code, evidence, recorded_at FROM observations
           WHERE transit_id = %s ORDER BY t, id""",
        (transit_id,),
    )
    with_alerts = await alerts_available(conn)
    alerts: list[dict[str, Any]] | None = None
    if with_alerts:
        alerts = await _all(
            conn,
            """SELECT to_jsonb(a.*) AS alert,
                      COALESCE((SELECT jsonb_agg(to_jsonb(e.*) - 'alert_id' ORDER BY e.id) FROM alert_events e
                                WHERE e.alert_id = a.id), '[]') AS lifecycle
               FROM alerts a WHERE a.transit_id = %s ORDER BY a.first_t, a.id""",
            (transit_id,),
        )
    arrival_obs = next((o for o in observations if o["kind"] == "arrival"), None)
    released_by = next((h for h in status_history if h["to_status"] == "released"), None)
    closed_by = next((h for h in status_history if h["to_status"] == "closed"), None)
    arrived_by = next((h for h in status_history if h["to_status"] == "arrived"), None)
    audit = await _all(
        conn,
        """SELECT id, at, actor, table_name, op, row_key FROM audit_log
           WHERE (table_name = 'transits' AND row_key = jsonb_build_object('transit_id', %(t)s::text))
              OR (table_name = 'declarations' AND row_key = jsonb_build_object('id', %(d)s::bigint))
           ORDER BY id""",
        {"t": transit_id, "d": decl_id},
    )
    return {
        "transit_id": transit_id,
        "status": transit["status"],
        "route_code": transit["route_code"],
        "route_line": transit["route_line"],
        "corridor": transit["corridor"],
        "corridor_width_m": transit["corridor_width_m"],
        "declaration": {**(declaration or {}), "items": items, "status_history": status_history},
        "risk": risk,
        "release": {
            "released_at": transit["released_at"],
            "deadline": transit["deadline"],
            "channel": transit["channel"],
            "monitored": transit["monitored"],
            "office_departure": transit["office_departure"],
            "office_destination": transit["office_destination"],
            "actor": released_by["actor"] if released_by else None,
        },
        "seals": [{**s, "fixes": counts.get(s["seal_id"], 0)} for s in seals],
        "fix_count": sum(counts.values()),
        "track_url": f"/api/history/transits/{transit_id}/track",
        "playback_url": f"/transits/{transit_id}/playback",
        "observations": observations,
        "alerts_available": with_alerts,
        "alerts": alerts,
        "arrival": {
            "arrived_at": transit["arrived_at"],
            "observed_at": arrival_obs["t"] if arrival_obs else None,
            "late": (transit["arrived_at"] > transit["deadline"]) if transit["arrived_at"] else None,
            "actor": arrived_by["actor"] if arrived_by else None,
        },
        "closure": {"closed_at": transit["closed_at"], "actor": closed_by["actor"] if closed_by else None},
        "audit": audit,
    }


async def transit_track(conn: AsyncConn, transit_id: str, max_points: int = TRACK_MAX_POINTS) -> dict[str, Any]:
    """The transit's fixes per seal, time-ordered, as a GeoJSON FeatureCollection.

    One LineString feature per seal (coordinates [lon, lat]) with per-vertex ``times``, ``seqs``,
    ``speeds`` and ``states`` arrays: a compact form that is still fix-for-fix exact.
    """
    windows = await seal_windows(conn, transit_id)
    if not windows:
        exists = await _one(conn, "SELECT 1 AS x FROM transits WHERE transit_id = %s", (transit_id,))
        if exists is None:
            raise TransitNotFoundError(transit_id)
    features: list[dict[str, Any]] = []
    for w in windows:
        # Tuples, not dicts: a long track is the hot loop of this endpoint.
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(
                """SELECT lon, lat, t, seq, speed_kmh, seal_state FROM fixes
                   WHERE seal_id = %s AND t >= %s AND t <= COALESCE(%s::timestamptz, 'infinity')
                   ORDER BY t, seq LIMIT %s""",
                (w["seal_id"], w["start"], w["stop"], max_points + 1),
            )
            rows = await cur.fetchall()
        truncated = len(rows) > max_points
        rows = rows[:max_points]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [(r[0], r[1]) for r in rows]}
                if len(rows) >= 2
                else None,
                "properties": {
                    "transit_id": transit_id,
                    "seal_id": w["seal_id"],
                    "points": len(rows),
                    "truncated": truncated,
                    "times": [r[2] for r in rows],
                    "seqs": [r[3] for r in rows],
                    "speeds": [r[4] for r in rows],
                    "states": [r[5] for r in rows],
                    "single_point": [rows[0][0], rows[0][1]] if len(rows) == 1 else None,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}
