"""The console's live map in a real headless Chromium: every seal listed and drawn with its state.

The API runs for real (uvicorn on a free port) against a migrated database holding seven seals;
Chromium logs in through the login form as an operator (the session cookie then authenticates
the page's own requests), loads the page, which must work with no internet, and polls /api/seals.
Set SEALWATCH_UPDATE_SCREENSHOT=1 to refresh docs/live-map.png from this test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from playwright.async_api import Page
from psycopg.rows import dict_row

from api.app import create_app
from sealwatch.config import Settings
from sealwatch.fixes import FixRecord
from sealwatch.geography import offices
from store.fixes import FixWriter
from tests.browser import login, path_is
from tests.helpers import serve_app
from tests.login import PASSWORD, ensure_user
from tests.screens.console_seed import seed_fleet

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "live-map.png"

NOW = datetime.now(UTC).replace(microsecond=0)


def fix(seal: str, lat: float, lon: float, minutes_ago: float, speed: float | None, battery: float, state: str):
    t = NOW - timedelta(minutes=minutes_ago)
    return FixRecord(seal, 1, t, lat, lon, speed, 90.0, 9, 0.9, battery, state, datetime.now(UTC))


# Seven seals spread along the corridors, with the status each must show.
SEALS = [
    ("moving", fix("AZS-000101", 40.83, 46.02, 1, 72.0, 91.0, "closed")),  # Shamkir, M2
    ("moving", fix("AZS-000102", 41.08, 49.11, 2, 64.0, 77.0, "closed")),  # Siyazan, M1
    ("stopped", fix("AZS-000103", 40.04, 48.94, 1, 0.0, 66.0, "closed")),  # Hajigabul
    ("opened", fix("AZS-000104", 39.60, 48.98, 3, 0.0, 55.0, "opened")),  # Salyan
    ("tampered", fix("AZS-000105", 41.63, 46.64, 1, 40.0, 80.0, "tampered")),  # Zaqatala
    ("low_battery", fix("AZS-000106", 40.35, 48.16, 1, 55.0, 9.0, "closed")),  # Kurdamir
    ("silent", fix("AZS-000107", 38.75, 48.85, 240, 50.0, 70.0, "closed")),  # Lankaran, silent 4 h
]


@pytest.fixture
def live_url(migrated_db: str) -> Iterator[str]:
    # Each seal on a monitored transit (the console shows units, not loose seals).
    units = seed_fleet(migrated_db, len(SEALS), first=101, fixes=False)
    with psycopg.connect(migrated_db, row_factory=dict_row) as conn:
        FixWriter(conn).write([f._replace(seal_id=u.seal_id) for u, (_, f) in zip(units, SEALS, strict=True)], [])
    with serve_app(create_app(Settings(database_url=migrated_db, mqtt_url=None))) as url:
        yield url + "/"


async def _wait_for_map(page: Page) -> None:
    await page.wait_for_function("() => document.getElementById('sw-map-area').dataset.ready === '1'", timeout=40_000)
    await page.wait_for_function(
        f"() => document.querySelectorAll('.place-label').length === {len(offices())}", timeout=40_000
    )
    await page.wait_for_function("() => document.querySelector('[data-state-count=moving]').textContent === '2'")


async def test_browser_shows_every_seal_with_its_status(live_url: str, migrated_db: str, page: Page) -> None:
    ensure_user(migrated_db, "operator", "operator")
    base = live_url.rstrip("/")
    # No session: the console sends the browser to the login form.
    await page.goto(live_url)
    await page.wait_for_url(path_is("/login"))
    await login(page, base, "operator", PASSWORD)
    assert page.url == live_url
    await _wait_for_map(page)
    # Every seal is a row of the list, with its state; the most severe first.
    rows = await page.eval_on_selector_all(
        "#cx-list .cx-row:not([hidden])", "rs => rs.map(r => [r.dataset.sealId, r.dataset.state])"
    )
    assert sorted(map(tuple, rows)) == sorted((f"AZS-{int(f.seal_id[4:]):07d}", status) for status, f in SEALS)
    assert [s for _, s in rows][:3] == ["tampered", "opened", "silent"]
    # Drawn on the canvas: all seven (none hidden under another), the troubled ones in their own pane.
    drawn = await page.evaluate("SWConsoleMap.drawn()")
    assert drawn["units"] == 7 and drawn["trouble"] >= 1
    # The legend counts come from the same live data.
    counts = await page.eval_on_selector_all(
        "[data-state-count]", "ns => Object.fromEntries(ns.map(n => [n.dataset.stateCount, n.textContent]))"
    )
    assert {s: int(n) for s, n in counts.items() if int(n)} == {
        "tampered": 1,
        "opened": 1,
        "silent": 1,
        "low_battery": 1,
        "stopped": 1,
        "moving": 2,
    }
    # The vector basemap drew a labelled marker for every customs office and border checkpoint.
    assert await page.locator(".place-label").count() == len(offices())
    data = await page.screenshot()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 1400 and int.from_bytes(data[20:24], "big") == 900
    if os.environ.get("SEALWATCH_UPDATE_SCREENSHOT"):
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        DOCS_SCREENSHOT.write_bytes(data)


async def test_a_wrong_password_stays_on_the_login_form(live_url: str, migrated_db: str, page: Page) -> None:
    ensure_user(migrated_db, "operator", "operator")
    base = live_url.rstrip("/")
    await page.goto(f"{base}/login")
    await page.fill("#username", "operator")
    await page.fill("#password", "not the password")
    await page.click("#sealwatch-login button[type=submit]")
    await page.wait_for_selector(".sw-error")
    assert page.url.endswith("/login")
    # No session cookie was set: the API still refuses the browser.
    status = await page.evaluate("fetch('/api/seals').then(r => r.status)")
    assert status == 401
