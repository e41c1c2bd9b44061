"""The playback page in a real Chromium, on a transit with alerts and observations: no script error,
the replay controls and the alert markers are there (folium's popups once needed jQuery, which is
not served, and the page died at the first marker)."""

from __future__ import annotations

import psycopg
from playwright.async_api import Page

from api.app import create_app
from sealwatch.config import Settings
from tests.browser import login
from tests.helpers import serve_app
from tests.history.conftest import SimDay
from tests.login import PASSWORD, ensure_user


async def test_playback_runs_on_a_transit_with_alerts_and_observations(day: SimDay, page: Page) -> None:
    sim = day.transits[0]
    with psycopg.connect(day.url) as conn:
        f = sim.fixes[120]
        conn.execute(
            "INSERT INTO observations (seal_id, transit_id, kind, t, lat, lon)"
            " VALUES (%s, %s, 'stop_start', %s, %s, %s)",
            (sim.seal_id, sim.transit_id, f.t, f.lat, f.lon),
        )
        conn.execute(
            """INSERT INTO alerts (type, severity, transit_id, seal_id, lat, lon, first_t, last_t, raised_at,
                                  updated_at)
               VALUES ('unauthorized_stop', 'warning', %s, %s, %s, %s, %s, %s, now(), now())""",
            (sim.transit_id, sim.seal_id, f.lat, f.lon, f.t, f.t),
        )
    ensure_user(day.url, "auditor", "auditor")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    with serve_app(create_app(Settings(database_url=day.url, mqtt_url=None))) as base:
        await login(page, base, "auditor", PASSWORD, next_path=f"/transits/{sim.transit_id}/playback")
        await page.wait_for_selector(".timecontrol-play", timeout=20_000)
        assert errors == []
        assert await page.locator(".leaflet-marker-icon").count() >= 1
