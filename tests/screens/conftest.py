"""Shared by the workspace browser tests: the app served for real, and screenshots for docs/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, ViewportSize

from api.app import create_app
from sealwatch.config import Settings
from tests.helpers import serve_app

DOCS = Path(__file__).resolve().parents[2] / "docs"
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
def base_url(migrated_db: str) -> Iterator[str]:
    """The API and pages over the test's database, on a real server (browsers need one)."""
    with serve_app(create_app(Settings(database_url=migrated_db, mqtt_url=None))) as url:
        yield url


async def docs_screenshot(page: Page, name: str, *, full_page: bool = False) -> bytes:
    """A screenshot of the page; written to docs/<name> when SEALWATCH_UPDATE_SCREENSHOT is set."""
    data = await page.screenshot(full_page=full_page)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("SEALWATCH_UPDATE_SCREENSHOT"):
        (DOCS / name).write_bytes(data)
    return data
