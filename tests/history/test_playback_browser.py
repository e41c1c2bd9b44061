"""The playback page in a real Chromium, on a transit with alerts and observations: no script error,
the replay controls and the alert markers are there (folium's popups once needed jQuery, which is
not served, and the page died at the first marker)."""

from __future__ import annotations

import psycopg
import pytest

from api.app import create_app
from sealwatch.config import Settings
from tests.browser import CHROMIUM, Chromium
from tests.helpers import serve_app
from tests.history.conftest import SimDay
from tests.login import PASSWORD, ensure_user

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs it with apt)")

CATCH_ERRORS = "window.__errors = []; addEventListener('error', e => window.__errors.push(String(e.message)));"


async def test_playback_runs_on_a_transit_with_alerts_and_observations(day: SimDay) -> None:
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
    with serve_app(create_app(Settings(database_url=day.url, mqtt_url=None))) as base:
        async with Chromium.start() as chrome:
            await chrome.call("Page.enable")
            await chrome.call("Page.addScriptToEvaluateOnNewDocument", source=CATCH_ERRORS)
            await chrome.login(base, "auditor", PASSWORD, next_path=f"/transits/{sim.transit_id}/playback")
            await chrome.wait_for("!!document.querySelector('.timecontrol-play')", True)
            assert await chrome.js("window.__errors") == []
            assert await chrome.js("document.querySelectorAll('.leaflet-marker-icon').length") >= 1
