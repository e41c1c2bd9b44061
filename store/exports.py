"""Streamed exports of tracks, observations, alerts and transits: CSV, GeoJSON and GeoPackage.

Nothing here loads a whole result set. CSV is PostgreSQL's own ``COPY (query) TO STDOUT``, relayed
chunk by chunk (the server streams it; about ten times faster than formatting rows in Python).
GeoJSON features are built by PostgreSQL (``json_build_object``) and read through a server-side
(named) cursor a few thousand rows at a time. A GeoPackage cannot be written as a stream (SQLite
needs random access), so it is built in a temporary file, appended chunk by chunk from the same
kind of cursor, and the caller streams the file and deletes it.

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
    if spec.transit_id is not None:
        return (
            sql.SQL(
                """SELECT w.transit_id, {cols} FROM (
                       SELECT ts.transit_id, ts.seal_id, t.released_at AS start,
                              COALESCE(ts.returned_at, t.closed_at, 'infinity') AS stop
                       FROM transit_seals ts JOIN transits t ON t.transit_id = ts.transit_id
                       WHERE ts.transit_id = %(transit)s) w
                   CROSS JOIN LATERAL (
                       SELECT * FROM fixes f WHERE f.seal_id = w.seal_id AND f.t >= w.start AND f.t <= w.stop
                       ORDER BY f.t, f.seq) f
                   ORDER BY w.seal_id, f.t, f.seq"""
            ).format(cols=_FIX_COLS),
            {"transit": spec.transit_id},
        )
    start, end = spec.range()
    seal = sql.SQL(" AND f.seal_id = %(seal)s") if spec.seal_id is not None else sql.SQL("")
    return (
        sql.SQL(
            "SELECT NULL::text AS transit_id, {cols} FROM fixes f WHERE f.t >= %(start)s AND f.t < %(end)s{seal}"
            " ORDER BY f.seal_id, f.t, f.seq"
        ).format(cols=_FIX_COLS, seal=seal),
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
    # Point geometry = the office of departure (where the transit starts); the route line is a column.
    return (
        sql.SQL(
            """SELECT t.transit_id, t.declaration_id, d.mrn, d.lrn, t.route_code, d.carrier_name, d.carrier_tin,
                      d.vehicle_plate, t.channel, t.monitored, t.status, t.office_departure, t.office_destination,
                      t.released_at, t.deadline, t.arrived_at, t.closed_at, t.seal_id,
                      (t.route_line->'coordinates'->0->>1)::float8 AS lat,
                      (t.route_line->'coordinates'->0->>0)::float8 AS lon,
                      t.route_line::text AS route_line
               FROM transits t JOIN declarations d ON d.id = t.declaration_id
               WHERE {w} ORDER BY t.released_at DESC, t.transit_id DESC"""
        ).format(w=where),
        params,
    )


async def build_query(
    conn: AsyncConn, dataset: Dataset, spec: ExportSpec, transit_filter: TransitFilter | None = None
) -> tuple[sql.Composed, dict[str, Any]]:
    if dataset == "tracks":
        return tracks_query(spec)
    if dataset == "observations":
        return observations_query(spec)
    if dataset == "alerts":
        if not await alerts_available(conn):
            raise AlertsUnavailableError("the alerts table does not exist in this database")
        return alerts_query(spec)
    if dataset == "transits":
        return transits_query(transit_filter or TransitFilter(), await alerts_available(conn))
    raise ExportError(f"unknown dataset {dataset!r}")


async def _utc(conn: AsyncConn) -> None:
    # SET LOCAL: only for this export's transaction; the pooled connection keeps its settings.
    await conn.execute("SET LOCAL TimeZone = 'UTC'")


async def stream_csv(conn: AsyncConn, query: sql.Composed, params: dict[str, Any]) -> AsyncIterator[bytes]:
    """CSV with a header row, relayed from COPY as PostgreSQL produces it."""
    await _utc(conn)
    copy_sql = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(query)
    rows_bytes = 0
    async with conn.cursor() as cur, cur.copy(copy_sql, params) as copy:
        async for chunk in copy:
            rows_bytes += len(chunk)
            yield bytes(chunk)
    log.debug("csv export streamed", bytes=rows_bytes)


def _feature_sql(query: sql.Composed) -> sql.Composed:
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


async def stream_geojson(conn: AsyncConn, query: sql.Composed, params: dict[str, Any]) -> AsyncIterator[bytes]:
    """A GeoJSON FeatureCollection of Points, one feature per row, from a server-side cursor."""
    await _utc(conn)
    yield b'{"type":"FeatureCollection","features":[\n'
    first = True
    name = f"export_{uuid.uuid4().hex[:12]}"
    async with conn.cursor(name=name, row_factory=tuple_row) as cur:
        await cur.execute(_feature_sql(query), params)
        while True:
            rows = await cur.fetchmany(FETCH_ROWS)
            if not rows:
                break
            text = ",\n".join(r[0] for r in rows)
            yield (text if first else ",\n" + text).encode()
            first = False
    yield b"\n]}\n"


async def write_gpkg(conn: AsyncConn, query: sql.Composed, params: dict[str, Any], layer: str) -> str:
    """Write the rows to a new GeoPackage (temporary file, path returned; the caller deletes it)."""
    import geopandas as gpd  # type: ignore[import-untyped]  # heavy import, only for this export

    await _utc(conn)
    fd, path = tempfile.mkstemp(prefix="sealwatch-", suffix=".gpkg")
    os.close(fd)
    os.unlink(path)  # the GPKG driver wants to create the file itself
    name = f"export_{uuid.uuid4().hex[:12]}"
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
                data = {c: [r[i] for r in rows] for i, c in enumerate(columns) if c not in ("lat", "lon")}
                ilat, ilon = columns.index("lat"), columns.index("lon")
                points = gpd.points_from_xy([r[ilon] for r in rows], [r[ilat] for r in rows])
                gdf = gpd.GeoDataFrame(data, geometry=points, crs="EPSG:4326")
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
