"""The route editor in a real Chromium: an officer drags a vertex of a route and saves it, imports a
GPX survey, is told (in words, at the place) why a line cannot be the route and that someone else
saved first, and uses a line learned from past tracks; an auditor sees the route and its versions
without any editing control."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import psycopg
from playwright.async_api import Browser, FilePayload, Page, expect
from psycopg.rows import dict_row
from shapely.geometry import LineString

from sealwatch.fixes import FixRecord
from sealwatch.geography import PLACES, ROUTES, route_lonlat
from store.fixes import FixWriter
from tests.browser import login, path_is
from tests.login import PASSWORD, auth, ensure_user
from tests.screens.conftest import docs_screenshot
from tests.screens.console_seed import seed_fleet

CODE = "SAM-BAK"


def survey_gpx() -> bytes:
    """A GPX track from Samur to Baku that wanders off the town-to-town line, as a road does."""
    a, b = PLACES["AZSAM"], PLACES["AZBAK"]
    s = np.linspace(0, 1, 240)
    lon = a.lon + (b.lon - a.lon) * s + 0.04 * np.sin(3 * np.pi * s)
    lat = a.lat + (b.lat - a.lat) * s + 0.03 * np.sin(5 * np.pi * s)
    points = "".join(f'<trkpt lat="{y:.6f}" lon="{x:.6f}"></trkpt>' for x, y in zip(lon, lat, strict=True))
    return (
        '<?xml version="1.0"?><gpx version="1.1" creator="survey" xmlns="http://www.topografix.com/GPX/1/1">'
        f"<trk><name>M1 survey</name><trkseg>{points}</trkseg></trk></gpx>"
    ).encode()


async def drag(page: Page, selector: str, dx: float, dy: float) -> None:
    box = await page.locator(selector).bounding_box()
    assert box is not None, selector
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    await page.mouse.move(x, y)
    await page.mouse.down()
    await page.mouse.move(x + dx / 2, y + dy / 2, steps=5)
    await page.mouse.move(x + dx, y + dy, steps=5)
    await page.mouse.up()


async def test_officer_edits_imports_and_meets_a_concurrent_edit(
    migrated_db: str, base_url: str, chromium: Browser
) -> None:
    ensure_user(migrated_db, "off", "officer")
    operator = auth(migrated_db, "op", "operator")
    context = await chromium.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await login(page, base_url, "off", PASSWORD)
    await page.wait_for_url(path_is("/officer"))

    # From the officer's navigation to the list, then the route.
    await page.click("#nav-routes")
    await page.wait_for_url(path_is("/routes"))
    row = page.locator(f'#rl-routes tr[data-route="{CODE}"]')
    await expect(row).to_contain_text("seeded town-to-town line")
    await row.locator("a").click()
    await page.wait_for_url(path_is(f"/routes/{CODE}"))
    await expect(page.locator("#re-map")).to_have_attribute("data-version", "1")
    vertices = page.locator("#re-map .re-vertex")
    await expect(vertices).to_have_count(len(route_lonlat(ROUTES[CODE])))
    await expect(page.locator("#re-map path.leaflet-interactive").first).to_be_visible()  # the corridor
    await expect(page.locator("#re-save")).to_be_disabled()
    count = await vertices.count()

    # A vertex added between two (the square), removed with the button; added again, removed by right-click.
    between = page.locator("#re-map .re-mid").first
    after = int(await between.get_attribute("data-between") or "0") + 1
    await between.click()
    await expect(vertices).to_have_count(count + 1)
    await expect(page.locator(f'#re-map .re-vertex.selected[data-vertex="{after}"]')).to_have_count(1)
    await page.click("#re-remove")
    await expect(vertices).to_have_count(count)
    await page.locator("#re-map .re-mid").first.click()
    await expect(vertices).to_have_count(count + 1)
    await page.locator(f'#re-map .re-vertex[data-vertex="{after}"]').click(button="right")
    await expect(vertices).to_have_count(count)

    # Drag a middle vertex a little, note why, save: version 2, by the officer.
    await drag(page, '#re-map .re-vertex[data-vertex="2"]', 25, -20)
    await expect(page.locator("#re-save")).to_be_enabled()
    await page.fill("#re-note", "follows the M1 bypass")
    await page.click("#re-save")
    await expect(page.locator("#re-notice")).to_have_text("Saved as version 2.")
    await expect(page.locator("#re-map")).to_have_attribute("data-version", "2")
    newest = page.locator("#re-versions tbody tr").first
    await expect(newest).to_have_attribute("data-version", "2")
    await expect(newest).to_contain_text("off")
    await expect(newest).to_contain_text("edited on the map")
    await expect(newest).to_contain_text("follows the M1 bypass")
    await expect(page.locator("#re-showing")).to_contain_text("Current version 2, by off")
    async with httpx.AsyncClient(base_url=base_url, headers=operator) as client:
        stored = (await client.get(f"/api/routes/{CODE}/versions/2")).json()
        first = (await client.get(f"/api/routes/{CODE}/versions/1")).json()
    assert stored["created_by"] == "off" and stored["source"] == "edit"
    moved = stored["polyline"]["coordinates"][2]
    assert moved != first["polyline"]["coordinates"][2]  # the dragged vertex moved
    assert stored["polyline"]["coordinates"][0] == first["polyline"]["coordinates"][0]  # the others did not

    # A line that ends far from Baku: refused in words, pointed at on the map, nothing saved.
    last = await vertices.count() - 1
    await drag(page, f'#re-map .re-vertex[data-vertex="{last}"]', -200, 120)
    await page.click("#re-save")
    await expect(page.locator("#re-error")).to_contain_text("This line cannot be the route:")
    await expect(page.locator("#re-error")).to_contain_text("from the route's destination")
    await expect(page.locator("#re-map .re-problem")).to_be_visible()
    await page.click("#re-undo")
    await expect(page.locator("#re-error")).to_be_hidden()

    # A GPX survey imported: version 3, the road's vertices.
    survey: FilePayload = {"name": "m1-survey.gpx", "mimeType": "application/gpx+xml", "buffer": survey_gpx()}
    await page.set_input_files("#re-file", files=[survey])
    await page.click("#re-import")
    await expect(page.locator("#re-notice")).to_have_text("Imported m1-survey.gpx as version 3.")
    await expect(page.locator("#re-map")).to_have_attribute("data-version", "3")
    await expect(page.locator("#re-versions tbody tr").first).to_contain_text("GPX file")
    assert await page.locator("#re-map .re-vertex").count() > 20
    await docs_screenshot(page, "screens-route-editor.png", full_page=True)

    # An older version on request, read-only.
    await page.click('#re-versions tr[data-version="1"] a')
    await expect(page.locator("#re-map")).to_have_attribute("data-version", "1")
    await expect(page.locator("#re-showing")).to_contain_text("Showing version 1 of 3")
    await expect(page.locator("#re-edit")).to_be_hidden()
    await page.click('#re-versions tr[data-version="3"] a')
    await expect(page.locator("#re-edit")).to_be_visible()

    # Someone saves while the officer edits: the officer's save is refused and told so.
    await drag(page, '#re-map .re-vertex[data-vertex="5"]', 15, 15)
    async with httpx.AsyncClient(base_url=base_url, headers=operator) as client:
        line = (await client.get(f"/api/routes/{CODE}")).json()["polyline"]
        theirs = await client.put(f"/api/routes/{CODE}/geometry", json={"geometry": line, "expected_version": 3})
    assert theirs.status_code == 200, theirs.text
    await page.click("#re-save")
    await expect(page.locator("#re-error")).to_contain_text("Someone else saved version 4 of this route")
    await expect(page.locator("#re-versions tbody tr").first).to_contain_text("op")
    async with httpx.AsyncClient(base_url=base_url, headers=operator) as client:
        assert len((await client.get(f"/api/routes/{CODE}/versions")).json()) == 4  # the officer's edit was not stored
    assert errors == []
    await context.close()


async def test_an_auditor_sees_the_route_without_edit_controls(
    migrated_db: str, base_url: str, chromium: Browser
) -> None:
    ensure_user(migrated_db, "aud", "auditor")
    context = await chromium.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await login(page, base_url, "aud", PASSWORD)
    await page.goto(f"{base_url}/routes/{CODE}")
    await expect(page.locator("#re-map")).to_have_attribute("data-version", "1")
    await expect(page.locator("#re-versions tbody tr")).to_have_count(1)
    await expect(page.locator("#re-readonly")).to_be_visible()
    for control in ("#re-edit", "#re-save", "#re-file", "#re-import", "#re-learn", "#re-note"):
        await expect(page.locator(control)).to_have_count(0)
    await expect(page.locator("#re-map .re-vertex")).to_have_count(0)
    await expect(page.locator("#re-map .re-mid")).to_have_count(0)
    assert errors == []
    await context.close()


def past_transits_on(url: str, code: str, tracks: int) -> None:
    """``tracks`` finished transits on the route, each with a noisy track from release to arrival."""
    seeded = [u for u in seed_fleet(url, 6 * tracks, fixes=False) if u.route_code == code]
    assert len(seeded) == tracks
    line = LineString(route_lonlat(ROUTES[code]))
    now = datetime.now(UTC).replace(microsecond=0)
    rng = np.random.default_rng(7)
    fixes = []
    for u in seeded:
        for k, f in enumerate(np.linspace(0, 1, 300)):
            p = line.interpolate(float(f), normalized=True)
            lat, lon = p.y + rng.normal(0, 0.002), p.x + rng.normal(0, 0.002)
            t = now - timedelta(minutes=110) + timedelta(seconds=20 * k)
            fixes.append(FixRecord(u.seal_id, k + 1, t, lat, lon, 70.0, 90.0, 9, 0.9, 88.0, "closed", t))
    with psycopg.connect(url, row_factory=dict_row) as conn:
        FixWriter(conn).write(fixes, [])
        conn.execute(
            "UPDATE transits SET status = 'arrived', arrived_at = %s WHERE transit_id = ANY(%s)",
            (now, [u.transit_id for u in seeded]),
        )
        conn.commit()


async def test_officer_uses_a_line_learned_from_past_tracks(migrated_db: str, base_url: str, chromium: Browser) -> None:
    past_transits_on(migrated_db, CODE, 4)
    ensure_user(migrated_db, "off", "officer")
    context = await chromium.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await login(page, base_url, "off", PASSWORD, next_path=f"/routes/{CODE}")
    await page.wait_for_url(path_is(f"/routes/{CODE}"))
    await expect(page.locator("#re-map")).to_have_attribute("data-version", "1")
    await page.click("#re-learn")
    await expect(page.locator("#re-proposal")).to_be_visible()
    await expect(page.locator('#re-proposal-stats dd[data-stat="tracks"]')).to_have_text("4")
    await expect(page.locator("#re-proposal-stats")).to_contain_text("Typical spread")
    await expect(page.locator("#re-versions tbody tr")).to_have_count(1)  # a proposal only: nothing stored
    await page.click("#re-use")
    await expect(page.locator("#re-notice")).to_have_text("Saved as version 2.")
    await expect(page.locator("#re-proposal")).to_be_hidden()
    newest = page.locator("#re-versions tbody tr").first
    await expect(newest).to_have_attribute("data-version", "2")
    await expect(newest).to_contain_text("learned from past tracks")
    await expect(newest).to_contain_text("off")
    assert errors == []
    await context.close()
