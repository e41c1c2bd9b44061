"""The mobile group's workspace on a phone (390×844) in a real Chromium: a dispatched alert with
plate, carrier, type in words, place and age; the group's position from the phone; acknowledge,
on scene while offline (sent once when the connection returns), resolve with an answer lost on the
way (sent again, done once); the page installable as a web app."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import psycopg
from playwright.async_api import Browser, Route, expect
from psycopg.rows import dict_row

from alerts import lifecycle
from alerts.service import AlertService
from alerts.settings import AlertSettings
from maps.vocabulary import words
from sealwatch.fixes import FixRecord
from store.fixes import FixWriter
from tests.alerts.conftest import fix, insert_transit, rows
from tests.browser import login, path_is
from tests.helpers import wait_until
from tests.login import PASSWORD, ensure_user
from tests.screens.conftest import PHONE, docs_screenshot

SHAMKIR_EAST = (40.84, 46.15)
OFFICER_AT = (40.80, 46.10)  # the phone, a few km south-west of the truck


async def dispatched(url: str) -> int:
    tr = insert_transit(url, 1, carrier=("Anadolu Nakliyat A.S.", "TR8450012345"))
    async with AlertService(url, AlertSettings(), None) as service:
        await service.on_batch([fix(tr.seal_id, 10, lat=SHAMKIR_EAST[0], lon=SHAMKIR_EAST[1], state="opened")], [])
    now = datetime.now(UTC)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        FixWriter(conn).write(
            [FixRecord(tr.seal_id, 99, now, 40.85, 46.20, 35.0, 90.0, 9, 0.9, 80.0, "opened", now)], []
        )
        conn.execute("INSERT INTO mobile_groups VALUES ('G1', 'Ganja mobile group 1', 40.70, 46.30, true, %s)", (now,))
    [alert] = rows(url, "SELECT id FROM alerts")
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await lifecycle.dispatch(conn, alert["id"], "operator", AlertSettings(), group_id="G1", words=words)
    return int(alert["id"])


def steps(url: str, alert_id: int) -> list[str]:
    return [r["kind"] for r in rows(url, "SELECT kind FROM alert_events WHERE alert_id = %s ORDER BY id", alert_id)]


async def test_the_group_works_a_dispatch_on_its_phone(migrated_db: str, base_url: str, chromium: Browser) -> None:
    alert_id = await dispatched(migrated_db)
    ensure_user(migrated_db, "mg-1", "mobile_group", group_id="G1")
    context = await chromium.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        locale="en-US",
        permissions=["geolocation"],
        geolocation={"latitude": OFFICER_AT[0], "longitude": OFFICER_AT[1], "accuracy": 12},
        service_workers="block",  # routes below must see the page's own requests
    )
    # Vibration calls are recorded (a headless browser has no motor to feel).
    await context.add_init_script("window.__buzz = []; navigator.vibrate = p => (window.__buzz.push(p), true);")
    page = await context.new_page()
    await login(page, base_url, "mg-1", PASSWORD)
    await page.wait_for_url(path_is("/group"))
    card = page.locator(f'.mg-card[data-alert-id="{alert_id}"]')
    await expect(page.locator("#mg-notice")).to_have_text("New dispatch: Seal opened, 10-AA-100")
    assert await page.evaluate("window.__buzz.length") == 1
    await page.reload()  # the same dispatch does not buzz again
    await expect(card.locator(".mg-plate")).to_have_text("10-AA-100")
    await page.wait_for_load_state("networkidle")  # the dispatches were fetched again
    assert await page.evaluate("window.__buzz.length") == 0
    await expect(card.locator(".mg-plate")).to_have_text("10-AA-100")
    await expect(card.locator(".mg-type")).to_have_text("Seal opened")
    await expect(card.locator(".mg-carrier")).to_have_text("Anadolu Nakliyat A.S.")
    await expect(card.locator(".mg-place")).to_have_text("11.1 km east of Shamkir")
    await expect(card.locator(".mg-age")).to_have_text(re.compile(r"^(5\d min|1 h \d\d min)$"))  # about an hour ago
    navigate = await card.locator(".mg-nav").get_attribute("href")
    assert navigate == "geo:40.850000,46.200000?q=40.850000,46.200000(10-AA-100)"

    # On duty: the phone's position is the group's, and the truck is placed relative to it.
    await page.check("#mg-duty")
    await expect(card.locator(".mg-truck")).to_contain_text("km north-east from you")
    await expect(page.locator("#mg-me")).to_contain_text("±12 m")
    position = "SELECT lat, lon, available FROM mobile_groups WHERE group_id = 'G1'"
    await wait_until(
        lambda: rows(migrated_db, position) == [{"lat": OFFICER_AT[0], "lon": OFFICER_AT[1], "available": True}],
        within=10,
        what="the phone's position stored as the group's",
    )

    await card.locator('[data-step="acknowledge"]').click()
    await expect(card.locator('[data-step="acknowledge"]')).to_have_count(0)
    assert steps(migrated_db, alert_id) == ["raised", "dispatched", "acknowledged"]

    # No connection: the step waits on the phone, and goes out once when the connection is back.
    await context.set_offline(True)
    await card.locator('[data-step="on_scene"]').click()
    await expect(page.locator("#mg-queue")).to_have_text("Waiting to send: 1")
    await expect(page.locator("#mg-net")).to_have_text("Offline")
    await docs_screenshot(page, "screens-group.png")
    assert "on_scene" not in steps(migrated_db, alert_id)
    await context.set_offline(False)
    await expect(page.locator("#mg-queue")).to_be_hidden(timeout=15_000)
    await expect(page.locator("#mg-net")).to_have_text("Online")
    assert steps(migrated_db, alert_id) == ["raised", "dispatched", "acknowledged", "on_scene"]

    # The resolve reaches the server but its answer is lost: the phone sends it again, it happens once.
    lost: list[int] = []

    async def lose_first_answer(route: Route) -> None:
        if not lost:
            response = await route.fetch()
            lost.append(response.status)
            await route.abort("connectionreset")
        else:
            await route.continue_()

    await page.route(f"**/api/alerts/{alert_id}/resolve", lose_first_answer)
    await card.locator('[data-step="resolve"]').click()
    await card.locator("select[name=outcome]").select_option("violation_confirmed")
    await card.locator("textarea[name=comment]").fill("seal cut, goods checked against the declaration")
    await card.locator(".mg-resolve button[type=submit]").click()
    await expect(card).to_have_class("mg-card critical resolved", timeout=20_000)
    await expect(page.locator("#mg-queue")).to_be_hidden()
    assert lost == [200]
    assert steps(migrated_db, alert_id) == ["raised", "dispatched", "acknowledged", "on_scene", "resolved"]
    [row] = rows(migrated_db, "SELECT status, outcome, resolved_by, comment FROM alerts WHERE id = %s", alert_id)
    assert row == {
        "status": "resolved",
        "outcome": "violation_confirmed",
        "resolved_by": "mg-1",
        "comment": "seal cut, goods checked against the declaration",
    }
    await context.close()


async def test_the_page_installs_as_a_web_app_and_opens_offline(
    migrated_db: str, base_url: str, chromium: Browser
) -> None:
    ensure_user(migrated_db, "mg-1", "mobile_group", group_id="G1")
    context = await chromium.new_context(viewport=PHONE, is_mobile=True, locale="ru-RU")
    page = await context.new_page()
    await login(page, base_url, "mg-1", PASSWORD)
    await page.wait_for_url(path_is("/group"))
    manifest_url = await page.locator("link[rel=manifest]").get_attribute("href")
    manifest = json.loads(await page.evaluate("url => fetch(url).then(r => r.text())", manifest_url))
    assert manifest["start_url"] == "/group" and manifest["display"] == "standalone"
    assert manifest["name"] == "sealwatch мобильная группа"
    for icon in manifest["icons"]:
        assert await page.evaluate("url => fetch(url).then(r => r.status)", icon["src"]) == 200
    scope = await page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
    assert scope.endswith("/group")
    await page.reload()
    await page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    await context.set_offline(True)
    await page.reload()
    await expect(page.locator("#mg-net")).to_have_text("Нет связи")
    await expect(page.locator(".sw-page-title")).to_have_text("Вызовы")
    await context.close()
