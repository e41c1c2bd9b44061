"""Reference geography for Azerbaijan: towns, customs offices, border checkpoints, highway routes,
and where trucks may stop along them.

Coordinates are WGS 84 (lat, lon) of town centres and crossing points. Routes are the town
sequences along the highways named in DESIGN.md; the seeded polyline joins its towns in order
until customs imports, edits or learns the road's own geometry (a new route version). Stop areas
are placed along a route by distance from one of its places, so they lie on the seeded line.
Stages that measure or buffer must project first (``METRIC_CRS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# UTM zone 38N covers the west of the country and is within scale tolerance for the east;
# one CRS for the whole country keeps every corridor comparable.
METRIC_CRS = "EPSG:32638"
WGS84 = "EPSG:4326"


class PlaceKind(StrEnum):
    TOWN = "town"
    CUSTOMS_OFFICE = "customs_office"
    BORDER_CHECKPOINT = "border_checkpoint"


@dataclass(frozen=True, slots=True)
class Place:
    code: str
    name: str
    kind: PlaceKind
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Route:
    code: str
    name: str
    place_codes: tuple[str, ...]
    time_limit_h: float  # transit time limit the office of departure sets for this route
    stop_tolerance_min: float = 15.0  # a stop outside the stop areas is tolerated this long

    @property
    def origin(self) -> str:
        return self.place_codes[0]

    @property
    def destination(self) -> str:
        return self.place_codes[-1]


_PLACES: tuple[Place, ...] = (
    # Border checkpoints.
    Place("AZRBR", "Red Bridge (Georgian border)", PlaceKind.BORDER_CHECKPOINT, 41.3311, 45.0772),
    Place("AZAST", "Astara (Iranian border)", PlaceKind.BORDER_CHECKPOINT, 38.4330, 48.8720),
    Place("AZSAM", "Samur (Russian border)", PlaceKind.BORDER_CHECKPOINT, 41.8560, 48.5580),
    Place("AZBLK", "Balakan (Georgian border)", PlaceKind.BORDER_CHECKPOINT, 41.7250, 46.4040),
    # Inland customs offices.
    Place("AZBAK", "Baku Main Customs Office", PlaceKind.CUSTOMS_OFFICE, 40.3777, 49.8920),
    Place("AZALT", "Alat Port Customs Office", PlaceKind.CUSTOMS_OFFICE, 39.9466, 49.4127),
    Place("AZGNJ", "Ganja Customs Office", PlaceKind.CUSTOMS_OFFICE, 40.6828, 46.3606),
    # Towns along the highways.
    Place("GAZ", "Gazakh", PlaceKind.TOWN, 41.0933, 45.3661),
    Place("AGS", "Aghstafa", PlaceKind.TOWN, 41.1189, 45.4539),
    Place("TOV", "Tovuz", PlaceKind.TOWN, 40.9922, 45.6289),
    Place("SHA", "Shamkir", PlaceKind.TOWN, 40.8297, 46.0189),
    Place("YEV", "Yevlakh", PlaceKind.TOWN, 40.6183, 47.1500),
    Place("KUR", "Kurdamir", PlaceKind.TOWN, 40.3456, 48.1625),
    Place("HAJ", "Hajigabul", PlaceKind.TOWN, 40.0386, 48.9442),
    Place("SAN", "Sangachal", PlaceKind.TOWN, 40.1756, 49.4736),
    Place("LOK", "Lokbatan", PlaceKind.TOWN, 40.3267, 49.7294),
    Place("LAN", "Lankaran", PlaceKind.TOWN, 38.7543, 48.8506),
    Place("MAS", "Masalli", PlaceKind.TOWN, 39.0342, 48.6653),
    Place("SAL", "Salyan", PlaceKind.TOWN, 39.5950, 48.9792),
    Place("KHA", "Khachmaz", PlaceKind.TOWN, 41.4631, 48.8061),
    Place("SHB", "Shabran", PlaceKind.TOWN, 41.2161, 48.9936),
    Place("SIY", "Siyazan", PlaceKind.TOWN, 41.0783, 49.1086),
    Place("SUM", "Sumgait", PlaceKind.TOWN, 40.5897, 49.6686),
    Place("ZAQ", "Zaqatala", PlaceKind.TOWN, 41.6336, 46.6433),
    Place("SHK", "Shaki", PlaceKind.TOWN, 41.1975, 47.1571),
)

PLACES: dict[str, Place] = {p.code: p for p in _PLACES}

_ROUTES: tuple[Route, ...] = (
    Route(
        "RBR-BAK",
        "Red Bridge – Baku (M2)",
        ("AZRBR", "GAZ", "AGS", "TOV", "SHA", "AZGNJ", "YEV", "KUR", "HAJ", "AZALT", "SAN", "LOK", "AZBAK"),
        time_limit_h=14.0,
    ),
    Route(
        "RBR-ALT",
        "Red Bridge – Alat port (M2)",
        ("AZRBR", "GAZ", "AGS", "TOV", "SHA", "AZGNJ", "YEV", "KUR", "HAJ", "AZALT"),
        time_limit_h=12.0,
    ),
    Route("AST-HAJ", "Astara – Hajigabul (M3)", ("AZAST", "LAN", "MAS", "SAL", "HAJ"), time_limit_h=6.0),
    Route(
        "AST-BAK",
        "Astara – Baku (M3, M2)",
        ("AZAST", "LAN", "MAS", "SAL", "HAJ", "AZALT", "SAN", "LOK", "AZBAK"),
        time_limit_h=9.0,
    ),
    Route("SAM-BAK", "Samur – Baku (M1)", ("AZSAM", "KHA", "SHB", "SIY", "SUM", "AZBAK"), time_limit_h=6.0),
    Route(
        "BLK-GNJ",
        "Balakan – Ganja (via Zaqatala, Shaki)",
        ("AZBLK", "ZAQ", "SHK", "YEV", "AZGNJ"),
        time_limit_h=8.0,
        stop_tolerance_min=20.0,  # mountain road: more slow stretches and roadside halts
    ),
)

ROUTES: dict[str, Route] = {r.code: r for r in _ROUTES}


def route_lonlat(route: Route) -> list[tuple[float, float]]:
    """The route's polyline as (lon, lat) vertices, the order shapely and GeoJSON use."""
    return [(PLACES[c].lon, PLACES[c].lat) for c in route.place_codes]


def offices() -> list[Place]:
    return [p for p in _PLACES if p.kind is not PlaceKind.TOWN]


class StopPurpose(StrEnum):
    REST_AREA = "rest_area"
    FUEL_STATION = "fuel_station"
    BORDER_QUEUE = "border_queue"


@dataclass(frozen=True, slots=True)
class StopArea:
    """An authorized stop area on a route: ``along_km`` from place ``near`` (towards the destination
    when positive); a border queue runs ``length_km`` further along the road from there."""

    code: str
    name: str
    purpose: StopPurpose
    route_code: str
    near: str
    along_km: float
    radius_m: float = 350.0
    max_stop_min: float | None = None  # None: no limit (queues, rest areas for the daily rest)
    length_km: float = 0.0


_FUEL, _REST, _QUEUE = StopPurpose.FUEL_STATION, StopPurpose.REST_AREA, StopPurpose.BORDER_QUEUE
STOP_AREAS: tuple[StopArea, ...] = (
    # Border queues on the Azerbaijani approach to each crossing: trucks wait there for hours.
    StopArea("Q-RBR", "Red Bridge border queue", _QUEUE, "RBR-BAK", "AZRBR", 1.0, 200.0, None, 7.0),
    StopArea("Q-AST", "Astara border queue", _QUEUE, "AST-HAJ", "AZAST", 1.0, 200.0, None, 6.0),
    StopArea("Q-SAM", "Samur border queue", _QUEUE, "SAM-BAK", "AZSAM", 1.0, 200.0, None, 10.0),
    StopArea("Q-BLK", "Balakan border queue", _QUEUE, "BLK-GNJ", "AZBLK", 1.0, 200.0, None, 5.0),
    # Fuel stations: refuelling, a meal, the driver's short break.
    StopArea("F-GAZ", "Gazakh fuel station (M2)", _FUEL, "RBR-BAK", "GAZ", 3.0, max_stop_min=60),
    StopArea("F-SHA", "Shamkir fuel station (M2)", _FUEL, "RBR-BAK", "SHA", 2.0, max_stop_min=60),
    StopArea("F-YEV", "Yevlakh fuel station (M2)", _FUEL, "RBR-BAK", "YEV", -3.0, max_stop_min=60),
    StopArea("F-KUR", "Kurdamir fuel station (M2)", _FUEL, "RBR-BAK", "KUR", 2.0, max_stop_min=60),
    StopArea("F-LOK", "Lokbatan fuel station (M2)", _FUEL, "RBR-BAK", "LOK", -2.0, max_stop_min=60),
    StopArea("F-LAN", "Lankaran fuel station (M3)", _FUEL, "AST-HAJ", "LAN", 3.0, max_stop_min=60),
    StopArea("F-SAL", "Salyan fuel station (M3)", _FUEL, "AST-HAJ", "SAL", -2.0, max_stop_min=60),
    StopArea("F-KHA", "Khachmaz fuel station (M1)", _FUEL, "SAM-BAK", "KHA", 3.0, max_stop_min=60),
    StopArea("F-SIY", "Siyazan fuel station (M1)", _FUEL, "SAM-BAK", "SIY", 2.0, max_stop_min=60),
    StopArea("F-SHK", "Shaki fuel station", _FUEL, "BLK-GNJ", "SHK", 4.0, max_stop_min=60),
    # Truck parks and rest areas: the AETR breaks and the daily rest.
    StopArea("R-TOV", "Tovuz truck rest area (M2)", _REST, "RBR-BAK", "TOV", 5.0, 450.0, 12 * 60),
    StopArea("R-GNJ", "Ganja truck park (M2)", _REST, "RBR-BAK", "AZGNJ", 6.0, 500.0, 12 * 60),
    StopArea("R-HAJ", "Hajigabul truck stop (M2/M3)", _REST, "RBR-BAK", "HAJ", 4.0, 500.0, 12 * 60),
    StopArea("R-MAS", "Masalli rest area (M3)", _REST, "AST-HAJ", "MAS", 4.0, 400.0, 12 * 60),
    StopArea("R-SHB", "Shabran rest area (M1)", _REST, "SAM-BAK", "SHB", 3.0, 400.0, 12 * 60),
    StopArea("R-ZAQ", "Zaqatala rest area", _REST, "BLK-GNJ", "ZAQ", 3.0, 400.0, 12 * 60),
)
