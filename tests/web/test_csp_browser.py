"""The pages work under their content security policy in a real Chromium: no violation, no error.

Chromium reports every blocked script, style, image or request as a ``securitypolicyviolation``
event and a console error; the test records both from before the first page script runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from playwright.async_api import ConsoleMessage, Page
from psycopg.rows import dict_row

from api.app import create_app
from sealwatch.config import Settings
from sealwatch.fixes import FixRecord
from store.fixes import FixWriter
from tests.browser import login
from tests.helpers import serve_app
from tests.login import PASSWORD, ensure_user

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || ''));
});
"""


@pytest.fixture
def base_url(migrated_db: str) -> Iterator[str]:
    now = datetime.now(UTC)
    seals = [
        FixRecord("AZS-CSP001", 1, now - timedelta(minutes=1), 40.83, 46.02, 70.0, 90.0, 9, 0.9, 90.0, "closed", now),
        FixRecord("AZS-CSP002", 1, now - timedelta(minutes=2), 40.04, 48.94, 0.0, 90.0, 9, 0.9, 60.0, "opened", now),
    ]
    with psycopg.connect(migrated_db, row_factory=dict_row) as conn:
        FixWriter(conn).write(seals, [])
    ensure_user(migrated_db, "operator", "operator")
    with serve_app(create_app(Settings(database_url=migrated_db, mqtt_url=None))) as url:
        yield url


def _watch(page: Page) -> list[str]:
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and "favicon.ico" not in (message.location or {}).get("url", ""):
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    return errors


async def _violations(page: Page) -> list[str]:
    found: list[str] = await page.evaluate("window.__cspViolations || []")
    return found


async def test_login_console_and_docs_load_without_csp_violations(base_url: str, page: Page) -> None:
    await page.add_init_script(RECORD_VIOLATIONS)
    errors = _watch(page)

    await page.goto(f"{base_url}/login")
    await page.wait_for_selector("#sealwatch-login")
    assert await _violations(page) == []

    await login(page, base_url, "operator", PASSWORD)
    # The console ran: its scripts executed and every unit from the API is drawn.
    await page.wait_for_function("() => document.getElementById('sw-map-area').dataset.ready === '1'", timeout=40_000)
    await page.wait_for_function("() => document.querySelectorAll('.leaflet-pane').length > 0")
    assert await _violations(page) == []

    await page.goto(f"{base_url}/docs")
    await page.wait_for_selector(".swagger-ui .info", timeout=30_000)
    assert await _violations(page) == []

    csp_errors = [e for e in errors if "Content Security Policy" in e or "Refused to" in e]
    assert csp_errors == []
    assert errors == []


WORKSPACE_PAGES = [
    "/officer",
    "/routes",
    "/routes/SAM-BAK",
    "/auditor",
    "/auditor/trs",
    "/auditor/alerts",
    "/group",
    "/declarant",
    "/declarant/new",
]


async def test_every_workspace_page_loads_without_csp_violations(base_url: str, migrated_db: str, page: Page) -> None:
    ensure_user(migrated_db, "admin", "admin")
    await page.add_init_script(RECORD_VIOLATIONS)
    errors = _watch(page)
    await login(page, base_url, "admin", PASSWORD)
    for path in WORKSPACE_PAGES:
        response = await page.goto(f"{base_url}{path}")
        assert response is not None and response.status == 200, path
        await page.wait_for_load_state("networkidle")
        assert await _violations(page) == [], path
    assert [e for e in errors if "Content Security Policy" in e or "Refused to" in e] == []
