"""The alerts panel and markers on the live map: rendered offline, and live in a real headless Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from alerts.service import AlertService
from maps.alerts_layer import add_alerts_layer
from maps.live import render_live_map
from sealwatch.config import Settings
from sealwatch.services import free_port
from tests.alerts.conftest import fix, insert_transit, obs, rows
from tests.alerts.test_live import api_url  # noqa: F401  # the uvicorn fixture

CHROMIUM = shutil.which("chromium")


def test_page_includes_the_alerts_layer_and_stays_offline() -> None:
    html = render_live_map(Settings(), layers=(add_alerts_layer,))  # raises if any asset is remote
    assert '/static/alerts.js"' in html and '/static/alerts.css"' in html
    assert 'id="sealwatch-alerts-list"' in html and "SealwatchAlerts.start(" in html
    assert "Alerts (live)" in html


class Chromium:
    """Headless Chromium driven over the DevTools protocol (a raw websocket, no extra driver)."""

    def __init__(self, ws: Any) -> None:
        self.ws, self.next_id = ws, 0

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls) -> AsyncIterator[Chromium]:
        websockets = pytest.importorskip("websockets")
        assert CHROMIUM is not None
        port = free_port()
        profile = tempfile.mkdtemp(prefix="sw-chromium-")
        proc = await asyncio.create_subprocess_exec(
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            f"--remote-debugging-port={port}",
            f"--user-data-dir={profile}",
            "about:blank",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            target = None
            async with httpx.AsyncClient() as http:
                for _ in range(200):
                    with contextlib.suppress(httpx.HTTPError):
                        pages = (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
                        target = next((p for p in pages if p["type"] == "page"), None)
                        if target:
                            break
                    await asyncio.sleep(0.1)
            assert target is not None, "chromium did not expose a page"
            async with websockets.connect(target["webSocketDebuggerUrl"], max_size=None) as ws:
                yield cls(ws)
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 10)
            shutil.rmtree(profile, ignore_errors=True)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.ws.send(orjson.dumps({"id": self.next_id, "method": method, "params": params}).decode())
        while True:
            reply = orjson.loads(await self.ws.recv())
            if reply.get("id") == self.next_id:
                assert "error" not in reply, reply
                result: dict[str, Any] = reply["result"]
                return result

    async def js(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def wait_for(self, expression: str, expected: Any, within: float = 20.0) -> None:
        deadline = time.monotonic() + within
        value = None
        while time.monotonic() < deadline:
            value = await self.js(expression)
            if value == expected:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"{expression} = {value!r}, expected {expected!r}")


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
    async with Chromium.start() as browser:
        await browser.call("Page.navigate", url=api_url + "/")
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
