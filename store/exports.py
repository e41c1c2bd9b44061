"""Streamed exports of tracks, observations, alerts and transits: CSV, GeoJSON and GeoPackage.

Nothing here loads a whole result set. CSV is PostgreSQL's own ``COPY (query) TO STDOUT``, relayed
chunk by chunk (the server streams it; about ten times faster than formatting rows in Python).
GeoJSON features are built by PostgreSQL (``json_build_object``) and read through a server-side
(named) cursor a few thousand rows at a time. A GeoPackage cannot be written as a stream (SQLite
needs random access), so it is built in a temporary file, appended chunk by chunk from the same
kind of cursor, and the caller streams the file and deletes it.

Every dataset has a geometry: tracks, observations and alerts are points (``lat``/``lon``; an alert
without a position has none), a transit is its declared route line. Tracks of a time range carry
the transit each fix belonged to (the seal's window on it: release until the seal was returned or
the transit closed).

CSV text cells that a spreadsheet would evaluate as a formula (starting with ``= + - @``, tab or
carriage return, per OWASP's CSV-injection guidance) are prefixed with a single quote; numbers keep
their sign. Both stream generators run their query before yielding anything, so a caller that takes
the first chunk before answering learns of a failing query in time to send an error status.

Times are exported in UTC (``SET LOCAL TimeZone``), coordinates in WGS 84 (EPSG:4326).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import DictRow, tuple_row

from sealwatch.logging import get_logger
from store.history import TransitFilter, alerts_available, transit_where

log = get_logger(__name__)

AsyncConn = psycopg.AsyncConnection[DictRow]
Dataset = Literal["tracks", "observations", "alerts", "transits"]
Format = Literal["csv", "geojson", "gpkg"]
Geometry = Literal["point", "route_line"]

FETCH_ROWS = 5000
MAX_RANGE = timedelta(days=31)
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
}


class ExportError(ValueError):
    """The export request is not well-formed (no selector, range too long, unknown dataset)."""


class AlertsUnavailableError(ExportError):
    pass


@dataclass(frozen=True, slots=True)
class Query:
    """A dataset's query, its parameters and where its rows' geometry comes from: ``point`` from the
    ``lat``/``lon`` columns, ``route_line`` from that GeoJSON column."""

    sql: sql.Composed
    params: dict[str, Any]
    geometry: Geometry = "point"


@dataclass(frozen=True, slots=True)
class ExportSpec:
    """What to export: one transit, or one seal and/or a time range (at most 31 days)."""

    transit_id: str | None = None
    seal_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    kind: str | None = None  # observation kind or alert type

    def range(self) -> tuple[datetime, datetime]:
        if self.start is None or self.end is None:
            raise ExportError("start and end are required unless a transit is given")
        if self.end <= self.start:
            raise ExportError("end must be after start")
        if self.end - self.start > MAX_RANGE:
            raise ExportError(f"range longer than {MAX_RANGE.days} days")
        return self.start, self.end


_FIX_COLS = sql.SQL(
    "f.seal_id, f.seq, f.t, f.lat, f.lon, f.speed_kmh, f.heading_deg, f.sats, f.hdop, f.battery_pct,"
    " f.seal_state, f.received_at"
)


def tracks_query(spec: ExportSpec) -> tuple[sql.Composed, dict[str, Any]]:
    """Fixes of a transit (each seal within its window), or of a seal / all seals in a time range."""
    seal_w = sql.SQL(" AND ts.seal_id = %(seal)s") if spec.seal_id is not None else sql.SQL("")
    if spec.transit_id is not None:
        return (
            sql.SQL(
                """SELECT w.transit_id, {cols} FROM (
                       SELECT ts.transit_id, ts.seal_id, t.released_at AS start,
                              COALESCE(ts.returned_at, t.closed_at, 'infinity') AS stop
                       FROM transit_seals ts JOIN transits t ON t.transit_id = ts.transit_id
                       WHERE ts.transit_id = %(transit)s{seal_w}) w
                   CROSS JOIN LATERAL (
                       SELECT * FROM fixes f WHERE f.seal_id = w.seal_id AND f.t >= w.start AND f.t <= w.stop
                       ORDER BY f.t, f.seq) f
                   ORDER BY w.seal_id, f.t, f.seq"""
            ).format(cols=_FIX_COLS, seal_w=seal_w),
            {"transit": spec.transit_id, "seal": spec.seal_id},
        )
    start, end = spec.range()
    seal = sql.SQL(" AND f.seal_id = %(seal)s") if spec.seal_id is not None else sql.SQL("")
    # Each fix gets the transit whose seal window holds it. A seal is on one transit at a time; a
    # window ends where the seal's next one starts, so a fix at a shared boundary is not doubled.
    return (
        sql.SQL(
            """WITH w AS (
                   SELECT ts.transit_id, ts.seal_id, t.released_at AS start,
                          COALESCE(ts.returned_at, t.closed_at, 'infinity') AS stop,
                          lead(t.released_at) OVER (PARTITION BY ts.seal_id ORDER BY t.released_at) AS next_start
                   FROM transit_seals ts JOIN transits t ON t.transit_id = ts.transit_id
                   WHERE t.released_at < %(end)s AND COALESCE(ts.returned_at, t.closed_at, 'infinity') >= %(start)s
                         {seal_w})
               SELECT w.transit_id, {cols} FROM fixes f
               LEFT JOIN w ON w.seal_id = f.seal_id AND f.t >= w.start AND f.t <= w.stop
                          AND f.t < COALESCE(w.next_start, 'infinity')
               WHERE f.t >= %(start)s AND f.t < %(end)s{seal}
               ORDER BY f.seal_id, f.t, f.seq"""
        ).format(cols=_FIX_COLS, seal=seal, seal_w=seal_w),
        {"start": start, "end": end, "seal": spec.seal_id},
    )


def observations_query(spec: ExportSpec) -> tuple[sql.Composed, dict[str, Any]]:
    clauses = [sql.SQL("o.transit_id = %(transit)s")] if spec.transit_id is not None else []
    if spec.transit_id is None:
        spec.range()
        clauses.append(sql.SQL("o.t >= %(start)s AND o.t < %(end)s"))
    if spec.seal_id is not None:
        clauses.append(sql.SQL("o.seal_id = %(seal)s"))
    if spec.kind is not None:
        clauses.append(sql.SQL("o.kind = %(kind)s"))
    return (
        sql.SQL(
            "SELECT o.id, o.transit_id, o.seal_id, o.kind, o.t, o.lat, o.lon, o.zone_code,"
            " o.evidence::text AS evidence, o.recorded_at FROM observations o WHERE {w} ORDER BY o.t, o.id"
        ).format(w=sql.SQL(" AND ").join(clauses)),
        {"transit": spec.transit_id, "start": spec.start, "end": spec.end, "seal": spec.seal_id, "kind": spec.kind},
    )


def alerts_query(spec: ExportSpec) -> tuple[sql.Composed, dict[str, Any]]:
    clauses = [sql.SQL("a.transit_id = %(transit)s")] if spec.transit_id is not None else []
    if spec.transit_id is None:
        spec.range()
        clauses.append(sql.SQL("a.first_t >= %(start)s AND a.first_t < %(end)s"))
    if spec.seal_id is not None:
        clauses.append(sql.SQL("a.seal_id = %(seal)s"))
    if spec.kind is not None:
        clauses.append(sql.SQL("a.type = %(kind)s"))
    return (
        sql.SQL(
            """SELECT a.id, a.transit_id, a.seal_id, a.type, a.severity, a.status, a.first_t, a.last_t, a.count,
                      a.lat, a.lon, a.raised_at, a.acknowledged_at, a.acknowledged_by, a.dispatched_at,
                      a.dispatched_by, a.resolved_at, a.resolved_by, a.outcome, a.evidence::text AS evidence,
                      COALESCE((SELECT jsonb_agg(jsonb_build_object('kind', e.kind, 'to_status', e.to_status,
                                    'actor', e.actor, 'at', e.at) ORDER BY e.id)
                                FROM alert_events e WHERE e.alert_id = a.id), '[]')::text AS lifecycle
               FROM alerts a WHERE {w} ORDER BY a.first_t, a.id"""
        ).format(w=sql.SQL(" AND ").join(clauses)),
        {"transit": spec.transit_id, "start": spec.start, "end": spec.end, "seal": spec.seal_id, "kind": spec.kind},
    )


def transits_query(f: TransitFilter, with_alerts: bool) -> tuple[sql.Composed, dict[str, Any]]:
    clauses, params = transit_where(f, with_alerts)
    where = sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("true")
    # The geometry is the declared route line (GeoJSON text: a CSV column, the feature's geometry).
    return (
        sql.SQL(
            """SELECT t.transit_id, t.declaration_id, d.mrn, d.lrn, t.route_code, d.carrier_name, d.carrier_tin,
                      d.vehicle_plate, t.channel, t.monitored, t.status, t.office_departure, t.office_destination,
                      t.released_at, t.deadline, t.arrived_at, t.closed_at,
                      COALESCE((SELECT string_agg(ts.seal_id, ' ' ORDER BY ts.seal_id) FROM transit_seals ts
                                WHERE ts.transit_id = t.transit_id), '') AS seal_ids,
                      t.route_line::text AS route_line
               FROM transits t JOIN declarations d ON d.id = t.declaration_id
               WHERE {w} ORDER BY t.released_at DESC, t.transit_id DESC"""
        ).format(w=where),
        params,
    )


async def build_query(
    conn: AsyncConn, dataset: Dataset, spec: ExportSpec, transit_filter: TransitFilter | None = None
) -> Query:
    if dataset == "tracks":
        return Query(*tracks_query(spec))
    if dataset == "observations":
        return Query(*observations_query(spec))
    if dataset == "alerts":
        if not await alerts_available(conn):
            raise AlertsUnavailableError("the alerts table does not exist in this database")
        return Query(*alerts_query(spec))
    if dataset == "transits":
        return Query(*transits_query(transit_filter or TransitFilter(), await alerts_available(conn)), "route_line")
    raise ExportError(f"unknown dataset {dataset!r}")


async def _utc(conn: AsyncConn) -> None:
    # SET LOCAL: only for this export's transaction; the pooled connection keeps its settings.
    await conn.execute("SET LOCAL TimeZone = 'UTC'")


# Types whose CSV cell is free text (text, varchar, char, name): the cells a formula could hide in.
_TEXT_OIDS = frozenset({25, 1043, 1042, 19})
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


async def _neutralised(conn: AsyncConn, query: sql.Composed, params: dict[str, Any]) -> sql.Composed:
    """The query with every text column's formula-like cells prefixed by a single quote.

    The column types come from describing the query (a zero-row run), so a column added to a
    dataset later is covered without anyone remembering to."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(sql.SQL("SELECT * FROM ({}) q LIMIT 0").format(query), params)
        assert cur.description is not None
        columns = [(c.name, c.type_code in _TEXT_OIDS) for c in cur.description]
    starts = sql.SQL(", ").join(sql.Literal(p) for p in FORMULA_PREFIXES)
    cells = [
        sql.SQL("CASE WHEN left(q.{c}, 1) IN ({starts}) THEN '''' || q.{c} ELSE q.{c} END AS {c}").format(
            c=sql.Identifier(name), starts=starts
        )
        if text
        else sql.SQL("q.{c}").format(c=sql.Identifier(name))
        for name, text in columns
    ]
    return sql.SQL("SELECT {} FROM ({}) q").format(sql.SQL(", ").join(cells), query)


async def stream_csv(conn: AsyncConn, query: sql.Composed, params: dict[str, Any]) -> AsyncIterator[bytes]:
    """CSV with a header row, relayed from COPY as PostgreSQL produces it (formula cells neutralised)."""
    await _utc(conn)
    safe = await _neutralised(conn, query, params)
    copy_sql = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(safe)
    rows_bytes = 0
    async with conn.cursor() as cur, cur.copy(copy_sql, params) as copy:
        async for chunk in copy:
            rows_bytes += len(chunk)
            yield bytes(chunk)
    log.debug("csv export streamed", bytes=rows_bytes)


def _feature_sql(query: sql.Composed, geometry: Geometry) -> sql.Composed:
    if geometry == "route_line":
        return sql.SQL(
            """SELECT json_build_object('type', 'Feature', 'geometry', q.route_line::json,
                                        'properties', to_jsonb(q.*) - 'route_line')::text
               FROM ({}) q"""
        ).format(query)
    # Every column but lat/lon becomes a property; rows without a position get a null geometry.
    return sql.SQL(
        """SELECT json_build_object(
               'type', 'Feature',
               'geometry', CASE WHEN q.lat IS NULL OR q.lon IS NULL THEN NULL
                                ELSE json_build_object('type', 'Point', 'coordinates', json_build_array(q.lon, q.lat))
                           END,
               'properties', to_jsonb(q.*) - 'lat' - 'lon')::text
           FROM ({}) q"""
    ).format(query)


async def stream_geojson(
    conn: AsyncConn, query: sql.Composed, params: dict[str, Any], geometry: Geometry = "point"
) -> AsyncIterator[bytes]:
    """A GeoJSON FeatureCollection, one feature per row, from a server-side cursor. The first chunk
    comes after the first rows were fetched: a failing query raises before anything is yielded."""
    await _utc(conn)
    name = f"export_{uuid.uuid4().hex[:12]}"
    async with conn.cursor(name=name, row_factory=tuple_row) as cur:
        await cur.execute(_feature_sql(query, geometry), params)
        prefix = b'{"type":"FeatureCollection","features":[\n'
        while True:
            rows = await cur.fetchmany(FETCH_ROWS)
            if not rows:
                break
            yield prefix + ",\n".join(r[0] for r in rows).encode()
            prefix = b",\n"
    yield (b'{"type":"FeatureCollection","features":[' if prefix != b",\n" else b"") + b"\n]}\n"


def _geometries(rows: list[tuple[Any, ...]], columns: list[str], geometry: Geometry) -> Any:
    import numpy as np
    import shapely

    if geometry == "route_line":
        i = columns.index("route_line")
        return shapely.from_geojson(np.array([r[i] for r in rows], dtype=object))
    ilat, ilon = columns.index("lat"), columns.index("lon")
    lat = np.array([np.nan if r[ilat] is None else r[ilat] for r in rows], dtype=float)
    lon = np.array([np.nan if r[ilon] is None else r[ilon] for r in rows], dtype=float)
    points = shapely.points(lon, lat)
    points[np.isnan(lat) | np.isnan(lon)] = None  # no position: a null geometry, not POINT (NaN NaN)
    return points


async def write_gpkg(
    conn: AsyncConn, query: sql.Composed, params: dict[str, Any], layer: str, geometry: Geometry = "point"
) -> str:
    """Write the rows to a new GeoPackage (temporary file, path returned; the caller deletes it)."""
    import geopandas as gpd  # type: ignore[import-untyped]  # heavy import, only for this export

    await _utc(conn)
    fd, path = tempfile.mkstemp(prefix="sealwatch-", suffix=".gpkg")
    os.close(fd)
    os.unlink(path)  # the GPKG driver wants to create the file itself
    name = f"export_{uuid.uuid4().hex[:12]}"
    geometry_columns = ("route_line",) if geometry == "route_line" else ("lat", "lon")
    written = 0
    try:
        async with conn.cursor(name=name, row_factory=tuple_row) as cur:
            await cur.execute(query, params)
            columns: list[str] | None = None
            while True:
                rows = await cur.fetchmany(50_000)
                if not rows:
                    break
                if columns is None:
                    assert cur.description is not None
                    columns = [c.name for c in cur.description]
                data = {c: [r[i] for r in rows] for i, c in enumerate(columns) if c not in geometry_columns}
                gdf = gpd.GeoDataFrame(data, geometry=_geometries(rows, columns, geometry), crs="EPSG:4326")
                # Appending chunk by chunk keeps memory flat however long the track is.
                await asyncio.to_thread(
                    gdf.to_file, path, layer=layer, driver="GPKG", mode="a" if written else "w", engine="pyogrio"
                )
                written += len(rows)
        if written == 0:
            empty = gpd.GeoDataFrame({"transit_id": []}, geometry=[], crs="EPSG:4326")
            await asyncio.to_thread(empty.to_file, path, layer=layer, driver="GPKG", engine="pyogrio")
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # a half-written file is of no use
        raise
    log.info("gpkg export written", layer=layer, rows=written)
    return path
