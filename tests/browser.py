"""Browser tests: Playwright (from PyPI) driving the system Chromium, as pytest fixtures.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (or
``SEALWATCH_CHROMIUM``) through ``executable_path``. Where that browser is missing the browser
tests are skipped with the reason shown, except when ``SEALWATCH_REQUIRE_BROWSER=1`` (``./dev
test`` sets it, so CI fails instead of passing without having run them).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

CHROMIUM = os.environ.get("SEALWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REQUIRE_ENV = "SEALWATCH_REQUIRE_BROWSER"


def chromium_available() -> bool:
    return Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)


def require_chromium() -> None:
    """Skip (locally) or fail (under ``./dev test``) when the system Chromium is missing."""
    if chromium_available():
        return
    reason = f"Chromium not found at {CHROMIUM} (install the Debian package chromium, or set SEALWATCH_CHROMIUM)"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}; {REQUIRE_ENV}=1 requires the browser tests to run", pytrace=False)
    pytest.skip(reason)


async def launch(playwright: Any) -> Browser:
    browser: Browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    return browser


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """One system Chromium for the test session."""
    require_chromium()
    async with async_playwright() as p:
        browser = await launch(p)
        yield browser
        await browser.close()


@pytest.fixture
async def context(chromium: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile (cookies, storage) per test, in English unless a test says otherwise."""
    ctx = await chromium.new_context(locale="en-US", viewport={"width": 1400, "height": 900})
    yield ctx
    await ctx.close()


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    p = await context.new_page()
    yield p
    await p.close()


async def login(page: Page, base_url: str, name: str, password: str, next_path: str | None = None) -> None:
    """Log in through the form at /login as a person would; waits for the page it lands on."""
    url = f"{base_url}/login" + (f"?next={next_path}" if next_path else "")
    await page.goto(url)
    await page.fill("#username", name)
    await page.fill("#password", password)
    async with page.expect_navigation():
        await page.click("#sealwatch-login button[type=submit]")
    await page.wait_for_load_state("load")


def path_is(path: str) -> re.Pattern[str]:
    """A URL pattern for ``page.wait_for_url``: this path, any query."""
    return re.compile(r"^https?://[^/]+" + re.escape(path) + r"(\?.*)?$")
