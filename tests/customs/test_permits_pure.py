"""Single-window evaluation: each hold reason, and allocation across items."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from customs.declarations import ErrorCode, Item
from customs.permits import Permit, Rule, evaluate, required_types

RULES = [Rule("08", "PHYTO"), Rule("0201", "VET"), Rule("02", "VET")]
TODAY = date(2025, 6, 1)


def oranges(kg: str = "1000", no: int = 1) -> Item:
    return Item(
        item_no=no,
        hs_code="080510",
        description="Fresh oranges",
        gross_mass_kg=Decimal(kg) + 50,
        net_mass_kg=Decimal(kg),
        value=Decimal(900),
        currency="USD",
        packages=10,
    )


def phyto(pid: int = 1, holder: str = "1234567890", left: str = "5000", until: date = date(2025, 12, 31)) -> Permit:
    return Permit(pid, f"P-{pid}", "PHYTO", holder, ("0805",), Decimal(left), Decimal(0), date(2025, 1, 1), until)


def test_required_types_dedupes_prefixes() -> None:
    assert required_types("020130", RULES) == ["VET"]
    assert required_types("847130", RULES) == []


def test_missing() -> None:
    _, reasons = evaluate([oranges()], "1234567890", RULES, [], TODAY)
    assert [(r.path, r.code, r.permit_type) for r in reasons] == [("items/0", ErrorCode.PERMIT_MISSING, "PHYTO")]


def test_wrong_holder() -> None:
    _, reasons = evaluate([oranges()], "1234567890", RULES, [phyto(holder="9999999999")], TODAY)
    assert [r.code for r in reasons] == [ErrorCode.PERMIT_WRONG_HOLDER]


def test_expired() -> None:
    _, reasons = evaluate([oranges()], "1234567890", RULES, [phyto(until=date(2025, 5, 31))], TODAY)
    assert [r.code for r in reasons] == [ErrorCode.PERMIT_EXPIRED]


def test_exhausted_counts_earlier_items_of_the_same_declaration() -> None:
    allocations, reasons = evaluate([oranges("3000", 1)], "1234567890", RULES, [phyto(left="5000")], TODAY)
    assert not reasons and allocations[0].quantity_kg == Decimal(3000)
    items = [oranges("3000", 1), oranges("3000", 2)]
    _, reasons = evaluate(items, "1234567890", RULES, [phyto(left="5000")], TODAY)
    assert [(r.path, r.code) for r in reasons] == [("items/1", ErrorCode.PERMIT_EXHAUSTED)]


def test_prefers_the_permit_that_expires_first() -> None:
    permits = [phyto(1, until=date(2025, 12, 31)), phyto(2, until=date(2025, 7, 1))]
    allocations, _ = evaluate([oranges()], "1234567890", RULES, permits, TODAY)
    assert [a.permit_id for a in allocations] == [2]
