"""Geometry in the metric CRS: route corridors and circular zones, returned as GeoJSON lon/lat."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon, mapping, shape

from sealwatch.geography import METRIC_CRS, WGS84

GeoJson = dict[str, Any]
_DECIMALS = 6  # ~0.1 m: plenty for corridors kilometres wide, keeps stored JSON small


@lru_cache(maxsize=2)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def _project(geom: shapely.Geometry, src: str, dst: str) -> shapely.Geometry:
    transformer = _transformer(src, dst)
    return shapely.transform(geom, lambda x, y: transformer.transform(x, y), interleaved=False)


def to_metric(geom: shapely.Geometry) -> shapely.Geometry:
    return _project(geom, WGS84, METRIC_CRS)


def to_wgs84(geom: shapely.Geometry) -> shapely.Geometry:
    return _project(geom, METRIC_CRS, WGS84)


def _rounded(geom: shapely.Geometry) -> GeoJson:
    out: GeoJson = dict(mapping(shapely.set_precision(geom, 10**-_DECIMALS)))
    # mapping() yields tuples; GeoJSON stored in jsonb round-trips as lists, so compare like with like.
    out["coordinates"] = _lists(out["coordinates"])
    return out


def _lists(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return round(float(value), _DECIMALS)


def line_geojson(lonlat: Sequence[tuple[float, float]]) -> GeoJson:
    """A GeoJSON LineString through ``(lon, lat)`` vertices."""
    if len(lonlat) < 2:
        raise ValueError("a line needs at least two vertices")
    coords = [[round(lon, _DECIMALS), round(lat, _DECIMALS)] for lon, lat in lonlat]
    return {"type": "LineString", "coordinates": coords}


def corridor_polygon(line: GeoJson, width_m: float) -> GeoJson:
    """The line buffered by ``width_m`` metres in the metric CRS, back in WGS 84 lon/lat."""
    geom = shape(line)
    if not isinstance(geom, LineString):
        raise ValueError("a corridor is built from a LineString")
    buffered = to_metric(geom).buffer(width_m, quad_segs=8)
    return _rounded(to_wgs84(buffered))


def circle_polygon(lat: float, lon: float, radius_m: float, quad_segs: int = 16) -> GeoJson:
    """A circle of ``radius_m`` around a point, built in the metric CRS so it is round on the ground."""
    centre = to_metric(Point(lon, lat))
    return _rounded(to_wgs84(centre.buffer(radius_m, quad_segs=quad_segs)))


def validate_polygon(geojson: Any) -> Polygon:
    """A valid lon/lat Polygon from GeoJSON, else ValueError with the reason."""
    if not isinstance(geojson, dict) or geojson.get("type") != "Polygon":
        raise ValueError("geometry must be a GeoJSON Polygon")
    try:
        geom = shape(geojson)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise ValueError(f"malformed Polygon coordinates: {exc}") from exc
    if not isinstance(geom, Polygon) or geom.is_empty:
        raise ValueError("geometry must be a non-empty Polygon")
    if not geom.is_valid:
        raise ValueError(f"Polygon is invalid: {shapely.is_valid_reason(geom)}")
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise ValueError("coordinates must be [lon, lat] in degrees")
    return geom


def line_length_m(line: GeoJson) -> float:
    return float(to_metric(shape(line)).length)


# -- variable width ---------------------------------------------------------------------------------


def metric_line(lonlat: Sequence[tuple[float, float]]) -> LineString:
    return LineString(shapely.get_coordinates(to_metric(LineString(lonlat))))


def segment_widths(
    lonlat: Sequence[tuple[float, float]], default_width_m: float, profile: Sequence[tuple[float, float, float]]
) -> tuple[list[tuple[float, float]], list[float]]:
    """The line with a vertex at every profile boundary, and the corridor width of each segment.

    ``profile`` holds ``(from_m, to_m, width_m)`` stretches measured along the line in the metric
    CRS; where stretches overlap the wider one wins, and outside them the width is the default.
    """
    line = metric_line(lonlat)
    total = line.length
    cuts = sorted({min(max(b, 0.0), total) for a, b_, _ in profile for b in (a, b_)} - {0.0, total})
    coords = shapely.get_coordinates(line)
    cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(coords, axis=0).T))])
    extra = [(c, line.interpolate(c)) for c in cuts if not np.any(np.isclose(cum, c, atol=0.01))]
    points = sorted(
        [(float(d), (float(x), float(y))) for d, (x, y) in zip(cum, coords, strict=True)]
        + [(c, (p.x, p.y)) for c, p in extra]
    )
    along = np.asarray([d for d, _ in points])
    mid = (along[1:] + along[:-1]) / 2
    widths = np.full(mid.shape[0], np.nan)
    for a, b, w in profile:
        inside = (mid >= min(a, b)) & (mid <= max(a, b))
        widths[inside] = np.fmax(widths[inside], w)
    widths[np.isnan(widths)] = default_width_m
    xy = np.asarray([p for _, p in points])
    lon_lat = shapely.get_coordinates(to_wgs84(LineString(xy)))
    return [(round(float(x), _DECIMALS), round(float(y), _DECIMALS)) for x, y in lon_lat], widths.tolist()


def width_runs(widths: Sequence[float]) -> list[tuple[int, int, float]]:
    """Consecutive segments of one width as ``(first_segment, last_segment_exclusive, width)``."""
    runs: list[tuple[int, int, float]] = []
    for i, w in enumerate(widths):
        if runs and runs[-1][2] == w:
            runs[-1] = (runs[-1][0], i + 1, w)
        else:
            runs.append((i, i + 1, float(w)))
    return runs


def variable_corridor_polygon(lonlat: Sequence[tuple[float, float]], widths: Sequence[float]) -> GeoJson:
    """The union of each stretch of the line buffered by its own width, back in WGS 84 lon/lat."""
    if len(widths) != len(lonlat) - 1:
        raise ValueError("one width per segment of the line")
    xy = shapely.get_coordinates(metric_line(lonlat))
    parts = [LineString(xy[a : b + 1]).buffer(w, quad_segs=8) for a, b, w in width_runs(widths)]
    merged = shapely.union_all(parts)
    if not isinstance(merged, Polygon):  # stretches always touch; guard against numeric slivers
        merged = max(getattr(merged, "geoms", [merged]), key=lambda g: g.area)
    return _rounded(to_wgs84(merged))
