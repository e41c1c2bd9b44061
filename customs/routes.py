"""Routes as customs keeps them: versioned road geometry, a corridor width that varies along it,
the stop areas on it, and how long a stop elsewhere on it is tolerated.

A route's geometry changes only by a new version (imported from a file, edited on the map, learned
from past tracks); transits keep the version they were released with. Where no width profile is
given, the corridor is widened around the route's towns and offices and on its border approaches.
:func:`routes_seed_sql` renders the seeded stop areas, tolerances and first versions as migration
0642, and a test checks that file still matches, like the reference data of migration 0101.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import shapely
from pydantic import BaseModel, ConfigDict, Field, model_validator
from shapely.geometry import Point
from shapely.ops import substring

from customs.corridor_learning import LearnedCorridor, LearningParams, learn_corridor
from customs.corridors import (
    GeoJson,
    circle_polygon,
    line_geojson,
    metric_line,
    segment_widths,
    to_metric,
    to_wgs84,
    variable_corridor_polygon,
)
from customs.db import Db
from customs.errors import ConflictError, InvalidInputError, NotFoundError
from customs.reference import _json, _q
from customs.route_files import CleanLine, clean_line, geojson_parts
from sealwatch.geography import PLACES, ROUTES, STOP_AREAS, PlaceKind, Route, StopArea, route_lonlat
from sealwatch.logging import get_logger

log = get_logger(__name__)

LonLat = tuple[float, float]
Stretch = tuple[float, float, float]
Source = Literal["seed", "geojson", "gpx", "kml", "edit", "learned"]

DEFAULT_WIDTH_M = 2_000.0
TOWN_WIDTH_M, TOWN_REACH_M = 3_000.0, 3_000.0  # towns and offices: slow traffic, ring roads, yards
BORDER_WIDTH_M, BORDER_REACH_M = 4_000.0, 10_000.0  # border approaches: queues, truck parks, detours


class WidthStretch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_m: float = Field(ge=0, description="start, metres along the route line")
    to_m: float = Field(gt=0, description="end, metres along the route line")
    width_m: float = Field(gt=0, le=50_000, description="corridor width (max distance from the line) there")

    @model_validator(mode="after")
    def _ordered(self) -> WidthStretch:
        if self.to_m <= self.from_m:
            raise ValueError("to_m must be greater than from_m")
        return self


class RouteGeometryIn(BaseModel):
    """A new geometry for a route: a GeoJSON line, and optionally how wide its corridor is where."""

    model_config = ConfigDict(extra="forbid")

    geometry: dict[str, Any] = Field(description="GeoJSON LineString, MultiLineString, Feature or FeatureCollection")
    default_width_m: float | None = Field(default=None, gt=0, le=50_000, description="unset: keep the route's")
    width_profile: list[WidthStretch] | None = Field(
        default=None, description="unset: widened around the route's towns and on its border approaches"
    )
    expected_version: int | None = Field(default=None, ge=1, description="refuse (409) if the route moved on")
    note: str = Field(default="", max_length=500)


class RouteVersion(BaseModel):
    route_code: str
    version: int
    polyline: dict[str, Any]
    default_width_m: float
    width_profile: list[WidthStretch]
    source: Source
    note: str
    stats: dict[str, Any]
    created_by: str
    created_at: datetime


class RouteVersionDetail(RouteVersion):
    corridor: dict[str, Any] = Field(description="the corridor polygon (GeoJSON) this version's widths make")


class LearnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: datetime | None = Field(default=None, description="transits released at or after")
    until: datetime | None = Field(default=None, description="transits released before")
    max_transits: int = Field(default=200, ge=1, le=5_000)
    min_tracks: int = Field(default=3, ge=1)
    save: bool = Field(default=False, description="store the learned line as the route's new version")
    expected_version: int | None = Field(default=None, ge=1)
    note: str = Field(default="", max_length=500)


class LearnedOut(BaseModel):
    route_code: str
    geometry: dict[str, Any]
    default_width_m: float
    width_profile: list[WidthStretch]
    corridor: dict[str, Any]
    stats: dict[str, Any]
    saved: RouteVersion | None = None


# -- widths -------------------------------------------------------------------------------------


def places_along(lonlat: Sequence[LonLat], place_codes: Sequence[str]) -> list[tuple[str, float, float]]:
    """(code, metres along the line, metres off it) of each place, from the line's metric projection."""
    line = metric_line(lonlat)
    out = []
    for code in place_codes:
        p = PLACES.get(code)
        if p is None:
            continue
        pt = to_metric(Point(p.lon, p.lat))
        out.append((code, float(line.project(pt)), float(line.distance(pt))))
    return out


def default_width_profile(lonlat: Sequence[LonLat], place_codes: Sequence[str]) -> list[Stretch]:
    """Wider around the towns and offices the line passes, widest on its border approaches."""
    length = metric_line(lonlat).length
    out: list[Stretch] = []
    for code, s, off in places_along(lonlat, place_codes):
        if off > TOWN_REACH_M:
            continue  # the line does not pass this place
        border = PLACES[code].kind is PlaceKind.BORDER_CHECKPOINT
        reach, width = (BORDER_REACH_M, BORDER_WIDTH_M) if border else (TOWN_REACH_M, TOWN_WIDTH_M)
        a, b = max(0.0, s - reach), min(length, s + reach)
        if b > a:
            out.append((round(a, 1), round(b, 1), width))
    return out


def check_profile(profile: Sequence[Stretch], length_m: float) -> None:
    for i, (a, b, _) in enumerate(profile):
        if a >= length_m or b > length_m + 1.0:
            raise InvalidInputError(
                f"width_profile[{i}] runs {a:.0f}–{b:.0f} m but the line is {length_m:.0f} m long",
                code="invalid_width_profile",
            )


def corridor_of(
    lonlat: Sequence[LonLat], default_width_m: float, profile: Sequence[Stretch]
) -> tuple[list[LonLat], list[float] | None, GeoJson]:
    """The line with a vertex at every width change, each segment's width (None: one width all
    along), and the corridor polygon."""
    if not profile:
        coords = list(lonlat)
        widths = [default_width_m] * (len(coords) - 1)
        return coords, None, variable_corridor_polygon(coords, widths)
    coords, widths = segment_widths(lonlat, default_width_m, profile)
    uniform = all(w == widths[0] for w in widths)
    return coords, None if uniform else widths, variable_corridor_polygon(coords, widths)


def _stretches(profile: Sequence[WidthStretch] | Sequence[dict[str, Any]]) -> list[Stretch]:
    out = []
    for s in profile:
        w = s if isinstance(s, WidthStretch) else WidthStretch.model_validate(s)
        out.append((w.from_m, w.to_m, w.width_m))
    return out


def _profile_json(profile: Sequence[Stretch]) -> list[dict[str, float]]:
    return [{"from_m": a, "to_m": b, "width_m": w} for a, b, w in profile]


# -- versions -----------------------------------------------------------------------------------

_VERSION_COLS = (
    "route_code, version, polyline, default_width_m, width_profile, source, note, stats, created_by, created_at"
)


async def list_versions(db: Db, code: str) -> list[RouteVersion]:
    await _route_row(db, code)
    rows = await db.all(f"SELECT {_VERSION_COLS} FROM route_versions WHERE route_code = %s ORDER BY version", (code,))
    return [RouteVersion.model_validate(r) for r in rows]


async def get_version(db: Db, code: str, version: int) -> RouteVersion:
    row = await db.one(
        f"SELECT {_VERSION_COLS} FROM route_versions WHERE route_code = %s AND version = %s", (code, version)
    )
    if row is None:
        raise NotFoundError(f"route {code!r} has no version {version}")
    return RouteVersion.model_validate(row)


async def get_version_detail(db: Db, code: str, version: int) -> RouteVersionDetail:
    """A version with its corridor polygon, as a map draws it."""
    v = await get_version(db, code, version)
    lonlat = [(float(x), float(y)) for x, y, *_ in v.polyline["coordinates"]]
    profile = [(w.from_m, w.to_m, w.width_m) for w in v.width_profile]
    _, _, polygon = corridor_of(lonlat, v.default_width_m, profile)
    return RouteVersionDetail(**v.model_dump(), corridor=polygon)


async def _route_row(db: Db, code: str, *, lock: bool = False) -> dict[str, Any]:
    row = await db.one(
        "SELECT code, place_codes, polyline, version, default_width_m, width_profile FROM routes WHERE code = %s"
        + (" FOR UPDATE" if lock else ""),
        (code,),
    )
    if row is None:
        raise NotFoundError(f"route {code!r} does not exist")
    return dict(row)


def _ends(place_codes: Sequence[str]) -> tuple[LonLat | None, LonLat | None]:
    first, last = PLACES.get(place_codes[0]), PLACES.get(place_codes[-1])
    return (first.lon, first.lat) if first else None, (last.lon, last.lat) if last else None


async def save_geometry(
    db: Db,
    code: str,
    parts: Sequence[Sequence[LonLat]],
    *,
    source: Source,
    actor: str,
    default_width_m: float | None = None,
    width_profile: Sequence[Stretch] | None = None,
    expected_version: int | None = None,
    note: str = "",
    stats: dict[str, Any] | None = None,
    simplify_m: float | None = None,
) -> RouteVersion:
    """Validate the line (see ``customs.route_files.clean_line``) and store it as the route's next version."""
    async with db.transaction():
        row = await _route_row(db, code, lock=True)
        if expected_version is not None and expected_version != row["version"]:
            raise ConflictError(
                f"route {code} is at version {row['version']}, not {expected_version}: reload and edit again",
                code="version_conflict",
            )
        origin, destination = _ends(row["place_codes"])
        kwargs = {} if simplify_m is None else {"simplify_m": simplify_m}
        line: CleanLine = clean_line(parts, origin=origin, destination=destination, **kwargs)
        width = float(default_width_m or row["default_width_m"])
        if width_profile is None:
            profile = default_width_profile(line.coords, row["place_codes"])
        else:
            profile = list(width_profile)
            check_profile(profile, line.length_m)
        all_stats = {
            "length_m": round(line.length_m),
            "vertices": len(line.coords),
            "input_vertices": line.input_vertices,
            "reversed": line.reversed,
            **(stats or {}),
        }
        version = int(row["version"]) + 1
        saved = await db.one(
            f"""INSERT INTO route_versions (route_code, version, polyline, default_width_m, width_profile, source,
                                            note, stats, created_by)
                VALUES (%s, %s, %s::jsonb, %s, %s::jsonb, %s, %s, %s::jsonb, %s) RETURNING {_VERSION_COLS}""",
            (
                code,
                version,
                json.dumps(line_geojson(line.coords)),
                width,
                json.dumps(_profile_json(profile)),
                source,
                note,
                json.dumps(all_stats),
                actor,
            ),
        )
        assert saved is not None
        await db.run(
            """UPDATE routes SET polyline = %s::jsonb, version = %s, default_width_m = %s, width_profile = %s::jsonb,
                   updated_at = now() WHERE code = %s""",
            (json.dumps(line_geojson(line.coords)), version, width, json.dumps(_profile_json(profile)), code),
        )
    log.info("route geometry saved", route=code, version=version, source=source, vertices=len(line.coords))
    return RouteVersion.model_validate(saved)


async def save_geojson(db: Db, code: str, body: RouteGeometryIn, actor: str) -> RouteVersion:
    return await save_geometry(
        db,
        code,
        geojson_parts(body.geometry),
        source="edit",
        actor=actor,
        default_width_m=body.default_width_m,
        width_profile=None if body.width_profile is None else _stretches(body.width_profile),
        expected_version=body.expected_version,
        note=body.note,
    )


# -- learning -----------------------------------------------------------------------------------

_TRACKS_SQL = """
SELECT t.transit_id, f.lon, f.lat
FROM (SELECT transit_id, seal_id, released_at, coalesce(arrived_at, closed_at) AS ended_at FROM transits
      WHERE route_code = %(code)s AND status IN ('arrived', 'closed') AND seal_id IS NOT NULL
        AND (%(since)s::timestamptz IS NULL OR released_at >= %(since)s)
        AND (%(until)s::timestamptz IS NULL OR released_at < %(until)s)
      ORDER BY released_at DESC LIMIT %(limit)s) t
JOIN fixes f ON f.seal_id = t.seal_id AND f.t >= t.released_at AND f.t <= t.ended_at
ORDER BY t.transit_id, f.t
"""


async def past_tracks(
    db: Db, code: str, since: datetime | None, until: datetime | None, limit: int
) -> list[list[LonLat]]:
    """The tracks of the route's finished transits (the transit's first seal, release to arrival)."""
    rows = await db.all(_TRACKS_SQL, {"code": code, "since": since, "until": until, "limit": limit})
    tracks: dict[str, list[LonLat]] = {}
    for r in rows:
        tracks.setdefault(r["transit_id"], []).append((float(r["lon"]), float(r["lat"])))
    return list(tracks.values())


async def learn(db: Db, code: str, body: LearnIn, actor: str) -> LearnedOut:
    """Learn the route's road from its finished transits' tracks; optionally store it as a new version."""
    row = await _route_row(db, code)
    tracks = await past_tracks(db, code, body.since, body.until, body.max_transits)
    reference = [(float(x), float(y)) for x, y, *_ in row["polyline"]["coordinates"]]
    try:
        result: LearnedCorridor = learn_corridor(tracks, reference, LearningParams(min_tracks=body.min_tracks))
    except ValueError as exc:
        raise InvalidInputError(f"route {code}: {exc}", code="not_enough_history") from exc
    _, _, corridor = corridor_of(result.coords, result.default_width_m, result.width_profile)
    saved = None
    if body.save:
        saved = await save_geometry(
            db,
            code,
            [result.coords],
            source="learned",
            actor=actor,
            default_width_m=result.default_width_m,
            width_profile=result.width_profile,
            expected_version=body.expected_version,
            note=body.note,
            stats=result.stats,
            simplify_m=0.0,
        )
    return LearnedOut(
        route_code=code,
        geometry=line_geojson(result.coords),
        default_width_m=result.default_width_m,
        width_profile=[WidthStretch(from_m=a, to_m=b, width_m=w) for a, b, w in result.width_profile],
        corridor=corridor,
        stats=result.stats,
        saved=saved,
    )


# -- release --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Corridor:
    """What a transit is released with."""

    line: GeoJson
    time_limit_h: float
    width_m: float  # the default width; segment_widths (None: this width all along) has the rest
    polygon: GeoJson
    route_version: int | None = None
    segment_widths: list[float] | None = None


async def current_corridor(db: Db, code: str) -> Corridor:
    """The route's current version as a transit's corridor."""
    row = await db.one(
        "SELECT polyline, time_limit_h, version, default_width_m, width_profile FROM routes WHERE code = %s", (code,)
    )
    if row is None:
        raise NotFoundError(f"route {code!r} no longer exists")
    lonlat = [(float(x), float(y)) for x, y, *_ in row["polyline"]["coordinates"]]
    width = float(row["default_width_m"])
    coords, widths, polygon = corridor_of(lonlat, width, _stretches(row["width_profile"]))
    return Corridor(line_geojson(coords), float(row["time_limit_h"]), width, polygon, int(row["version"]), widths)


# -- stop areas -----------------------------------------------------------------------------------


def stop_area_polygon(area: StopArea) -> tuple[GeoJson, float, float]:
    """The area's polygon and centre (lat, lon): a circle on the route, or for a border queue the
    stretch of road it covers, buffered by its radius."""
    route = ROUTES[area.route_code]
    lonlat = route_lonlat(route)
    line = metric_line(lonlat)
    ((_, start, _),) = places_along(lonlat, [area.near])
    s = min(max(start + area.along_km * 1000, 0.0), line.length)
    if area.length_km > 0:
        stretch = substring(line, s, min(s + area.length_km * 1000, line.length))
        poly = stretch.buffer(area.radius_m, quad_segs=8)
        centre = stretch.interpolate(0.5, normalized=True)
        lon, lat = shapely.get_coordinates(to_wgs84(centre))[0]
        ring = shapely.get_coordinates(to_wgs84(poly.exterior))
        geometry: GeoJson = {"type": "Polygon", "coordinates": [[[round(x, 6), round(y, 6)] for x, y in ring]]}
        return geometry, float(lat), float(lon)
    lon, lat = shapely.get_coordinates(to_wgs84(line.interpolate(s)))[0]
    return circle_polygon(float(lat), float(lon), area.radius_m), round(float(lat), 6), round(float(lon), 6)


# -- seed SQL ---------------------------------------------------------------------------------------


def route_seed(route: Route) -> tuple[list[LonLat], list[Stretch]]:
    lonlat = route_lonlat(route)
    return lonlat, default_width_profile(lonlat, route.place_codes)


def routes_seed_sql() -> str:
    """Migration 0642, rendered deterministically from ``sealwatch.geography``."""
    out = ["-- Generated by customs.routes.routes_seed_sql() from sealwatch/geography.py: do not edit by hand.", ""]
    for route in ROUTES.values():
        _lonlat, profile = route_seed(route)
        out.append(
            f"UPDATE routes SET width_profile = {_json(_profile_json(profile))}, "
            f"stop_tolerance_s = {route.stop_tolerance_min * 60} WHERE code = {_q(route.code)};"
        )
    out.append("")
    out.append(
        "INSERT INTO route_versions (route_code, version, polyline, default_width_m, width_profile, source, note)"
    )
    out.append("SELECT code, 1, polyline, default_width_m, width_profile, 'seed', 'town-to-town line' FROM routes;")
    out.append("")
    out.append(
        "INSERT INTO zones (code, name, kind, geometry, center_lat, center_lon, radius_m, purpose, max_stop_s) VALUES"
    )
    rows = []
    for area in STOP_AREAS:
        geometry, lat, lon = stop_area_polygon(area)
        radius = "NULL" if area.length_km else str(area.radius_m)
        max_stop = "NULL" if area.max_stop_min is None else str(area.max_stop_min * 60)
        rows.append(
            f"    ({_q(area.code)}, {_q(area.name)}, 'authorized_stop', {_json(geometry)}, {lat}, {lon}, {radius}, "
            f"{_q(area.purpose.value)}, {max_stop})"
        )
    out.append(",\n".join(rows) + ";")
    return "\n".join(out) + "\n"
