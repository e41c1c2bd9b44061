"""Transit declarations: the model and format + logical control.

Control works on the raw JSON body, not on a parsed model, so that one call reports EVERY
error at once — a wrong type in one item does not hide an unknown office elsewhere. Each error
has a JSON-pointer-like path ("items/2/hs_code") and a stable code from :class:`ErrorCode`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from customs.reference import OFFICE_KINDS, Reference


class ErrorCode(StrEnum):
    """Every error code a declaration can get: control, and the single-window permit check."""

    # Shape.
    MISSING_FIELD = "missing_field"
    INVALID_TYPE = "invalid_type"
    UNEXPECTED_FIELD = "unexpected_field"
    INVALID_NUMBER = "invalid_number"
    TEXT_LENGTH = "text_length"
    INVALID_CHARACTERS = "invalid_characters"
    # Format.
    TIN_FORMAT = "tin_format"
    PLATE_FORMAT = "plate_format"
    CONTAINER_FORMAT = "container_format"
    HS_CODE_FORMAT = "hs_code_format"
    UNKNOWN_CURRENCY = "unknown_currency"
    UNKNOWN_COUNTRY = "unknown_country"
    # Logic.
    NO_ITEMS = "no_items"
    TOO_MANY_ITEMS = "too_many_items"
    DUPLICATE_ITEM = "duplicate_item"
    DUPLICATE_CONTAINER = "duplicate_container"
    NET_EXCEEDS_GROSS = "net_exceeds_gross"
    MASS_NOT_POSITIVE = "mass_not_positive"
    NEGATIVE_VALUE = "negative_value"
    PACKAGES_NOT_POSITIVE = "packages_not_positive"
    UNKNOWN_OFFICE = "unknown_office"
    SAME_OFFICE = "same_office"
    UNKNOWN_ROUTE = "unknown_route"
    UNKNOWN_PLACE = "unknown_place"
    ITINERARY_AMBIGUOUS = "itinerary_ambiguous"
    ITINERARY_DISCONNECTED = "itinerary_disconnected"
    TRANSIT_OFFICE_OFF_ROUTE = "transit_office_off_route"
    TOO_MANY_SEALS = "too_many_seals"
    SEAL_COUNT_INVALID = "seal_count_invalid"
    # Single window (set when the declaration is held, per item).
    PERMIT_MISSING = "permit_missing"
    PERMIT_EXPIRED = "permit_expired"
    PERMIT_WRONG_HOLDER = "permit_wrong_holder"
    PERMIT_EXHAUSTED = "permit_exhausted"


class FieldError(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    code: ErrorCode
    message: str


class Party(BaseModel):
    model_config = ConfigDict(frozen=True)

    tin: str
    name: str


class Item(BaseModel):
    model_config = ConfigDict(frozen=True)

    item_no: int
    hs_code: str
    description: str
    gross_mass_kg: Decimal
    net_mass_kg: Decimal
    value: Decimal
    currency: str
    packages: int


class Declaration(BaseModel):
    """A declaration that passed control: every field checked, itinerary resolved to places."""

    model_config = ConfigDict(frozen=True)

    lrn: str | None
    declarant: Party
    carrier: Party
    vehicle_plate: str
    trailers: tuple[str, ...]
    containers: tuple[str, ...]
    items: tuple[Item, ...]
    office_of_departure: str
    offices_of_transit: tuple[str, ...]
    office_of_destination: str
    route_code: str | None
    itinerary_places: tuple[str, ...]
    seal_count: int
    origin_country: str


@dataclass(frozen=True, slots=True)
class Limits:
    max_items: int = 999
    max_seals: int = 4


@dataclass(slots=True)
class Checked:
    errors: list[FieldError] = field(default_factory=list)
    declaration: Declaration | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


# -- format rules (pure; each takes a string, True when well-formed) -----------------------------

_DECLARANT_TIN = re.compile(r"^\d{10}$")  # Azerbaijani VÖEN: 10 digits
_FOREIGN_TIN = re.compile(r"^[A-Z0-9]{5,20}$")
_PLATE = re.compile(r"^(?=.*\d)(?=.*[A-Z])[A-Z0-9][A-Z0-9 -]{2,10}[A-Z0-9]$")
_CONTAINER = re.compile(r"^[A-Z]{3}[UJZ]\d{7}$")
_HS = re.compile(r"^\d{6,10}$")


def declarant_tin_ok(tin: str) -> bool:
    return bool(_DECLARANT_TIN.match(tin))


def carrier_tin_ok(tin: str) -> bool:
    return bool(_FOREIGN_TIN.match(tin))


def plate_ok(plate: str) -> bool:
    return bool(_PLATE.match(plate))


def hs_code_ok(code: str) -> bool:
    return bool(_HS.match(code))


def _iso6346_values() -> dict[str, int]:
    # Letters take 10..38, skipping multiples of 11 (ISO 6346).
    values: dict[str, int] = {}
    v = 10
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if v % 11 == 0:
            v += 1
        values[letter] = v
        v += 1
    return values


_ISO6346 = _iso6346_values()


def iso6346_check_digit(first10: str) -> int:
    """Check digit of a container number's first 10 characters (owner, category, serial)."""
    total = sum((_ISO6346[c] if c.isalpha() else int(c)) * 2**i for i, c in enumerate(first10))
    return int(total % 11 % 10)


def container_ok(number: str) -> bool:
    """ISO 6346 container number with a correct check digit (e.g. CSQU3054383)."""
    return bool(_CONTAINER.match(number)) and iso6346_check_digit(number[:10]) == int(number[10])


MAX_NUMBER = 1e11  # fits numeric(14, 3), the storage of masses


def printable(text: str) -> bool:
    """No control characters (PostgreSQL text cannot hold NUL) and encodable as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text)


# -- raw-body walking --------------------------------------------------------------------------------

_MISSING = object()


class _Ctl:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def err(self, path: str, code: ErrorCode, message: str) -> None:
        self.errors.append(FieldError(path=path, code=code, message=message))

    def obj(self, value: Any, path: str, allowed: Sequence[str]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.err(path, ErrorCode.INVALID_TYPE, f"{path or 'body'} must be an object")
            return None
        for key in value:
            if key not in allowed:
                self.err(_join(path, str(key)), ErrorCode.UNEXPECTED_FIELD, f"unknown field {key!r}")
        return value

    def text(
        self, obj: dict[str, Any], key: str, path: str, *, required: bool = True, max_len: int = 200
    ) -> str | None:
        p = _join(path, key)
        value = obj.get(key, _MISSING)
        if value is _MISSING or value is None:
            if required:
                self.err(p, ErrorCode.MISSING_FIELD, f"{key} is required")
            return None
        if not isinstance(value, str):
            self.err(p, ErrorCode.INVALID_TYPE, f"{key} must be a string")
            return None
        value = value.strip()
        if not value or len(value) > max_len:
            self.err(p, ErrorCode.TEXT_LENGTH, f"{key} must be 1 to {max_len} characters")
            return None
        if not printable(value):
            self.err(p, ErrorCode.INVALID_CHARACTERS, f"{key} contains control or unencodable characters")
            return None
        return value

    def number(self, obj: dict[str, Any], key: str, path: str, places: int = 3) -> Decimal | None:
        p = _join(path, key)
        value = obj.get(key, _MISSING)
        if value is _MISSING or value is None:
            self.err(p, ErrorCode.MISSING_FIELD, f"{key} is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.err(p, ErrorCode.INVALID_TYPE, f"{key} must be a number")
            return None
        if not math.isfinite(value) or abs(value) >= MAX_NUMBER:
            self.err(p, ErrorCode.INVALID_NUMBER, f"{key} must be a finite number below {MAX_NUMBER:.0e}")
            return None
        # Round to what the database stores, so every later comparison sees the stored value.
        return Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)

    def integer(self, obj: dict[str, Any], key: str, path: str, default: int | None = None) -> int | None:
        p = _join(path, key)
        value = obj.get(key, _MISSING)
        if value is _MISSING or value is None:
            if default is not None:
                return default
            self.err(p, ErrorCode.MISSING_FIELD, f"{key} is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.err(p, ErrorCode.INVALID_TYPE, f"{key} must be an integer")
            return None
        if abs(value) >= 10**9:
            self.err(p, ErrorCode.INVALID_NUMBER, f"{key} is out of range")
            return None
        return value

    def texts(self, obj: dict[str, Any], key: str, path: str, *, max_len: int = 50) -> list[tuple[str, str]] | None:
        """An optional list of strings, as (path, value) pairs; None when absent or broken."""
        p = _join(path, key)
        value = obj.get(key, _MISSING)
        if value is _MISSING or value is None:
            return []
        if not isinstance(value, list):
            self.err(p, ErrorCode.INVALID_TYPE, f"{key} must be a list of strings")
            return None
        out: list[tuple[str, str]] = []
        for i, v in enumerate(value):
            ip = _join(p, str(i))
            if not isinstance(v, str):
                self.err(ip, ErrorCode.INVALID_TYPE, f"{key}[{i}] must be a string")
            elif not v.strip() or len(v.strip()) > max_len:
                self.err(ip, ErrorCode.TEXT_LENGTH, f"{key}[{i}] must be 1 to {max_len} characters")
            elif not printable(v):
                self.err(ip, ErrorCode.INVALID_CHARACTERS, f"{key}[{i}] contains control or unencodable characters")
            else:
                out.append((ip, v.strip().upper()))
        return out


def _join(path: str, key: str) -> str:
    return f"{path}/{key}" if path else key


_TOP = (
    "lrn", "declarant", "carrier", "vehicle_plate", "trailers", "containers", "items", "office_of_departure",
    "offices_of_transit", "office_of_destination", "itinerary", "seal_count", "origin_country",
)  # fmt: skip
_PARTY = ("tin", "name")
_ITEM = ("hs_code", "description", "gross_mass_kg", "net_mass_kg", "value", "currency", "packages")
_ITINERARY = ("route_code", "places")


def check_declaration(body: object, ref: Reference, limits: Limits = Limits()) -> Checked:
    """Format and logical control of a raw declaration body: every error, or the typed declaration."""
    ctl = _Ctl()
    top = ctl.obj(body, "", _TOP)
    if top is None:
        return Checked(errors=ctl.errors)

    lrn = ctl.text(top, "lrn", "", required=False, max_len=35)
    declarant = _party(ctl, top, "declarant", declarant_tin_ok, "10 digits (VÖEN)")
    carrier = _party(ctl, top, "carrier", carrier_tin_ok, "5 to 20 letters or digits")
    plate = _plate(ctl, top, "vehicle_plate")
    trailers = ctl.texts(top, "trailers", "")
    for p, t in trailers or []:
        if not plate_ok(t):
            ctl.err(p, ErrorCode.PLATE_FORMAT, f"trailer plate {t!r} is not a registration plate")
    containers = ctl.texts(top, "containers", "")
    seen_containers: set[str] = set()
    for p, c in containers or []:
        if not container_ok(c):
            ctl.err(p, ErrorCode.CONTAINER_FORMAT, f"{c!r} is not an ISO 6346 number with a valid check digit")
        elif c in seen_containers:
            ctl.err(p, ErrorCode.DUPLICATE_CONTAINER, f"container {c} is listed twice")
        seen_containers.add(c)

    items = _items(ctl, top, ref, limits)
    departure = _office(ctl, top, "office_of_departure", ref)
    destination = _office(ctl, top, "office_of_destination", ref)
    if departure and destination and departure == destination:
        ctl.err("office_of_destination", ErrorCode.SAME_OFFICE, "office of destination must differ from departure")
    transit_offices = ctl.texts(top, "offices_of_transit", "")
    for p, code in transit_offices or []:
        if ref.offices.get(code) not in OFFICE_KINDS:
            ctl.err(p, ErrorCode.UNKNOWN_OFFICE, f"{code!r} is not an active customs office or border checkpoint")
    route_code, places = _itinerary(ctl, top, ref)
    if places is not None:
        if departure and destination and (places[0] != departure or places[-1] != destination):
            what = f"route {route_code}" if route_code else "the itinerary"
            ctl.err(
                "itinerary",
                ErrorCode.ITINERARY_DISCONNECTED,
                f"{what} runs {places[0]} → {places[-1]}, but the declaration goes {departure} → {destination}",
            )
        for p, code in transit_offices or []:
            if code in ref.offices and code not in places:
                ctl.err(p, ErrorCode.TRANSIT_OFFICE_OFF_ROUTE, f"office of transit {code} is not on the itinerary")

    seal_count = ctl.integer(top, "seal_count", "", default=1)
    if seal_count is not None:
        if seal_count < 1:
            ctl.err("seal_count", ErrorCode.SEAL_COUNT_INVALID, "seal_count must be at least 1")
        elif seal_count > limits.max_seals:
            ctl.err("seal_count", ErrorCode.TOO_MANY_SEALS, f"at most {limits.max_seals} seals per transit")
    origin = ctl.text(top, "origin_country", "", max_len=2)
    if origin is not None and origin.upper() not in ref.countries:
        ctl.err("origin_country", ErrorCode.UNKNOWN_COUNTRY, f"{origin!r} is not an ISO 3166 alpha-2 country code")

    if ctl.errors:
        return Checked(errors=ctl.errors)
    # Every value below was checked above; the asserts document it for the type checker.
    assert declarant and carrier and plate and items and departure and destination and places and origin
    assert trailers is not None and containers is not None and transit_offices is not None and seal_count
    return Checked(
        declaration=Declaration(
            lrn=lrn,
            declarant=declarant,
            carrier=carrier,
            vehicle_plate=plate,
            trailers=tuple(t for _, t in trailers),
            containers=tuple(c for _, c in containers),
            items=tuple(items),
            office_of_departure=departure,
            offices_of_transit=tuple(c for _, c in transit_offices),
            office_of_destination=destination,
            route_code=route_code,
            itinerary_places=tuple(places),
            seal_count=seal_count,
            origin_country=origin.upper(),
        )
    )


def _party(ctl: _Ctl, top: dict[str, Any], key: str, tin_ok: Callable[[str], bool], rule: str) -> Party | None:
    value = top.get(key, _MISSING)
    if value is _MISSING or value is None:
        ctl.err(key, ErrorCode.MISSING_FIELD, f"{key} is required")
        return None
    obj = ctl.obj(value, key, _PARTY)
    if obj is None:
        return None
    tin = ctl.text(obj, "tin", key, max_len=20)
    name = ctl.text(obj, "name", key, required=key == "carrier")
    if tin is not None and not tin_ok(tin.upper()):
        ctl.err(f"{key}/tin", ErrorCode.TIN_FORMAT, f"{key} TIN must be {rule}")
        return None
    if tin is None or (name is None and key == "carrier"):
        return None
    return Party(tin=tin.upper(), name=name or "")


def _plate(ctl: _Ctl, top: dict[str, Any], key: str) -> str | None:
    plate = ctl.text(top, key, "", max_len=20)
    if plate is None:
        return None
    plate = plate.upper()
    if not plate_ok(plate):
        ctl.err(key, ErrorCode.PLATE_FORMAT, f"{plate!r} is not a plate (4-12 letters, digits, - or space)")
        return None
    return plate


def _office(ctl: _Ctl, top: dict[str, Any], key: str, ref: Reference) -> str | None:
    code = ctl.text(top, key, "", max_len=10)
    if code is None:
        return None
    code = code.upper()
    if ref.offices.get(code) not in OFFICE_KINDS:
        ctl.err(key, ErrorCode.UNKNOWN_OFFICE, f"{code!r} is not an active customs office or border checkpoint")
        return None
    return code


def _items(ctl: _Ctl, top: dict[str, Any], ref: Reference, limits: Limits) -> list[Item] | None:
    value = top.get("items", _MISSING)
    if value is _MISSING or value is None:
        ctl.err("items", ErrorCode.MISSING_FIELD, "items is required")
        return None
    if not isinstance(value, list):
        ctl.err("items", ErrorCode.INVALID_TYPE, "items must be a list")
        return None
    if not value:
        ctl.err("items", ErrorCode.NO_ITEMS, "a declaration needs at least one goods item")
        return None
    if len(value) > limits.max_items:
        ctl.err("items", ErrorCode.TOO_MANY_ITEMS, f"at most {limits.max_items} goods items")
        return None
    items: list[Item] = []
    seen: dict[tuple[str, str], int] = {}
    broken = False
    for i, raw in enumerate(value):
        path = f"items/{i}"
        errors_before = len(ctl.errors)
        obj = ctl.obj(raw, path, _ITEM)
        if obj is None:
            broken = True
            continue
        hs = ctl.text(obj, "hs_code", path, max_len=20)
        if hs is not None and not hs_code_ok(hs):
            ctl.err(f"{path}/hs_code", ErrorCode.HS_CODE_FORMAT, f"HS code {hs!r} must be 6 to 10 digits")
            hs = None
        desc = ctl.text(obj, "description", path, max_len=512)
        gross = ctl.number(obj, "gross_mass_kg", path)
        net = ctl.number(obj, "net_mass_kg", path)
        for name, mass in (("gross_mass_kg", gross), ("net_mass_kg", net)):
            if mass is not None and mass <= 0:
                ctl.err(f"{path}/{name}", ErrorCode.MASS_NOT_POSITIVE, f"{name} must be greater than 0")
        if gross is not None and net is not None and gross > 0 and net > gross:
            ctl.err(f"{path}/net_mass_kg", ErrorCode.NET_EXCEEDS_GROSS, f"net mass {net} kg exceeds gross {gross} kg")
        amount = ctl.number(obj, "value", path, places=2)
        if amount is not None and amount < 0:
            ctl.err(f"{path}/value", ErrorCode.NEGATIVE_VALUE, "value must not be negative")
        currency = ctl.text(obj, "currency", path, max_len=3)
        if currency is not None and currency.upper() not in ref.currencies:
            ctl.err(f"{path}/currency", ErrorCode.UNKNOWN_CURRENCY, f"{currency!r} is not a known ISO 4217 currency")
        packages = ctl.integer(obj, "packages", path)
        if packages is not None and packages < 1:
            ctl.err(f"{path}/packages", ErrorCode.PACKAGES_NOT_POSITIVE, "packages must be at least 1")
        if hs is not None and desc is not None:
            key = (hs, " ".join(desc.casefold().split()))
            if key in seen:
                ctl.err(path, ErrorCode.DUPLICATE_ITEM, f"item repeats item {seen[key]} (same HS code and description)")
            seen.setdefault(key, i)
        if len(ctl.errors) > errors_before:
            broken = True
            continue
        # No error for this item means every field was read and checked.
        assert hs is not None and desc is not None and currency is not None and packages is not None
        assert gross is not None and net is not None and amount is not None
        items.append(
            Item(
                item_no=i + 1,
                hs_code=hs,
                description=desc,
                gross_mass_kg=gross,
                net_mass_kg=net,
                value=amount,
                currency=currency.upper(),
                packages=packages,
            )
        )
    return None if broken else items


def _itinerary(ctl: _Ctl, top: dict[str, Any], ref: Reference) -> tuple[str | None, list[str] | None]:
    value = top.get("itinerary", _MISSING)
    if value is _MISSING or value is None:
        ctl.err("itinerary", ErrorCode.MISSING_FIELD, "itinerary is required (route_code or places)")
        return None, None
    obj = ctl.obj(value, "itinerary", _ITINERARY)
    if obj is None:
        return None, None
    has_route, has_places = obj.get("route_code") is not None, obj.get("places") is not None
    if has_route == has_places:
        ctl.err("itinerary", ErrorCode.ITINERARY_AMBIGUOUS, "give exactly one of route_code or places")
        return None, None
    if has_route:
        code = ctl.text(obj, "route_code", "itinerary", max_len=20)
        if code is None:
            return None, None
        code = code.upper()
        if code not in ref.routes:
            ctl.err("itinerary/route_code", ErrorCode.UNKNOWN_ROUTE, f"route {code!r} does not exist or is inactive")
            return None, None
        return code, list(ref.routes[code])
    places = ctl.texts(obj, "places", "itinerary", max_len=10)
    if places is None:
        return None, None
    if len(places) < 2 or len(places) != len(obj["places"]):
        if len(places) == len(obj["places"]):
            ctl.err("itinerary/places", ErrorCode.ITINERARY_DISCONNECTED, "an itinerary needs at least two places")
        return None, None
    ok = True
    for p, code in places:
        if code not in ref.places:
            ctl.err(p, ErrorCode.UNKNOWN_PLACE, f"place {code!r} is not known")
            ok = False
    return None, ([c for _, c in places] if ok else None)
