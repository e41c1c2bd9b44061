"""The alerts panel and markers on the live map: rendered offline, and live in a real headless Chromium."""

from __future__ import annotations

from playwright.async_api import Page

from alerts.service import AlertService
from maps.alerts_layer import add_alerts_layer
from maps.live import render_live_map
from sealwatch.config import Settings
from tests.alerts.conftest import fix, insert_transit, obs, rows
from tests.alerts.test_live import api_url  # noqa: F401  # the uvicorn fixture
from tests.browser import login, path_is
from tests.login import PASSWORD, ensure_user


def test_page_includes_the_alerts_layer_and_stays_offline() -> None:
    html = render_live_map(Settings(), layers=(add_alerts_layer,))  # raises if any asset is remote
    assert '/static/alerts.js"' in html and '/static/alerts.css"' in html
    assert 'id="sealwatch-alerts-list"' in html and "SealwatchAlerts.start(" in html
    assert "Alerts (live)" in html


async def test_browser_panel_is_live_and_acknowledges(
    migrated_db: str,
    api_url: str,  # noqa: F811
    service: AlertService,
    page: Page,
) -> None:
    a = insert_transit(migrated_db, 1)
    b = insert_transit(migrated_db, 2)
    events = await service.on_batch(
        [fix(a.seal_id, 10, state="tampered"), fix(b.seal_id, 10, battery=15.0), fix(b.seal_id, 20, battery=30.0)],
        [obs(a.seal_id, a.transit_id, "corridor_exit", 10)],
    )
    assert {e.type for e in events} == {"seal_tampered", "route_deviation", "low_battery"}
    items = "document.querySelectorAll('#cx-alert-list .cx-alert').length"
    ensure_user(migrated_db, "control-room", "operator")
    # Without a session the console sends the browser to the login form; logged in, it is back on it.
    await page.goto(api_url + "/")
    await page.wait_for_url(path_is("/login"))
    await login(page, api_url, "control-room", PASSWORD, next_path="/")
    await page.click("#cx-tab-alerts")

    async def wait_items(n: int) -> None:
        await page.wait_for_function(f"() => {items} === {n}", timeout=40_000)

    # Two open alerts listed (low_battery resolved itself), the critical one first.
    await wait_items(2)
    first = page.locator("#cx-alert-list .cx-alert").first
    assert await first.get_attribute("class") == "cx-alert sev-critical st-open"
    # The stream is open: a new alert is pushed and the list re-read; the count shows in the tab title.
    stream_open = "() => SWAlerts.state.source && SWAlerts.state.source.readyState === 1"
    await page.wait_for_function(stream_open, timeout=20_000)
    await service.on_batch([fix(b.seal_id, 30, state="opened")], [])
    await wait_items(3)
    assert await page.text_content("#cx-alerts-count") == "3"
    assert (await page.title()).startswith("(3) ")
    # Acknowledge from the alert's card: through the API, the card and the list follow.
    tampered = next(e.alert_id for e in events if e.type == "seal_tampered")
    await page.click(f'#cx-alert-list [data-alert-id="{tampered}"]')
    await page.click('#cx-card [data-act="acknowledge"]')
    await page.wait_for_function("() => document.querySelectorAll('#cx-card [data-act=\"acknowledge\"]').length === 0")
    await page.wait_for_selector(f'#cx-alert-list [data-alert-id="{tampered}"].st-acknowledged', timeout=20_000)
    await wait_items(3)  # acknowledged alerts stay listed until resolved
    [row] = rows(migrated_db, "SELECT status, acknowledged_by FROM alerts WHERE id = %s", tampered)
    assert row == {"status": "acknowledged", "acknowledged_by": "control-room"}


async def test_browser_panel_marks_an_alert_found_late(
    migrated_db: str,
    api_url: str,  # noqa: F811
    service: AlertService,
    page: Page,
) -> None:
    from geofence.late import Rejudged
    from tests.alerts.conftest import at

    a = insert_transit(migrated_db, 1)
    b = insert_transit(migrated_db, 2)
    await service.on_batch([fix(a.seal_id, 0), fix(a.seal_id, 3000), fix(b.seal_id, 10, state="opened")], [])
    # The backlog shows the seal opened out of coverage and closed again before the live fix.
    backlog = [fix(a.seal_id, s, state="opened" if 900 <= s < 1500 else "closed") for s in range(0, 3001, 60)]
    late = Rejudged(a.seal_id, a.transit_id, at(60).timestamp(), at(0).timestamp(), backlog, [], [])
    [event] = await service.on_batch([], [], late=[late])
    assert event.alert["late"] is True
    ensure_user(migrated_db, "control-room", "operator")
    await login(page, api_url, "control-room", PASSWORD, next_path="/")
    await page.click("#cx-tab-alerts")
    await page.wait_for_function("() => document.querySelectorAll('.cx-alert').length === 2", timeout=40_000)
    badges = page.locator(f'.cx-alert[data-alert-id="{event.alert_id}"] .cx-late')
    assert await badges.count() == 1 and (await badges.text_content() or "").strip() == "found late"
    assert await page.locator(".cx-alert .cx-late").count() == 1  # the alert seen live carries none
    # Its card says when it was found, beside when it happened.
    await page.click(f'.cx-alert[data-alert-id="{event.alert_id}"]')
    await page.wait_for_selector(f'.cx-card-alert[data-alert-id="{event.alert_id}"] dt:text("found late")')
