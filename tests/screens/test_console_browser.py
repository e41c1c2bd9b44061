"""The operations console in a real Chromium: the unit list beside the canvas map, search and
filters, the transit card, the whole alert workflow in Azerbaijani with the steps in the audit
trail under the operator's name, a critical alert kept in view through an alert storm, an auditor
offered no actions, an expired session sent to the login page. Screenshots for docs/."""

from __future__ import annotations

import psycopg
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser import login, path_is
from tests.login import PASSWORD, ensure_user
from tests.screens.conftest import docs_screenshot
from tests.screens.console_seed import seed_fleet

READY = "document.getElementById('sw-map-area').dataset.ready === '1'"


async def console_page(chromium: Browser, base_url: str, user: str, locale: str = "en-US") -> tuple[BrowserContext, Page]:
    context = await chromium.new_context(locale=locale, viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    await login(page, base_url, user, PASSWORD, next_path="/")
    await page.wait_for_url(path_is("/"))
    await page.wait_for_function(READY, timeout=30_000)
    return context, page


async def test_console_lists_and_draws_every_unit(migrated_db: str, base_url: str, chromium: Browser) -> None:
    seed_fleet(migrated_db, 300)
    ensure_user(migrated_db, "op-1", "operator")
    context, page = await console_page(chromium, base_url, "op-1")
    await expect(page.locator("#cx-units-count")).to_have_text("300")
    await docs_screenshot(page, "console-normal.png")
    await context.close()
