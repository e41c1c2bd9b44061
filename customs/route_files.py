"""Route lines from what an officer has at hand: GeoJSON, GPX or KML, checked before they are used.

Every reader returns (lon, lat) vertices; :func:`clean_line` then rejects what cannot be a route
through this country with a message that says what is wrong and where (a gap between the parts of
a line, coordinates given as [lat, lon], a line that ends far from the route's office), reverses a
line drawn from the destination back to the origin, and thins a dense GPS track to the vertices
that shape the road (Douglas–Peucker in the metric CRS), so the engine checks a route of hundreds
of vertices, not a track of tens of thousands of points.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from xml.etree.ElementTree import Element

import shapely
from defusedxml import ElementTree
from shapely.geometry import LineString, Point

from customs.corridors import to_metric, to_wgs84
from customs.errors import InvalidInputError

LonLat = tuple[float, float]
FileFormat = Literal["geojson", "gpx", "kml"]
FORMATS: tuple[FileFormat, ...] = ("geojson", "gpx", "kml")

# Where routes of this service can lie (Azerbaijan and its neighbours' border approaches), lon/lat.
REGION = (38.0, 35.0, 56.0, 46.0)
MAX_INPUT_VERTICES = 200_000
MAX_GAP_M = 200.0  # parts of a multi-part line further apart than this are not one road
SIMPLIFY_TOLERANCE_M = 10.0  # well under GPS noise and a lane's width
MIN_LENGTH_M = 1_000.0
ENDPOINT_TOLERANCE_M = 5_000.0


class RouteFileError(InvalidInputError):
    code = "invalid_route_geometry"


@dataclass(frozen=True, slots=True)
class CleanLine:
    coords: list[LonLat]
    length_m: float
    input_vertices: int
    reversed: bool


def detect_format(data: bytes, filename: str | None = None, content_type: str | None = None) -> FileFormat:
    """The format from the file name, else the content type, else the first bytes."""
    name = (filename or "").lower()
    for fmt, suffixes in (("gpx", (".gpx",)), ("kml", (".kml",)), ("geojson", (".geojson", ".json"))):
        if name.endswith(suffixes):
            return fmt  # type: ignore[return-value]
    ctype = (content_type or "").lower()
    if "gpx" in ctype:
        return "gpx"
    if "kml" in ctype:
        return "kml"
    if "json" in ctype:
        return "geojson"
    head = data[:512].lstrip()
    if head.startswith((b"{", b"[")):
        return "geojson"
    if b"<gpx" in head:
        return "gpx"
    if b"<kml" in head:
        return "kml"
    raise RouteFileError("cannot tell the file's format: send GeoJSON, GPX or KML, or name it .geojson/.gpx/.kml")


def read_route_file(data: bytes, fmt: FileFormat) -> list[list[LonLat]]:
    """The line parts the file holds, in order; each part is a list of (lon, lat)."""
    if fmt == "geojson":
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RouteFileError(f"not valid JSON: {exc}") from exc
        return geojson_parts(doc)
    root = _xml(data, fmt)
    return _gpx_parts(root) if fmt == "gpx" else _kml_parts(root)


def geojson_parts(doc: Any) -> list[list[LonLat]]:
    """Line parts of a GeoJSON LineString, MultiLineString, Feature or FeatureCollection."""
    if not isinstance(doc, dict) or "type" not in doc:
        raise RouteFileError("GeoJSON must be an object with a 'type'")
    kind = doc["type"]
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise RouteFileError("a FeatureCollection needs a 'features' list")
        lines = [f for f in features if isinstance(f, dict) and _is_line(f.get("geometry"))]
        if len(lines) != 1:
            raise RouteFileError(
                f"the FeatureCollection has {len(lines)} line features; a route is exactly one line "
                "(merge the parts into one MultiLineString feature)"
            )
        return geojson_parts(lines[0]["geometry"])
    if kind == "Feature":
        return geojson_parts(doc.get("geometry"))
    coords = doc.get("coordinates")
    if kind == "LineString":
        return [_positions(coords, "LineString")]
    if kind == "MultiLineString":
        if not isinstance(coords, list):
            raise RouteFileError("MultiLineString coordinates must be a list of lines")
        return [_positions(part, f"MultiLineString part {i}") for i, part in enumerate(coords)]
    raise RouteFileError(f"a route is a LineString or MultiLineString, not a {kind}")


def _is_line(geometry: Any) -> bool:
    return isinstance(geometry, dict) and geometry.get("type") in ("LineString", "MultiLineString")


def _positions(coords: Any, where: str) -> list[LonLat]:
    if not isinstance(coords, list):
        raise RouteFileError(f"{where}: coordinates must be a list of [lon, lat] positions")
    out = []
    for i, pos in enumerate(coords):
        if not (isinstance(pos, list | tuple) and len(pos) >= 2 and all(isinstance(v, int | float) for v in pos[:2])):
            raise RouteFileError(f"{where}: position {i} is not [lon, lat]: {str(pos)[:60]}")
        out.append((float(pos[0]), float(pos[1])))
    return out


def _xml(data: bytes, fmt: str) -> Element:
    try:
        root: Element = ElementTree.fromstring(data)
    except Exception as exc:  # defusedxml raises ParseError and its own refusals (entities, DTDs)
        raise RouteFileError(f"not valid {fmt.upper()}: {exc}") from exc
    return root


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(node: Element, name: str) -> Iterable[Element]:
    return (e for e in node.iter() if _local(e.tag) == name)


def _gpx_parts(root: Element) -> list[list[LonLat]]:
    if _local(root.tag) != "gpx":
        raise RouteFileError("not a GPX document (the root element is not <gpx>)")
    parts = [_gpx_points(seg, "trkpt") for seg in _children(root, "trkseg")]
    parts += [_gpx_points(rte, "rtept") for rte in _children(root, "rte")]
    parts = [p for p in parts if p]
    if not parts:
        raise RouteFileError("the GPX file has no track (<trkseg>/<trkpt>) and no route (<rte>/<rtept>)")
    return parts


def _gpx_points(node: Element, name: str) -> list[LonLat]:
    out = []
    for i, pt in enumerate(e for e in node if _local(e.tag) == name):
        try:
            out.append((float(pt.attrib["lon"]), float(pt.attrib["lat"])))
        except (KeyError, ValueError) as exc:
            raise RouteFileError(f"GPX <{name}> {i} has no numeric lat/lon attributes") from exc
    return out


def _kml_parts(root: Element) -> list[list[LonLat]]:
    if _local(root.tag) != "kml":
        raise RouteFileError("not a KML document (the root element is not <kml>)")
    parts = []
    for line in _children(root, "LineString"):
        text = next((e.text for e in line if _local(e.tag) == "coordinates"), None) or ""
        part = []
        for i, tuple_ in enumerate(text.split()):
            values = tuple_.split(",")
            try:
                part.append((float(values[0]), float(values[1])))
            except (IndexError, ValueError) as exc:
                raise RouteFileError(f"KML coordinate {i} is not lon,lat[,alt]: {tuple_[:40]!r}") from exc
        if part:
            parts.append(part)
    if not parts:
        raise RouteFileError("the KML file has no <LineString> with coordinates")
    return parts


def clean_line(
    parts: Sequence[Sequence[LonLat]],
    *,
    origin: LonLat | None = None,
    destination: LonLat | None = None,
    simplify_m: float = SIMPLIFY_TOLERANCE_M,
) -> CleanLine:
    """One validated, oriented, simplified line from the parts a file held (see the module docstring)."""
    n = sum(len(p) for p in parts)
    if n > MAX_INPUT_VERTICES:
        raise RouteFileError(f"{n} vertices: a route file may hold at most {MAX_INPUT_VERTICES}")
    flat = [v for p in parts for v in p]
    if len(flat) < 2:
        raise RouteFileError("a route needs at least two positions")
    bad = next((i for i, (x, y) in enumerate(flat) if not (math.isfinite(x) and math.isfinite(y))), None)
    if bad is not None:
        raise RouteFileError(f"position {bad} is not a finite number")
    _check_region(flat)
    metric = [LineString(_dedup(p)) for p in parts if len(_dedup(p)) >= 2]
    if not metric:
        raise RouteFileError("a route needs at least two distinct positions")
    metric = [to_metric(p) for p in metric]
    line = _join(metric)
    if line.length < MIN_LENGTH_M:
        raise RouteFileError(f"the line is {line.length:.0f} m long; a route is at least {MIN_LENGTH_M:.0f} m")
    flipped = False
    if origin is not None and destination is not None:
        line, flipped = _orient(line, origin, destination)
    simple = shapely.simplify(line, simplify_m, preserve_topology=False) if simplify_m > 0 else line
    coords = [(round(x, 6), round(y, 6)) for x, y in shapely.get_coordinates(to_wgs84(simple)).tolist()]
    return CleanLine(coords, float(line.length), n, flipped)


def _dedup(part: Sequence[LonLat]) -> list[LonLat]:
    out: list[LonLat] = []
    for v in part:
        if not out or v != out[-1]:
            out.append(v)
    return out


def _check_region(flat: Sequence[LonLat]) -> None:
    west, south, east, north = REGION

    def inside(x: float, y: float) -> bool:
        return west <= x <= east and south <= y <= north

    outside = [i for i, (x, y) in enumerate(flat) if not inside(x, y)]
    if not outside:
        return
    if all(inside(y, x) for x, y in flat):
        raise RouteFileError("the coordinates look like [lat, lon]; GeoJSON and KML give [lon, lat]")
    x, y = flat[outside[0]]
    raise RouteFileError(
        f"{len(outside)} position(s) lie outside the service region (lon {west}–{east}, lat {south}–{north}); "
        f"the first is #{outside[0]} at lon {x}, lat {y}"
    )


def _join(parts: list[Any]) -> LineString:
    """Chain parts end to start (each part may need reversing); refuse gaps wider than MAX_GAP_M."""
    line = parts[0]
    for i, part in enumerate(parts[1:], start=1):
        a0, a1 = Point(line.coords[0]), Point(line.coords[-1])
        b0, b1 = Point(part.coords[0]), Point(part.coords[-1])
        options = [
            (a1.distance(b0), list(line.coords) + list(part.coords)),
            (a1.distance(b1), list(line.coords) + list(part.coords)[::-1]),
            (a0.distance(b1), list(part.coords) + list(line.coords)),
            (a0.distance(b0), list(part.coords)[::-1] + list(line.coords)),
        ]
        gap, coords = min(options, key=lambda o: o[0])
        if gap > MAX_GAP_M:
            lon, lat = shapely.get_coordinates(to_wgs84(Point(part.coords[0])))[0]
            raise RouteFileError(
                f"part {i} does not continue the line: the nearest ends are {gap / 1000:.1f} km apart "
                f"(near lon {lon:.5f}, lat {lat:.5f}); a route is one continuous road"
            )
        line = LineString(_dedup([tuple(c) for c in coords]))
    return line


def _orient(line: LineString, origin: LonLat, destination: LonLat) -> tuple[LineString, bool]:
    o, d = to_metric(Point(origin)), to_metric(Point(destination))
    start, end = Point(line.coords[0]), Point(line.coords[-1])
    flipped = start.distance(d) + end.distance(o) < start.distance(o) + end.distance(d)
    if flipped:
        line = LineString(list(line.coords)[::-1])
        start, end = end, start
    for label, point, place in (("start", start, o), ("end", end, d)):
        gap = point.distance(place)
        if gap > ENDPOINT_TOLERANCE_M:
            which = "origin" if label == "start" else "destination"
            raise RouteFileError(
                f"the line's {label} is {gap / 1000:.1f} km from the route's {which}; it must come within "
                f"{ENDPOINT_TOLERANCE_M / 1000:.0f} km (or change the route's places)"
            )
    return line, flipped
