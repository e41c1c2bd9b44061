"""The customs officer in a real Chromium: the queue, a declaration's control results, risk with the
rules that fired, release with seals chosen from the inventory over the previewed corridor, the
transit on the console, arrival and closing."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import psycopg
from playwright.async_api import Browser, expect
from psycopg.rows import dict_row

from sealwatch.fixes import FixRecord
from store.fixes import FixWriter
from tests.browser import login, path_is
from tests.customs.bodies import flow_body, valid_body
from tests.login import PASSWORD, auth, ensure_user
from tests.screens.conftest import docs_screenshot


def lodge(base_url: str, url: str) -> tuple[int, int]:
    """One declaration that passes (laptops, T-shirts) and one held for a missing permit (oranges)."""
    declarant = auth(url, "decl", "declarant", tin="1234567890")
    officer = auth(url, "off", "officer")
    with httpx.Client(base_url=base_url, headers=declarant) as client:
        ok = client.post("/api/declarations", json=valid_body(lrn="LAPTOPS-7"))
        held = client.post("/api/declarations", json=flow_body(lrn="ORANGES-3"))
    assert ok.status_code == held.status_code == 201, (ok.text, held.text)
    with httpx.Client(base_url=base_url, headers=officer) as client:
        for seal, battery in (("AZS-70001", 95), ("AZS-70002", 70), ("AZS-70003", 12)):
            assert client.post("/api/seal-inventory", json={"seal_id": seal, "battery_pct": battery}).status_code == 201
    return ok.json()["id"], held.json()["id"]


async def test_officer_works_a_declaration_from_the_queue_to_release(
    migrated_db: str, base_url: str, chromium: Browser
) -> None:
    accepted, held = lodge(base_url, migrated_db)
    ensure_user(migrated_db, "off", "officer")
    context = await chromium.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await login(page, base_url, "off", PASSWORD)
    await page.wait_for_url(path_is("/officer"))
    rows = page.locator("#q-results tbody tr[data-declaration-id]")
    await expect(rows).to_have_count(2)
    await expect(page.locator("#q-total")).to_have_text("2 declarations")
    await expect(rows.nth(1)).to_contain_text("1 to resolve")
    await docs_screenshot(page, "screens-officer.png")

    # The held one: its control results name the item and what is missing.
    await page.locator(f'tr[data-declaration-id="{held}"] a').click()
    await page.wait_for_url(path_is(f"/officer/declarations/{held}"))
    hold = page.locator('#d-control-list li[data-code="permit_missing"]')
    await expect(hold).to_contain_text("items/1")
    await expect(hold).to_contain_text("A permit is required for these goods.")
    await expect(page.locator('[data-action="recheck"]')).to_be_visible()
    await expect(page.locator("#d-release")).to_be_hidden()

    await page.goto(f"{base_url}/officer")
    await page.fill("input[name=q]", "LAPTOPS")
    await page.click("#q-filters button[type=submit]")
    await expect(rows).to_have_count(1)
    await rows.first.locator("a").click()
    await page.wait_for_url(path_is(f"/officer/declarations/{accepted}"))
    await expect(page.locator("#d-control-list li.ok").first).to_have_text("Format and logical control passed.")
    await page.click('[data-action="risk"]')
    rules = page.locator("#d-rules tbody tr")
    await expect(rules.first).to_be_visible()
    assert await rules.count() >= 1
    with psycopg.connect(migrated_db) as conn:  # the channel may be a random selection: the page shows the stored one
        channel = conn.execute("SELECT channel FROM risk_assessments WHERE declaration_id = %s", (accepted,)).fetchone()
    assert channel is not None
    await expect(page.locator("#d-risk-body .sw-badge")).to_have_attribute("data-value", channel[0])
    # Release: the corridor on the map, the deadline, the seals the inventory offers (not the flat one).
    await expect(page.locator("#d-preview")).to_contain_text("14 h")
    await expect(page.locator("#d-map path.leaflet-interactive").first).to_be_visible()
    seals = page.locator("#d-seals input[name=seal]")
    await expect(seals).to_have_count(2)
    await expect(page.locator('#d-seals input[value="AZS-70001"]')).to_be_checked()
    await page.check("#d-monitor")  # whatever the channel decided, this one goes under e-seal
    await page.uncheck('#d-seals input[value="AZS-70001"]')
    await page.check('#d-seals input[value="AZS-70002"]')
    await docs_screenshot(page, "screens-declaration.png", full_page=True)
    await page.click("#d-release-button")
    await expect(page.locator("#d-notice")).to_contain_text("Released: transit")
    await expect(page.locator("#d-transit-facts")).to_contain_text("AZS-70002")
    with psycopg.connect(migrated_db, row_factory=dict_row) as conn:
        transit = conn.execute(
            "SELECT transit_id, seal_id FROM transits WHERE declaration_id = %s", (accepted,)
        ).fetchone()
        assert transit is not None and transit["seal_id"] == "AZS-70002"
        now = datetime.now(UTC)  # the seal reports from the truck
        FixWriter(conn).write(
            [FixRecord("AZS-70002", 1, now, 41.33, 45.08, 20.0, 90.0, 9, 0.9, 70.0, "closed", now)], []
        )
        conn.commit()
    # On the console, the officer sees the transit's seal.
    await page.click("#d-console")
    await page.wait_for_url(path_is("/"))
    # The live map draws a marker per reporting seal; a console that lists units names the seal.
    await page.wait_for_function(
        "() => document.querySelectorAll('.seal-marker').length === 1 || document.body.innerText.includes('AZS-70002')",
        timeout=20_000,
    )
    await page.go_back()
    await page.click('[data-action="arrive"]')
    await page.click('[data-action="close"]')
    await expect(page.locator("#d-status .sw-badge")).to_have_attribute("data-value", "closed")
    history = page.locator("#d-history li")
    await expect(history).to_have_count(5)  # submitted, accepted, released, arrived, closed
    assert errors == []
    await context.close()
