"""What a mobile group reads about an alert: the truck (plate, carrier), where it is in words (the
nearest town, office or border checkpoint, with distance and direction), and how long ago it began.

The same facts go into the dispatch message over MQTT and onto the group's phone screen. Words in a
language (an alert type's name) come from the product's catalogs, which this package does not own:
callers pass an :data:`AlertWords` function (``maps.vocabulary.words``, given by the API and the
composition root); without one the English name stands in for every language.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pyproj import Geod

from alerts.store import AnyConn, fetch_all
from sealwatch.geography import PLACES, Place

_GEOD = Geod(ellps="WGS84")
COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")

# (kind, value) -> {locale: words}, e.g. ("alert_type", "seal_opened") -> {"az": ..., "ru": ..., "en": ...}
AlertWords = Callable[[str, str], dict[str, str]]


LOCALES = ("az", "ru", "en")


def english_words(kind: str, value: str) -> dict[str, str]:
    """The stand-in when no catalog is at hand: the value itself, spaced, under every language."""
    text = value.replace("_", " ").capitalize()
    return dict.fromkeys(LOCALES, text)


@dataclass(frozen=True, slots=True)
class PlaceRef:
    """The alert's position as "distance direction of place": ``12 km NE of Shamkir``."""

    code: str
    name: str
    kind: str
    distance_m: float
    bearing_deg: float  # from the place to the position, clockwise from north

    @property
    def compass(self) -> str:
        return COMPASS[round(self.bearing_deg / 45) % 8]

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "distance_m": round(self.distance_m),
            "bearing_deg": round(self.bearing_deg),
            "compass": self.compass,
        }


def nearest_place(lat: float, lon: float, places: Iterable[Place] = PLACES.values()) -> PlaceRef:
    """The nearest town, customs office or border checkpoint (geodesic), with the bearing to the point."""
    best: PlaceRef | None = None
    for p in places:
        azimuth, _, d = _GEOD.inv(p.lon, p.lat, lon, lat)
        if best is None or d < best.distance_m:
            best = PlaceRef(p.code, p.name, p.kind.value, float(d), float(azimuth) % 360)
    assert best is not None, "no places"
    return best


def bearing_and_distance(from_lat: float, from_lon: float, to_lat: float, to_lon: float) -> tuple[float, float]:
    """Initial bearing (degrees from north) and geodesic distance (m) from one point to another."""
    azimuth, _, d = _GEOD.inv(from_lon, from_lat, to_lon, to_lat)
    return float(azimuth) % 360, float(d)


async def truck_facts(conn: AnyConn, transit_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per transit: plate, trailers, carrier, route and destination, from its declaration."""
    rows = await fetch_all(
        conn,
        """SELECT t.transit_id, d.vehicle_plate AS plate, d.trailers, d.carrier_name, d.carrier_tin,
                  t.route_code, t.office_destination, t.deadline
           FROM transits t JOIN declarations d ON d.id = t.declaration_id WHERE t.transit_id = ANY(%s)""",
        (sorted(set(transit_ids)),),
    )
    return {r["transit_id"]: r for r in rows}


def brief(alert: dict[str, Any], truck: dict[str, Any] | None, at: datetime, words: AlertWords) -> dict[str, Any]:
    """The readable fields of one alert (``alert`` a row of ``alerts.store.ALERT_COLUMNS``)."""
    lat, lon = alert.get("lat"), alert.get("lon")
    place = nearest_place(lat, lon) if lat is not None and lon is not None else None
    return {
        "plate": truck["plate"] if truck else None,
        "trailers": list(truck["trailers"]) if truck else [],
        "carrier": {"name": truck["carrier_name"], "tin": truck["carrier_tin"]} if truck else None,
        "route_code": truck["route_code"] if truck else None,
        "office_destination": truck["office_destination"] if truck else None,
        "type_text": words("alert_type", alert["type"]),
        "severity_text": words("severity", alert["severity"]),
        "place": place.as_json() if place else None,
        "first_t": alert["first_t"].isoformat(),
        "age_s": max(0, round((at - alert["first_t"]).total_seconds())),
    }
