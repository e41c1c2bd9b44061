"""Reference data: places, zones, routes, agencies, permit types, currencies and countries.

The seed rows come from ``sealwatch.geography`` (real coordinates); :func:`seed_sql` renders them
as the INSERTs of migration 0101, and a test checks that file still matches, so the data is in
the database right after ``sealwatch migrate`` and cannot drift from the geography module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from customs.corridors import circle_polygon, line_geojson, validate_polygon
from customs.db import Db, notify
from customs.errors import NotFoundError
from sealwatch.geography import PLACES, ROUTES, PlaceKind, route_lonlat
from sealwatch.logging import get_logger

log = get_logger(__name__)

ZoneKind = Literal["customs_office", "border_checkpoint", "authorized_stop", "restricted_area"]
StopPurpose = Literal["rest_area", "fuel_station", "border_queue"]
OFFICE_KINDS: frozenset[str] = frozenset({"customs_office", "border_checkpoint"})
SEED_ZONE_RADIUS_M = 1500.0
ZONES_CHANNEL = "sealwatch_zones"

# Indicative reference rates to USD, used only to compare declared values with reference prices.
CURRENCY_USD: Mapping[str, float] = {
    "USD": 1.0, "EUR": 1.08, "GBP": 1.27, "CHF": 1.13, "AZN": 0.588, "RUB": 0.011, "TRY": 0.030,
    "GEL": 0.37, "IRR": 0.0000238, "CNY": 0.138, "KZT": 0.0021, "AED": 0.272, "UAH": 0.024,
    "BYN": 0.31, "TMT": 0.285, "UZS": 0.000079, "JPY": 0.0067, "KRW": 0.00073, "INR": 0.012,
    "AMD": 0.0026, "KGS": 0.0115, "TJS": 0.092, "SAR": 0.267, "PLN": 0.25,
}  # fmt: skip

# ISO 3166-1 alpha-2 codes.
_COUNTRY_CODES = """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG
    EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR
    HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR
    LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG
    NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE
    SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA
    UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"""
COUNTRIES: frozenset[str] = frozenset(_COUNTRY_CODES.split())

AGENCIES: tuple[tuple[str, str], ...] = (
    ("AFSA", "Food Safety Agency of the Republic of Azerbaijan"),
    ("AZSTAND", "Azerbaijan Institute of Standardization"),
    ("NRA", "State Agency for Nuclear and Radiological Activity Regulation"),
    ("MOH", "Ministry of Health of the Republic of Azerbaijan"),
)
PERMIT_TYPES: tuple[tuple[str, str, str], ...] = (
    ("VET", "Veterinary certificate", "AFSA"),
    ("PHYTO", "Phytosanitary certificate", "AFSA"),
    ("CONF", "Certificate of conformity", "AZSTAND"),
    ("RAD", "Radiation safety permit", "NRA"),
    ("PHARMA", "Pharmaceutical import licence", "MOH"),
)
PERMIT_RULES: tuple[tuple[str, str], ...] = (
    ("01", "VET"), ("02", "VET"), ("03", "VET"), ("04", "VET"), ("05", "VET"), ("16", "VET"),
    ("06", "PHYTO"), ("07", "PHYTO"), ("08", "PHYTO"), ("09", "PHYTO"), ("10", "PHYTO"), ("12", "PHYTO"),
    ("30", "PHARMA"), ("2844", "RAD"), ("2845", "RAD"), ("8517", "CONF"), ("4011", "CONF"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Reference:
    """What format and logical control needs to know, detached from the database."""

    offices: Mapping[str, str]  # active office/checkpoint zone code -> kind
    places: frozenset[str]
    places_lonlat: Mapping[str, tuple[float, float]]
    routes: Mapping[str, tuple[str, ...]]
    route_time_limit_h: Mapping[str, float]
    currencies: frozenset[str] = frozenset(CURRENCY_USD)
    countries: frozenset[str] = COUNTRIES


def from_geography() -> Reference:
    """The reference as seeded, straight from ``sealwatch.geography`` (for pure tests)."""
    return Reference(
        offices={p.code: p.kind.value for p in PLACES.values() if p.kind is not PlaceKind.TOWN},
        places=frozenset(PLACES),
        places_lonlat={p.code: (p.lon, p.lat) for p in PLACES.values()},
        routes={r.code: r.place_codes for r in ROUTES.values()},
        route_time_limit_h={r.code: r.time_limit_h for r in ROUTES.values()},
    )


async def load_reference(db: Db) -> Reference:
    zones = await db.all("SELECT code, kind FROM zones WHERE active AND kind = ANY(%s)", (list(OFFICE_KINDS),))
    places = await db.all("SELECT code, lat, lon FROM places")
    routes = await db.all("SELECT code, place_codes, time_limit_h FROM routes WHERE active")
    return Reference(
        offices={r["code"]: r["kind"] for r in zones},
        places=frozenset(r["code"] for r in places),
        places_lonlat={r["code"]: (r["lon"], r["lat"]) for r in places},
        routes={r["code"]: tuple(r["place_codes"]) for r in routes},
        route_time_limit_h={r["code"]: float(r["time_limit_h"]) for r in routes},
    )


# -- seed SQL -------------------------------------------------------------------------------------


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _json(value: Any) -> str:
    return _q(json.dumps(value, separators=(",", ":"))) + "::jsonb"


def seed_sql() -> str:
    """The INSERTs of migration 0101, rendered deterministically from the geography module."""
    out = ["-- Generated by customs.reference.seed_sql() from sealwatch/geography.py: do not edit by hand.", ""]
    out.append("INSERT INTO places (code, name, kind, lat, lon) VALUES")
    out.append(
        ",\n".join(f"    ({_q(p.code)}, {_q(p.name)}, {_q(p.kind.value)}, {p.lat}, {p.lon})" for p in PLACES.values())
        + ";"
    )
    out.append("")
    out.append("INSERT INTO zones (code, name, kind, geometry, center_lat, center_lon, radius_m) VALUES")
    rows = []
    for p in PLACES.values():
        if p.kind is PlaceKind.TOWN:
            continue
        circle = circle_polygon(p.lat, p.lon, SEED_ZONE_RADIUS_M)
        rows.append(
            f"    ({_q(p.code)}, {_q(p.name)}, {_q(p.kind.value)}, {_json(circle)}, "
            f"{p.lat}, {p.lon}, {SEED_ZONE_RADIUS_M})"
        )
    out.append(",\n".join(rows) + ";")
    out.append("")
    out.append("INSERT INTO routes (code, name, place_codes, polyline, time_limit_h) VALUES")
    out.append(
        ",\n".join(
            f"    ({_q(r.code)}, {_q(r.name)}, ARRAY[{', '.join(_q(c) for c in r.place_codes)}], "
            f"{_json(line_geojson(route_lonlat(r)))}, {r.time_limit_h})"
            for r in ROUTES.values()
        )
        + ";"
    )
    out.append("")
    out.append("INSERT INTO agencies (code, name) VALUES")
    out.append(",\n".join(f"    ({_q(c)}, {_q(n)})" for c, n in AGENCIES) + ";")
    out.append("")
    out.append("INSERT INTO permit_types (code, name, agency_code) VALUES")
    out.append(",\n".join(f"    ({_q(c)}, {_q(n)}, {_q(a)})" for c, n, a in PERMIT_TYPES) + ";")
    out.append("")
    out.append("INSERT INTO permit_rules (hs_prefix, permit_type) VALUES")
    out.append(",\n".join(f"    ({_q(h)}, {_q(t)})" for h, t in PERMIT_RULES) + ";")
    return "\n".join(out) + "\n"


# -- zones ------------------------------------------------------------------------------------------


class ZoneIn(BaseModel):
    """A zone as an officer edits it: a circle (centre + radius) or an explicit Polygon."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: ZoneKind
    center_lat: float = Field(ge=-90, le=90)
    center_lon: float = Field(ge=-180, le=180)
    radius_m: float | None = Field(default=None, gt=0, le=50_000)
    geometry: dict[str, Any] | None = Field(default=None, description="GeoJSON Polygon, lon/lat")
    active: bool = True
    purpose: StopPurpose | None = Field(default=None, description="what an authorized_stop area is for")
    max_stop_s: float | None = Field(
        default=None, gt=0, le=7 * 86_400, description="how long a stop there is tolerated; unset: no limit"
    )

    @model_validator(mode="after")
    def _shape(self) -> ZoneIn:
        if self.geometry is None and self.radius_m is None:
            raise ValueError("give radius_m (a circle is built around the centre) or a GeoJSON Polygon geometry")
        if self.geometry is not None:
            validate_polygon(self.geometry)
        if self.kind != "authorized_stop" and (self.purpose is not None or self.max_stop_s is not None):
            raise ValueError("purpose and max_stop_s describe authorized_stop areas only")
        return self


class Zone(BaseModel):
    code: str
    name: str
    kind: ZoneKind
    geometry: dict[str, Any]
    center_lat: float
    center_lon: float
    radius_m: float | None
    active: bool
    updated_at: datetime
    purpose: StopPurpose | None = None
    max_stop_s: float | None = None


_ZONE_COLS = "code, name, kind, geometry, center_lat, center_lon, radius_m, active, updated_at, purpose, max_stop_s"


async def list_zones(db: Db, *, kind: str | None = None, active_only: bool = False) -> list[Zone]:
    rows = await db.all(
        f"SELECT {_ZONE_COLS} FROM zones WHERE (%(kind)s::text IS NULL OR kind = %(kind)s) "
        "AND (NOT %(active)s OR active) ORDER BY code",
        {"kind": kind, "active": active_only},
    )
    return [Zone.model_validate(r) for r in rows]


async def get_zone(db: Db, code: str) -> Zone:
    row = await db.one(f"SELECT {_ZONE_COLS} FROM zones WHERE code = %s", (code,))
    if row is None:
        raise NotFoundError(f"zone {code!r} does not exist")
    return Zone.model_validate(row)


async def upsert_zone(db: Db, code: str, zone: ZoneIn) -> tuple[Zone, bool]:
    """Create or replace a zone; returns it and whether it was created. Tells the engine to reload."""
    geometry = zone.geometry or circle_polygon(zone.center_lat, zone.center_lon, float(zone.radius_m or 0))
    async with db.transaction():
        row = await db.one(
            f"""INSERT INTO zones (code, name, kind, geometry, center_lat, center_lon, radius_m, active, purpose,
                                   max_stop_s)
                VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
                    geometry = EXCLUDED.geometry, center_lat = EXCLUDED.center_lat,
                    center_lon = EXCLUDED.center_lon, radius_m = EXCLUDED.radius_m,
                    active = EXCLUDED.active, purpose = EXCLUDED.purpose, max_stop_s = EXCLUDED.max_stop_s,
                    updated_at = now()
                RETURNING {_ZONE_COLS}, (xmax = 0) AS created""",
            (
                code,
                zone.name,
                zone.kind,
                json.dumps(geometry),
                zone.center_lat,
                zone.center_lon,
                zone.radius_m,
                zone.active,
                zone.purpose,
                zone.max_stop_s,
            ),
        )
        assert row is not None  # INSERT ... RETURNING always yields the row
        await notify(db, ZONES_CHANNEL, code)
    log.info("zone saved", code=code, kind=zone.kind, created=row["created"])
    return Zone.model_validate(row), bool(row["created"])


# -- routes -----------------------------------------------------------------------------------------


class RouteOut(BaseModel):
    code: str
    name: str
    place_codes: list[str]
    polyline: dict[str, Any]
    time_limit_h: float
    active: bool
    version: int = Field(description="the geometry's version (see /api/routes/{code}/versions)")
    default_width_m: float = Field(description="corridor width outside the width_profile stretches")
    width_profile: list[dict[str, float]] = Field(description="[{from_m, to_m, width_m}] along the line")
    stop_tolerance_s: float | None = Field(description="a stop outside the stop areas is tolerated this long")


_ROUTE_COLS = (
    "code, name, place_codes, polyline, time_limit_h, active, version, default_width_m, width_profile, stop_tolerance_s"
)


async def list_routes(db: Db) -> list[RouteOut]:
    rows = await db.all(f"SELECT {_ROUTE_COLS} FROM routes ORDER BY code")
    return [RouteOut.model_validate(r) for r in rows]


async def get_route(db: Db, code: str) -> RouteOut:
    row = await db.one(f"SELECT {_ROUTE_COLS} FROM routes WHERE code = %s", (code,))
    if row is None:
        raise NotFoundError(f"route {code!r} does not exist")
    return RouteOut.model_validate(row)
