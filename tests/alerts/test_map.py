"""The alerts panel and markers on the live map: rendered offline, and live in a real headless Chromium."""

from __future__ import annotations

import pytest

from alerts.service import AlertService
from maps.alerts_layer import add_alerts_layer
from maps.live import render_live_map
from sealwatch.config import Settings
from tests.alerts.conftest import fix, insert_transit, obs, rows
from tests.alerts.test_live import api_url  # noqa: F401  # the uvicorn fixture
from tests.browser import CHROMIUM, Chromium
from tests.login import PASSWORD, ensure_user


def test_page_includes_the_alerts_layer_and_stays_offline() -> None:
    html = render_live_map(Settings(), layers=(add_alerts_layer,))  # raises if any asset is remote
    assert '/static/alerts.js"' in html and '/static/alerts.css"' in html
    assert 'id="sealwatch-alerts-list"' in html and "SealwatchAlerts.start(" in html
    assert "Alerts (live)" in html


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
async def test_browser_panel_is_live_and_acknowledges(
    migrated_db: str,
    api_url: str,  # noqa: F811
    service: AlertService,
) -> None:
    a = insert_transit(migrated_db, 1)
    b = insert_transit(migrated_db, 2)
    events = await service.on_batch(
        [fix(a.seal_id, 10, state="tampered"), fix(b.seal_id, 10, battery=15.0), fix(b.seal_id, 20, battery=30.0)],
        [obs(a.seal_id, a.transit_id, "corridor_exit", 10)],
    )
    assert {e.type for e in events} == {"seal_tampered", "route_deviation", "low_battery"}
    items = "document.querySelectorAll('.alert-item').length"
    ensure_user(migrated_db, "control-room", "operator")
    async with Chromium.start() as browser:
        # Without a session the map sends the browser to the login form; logged in, it is back on the map.
        await browser.call("Page.navigate", url=api_url + "/")
        await browser.wait_for("location.pathname", "/login")
        await browser.login(api_url, "control-room", PASSWORD)
        # Two open alerts listed (low_battery resolved itself), each with a marker on the map.
        await browser.wait_for(items, 2)
        assert await browser.js("document.querySelectorAll('path.alert-marker').length") == 2
        assert await browser.js("document.querySelectorAll('.alert-type-seal_tampered.alert-critical').length") == 1
        # Once the page has switched from its first polls to the SSE stream, a new alert is pushed.
        status = "document.getElementById('sealwatch-alerts-status').textContent.startsWith('live')"
        await browser.wait_for(status, True, within=40)
        await service.on_batch([fix(b.seal_id, 30, state="opened")], [])
        await browser.wait_for(items, 3)
        assert await browser.js("document.getElementById('sealwatch-alerts-count').textContent") == "3"
        # The acknowledge button goes through the API and the change comes back on the stream.
        tampered = next(e.alert_id for e in events if e.type == "seal_tampered")
        await browser.js(f"document.querySelector('[data-ack=\"{tampered}\"]').click()")
        await browser.wait_for(f"document.querySelectorAll('[data-ack=\"{tampered}\"]').length", 0)
        await browser.wait_for(items, 3)  # acknowledged alerts stay listed until resolved
    [row] = rows(migrated_db, "SELECT status, acknowledged_by FROM alerts WHERE id = %s", tampered)
    assert row == {"status": "acknowledged", "acknowledged_by": "control-room"}
