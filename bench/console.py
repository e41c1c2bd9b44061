"""The operations console in the system Chromium, against a plain Leaflet page, at 2,000 to 100,000 seals.

Run: ``python -m bench.console [--sizes 2000,10000,100000] [--seconds 30]`` (uses DATABASE_URL's
server or the local PostgreSQL; Chromium at ``SEALWATCH_CHROMIUM`` or ``/usr/bin/chromium``).

Per size, in a scratch database: that many active seals on released transits of the shipped
routes (``bench.console_fleet``), the API in its own uvicorn process, and a writer process that
gives every seal a new fix every 30 s, spread evenly over the period (through ingest's
``FixWriter``: fixes, then seal_latest). Then, for each page in turn, a fresh Chromium profile logs
in through the form and opens:

* ``console``: the operations console at ``/`` (delta feed, canvas, clustering). Drawn is the
  ``sw-console-drawn`` performance mark the console sets once every unit is rendered (it also
  sets ``data-ready`` on ``#sw-map-area``);
* ``leaflet``: a plain Leaflet page served by this bench only, one SVG ``L.circleMarker`` per
  seal from ``/api/seals``, polled in full every 3 s (what the console replaced). Drawn is its
  ``sw-peer-drawn`` mark, set on the frame after every marker was added.

Figures per page: login → drawn (from the click on "log in" to the mark, both on the same
clock), the longest main-thread task while updates flow (PerformanceObserver ``longtask`` over
``--seconds`` after drawing settled) and during loading, the worst delay of a 100 ms timer over
the same window (how late the page would answer a click), and the bytes per second the browser
received in that window (CDP ``Network`` events: encoded body and headers as on the wire). The
first feed column is the page's first data request (``/api/console/units`` or ``/api/seals``)
from its start to its last byte, and its size on the wire: the server's share of the drawing time.
Floors: 10,000 seals drawn within 2 s of login, no task over 100 ms while updates flow,
under 50 KB/s; 100,000 seals drawn and interactive.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from playwright.async_api import Browser, Page, async_playwright

from bench.console_fleet import Fleet, FleetWriter, seed_fleet
from bench.scratch import scratch_database
from launcher.servers import free_port, wait_for_port
from sealwatch.config import get_settings
from sealwatch.logging import configure_logging
from store.migrate import migrate
from store.users import create_user

CHROMIUM = os.environ.get("SEALWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
USER, PASSWORD = "bench-operator", "bench console password"
PEER_PATH = "/bench-peer/"
PEER_DIR_ENV = "SEALWATCH_BENCH_PEER_DIR"

PEER_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>plain Leaflet</title>
<link rel="stylesheet" href="/static/vendor/leaflet/leaflet.css">
<style>html, body, #map { height: 100%; margin: 0; }</style>
<script src="/static/vendor/leaflet/leaflet.js"></script></head>
<body><div id="map"></div><script>
// One SVG circle marker per seal, every seal fetched in full every 3 s.
var map = L.map("map").setView([40.4, 47.5], 7);
var markers = new Map();
var drawn = false;
function poll() {
    fetch("/api/seals", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (fc) {
        var seen = new Set();
        fc.features.forEach(function (f) {
            var id = f.properties.seal_id, c = f.geometry.coordinates, ll = [c[1], c[0]];
            seen.add(id);
            var m = markers.get(id);
            if (!m) {
                m = L.circleMarker(ll, { radius: 5, weight: 1, color: "#1b1b1b",
                                         fillColor: f.properties.color, fillOpacity: 0.9 }).addTo(map);
                markers.set(id, m);
            } else {
                m.setLatLng(ll);
                m.setStyle({ fillColor: f.properties.color });
            }
        });
        markers.forEach(function (m, id) { if (!seen.has(id)) { m.remove(); markers.delete(id); } });
        if (!drawn) {
            drawn = true;
            requestAnimationFrame(function () {
                performance.mark("sw-peer-drawn");
                document.getElementById("map").dataset.ready = "1";
            });
        }
    }).finally(function () { setTimeout(poll, 3000); });
}
poll();
</script></body></html>
"""

# Registered before any page script: long tasks from the start, and a 100 ms timer's lateness.
PROBES = """
window.__sw = { tasks: [], lag: [] };
try {
    new PerformanceObserver(function (list) {
        list.getEntries().forEach(function (e) { window.__sw.tasks.push([e.startTime, e.duration]); });
    }).observe({ type: "longtask", buffered: true });
} catch (e) {}
(function () {
    var last = performance.now();
    setInterval(function () {
        var now = performance.now();
        window.__sw.lag.push([now, now - last - 100]);
        last = now;
    }, 100);
})();
"""


@dataclass(frozen=True)
class PageSpec:
    name: str
    path: str
    ready_js: str
    mark: str
    feed: str  # the data request whose first answer the page draws from


PAGES = (
    PageSpec(
        "console",
        "/",
        "document.getElementById('sw-map-area')?.dataset.ready === '1'",
        "sw-console-drawn",
        "/api/console/units",
    ),
    PageSpec(
        "leaflet", PEER_PATH, "document.getElementById('map')?.dataset.ready === '1'", "sw-peer-drawn", "/api/seals"
    ),
)


@dataclass
class Figures:
    page: str
    drawn_ms: float | None
    longest_task_ms: float
    long_tasks: int  # tasks of 50 ms or more while updates flowed
    longest_load_task_ms: float
    worst_timer_lag_ms: float
    kb_per_s: float
    requests: int
    feed_ms: float | None  # the first data request, from its start to its last byte
    feed_kb: float | None  # its size on the wire


def bench_app() -> FastAPI:
    """The service's app, plus the plain Leaflet page (a static mount: outside the API's role matrix)."""
    from api.app import create_app

    settings = get_settings()
    configure_logging(settings.log_level)
    app = create_app(settings)
    app.mount(PEER_PATH.rstrip("/"), StaticFiles(directory=os.environ[PEER_DIR_ENV], html=True), name="bench-peer")
    return app


@contextlib.contextmanager
def api_server(url: str) -> Iterator[str]:
    """The API in a uvicorn process of its own (so the browser and the writer do not share its CPU)."""
    with tempfile.TemporaryDirectory(prefix="sw-bench-peer-") as peer:
        Path(peer, "index.html").write_text(PEER_HTML)
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, PEER_DIR_ENV: peer, "SEALWATCH_LOG_LEVEL": "WARNING"}
        env.pop("MQTT_URL", None)
        command = [sys.executable, "-m", "uvicorn", "--factory", "bench.console:bench_app"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        proc = subprocess.Popen(command, env=env)
        try:
            wait_for_port("127.0.0.1", port, timeout=60)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _write(url: str, fleet: Fleet, period_s: float, stop: Any, written: Any) -> None:
    configure_logging("WARNING")
    writer = FleetWriter(url, fleet, period_s)
    try:
        last = time.monotonic()
        while not stop.is_set():
            time.sleep(max(0.0, 1.0 - (time.monotonic() - last)))
            now = time.monotonic()
            writer.tick(now - last)
            last = now
            written.value = writer.written
    finally:
        writer.close()


@contextlib.contextmanager
def fleet_writer(url: str, fleet: Fleet, period_s: float) -> Iterator[Any]:
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    written = ctx.Value("q", 0)
    proc = ctx.Process(target=_write, args=(url, fleet, period_s, stop, written), daemon=True)
    proc.start()
    try:
        yield written
    finally:
        stop.set()
        proc.join(30)


async def measure(browser: Browser, base: str, spec: PageSpec, seconds: float, draw_timeout_s: float) -> Figures:
    context = await browser.new_context(locale="en-US", viewport={"width": 1400, "height": 900})
    await context.add_init_script(PROBES)
    page = await context.new_page()
    try:
        return await _measure(page, base, spec, seconds, draw_timeout_s)
    finally:
        await context.close()


async def _measure(page: Page, base: str, spec: PageSpec, seconds: float, draw_timeout_s: float) -> Figures:
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    received: list[tuple[float, int]] = []  # (monotonic time, bytes)
    streams: set[str] = set()

    def on_sent(e: dict[str, Any]) -> None:
        if e.get("type") == "EventSource":
            streams.add(e["requestId"])

    def on_data(e: dict[str, Any]) -> None:
        if e["requestId"] in streams:  # a stream never finishes: count it as it arrives
            received.append((time.monotonic(), int(e.get("encodedDataLength", 0))))

    def on_finished(e: dict[str, Any]) -> None:
        if e["requestId"] not in streams:
            received.append((time.monotonic(), int(e.get("encodedDataLength", 0))))

    cdp.on("Network.requestWillBeSent", on_sent)
    cdp.on("Network.dataReceived", on_data)
    cdp.on("Network.loadingFinished", on_finished)

    await page.goto(f"{base}/login?next={spec.path}")
    await page.fill("#username", USER)
    await page.fill("#password", PASSWORD)
    clicked_ms = time.time() * 1000
    await page.click("#sealwatch-login button[type=submit]")
    drawn_ms: float | None = None
    try:
        await page.wait_for_function(spec.ready_js, timeout=draw_timeout_s * 1000, polling=50)
        at = await page.evaluate(f"performance.timeOrigin + performance.getEntriesByName({spec.mark!r})[0].startTime")
        drawn_ms = float(at) - clicked_ms
    except Exception:  # not drawn in time: reported as such, the other figures still taken
        pass
    await asyncio.sleep(3)  # let the first updates after drawing settle
    start_perf = float(await page.evaluate("performance.now()"))
    start = time.monotonic()
    await asyncio.sleep(seconds)
    end = time.monotonic()
    probes = await page.evaluate("window.__sw")
    feed = await page.evaluate(
        """(path) => { const e = performance.getEntriesByType("resource").find((r) => r.name.includes(path));
                      return e ? [e.responseEnd - e.startTime, e.transferSize] : null; }""",
        spec.feed,
    )
    steady = [d for t, d in probes["tasks"] if t >= start_perf]
    loading = [d for t, d in probes["tasks"] if t < start_perf]
    lag = [d for t, d in probes["lag"] if t >= start_perf]
    window = [b for t, b in received if start <= t <= end]
    await cdp.detach()
    return Figures(
        spec.name,
        drawn_ms,
        max(steady, default=0.0),
        len(steady),
        max(loading, default=0.0),
        max(lag, default=0.0),
        sum(window) / 1024 / (end - start),
        len(window),
        float(feed[0]) if feed else None,
        float(feed[1]) / 1024 if feed else None,
    )


def seed(url: str, n: int) -> Fleet:
    migrate(url)
    started = time.perf_counter()
    fleet = seed_fleet(url, n)
    with psycopg.connect(url) as conn:
        create_user(conn, USER, "operator", PASSWORD)
    print(f"  seeded {n:,} seals in {time.perf_counter() - started:.1f} s", flush=True)
    return fleet


def _fmt(value: float | None, unit: str = "") -> str:
    return "not drawn" if value is None else f"{value:,.0f}{unit}"


def _task(ms: float) -> str:
    # The longtask API reports tasks of 50 ms or more: none means every task was shorter.
    return f"{ms:,.0f} ms" if ms else "<50 ms"


def report(n: int, figures: list[Figures]) -> None:
    print(f"\n  {n:,} seals")
    print(
        f"  {'page':<9} {'login→drawn':>12} {'first feed':>19} {'longest task':>13} {'≥50ms':>6} {'(loading)':>10}"
        f" {'timer lag':>10} {'KB/s':>7} {'responses':>9}"
    )
    for f in figures:
        feed = f"{f.feed_ms:,.0f} ms {f.feed_kb:,.0f} KB" if f.feed_ms is not None and f.feed_kb is not None else "-"
        print(
            f"  {f.page:<9} {_fmt(f.drawn_ms, ' ms'):>12} {feed:>19} {_task(f.longest_task_ms):>13} {f.long_tasks:>6}"
            f" {_task(f.longest_load_task_ms):>10} {f.worst_timer_lag_ms:>7,.0f} ms {f.kb_per_s:>7.1f} {f.requests:>9}"
        )
    console = next((f for f in figures if f.page == "console"), None)
    if console is not None and n == 10_000:
        ok = console.drawn_ms is not None and console.drawn_ms <= 2000
        print(
            f"  floors at 10,000: drawn ≤ 2 s {'yes' if ok else 'NO'}; no task > 100 ms "
            f"{'yes' if console.longest_task_ms <= 100 else 'NO'}; < 50 KB/s {'yes' if console.kb_per_s < 50 else 'NO'}"
        )
    if console is not None and n >= 100_000:
        print(f"  floor at {n:,}: drawn and interactive {'yes' if console.drawn_ms is not None else 'NO'}")
    sys.stdout.flush()


async def run_size(n: int, args: argparse.Namespace) -> None:
    with scratch_database(prefix="sw_bench_console") as url:
        fleet = seed(url, n)
        with api_server(url) as base, fleet_writer(url, fleet, args.period) as written:
            await asyncio.sleep(3)  # the writer is in its stride before anybody logs in
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                try:
                    figures = []
                    for spec in PAGES:
                        if spec.name not in args.pages:
                            continue
                        figures.append(await measure(browser, base, spec, args.seconds, args.draw_timeout))
                finally:
                    await browser.close()
            print(f"  writer: {written.value:,} fixes stored while measuring", flush=True)
        report(n, figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="2000,10000,100000", help="comma-separated seal counts")
    parser.add_argument("--seconds", type=float, default=30.0, help="steady-state window per page")
    parser.add_argument("--period", type=float, default=30.0, help="each seal reports this often (s)")
    parser.add_argument("--draw-timeout", type=float, default=180.0, help="give up waiting for a page to draw (s)")
    parser.add_argument("--pages", default="console,leaflet", help="which pages to measure")
    args = parser.parse_args()
    args.pages = set(args.pages.split(","))
    configure_logging("WARNING")
    if not Path(CHROMIUM).is_file():
        raise SystemExit(f"Chromium not found at {CHROMIUM} (set SEALWATCH_CHROMIUM)")
    for n in (int(s) for s in args.sizes.split(",")):
        print(f"console bench: {n:,} seals, each reporting every {args.period:g} s", flush=True)
        asyncio.run(run_size(n, args))


if __name__ == "__main__":
    main()
