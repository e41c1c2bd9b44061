"""A declarant in a real Chromium lodges a declaration: every control error is shown at its field
in the page's language; fixed, the declaration is accepted and listed with its state."""

from __future__ import annotations

import psycopg
from playwright.async_api import Browser, expect

from tests.browser import login, path_is
from tests.login import PASSWORD, ensure_user
from tests.screens.conftest import docs_screenshot

TIN = "1234567890"


def error_at(path: str) -> str:
    return f'[data-path="{path}"] ~ .sw-field-error'


async def test_a_declarant_lodges_fixes_the_errors_and_is_accepted(
    migrated_db: str, base_url: str, chromium: Browser
) -> None:
    ensure_user(migrated_db, "decl", "declarant", tin=TIN)
    context = await chromium.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await login(page, base_url, "decl", PASSWORD)
    await page.wait_for_url(path_is("/declarant"))
    await expect(page.locator("#my-list tbody")).to_contain_text("Вы ещё не подали ни одной декларации.")
    await page.click("#my-new")
    await page.wait_for_url(path_is("/declarant/new"))
    await expect(page.locator('[data-path="declarant/tin"]')).to_have_value(TIN)
    await page.wait_for_function("() => document.querySelectorAll('.lf-office option').length > 4")

    # First attempt: a bad carrier TIN, a bad plate, net mass over gross, a short HS code, an unknown country.
    await page.fill('[data-path="lrn"]', "WEB-1")
    await page.fill('[data-path="declarant/name"]', "Absheron Trading LLC")
    await page.fill('[data-path="carrier/name"]', "Anadolu Nakliyat A.S.")
    await page.fill('[data-path="carrier/tin"]', "x")
    await page.fill('[data-path="vehicle_plate"]', "!!")
    await page.fill('[data-path="origin_country"]', "XX")
    await page.select_option('[data-path="office_of_departure"]', "AZRBR")
    await page.select_option('[data-path="office_of_destination"]', "AZBAK")
    await page.select_option('[data-path="itinerary/route_code"]', "RBR-BAK")
    await page.fill('[data-path="items/0/hs_code"]', "84")
    await page.fill('[data-path="items/0/description"]', "Portable laptop computers")
    await page.fill('[data-path="items/0/gross_mass_kg"]', "1000")
    await page.fill('[data-path="items/0/net_mass_kg"]', "1100")
    await page.fill('[data-path="items/0/value"]', "198000")
    await page.fill('[data-path="items/0/currency"]', "USD")
    await page.fill('[data-path="items/0/packages"]', "55")
    await page.click("#lodge-submit")
    expected = {
        "carrier/tin": "tin_format",
        "vehicle_plate": "plate_format",
        "origin_country": "unknown_country",
        "items/0/hs_code": "hs_code_format",
        "items/0/net_mass_kg": "net_exceeds_gross",
    }
    for path, code in expected.items():
        await expect(page.locator(f"{error_at(path)} [data-code={code}]")).to_be_visible()
    await expect(page.locator(error_at("items/0/net_mass_kg"))).to_have_text("Масса нетто больше массы брутто.")
    await expect(page.locator('[data-path="carrier/tin"]')).to_have_class("sw-invalid")
    await expect(page.locator('[data-path="declarant/name"]')).not_to_have_class("sw-invalid")
    await docs_screenshot(page, "screens-declarant.png", full_page=True)
    with psycopg.connect(migrated_db) as conn:
        assert conn.execute("SELECT count(*) FROM declarations").fetchone() == (0,)

    # Fixed: accepted, and listed.
    await page.fill('[data-path="carrier/tin"]', "TR8450012345")
    await page.fill('[data-path="vehicle_plate"]', "34 ABC 123")
    await page.fill('[data-path="origin_country"]', "TR")
    await page.fill('[data-path="items/0/hs_code"]', "847130")
    await page.fill('[data-path="items/0/net_mass_kg"]', "900")
    await page.click("#lodge-submit")
    await page.wait_for_url(path_is("/declarant"))
    row = page.locator("#my-list tbody tr[data-declaration-id]")
    await expect(row).to_have_count(1)
    await expect(row).to_have_attribute("data-status", "accepted")
    await expect(row.locator(".sw-badge")).to_have_text("принята")
    with psycopg.connect(migrated_db) as conn:
        assert conn.execute("SELECT declarant_tin, status, lrn FROM declarations").fetchall() == [
            (TIN, "accepted", "WEB-1")
        ]
    assert errors == []
    await context.close()
