"""Reference data after `migrate`: generated from the geography module, with real geometry."""

from __future__ import annotations

import asyncio
from importlib import resources

import psycopg
from shapely.geometry import LineString, Point, shape

from customs.corridors import corridor_polygon, line_geojson, to_metric
from customs.reference import seed_sql
from customs.transits import mrn, time_limit_for_length
from sealwatch.geography import PLACES, ROUTES, route_lonlat


def test_migration_0101_is_exactly_what_the_geography_module_generates() -> None:
    text = resources.files("store.migrations").joinpath("0101_customs_reference_data.sql").read_text("utf-8")
    assert text == seed_sql(), "regenerate 0101 from customs.reference.seed_sql()"


def test_zones_and_routes_are_in_the_database_after_migrate(migrated_db: str) -> None:
    with psycopg.connect(migrated_db) as conn:
        zones = conn.execute(
            "SELECT code, kind, geometry, center_lat, center_lon, radius_m FROM zones WHERE kind <> 'authorized_stop'"
        ).fetchall()
        routes = conn.execute("SELECT code, place_codes, polyline, time_limit_h FROM routes").fetchall()
        rules = conn.execute("SELECT count(*) FROM permit_rules").fetchone()
    assert {z[0] for z in zones} == {p.code for p in PLACES.values() if p.kind.value != "town"}
    for code, kind, geometry, lat, lon, radius in zones:
        assert kind == PLACES[code].kind.value and (lat, lon) == (PLACES[code].lat, PLACES[code].lon)
        circle = to_metric(shape(geometry))
        centre = to_metric(Point(lon, lat))
        # Built in the metric CRS: every vertex is ~1500 m from the centre on the ground.
        distances = [centre.distance(Point(c)) for c in circle.exterior.coords]
        assert radius == 1500 and all(abs(d - 1500) < 1.0 for d in distances)
    assert {r[0]: r[3] for r in routes} == {r.code: r.time_limit_h for r in ROUTES.values()}
    for code, places, polyline, _ in routes:
        assert tuple(places) == ROUTES[code].place_codes
        assert [tuple(c) for c in polyline["coordinates"]] == route_lonlat(ROUTES[code])
    assert rules is not None and rules[0] > 10


def test_corridor_is_the_route_buffered_in_metres() -> None:
    line = line_geojson(route_lonlat(ROUTES["SAM-BAK"]))
    corridor = to_metric(shape(corridor_polygon(line, 2000)))
    metric_line = to_metric(LineString(route_lonlat(ROUTES["SAM-BAK"])))
    assert corridor.contains(metric_line)
    # A point 1.9 km off the line is inside, 2.1 km off is outside.
    mid = metric_line.interpolate(0.5, normalized=True)
    assert corridor.contains(Point(mid.x + 1900, mid.y)) or corridor.contains(Point(mid.x - 1900, mid.y))
    assert not corridor.contains(Point(mid.x, mid.y).buffer(2100).exterior)


def test_mrn_shape_and_time_limit_helper() -> None:
    number = mrn(2025, "AZRBR", 12)
    assert len(number) == 18 and number.startswith("25AZRBR0000000012")
    assert time_limit_for_length(300_000) == 7.0 and time_limit_for_length(10_000) == 2.0


def test_sync_and_async_paths_share_the_same_code(migrated_db: str) -> None:
    from customs.db import SyncDb

    with psycopg.connect(migrated_db) as conn:
        rows = asyncio.run(SyncDb(conn).all("SELECT code FROM routes ORDER BY code"))
    assert [r["code"] for r in rows] == sorted(ROUTES)
