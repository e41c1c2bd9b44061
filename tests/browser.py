"""Headless Chromium driven over the DevTools protocol (a raw websocket, no extra driver), able to
log in through the real login form like an operator would."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from launcher.servers import free_port

CHROMIUM = shutil.which("chromium")


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
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
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

    async def login(self, base_url: str, name: str, password: str, next_path: str = "/") -> None:
        """Log in through the form at /login (the session cookie is set by the server), then land on next_path."""
        await self.call("Page.navigate", url=f"{base_url}/login?next={next_path}")
        await self.wait_for("!!document.getElementById('sealwatch-login')", True)
        await self.js(
            f"document.getElementById('username').value = {json.dumps(name)};"
            f"document.getElementById('password').value = {json.dumps(password)};"
            "document.getElementById('sealwatch-login').submit();"
        )
        await self.wait_for(f"location.pathname === {json.dumps(next_path)} && document.readyState", "complete")

    async def screenshot(self, width: int, height: int) -> bytes:
        await self.call(
            "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False
        )
        shot = await self.call("Page.captureScreenshot", format="png")
        return base64.b64decode(shot["data"])
