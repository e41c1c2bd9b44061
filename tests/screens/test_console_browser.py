"""The operations console in a real Chromium: the unit list beside the canvas map, search and
filters, the transit card, the whole alert workflow in Azerbaijani with each step in the audit log
under the operator's name, a critical alert kept in view among 10,000 open alerts, an auditor offered
no actions, an expired session sent to the login page. Screenshots for docs/ (normal, storm, 10,000)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from psycopg.rows import dict_row

from alerts.service import AlertService
from alerts.settings import AlertSettings
from maps.i18n import gettext
from tests.alerts.conftest import fix
from tests.browser import login, path_is
from tests.login import PASSWORD, ensure_user
from tests.screens.conftest import PHONE, docs_screenshot
from tests.screens.console_seed import Unit, raise_alerts, seed_fleet, set_fix, silence

READY = "() => document.getElementById('sw-map-area').dataset.ready === '1'"


async def console_page(
    chromium: Browser, base_url: str, user: str, locale: str = "en-US", width: int = 1400
) -> tuple[BrowserContext, Page]:
    context = await chromium.new_context(locale=locale, viewport={"width": width, "height": 900})
    page = await context.new_page()
    await login(page, base_url, user, PASSWORD, next_path="/")
    await page.wait_for_url(path_is("/"))
    await page.wait_for_function(READY, timeout=60_000)
    return context, page


def rows(url: str, sql: str, *args: object) -> list[dict[str, object]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql, args).fetchall()


def groups(url: str) -> None:
    """Two mobile groups on duty: one near Yevlakh, one in Baku."""
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO mobile_groups VALUES ('G1', 'Yevlakh 1', 40.62, 47.10, true, %s),"
            " ('G2', 'Baku 2', 40.40, 49.85, true, %s)",
            (now, now),
        )


@pytest.fixture
def fleet(migrated_db: str) -> Iterator[list[Unit]]:
    units = seed_fleet(migrated_db, 60)
    yield units


async def legacy(page: Page) -> bool:
    return bool(await page.evaluate("SWUnits.store.legacy"))


async def test_operator_works_an_alert_in_azerbaijani(
    migrated_db: str, base_url: str, chromium: Browser, fleet: list[Unit]
) -> None:
    unit = next(u for u in fleet if u.route_code == "RBR-BAK")
    set_fix(migrated_db, unit, seq=5, state="opened", speed=0.0, lat=40.62, lon=47.15)
    evidence = {"from_state": "closed", "to_state": "opened", "seq": 5, "battery_pct": 88.0}
    [alert_id] = raise_alerts(migrated_db, [unit], "seal_opened", "critical", evidence=evidence)
    groups(migrated_db)
    ensure_user(migrated_db, "Aysel", "operator")
    context, page = await console_page(chromium, base_url, "Aysel", locale="az-AZ")
    if await legacy(page):
        pytest.skip("this server has no /api/console/units: the list cannot search by plate")
    assert await page.get_attribute("html", "lang") == "az"
    # The mobile groups are on the map with their state.
    await expect(page.locator(".cx-group-icon.cx-group-available")).to_have_count(2)

    # Find the seal by its plate: one row, with its state; the card tells its transit.
    await page.fill("#cx-q", unit.plate)
    row = page.locator("#cx-list .cx-row:not([hidden])")
    await expect(row).to_have_count(1)
    await expect(row.locator(".c-plate")).to_have_text(unit.plate)
    await row.click()
    card = page.locator("#cx-card")
    await expect(card.locator(".cx-card-plate")).to_have_text(unit.plate)
    await expect(card.locator(".cx-card-carrier")).to_have_text(unit.carrier)
    await expect(card.locator(".cx-history")).to_have_attribute("href", f"/auditor/transits/{unit.transit_id}")
    await expect(card.locator(".cx-playback")).to_have_attribute("href", f"/transits/{unit.transit_id}/playback")
    await card.locator(f'[data-open-alert="{alert_id}"]').click()

    alert = card.locator(f'.cx-card-alert[data-alert-id="{alert_id}"]')
    # Its evidence in words: the seal went from closed to open.
    evidence_box = alert.locator(".cx-evidence")
    await expect(evidence_box).to_contain_text(gettext("az", "Seal after"))
    await expect(evidence_box).to_contain_text(gettext("az", "seal open"))
    await expect(evidence_box).to_contain_text("88 %")
    ack = alert.locator('[data-act="acknowledge"]')
    await expect(ack).to_have_text(gettext("az", "Acknowledge"))
    await ack.click()
    await expect(alert).to_have_attribute("data-status", "acknowledged")

    # The nearest available group is suggested first, with its distance; dispatch it.
    suggested = card.locator('input[name="cx-group"]').first
    await expect(suggested).to_have_value("G1")
    assert await suggested.is_checked()
    await expect(card.locator(".cx-distance").first).to_have_text(re.compile(r"^\d+([.,]\d)?\s(m|km)\s*$"))
    await card.locator('[data-act="dispatch"]').click()
    alert = card.locator(f'.cx-card-alert[data-alert-id="{alert_id}"]')
    await expect(alert).to_have_attribute("data-status", "dispatched")

    # Resolve with an outcome and a comment.
    await card.locator("#cx-outcome").select_option("violation_confirmed")
    await card.locator("#cx-comment").fill("Plomb açılıb, yük yoxlanıldı")
    await card.locator('[data-act="resolve"]').click()
    await expect(alert).to_have_attribute("data-status", "resolved")
    steps = card.locator(".cx-step")
    await expect(steps.locator(".cx-step-actor").filter(has_text="Aysel")).to_have_count(3)
    await expect(card.locator('.cx-step[data-step="resolved"]')).to_contain_text("Plomb açılıb, yük yoxlanıldı")

    # The audit log holds each step under the operator's name (and the transit record's alert history).
    audit = rows(
        migrated_db,
        "SELECT actor, new->>'status' AS status FROM audit_log WHERE table_name = 'alerts'"
        " AND row_key = jsonb_build_object('id', %s::bigint) AND op = 'UPDATE' ORDER BY id",
        alert_id,
    )
    assert [(a["actor"], a["status"]) for a in audit][-3:] == [
        ("Aysel", "acknowledged"),
        ("Aysel", "dispatched"),
        ("Aysel", "resolved"),
    ]
    record = await page.evaluate(f"fetch('/api/history/transits/{unit.transit_id}').then(r => r.json())")
    [history] = [a for a in record["alerts"] if a["alert"]["id"] == alert_id]
    lifecycle = [(e["kind"], e["actor"]) for e in history["lifecycle"]]
    assert [s for s in lifecycle if s[0] in {"acknowledged", "dispatched", "resolved"}] == [
        ("acknowledged", "Aysel"),
        ("dispatched", "Aysel"),
        ("resolved", "Aysel"),
    ]
    [stored] = rows(migrated_db, "SELECT group_id, outcome, comment FROM alerts WHERE id = %s", alert_id)
    assert stored == {"group_id": "G1", "outcome": "violation_confirmed", "comment": "Plomb açılıb, yük yoxlanıldı"}
    await context.close()


async def test_the_list_filters_and_the_legend_filters(
    migrated_db: str, base_url: str, chromium: Browser, fleet: list[Unit]
) -> None:
    opened, low = fleet[3], fleet[4]
    set_fix(migrated_db, opened, seq=5, state="opened", speed=0.0)
    set_fix(migrated_db, low, seq=5, battery=4.0)
    raise_alerts(migrated_db, [opened], "seal_opened", "critical", minutes_ago=3)
    ensure_user(migrated_db, "op-2", "operator")
    context, page = await console_page(chromium, base_url, "op-2")
    shown = page.locator("#cx-list .cx-row:not([hidden])")
    await expect(page.locator("#cx-units-count")).to_have_text("60")
    # The most severe first.
    await expect(shown.first).to_have_attribute("data-seal-id", opened.seal_id)
    # The legend filters the list (and the map): opened and low battery only.
    await page.click('.cx-legend-item[data-state="opened"]')
    await page.click('.cx-legend-item[data-state="low_battery"]')
    await expect(shown).to_have_count(2)
    await page.wait_for_function("() => SWConsoleMap.drawn().units === 2")
    await page.click('.cx-legend-item[data-state="opened"]')
    await expect(shown).to_have_count(1)
    await expect(shown.first).to_have_attribute("data-seal-id", low.seal_id)
    await page.click('.cx-legend-item[data-state="low_battery"]')
    await expect(page.locator("#cx-shown")).to_have_text("60 units")
    # Search by seal id: one row; clicking it selects it on the map.
    await page.fill("#cx-q", fleet[10].seal_id)
    await expect(shown).to_have_count(1)
    if not await legacy(page):
        await page.fill("#cx-q", "")
        await page.select_option("#cx-f-carrier", fleet[0].carrier)
        await expect(shown).to_have_count(len([u for u in fleet if u.carrier == fleet[0].carrier]))
        await page.select_option("#cx-f-carrier", "")
        await page.select_option("#cx-f-alert", "seal_opened")
        await expect(shown).to_have_count(1)
        await expect(shown.first).to_have_attribute("data-seal-id", opened.seal_id)
        await page.select_option("#cx-f-alert", "")
    # Selecting a unit opens its transit card and rings it on the map.
    await page.fill("#cx-q", "")
    await shown.first.click()
    await expect(page.locator("#cx-card .cx-card-unit")).to_have_attribute("data-seal-id", opened.seal_id)
    await expect(shown.first).to_have_class(re.compile(r"\bselected\b"))
    await page.wait_for_timeout(500)  # the recent track and the ring are drawn
    await docs_screenshot(page, "console-normal.png")
    await context.close()


async def test_an_auditor_is_offered_no_actions(migrated_db: str, base_url: str, chromium: Browser) -> None:
    [unit] = seed_fleet(migrated_db, 1)
    set_fix(migrated_db, unit, seq=5, state="tampered", speed=0.0)
    [alert_id] = raise_alerts(migrated_db, [unit], "seal_tampered", "critical")
    ensure_user(migrated_db, "audit-1", "auditor")
    context, page = await console_page(chromium, base_url, "audit-1")
    await page.click("#cx-tab-alerts")
    await page.click(f'#cx-alert-list [data-alert-id="{alert_id}"]')
    alert = page.locator(f'#cx-card .cx-card-alert[data-alert-id="{alert_id}"]')
    await expect(alert).to_have_attribute("data-status", "open")
    await expect(alert.locator(".cx-step, h3").first).to_be_visible()
    await expect(page.locator("#cx-card [data-act]")).to_have_count(0)
    await expect(page.locator("#cx-card .cx-actions")).to_have_count(0)
    await context.close()


async def test_an_expired_session_lands_on_the_login_page(
    migrated_db: str, base_url: str, chromium: Browser, fleet: list[Unit]
) -> None:
    ensure_user(migrated_db, "op-3", "operator")
    context, page = await console_page(chromium, base_url, "op-3")
    with psycopg.connect(migrated_db) as conn:
        conn.execute("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE name = 'op-3'")
    await page.wait_for_url(path_is("/login"), timeout=20_000)
    assert "ended=1" in page.url
    await expect(page.locator(".sw-notice")).to_be_visible()
    await context.close()


async def test_a_critical_alert_stays_in_view_among_10000_open_alerts(
    migrated_db: str, base_url: str, chromium: Browser
) -> None:
    units = seed_fleet(migrated_db, 10_000)
    # Ordinary trouble on a normal day: a few opened, deviating, stopped and low-battery seals.
    for i, state in ((7, "opened"), (1234, "tampered"), (4321, "opened")):
        set_fix(migrated_db, units[i], seq=5, state=state, speed=0.0)
    for u in units[100:130]:
        set_fix(migrated_db, u, seq=5, speed=0.0)
    for u in units[200:215]:
        set_fix(migrated_db, u, seq=5, battery=5.0)
    ensure_user(migrated_db, "op-4", "operator")
    context, page = await console_page(chromium, base_url, "op-4")
    await expect(page.locator("#cx-units-count")).to_have_text("10,000")
    await docs_screenshot(page, "console-10k.png")
    await context.close()

    # The storm: 9,990 seals silent with a signal-lost alert each, raised after one tampered seal.
    tampered = units[5000]
    set_fix(migrated_db, tampered, seq=7, state="tampered", speed=0.0)
    [critical] = raise_alerts(migrated_db, [tampered], "seal_tampered", "critical", minutes_ago=40)
    storm = [u for u in units if u is not tampered][:9_999]
    silence(migrated_db, storm, 20)
    raise_alerts(migrated_db, storm, "signal_lost", "warning", minutes_ago=15)
    context, page = await console_page(chromium, base_url, "op-4")
    if await legacy(page):
        pytest.skip("this server has no /api/console/alerts: the storm is the older panel's defect")
    await page.click("#cx-tab-alerts")
    first = page.locator("#cx-alert-list .cx-alert").first
    await expect(first).to_have_attribute("data-alert-id", str(critical))
    await expect(first).to_have_class(re.compile(r"\bsev-critical\b"))
    await expect(first.locator(".cx-alert-unit")).to_have_text(f"{tampered.plate} · {tampered.seal_id}")
    await expect(page.locator("#cx-alerts-total")).to_have_text("10,000 open alerts, 1 critical")
    chip = page.locator('#cx-alert-groups [data-type="signal_lost"]')
    await expect(chip).to_contain_text("9,999")
    await expect(page.locator("#cx-alert-list .cx-alert")).to_have_count(50)  # one page; the rest on demand
    await page.click("#cx-alerts-more")
    await expect(page.locator("#cx-alert-list .cx-alert")).to_have_count(100)
    # Narrowed to acknowledged alerts: none yet; the tab still counts every unresolved one.
    await page.select_option("#cx-alerts-state", "acknowledged")
    await expect(page.locator("#cx-alert-list .cx-alert")).to_have_count(0)
    await expect(page.locator("#cx-alerts-count")).to_have_text("10,000")
    await page.select_option("#cx-alerts-state", "all")
    await expect(page.locator("#cx-alert-list .cx-alert").first).to_have_attribute("data-alert-id", str(critical))
    # On the map the tampered seal is never under the silent crowd: its cell is drawn in its colour, on top.
    drawn = await page.evaluate("SWConsoleMap.drawn()")
    assert "tampered" in drawn["states"], drawn
    assert await page.title() == "(10,000) sealwatch · Operations console"
    await docs_screenshot(page, "console-storm.png")
    await context.close()


async def test_a_new_critical_alert_sounds_and_notifies_when_switched_on(
    migrated_db: str, base_url: str, chromium: Browser, fleet: list[Unit]
) -> None:
    ensure_user(migrated_db, "op-5", "operator")
    context = await chromium.new_context(locale="en-US", viewport={"width": 1400, "height": 900})
    # Desktop notifications are recorded (a headless browser has no desktop to show them on).
    await context.add_init_script(
        "window.__notes = []; window.Notification = function (title, o) { window.__notes.push(title); };"
        " window.Notification.permission = 'granted';"
        " window.Notification.requestPermission = () => Promise.resolve('granted');"
    )
    page = await context.new_page()
    await login(page, base_url, "op-5", PASSWORD, next_path="/")
    await page.wait_for_function(READY, timeout=60_000)
    await page.click("#cx-tab-alerts")
    await page.check("#cx-alarm")
    await page.reload()  # the switch is remembered
    await page.wait_for_function(READY, timeout=60_000)
    await page.click("#cx-tab-alerts")
    await expect(page.locator("#cx-alarm")).to_be_checked()
    stream_open = "() => SWAlerts.state.source && SWAlerts.state.source.readyState === 1"
    await page.wait_for_function(stream_open, timeout=20_000)
    async with AlertService(migrated_db, AlertSettings(), None) as service:
        await service.on_batch([fix(fleet[0].seal_id, 10, battery=15.0)], [])  # a warning: no alarm
        await service.on_batch([fix(fleet[1].seal_id, 10, state="tampered")], [])
    await page.wait_for_function("() => window.__notes.length === 1", timeout=20_000)
    assert await page.evaluate("window.__notes") == ["Critical alert: Seal tampered"]
    assert await page.evaluate("window.__swAlarms") == 1
    await expect(page.locator("#cx-alert-list .cx-alert").first).to_have_class(re.compile(r"\bsev-critical\b"))
    assert re.match(r"^\(\d+\) ", await page.title())
    await context.close()


async def test_the_console_works_on_a_phone(
    migrated_db: str, base_url: str, chromium: Browser, fleet: list[Unit]
) -> None:
    ensure_user(migrated_db, "op-6", "operator")
    context = await chromium.new_context(locale="ru-RU", viewport=PHONE, is_mobile=True, has_touch=True)
    page = await context.new_page()
    await login(page, base_url, "op-6", PASSWORD, next_path="/")
    await page.wait_for_function(READY, timeout=60_000)
    # The map above, the list below, nothing wider than the screen.
    map_box = await page.locator("#sw-map-area").bounding_box()
    list_box = await page.locator("#cx-list").bounding_box()
    assert map_box and list_box and map_box["y"] + map_box["height"] <= list_box["y"] + 1
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.fill("#cx-q", fleet[7].seal_id)
    row = page.locator("#cx-list .cx-row:not([hidden])")
    await expect(row).to_have_count(1)
    await row.tap()
    card = page.locator("#cx-card")
    await expect(card.locator(".cx-card-unit")).to_have_attribute("data-seal-id", fleet[7].seal_id)
    card_box = await card.bounding_box()
    assert card_box and card_box["width"] == PHONE["width"]
    await expect(card).to_contain_text(gettext("ru", "Last fix"))
    await page.tap("#cx-card-close")
    await expect(card).to_be_hidden()
    await context.close()


async def test_an_alert_ring_follows_the_truck(
    migrated_db: str, base_url: str, chromium: Browser, fleet: list[Unit]
) -> None:
    unit = fleet[9]
    # The alert was raised where the seal was opened; the truck has driven on since.
    set_fix(migrated_db, unit, seq=5, state="opened", speed=0.0)
    raise_alerts(migrated_db, [unit], "seal_opened", "critical")
    ensure_user(migrated_db, "op-7", "operator")
    context, page = await console_page(chromium, base_url, "op-7")
    if await legacy(page):
        pytest.skip("this server has no /api/console/units: units carry no alert severity")
    await page.wait_for_function("() => SWConsoleMap.drawn().rings.length === 1")
    moved = (unit.lat + 0.35, unit.lon + 0.4)
    set_fix(migrated_db, unit, seq=6, state="opened", speed=50.0, ago_s=1, lat=moved[0], lon=moved[1])
    await page.wait_for_function(
        f"() => SWConsoleMap.drawn().rings.some(r => r.n === 1 && Math.abs(r.lat - {moved[0]}) < 1e-4"
        f" && Math.abs(r.lon - {moved[1]}) < 1e-4 && r.sev === 'critical')",
        timeout=20_000,
    )
    [ring] = await page.evaluate("SWConsoleMap.drawn().rings")
    assert ring["sev"] == "critical" and ring["n"] == 1
    await context.close()
