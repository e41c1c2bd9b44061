"""Format and logical control: one test per rule, and every error reported at once."""

from __future__ import annotations

from typing import Any

import pytest

from customs.declarations import ErrorCode, Limits, check_declaration, container_ok, hs_code_ok, plate_ok
from customs.reference import from_geography
from tests.customs.bodies import valid_body

REF = from_geography()


DEFAULT_LIMITS = Limits()


def codes(body: Any, limits: Limits = DEFAULT_LIMITS) -> set[tuple[str, str]]:
    return {(e.path, e.code.value) for e in check_declaration(body, REF, limits).errors}


def item(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = valid_body()["items"][0]
    base.update(changes)
    return base


def test_valid_body_passes_and_is_normalised() -> None:
    checked = check_declaration(valid_body(vehicle_plate="34 abc 123"), REF)
    assert checked.ok and checked.declaration is not None
    d = checked.declaration
    assert d.vehicle_plate == "34 ABC 123"
    assert d.itinerary_places[0] == "AZRBR" and d.itinerary_places[-1] == "AZBAK"
    assert [i.item_no for i in d.items] == [1, 2]
    assert str(d.items[0].net_mass_kg) == "1100.000"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"office_of_departure": "XXXXX"}, ("office_of_departure", "unknown_office")),
        ({"office_of_destination": "GAZ"}, ("office_of_destination", "unknown_office")),  # a town, not an office
        ({"offices_of_transit": ["AZZZZ"]}, ("offices_of_transit/0", "unknown_office")),
        ({"offices_of_transit": ["AZSAM"]}, ("offices_of_transit/0", "transit_office_off_route")),
        ({"office_of_destination": "AZRBR"}, ("office_of_destination", "same_office")),
        ({"itinerary": {"route_code": "RBR-ALT"}}, ("itinerary", "itinerary_disconnected")),
        ({"itinerary": {"route_code": "NOPE"}}, ("itinerary/route_code", "unknown_route")),
        ({"itinerary": {"route_code": "RBR-BAK", "places": ["AZRBR", "AZBAK"]}}, ("itinerary", "itinerary_ambiguous")),
        ({"itinerary": {"places": ["AZRBR", "ATLANTIS", "AZBAK"]}}, ("itinerary/places/1", "unknown_place")),
        ({"itinerary": {"places": ["AZSAM", "AZBAK"]}}, ("itinerary", "itinerary_disconnected")),
        ({"declarant": {"tin": "12345", "name": "x"}}, ("declarant/tin", "tin_format")),
        ({"carrier": {"tin": "??", "name": "x"}}, ("carrier/tin", "tin_format")),
        ({"vehicle_plate": "ABCD"}, ("vehicle_plate", "plate_format")),
        ({"trailers": ["!!"]}, ("trailers/0", "plate_format")),
        ({"containers": ["CSQU3054384"]}, ("containers/0", "container_format")),
        ({"containers": ["CSQU3054383", "CSQU3054383"]}, ("containers/1", "duplicate_container")),
        ({"items": []}, ("items", "no_items")),
        ({"seal_count": 9}, ("seal_count", "too_many_seals")),
        ({"seal_count": 0}, ("seal_count", "seal_count_invalid")),
        ({"origin_country": "XX"}, ("origin_country", "unknown_country")),
        ({"surprise": 1}, ("surprise", "unexpected_field")),
        ({"vehicle_plate": 42}, ("vehicle_plate", "invalid_type")),
        ({"vehicle_plate": "AB\x00123"}, ("vehicle_plate", "invalid_characters")),
        ({"lrn": "x" * 36}, ("lrn", "text_length")),
    ],
)
def test_each_declaration_rule(changes: dict[str, Any], expected: tuple[str, str]) -> None:
    assert expected in codes(valid_body(**changes))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"hs_code": "8471"}, ("items/0/hs_code", "hs_code_format")),
        ({"hs_code": "84713012345"}, ("items/0/hs_code", "hs_code_format")),
        ({"hs_code": "8471.30"}, ("items/0/hs_code", "hs_code_format")),
        ({"net_mass_kg": 1300.0}, ("items/0/net_mass_kg", "net_exceeds_gross")),
        ({"gross_mass_kg": 0}, ("items/0/gross_mass_kg", "mass_not_positive")),
        ({"value": -1}, ("items/0/value", "negative_value")),
        ({"currency": "XYZ"}, ("items/0/currency", "unknown_currency")),
        ({"packages": 0}, ("items/0/packages", "packages_not_positive")),
        ({"packages": 2.5}, ("items/0/packages", "invalid_type")),
        ({"value": float("nan")}, ("items/0/value", "invalid_number")),
        ({"gross_mass_kg": 1e13}, ("items/0/gross_mass_kg", "invalid_number")),
        ({"value": True}, ("items/0/value", "invalid_type")),
    ],
)
def test_each_item_rule(changes: dict[str, Any], expected: tuple[str, str]) -> None:
    assert expected in codes(valid_body(items=[item(**changes)]))


def test_missing_fields_each_reported() -> None:
    body = valid_body()
    for key in ("vehicle_plate", "items", "office_of_departure", "itinerary", "origin_country", "carrier"):
        del body[key]
    found = codes(body)
    for key in ("vehicle_plate", "items", "office_of_departure", "itinerary", "origin_country", "carrier"):
        assert (key, "missing_field") in found


def test_duplicate_item_points_at_the_repeat() -> None:
    first = item()
    repeat = item(description="  PORTABLE laptop   computers ")
    assert ("items/1", "duplicate_item") in codes(valid_body(items=[first, repeat]))


def test_too_many_items() -> None:
    assert ("items", "too_many_items") in codes(valid_body(items=[item()] * 3), Limits(max_items=2))


def test_every_error_is_reported_at_once() -> None:
    body = valid_body(
        office_of_departure="NOWHERE",
        vehicle_plate="?",
        origin_country="ZZ",
        items=[item(), item(hs_code="12", description="x"), item(hs_code="851713", net_mass_kg=5000.0), 7],
    )
    found = codes(body)
    assert {
        ("office_of_departure", "unknown_office"),
        ("vehicle_plate", "plate_format"),
        ("origin_country", "unknown_country"),
        ("items/1/hs_code", "hs_code_format"),
        ("items/2/net_mass_kg", "net_exceeds_gross"),
        ("items/3", "invalid_type"),
    } <= found


def test_non_object_body() -> None:
    assert codes([1, 2]) == {("", "invalid_type")}


def test_format_helpers() -> None:
    assert hs_code_ok("847130") and hs_code_ok("8471300000") and not hs_code_ok("84713")
    assert plate_ok("10-AB-123") and plate_ok("A123BC77") and not plate_ok("1234") and not plate_ok("AB")
    assert container_ok("CSQU3054383") and not container_ok("CSQU3054380") and not container_ok("CSQX3054383")
    assert set(ErrorCode) >= {ErrorCode.UNKNOWN_OFFICE, ErrorCode.PERMIT_EXHAUSTED}
