"""Route geometry: import (GeoJSON, GPX, KML), edit with versions, clear errors, release with widths."""

from __future__ import annotations

import itertools
import json
from importlib import resources

import httpx
import numpy as np
import psycopg
import pytest
from shapely.geometry import LineString, Point, shape

from customs.corridors import to_metric
from customs.route_files import RouteFileError, clean_line, read_route_file
from customs.routes import default_width_profile, routes_seed_sql
from sealwatch.geography import PLACES, ROUTES, STOP_AREAS, route_lonlat
from tests.customs.bodies import valid_body

HAJ, ALT = PLACES["HAJ"], PLACES["AZALT"]


def wiggly(a: tuple[float, float], b: tuple[float, float], n: int = 200, amp_deg: float = 0.03) -> list[list[float]]:
    """A road-like line from a to b that wanders a few kilometres off the straight line."""
    s = np.linspace(0, 1, n)
    lon = a[0] + (b[0] - a[0]) * s + amp_deg * np.sin(3 * np.pi * s)
    lat = a[1] + (b[1] - a[1]) * s + amp_deg * np.sin(5 * np.pi * s)
    return [[round(x, 6), round(y, 6)] for x, y in zip(lon, lat, strict=True)]


def test_migration_0642_is_exactly_what_the_routes_module_generates() -> None:
    text = resources.files("store.migrations").joinpath("0642_routes_stop_areas_data.sql").read_text("utf-8")
    assert text == routes_seed_sql(), "regenerate 0642 from customs.routes.routes_seed_sql()"


def test_the_seeded_corridor_is_wider_at_borders_and_towns() -> None:
    route = ROUTES["RBR-BAK"]
    profile = default_width_profile(route_lonlat(route), route.place_codes)
    assert profile[0] == (0.0, 10_000.0, 4_000.0)  # the Red Bridge approach
    assert all(w == 3_000.0 for _, _, w in profile[1:]) and len(profile) == len(route.place_codes)


def test_stop_areas_lie_on_their_route() -> None:
    from customs.routes import stop_area_polygon

    for area in STOP_AREAS:
        geometry, lat, lon = stop_area_polygon(area)
        line = to_metric(LineString(route_lonlat(ROUTES[area.route_code])))
        assert line.distance(to_metric(Point(lon, lat))) < 1.0, area.code
        assert shape(geometry).is_valid


@pytest.mark.parametrize(
    ("data", "fmt", "message"),
    [
        (b"{not json", "geojson", "not valid JSON"),
        (b'{"type": "Point", "coordinates": [49, 40]}', "geojson", "not a Point"),
        (b'{"type": "FeatureCollection", "features": []}', "geojson", "0 line features"),
        (b'{"type": "LineString", "coordinates": [[49, "x"]]}', "geojson", "position 0 is not [lon, lat]"),
        (b"<gpx><wpt lat='40' lon='49'/></gpx>", "gpx", "no track"),
        (b"<kml><Placemark/></kml>", "kml", "no <LineString>"),
        (b"<kml><LineString><coordinates>49;40 48,40</coordinates></LineString></kml>", "kml", "not lon,lat"),
        (b'<?xml version="1.0"?><!DOCTYPE g [<!ENTITY x "y">]><gpx>&x;</gpx>', "gpx", "not valid GPX"),
    ],
)
def test_unreadable_files_are_refused_with_the_reason(data: bytes, fmt: str, message: str) -> None:
    with pytest.raises(RouteFileError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_route_file(data, fmt)  # type: ignore[arg-type]


def test_lines_that_cannot_be_the_route_are_refused_with_where() -> None:
    origin, destination = (HAJ.lon, HAJ.lat), (ALT.lon, ALT.lat)
    with pytest.raises(RouteFileError, match=r"look like \[lat, lon\]"):
        clean_line([[(HAJ.lat, HAJ.lon), (ALT.lat, ALT.lon)]])
    with pytest.raises(RouteFileError, match="outside the service region"):
        clean_line([[(49.0, 40.0), (2.35, 48.85)]])
    with pytest.raises(RouteFileError, match="part 1 does not continue the line: the nearest ends are 5"):
        clean_line([[(48.94, 40.04), (49.1, 40.0)], [(49.16, 40.0), (49.41, 39.95)]])
    with pytest.raises(RouteFileError, match=r"line's end is 1[0-9]\.[0-9] km from the route's destination"):
        clean_line([[origin, (49.30, 39.98)]], origin=origin, destination=destination)
    with pytest.raises(RouteFileError, match="at least 1000 m"):
        clean_line([[(49.0, 40.0), (49.001, 40.0)]])


def test_a_line_drawn_backwards_is_turned_and_a_gps_track_thinned() -> None:
    track = wiggly((ALT.lon, ALT.lat), (HAJ.lon, HAJ.lat), n=20_000)  # 1 point every ~2.5 m
    line = clean_line([[(p[0], p[1]) for p in track]], origin=(HAJ.lon, HAJ.lat), destination=(ALT.lon, ALT.lat))
    assert line.reversed and line.coords[0] == pytest.approx((HAJ.lon, HAJ.lat), abs=1e-4)
    assert len(line.coords) < 2_000 and line.input_vertices == 20_000
    original = to_metric(LineString(track))
    assert to_metric(LineString(line.coords)).hausdorff_distance(original) < 11.0


GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1"><trk><name>M3</name>
<trkseg>{}</trkseg></trk></gpx>"""
KML = """<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark>
<LineString><coordinates>{}</coordinates></LineString></Placemark></Document></kml>"""


async def test_import_edit_version_and_release(client: httpx.AsyncClient, migrated_db: str) -> None:
    # SAM-BAK: Samur → Baku. Import a GPX track of a road that wanders off the town line.
    stops = [(PLACES[c].lon, PLACES[c].lat) for c in ROUTES["SAM-BAK"].place_codes]
    road = [p for a, b in itertools.pairwise(stops) for p in wiggly(a, b, 300)[:-1]] + [list(stops[-1])]
    gpx = GPX.format("".join(f'<trkpt lat="{lat}" lon="{lon}"/>' for lon, lat in road)).encode()
    resp = await client.post(
        "/api/routes/SAM-BAK/geometry/import?filename=m3.gpx&note=survey",
        content=gpx,
        headers={"content-type": "application/gpx+xml"},
    )
    assert resp.status_code == 200, resp.text
    v2 = resp.json()
    assert v2["version"] == 2 and v2["source"] == "gpx" and v2["created_by"] == "admin" and v2["note"] == "survey"
    assert v2["width_profile"][0]["width_m"] == 4_000  # the Samur approach, recomputed along the new line

    route = (await client.get("/api/routes/SAM-BAK")).json()
    assert route["version"] == 2 and route["polyline"] == v2["polyline"]

    # An edit from the map against a stale version is a conflict, not a silent overwrite.
    kml = KML.format(" ".join(f"{lon},{lat},0" for lon, lat in road)).encode()
    stale = await client.put(
        "/api/routes/SAM-BAK/geometry",
        json={"geometry": {"type": "LineString", "coordinates": road}, "expected_version": 1},
    )
    assert stale.status_code == 409 and stale.json()["detail"]["code"] == "version_conflict"
    edit = await client.put(
        "/api/routes/SAM-BAK/geometry",
        json={
            "geometry": {"type": "Feature", "properties": {}, "geometry": {"type": "LineString", "coordinates": road}},
            "expected_version": 2,
            "default_width_m": 1_500,
            "width_profile": [{"from_m": 0, "to_m": 5_000, "width_m": 3_500}],
        },
    )
    assert edit.status_code == 200, edit.text
    assert edit.json()["version"] == 3 and edit.json()["source"] == "edit"
    kml_resp = await client.post("/api/routes/SAM-BAK/geometry/import", content=kml)  # detected from content
    assert kml_resp.status_code == 200 and kml_resp.json()["source"] == "kml"

    bad = await client.put(
        "/api/routes/SAM-BAK/geometry",
        json={"geometry": {"type": "LineString", "coordinates": [[lat, lon] for lon, lat in road]}},
    )
    assert bad.status_code == 422 and bad.json()["detail"]["code"] == "invalid_route_geometry"
    assert "[lat, lon]" in bad.json()["detail"]["message"]
    too_long = await client.put(
        "/api/routes/SAM-BAK/geometry",
        json={"geometry": {"type": "LineString", "coordinates": road},
              "width_profile": [{"from_m": 0, "to_m": 900_000, "width_m": 3_000}]},
    )  # fmt: skip
    assert too_long.status_code == 422 and too_long.json()["detail"]["code"] == "invalid_width_profile"
    missing = await client.put("/api/routes/NOPE/geometry", json={"geometry": {"type": "LineString",
                                                                               "coordinates": road}})  # fmt: skip
    assert missing.status_code == 404

    versions = (await client.get("/api/routes/SAM-BAK/versions")).json()
    assert [v["version"] for v in versions] == [1, 2, 3, 4]
    assert [v["source"] for v in versions] == ["seed", "gpx", "edit", "kml"]
    assert (await client.get("/api/routes/SAM-BAK/versions/3")).json()["default_width_m"] == 1_500

    # A transit released now carries version 4's line and a width per segment (wider on the approach).
    assert (
        await client.post("/api/seal-inventory", json={"seal_id": "AZS-70001", "battery_pct": 90})
    ).status_code == 201
    body = valid_body(office_of_departure="AZSAM", offices_of_transit=[], itinerary={"route_code": "SAM-BAK"})
    lodged = (await client.post("/api/declarations", json=body)).json()
    released = await client.post(f"/api/declarations/{lodged['id']}/release", json={"monitor_all": True})
    assert released.status_code == 201, released.text[:300]
    transit = released.json()
    assert transit["route_version"] == 4
    widths = transit["segment_widths"]
    assert widths is not None and len(widths) == len(transit["route_line"]["coordinates"]) - 1
    assert max(widths) == 4_000 and min(widths) == 1_500  # the default set by the edit (v3) is kept
    corridor = to_metric(shape(transit["corridor"]))
    line = to_metric(LineString(transit["route_line"]["coordinates"]))
    assert corridor.contains(line)
    with psycopg.connect(migrated_db) as conn:
        row = conn.execute("SELECT segment_widths FROM active_transits WHERE transit_id = %s",
                           (transit["transit_id"],)).fetchone()  # fmt: skip
    assert row is not None and row[0] == widths


async def test_learn_needs_history(client: httpx.AsyncClient) -> None:
    resp = await client.post("/api/routes/AST-HAJ/learn", json={})
    assert resp.status_code == 422 and resp.json()["detail"]["code"] == "not_enough_history"
    assert "0 usable track" in resp.json()["detail"]["message"]
    assert json.loads(resp.text)["detail"]["message"].endswith("at least 3")


async def test_a_version_comes_with_the_corridor_its_widths_make(client: httpx.AsyncClient) -> None:
    version = (await client.get("/api/routes/RBR-BAK/versions/1")).json()
    corridor = to_metric(shape(version["corridor"]))
    line = to_metric(LineString(version["polyline"]["coordinates"]))
    assert version["corridor"]["type"] == "Polygon" and corridor.contains(line)
    red_bridge, midway = line.interpolate(1_000), line.interpolate(line.length / 2)
    # 4 km on the border approach, narrower (3 km at most) further on: the profile, not one width.
    assert corridor.exterior.distance(red_bridge) > 3_500
    assert corridor.exterior.distance(midway) < 3_100
    listed = (await client.get("/api/routes/RBR-BAK/versions")).json()
    assert "corridor" not in listed[0]  # the list stays light
