"""Declaration bodies shared by the customs tests."""

from __future__ import annotations

import copy
from typing import Any

VALID: dict[str, Any] = {
    "lrn": "TR-2025-000123",
    "declarant": {"tin": "1234567890", "name": "Absheron Trading LLC"},
    "carrier": {"name": "Anadolu Nakliyat A.S.", "tin": "TR8450012345"},
    "vehicle_plate": "34 ABC 123",
    "trailers": ["34 TR 456"],
    "containers": ["CSQU3054383"],
    "items": [
        {
            "hs_code": "847130",
            "description": "Portable laptop computers",
            "gross_mass_kg": 1250.0,
            "net_mass_kg": 1100.0,
            "value": 198000.0,
            "currency": "USD",
            "packages": 55,
        },
        {
            "hs_code": "610910",
            "description": "Cotton T-shirts",
            "gross_mass_kg": 800,
            "net_mass_kg": 760,
            "value": 12000,
            "currency": "EUR",
            "packages": 40,
        },
    ],
    "office_of_departure": "AZRBR",
    "offices_of_transit": ["AZGNJ"],
    "office_of_destination": "AZBAK",
    "itinerary": {"route_code": "RBR-BAK"},
    "seal_count": 1,
    "origin_country": "TR",
}


def valid_body(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(VALID)
    body.update(changes)
    return body


def flow_body(lrn: str = "FLOW-1", tin: str = "1234567890") -> dict[str, Any]:
    """Undervalued laptops (risk) plus oranges (needs a PHYTO permit) on RBR-BAK: held, then yellow."""
    body = valid_body(lrn=lrn, declarant={"tin": tin, "name": "Absheron Trading LLC"})
    body["items"] = [
        {
            "hs_code": "847130",
            "description": "Portable laptop computers",
            "gross_mass_kg": 1250.0,
            "net_mass_kg": 1100.0,
            "value": 5000.0,
            "currency": "USD",
            "packages": 55,
        },
        {
            "hs_code": "080510",
            "description": "Fresh oranges",
            "gross_mass_kg": 9000,
            "net_mass_kg": 8500,
            "value": 7600,
            "currency": "USD",
            "packages": 700,
        },
    ]
    return body
