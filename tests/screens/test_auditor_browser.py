"""The auditor's workspace in a real Chromium: transit search with filters and paging, a transit's
record with its timeline and downloads (the GeoPackage opened with geopandas), playback with alerts on
the timeline, the Time Release Study and alert statistics, charted."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import geopandas as gpd  # type: ignore[import-untyped]
import psycopg
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser import login, path_is
from tests.history.conftest import SimDay, day  # noqa: F401  (the simulated day fixture)
from tests.login import PASSWORD, ensure_user
from tests.screens.conftest import docs_screenshot

BAKU = ZoneInfo("Asia/Baku")
EN_TIME = "%m/%d/%Y, %H:%M:%S"  # how sw.js writes a time in English (Intl, en)


def with_alerts(sim_day: SimDay) -> None:
    """An alert and an observation on the first transit; two transits arrived; outcomes to count."""
    sim = sim_day.transits[0]
    f = sim.fixes[120]
    with psycopg.connect(sim_day.url) as conn:
        conn.execute(
            "INSERT INTO observations (seal_id, transit_id, kind, t, lat, lon)"
            " VALUES (%s, %s, 'stop_start', %s, %s, %s)",
            (sim.seal_id, sim.transit_id, f.t, f.lat, f.lon),
        )
        for i, (kind, outcome) in enumerate(
            [("unauthorized_stop", "false_alarm"), ("route_deviation", "violation_confirmed")]
        ):
            t = sim.fixes[120 + 60 * i].t
            conn.execute(
                """INSERT INTO alerts (type, severity, status, transit_id, seal_id, lat, lon, first_t, last_t,
                                      raised_at, updated_at, resolved_at, resolved_by, outcome)
                   VALUES (%s, 'warning', 'resolved', %s, %s, %s, %s, %s, %s, now(), now(), now(), 'op', %s)""",
                (kind, sim.transit_id, sim.seal_id, f.lat, f.lon, t, t, outcome),
            )
        border = sim_day.transits[1]  # 45 minutes at its border checkpoint
        for kind, i in (("checkpoint_enter", 5), ("checkpoint_exit", 50)):
            x = border.fixes[i]
            conn.execute(
                "INSERT INTO observations (seal_id, transit_id, kind, t, lat, lon, zone_code)"
                " VALUES (%s, %s, %s, %s, %s, %s, 'AZAST')",
                (border.seal_id, border.transit_id, kind, x.t, x.lat, x.lon),
            )
        for other in sim_day.transits[1:3]:
            conn.execute(
                "UPDATE transits SET arrived_at = released_at + interval '5 hours', status = 'arrived'"
                " WHERE transit_id = %s",
                (other.transit_id,),
            )


@pytest.fixture
async def auditor(day: SimDay, base_url: str, chromium: Browser) -> Page:  # noqa: F811
    with_alerts(day)
    ensure_user(day.url, "aud", "auditor")
    context = await chromium.new_context(viewport={"width": 1400, "height": 900}, locale="en-US", accept_downloads=True)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    await login(page, base_url, "aud", PASSWORD)
    await page.wait_for_url(path_is("/auditor"))
    return page


async def test_search_record_downloads_and_playback(
    day: SimDay,  # noqa: F811
    auditor: Page,
    tmp_path: Path,
) -> None:
    page = auditor
    sim = day.transits[0]
    rows = page.locator("#aud-results tbody tr[data-transit-id]")
    await expect(rows).to_have_count(len(day.transits))
    await page.select_option("select[name=alert_type]", "unauthorized_stop")
    await page.click("#aud-filters button[type=submit]")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-transit-id", sim.transit_id)
    await expect(rows.first.locator("td").nth(7)).to_have_text("2 (0 open)")
    await page.select_option("select[name=alert_type]", "")
    await page.select_option("select[name=status]", "arrived")
    await page.click("#aud-filters button[type=submit]")
    await expect(rows).to_have_count(2)
    await page.select_option("select[name=status]", "")
    await page.select_option("select[name=outcome]", "false_alarm")
    await page.click("#aud-filters button[type=submit]")
    await expect(rows).to_have_count(1)
    await docs_screenshot(page, "screens-auditor.png")

    await rows.first.locator("a").click()
    await page.wait_for_url(path_is(f"/auditor/transits/{sim.transit_id}"))
    timeline = page.locator("#tr-timeline li")
    await expect(timeline.filter(has_text="Unauthorized stop: raised")).to_have_count(1)
    await expect(timeline.filter(has_text="Declaration released")).to_have_count(1)
    await expect(page.locator("#tr-trs")).to_contain_text("Time limit")
    await expect(page.locator("#tr-map .leaflet-interactive").first).to_be_visible()
    await docs_screenshot(page, "screens-transit.png", full_page=True)
    async with page.expect_download() as download_info:
        await page.click("tr[data-dataset=tracks] a[data-format=gpkg]")
    download = await download_info.value
    path = tmp_path / download.suggested_filename
    await download.save_as(path)
    assert path.suffix == ".gpkg"
    frame = gpd.read_file(path)
    assert len(frame) == len(sim.fixes)
    assert list(frame["seq"]) == [f.seq for f in sim.fixes]
    assert set(frame["transit_id"]) == {sim.transit_id}
    assert frame.geometry.x.tolist() == pytest.approx([f.lon for f in sim.fixes])
    async with page.expect_download() as download_info:
        await page.click("tr[data-dataset=alerts] a[data-format=gpkg]")
    alerts_path = tmp_path / "alerts.gpkg"
    await (await download_info.value).save_as(alerts_path)
    assert sorted(gpd.read_file(alerts_path)["type"]) == ["route_deviation", "unauthorized_stop"]

    await page.click("#tr-playback")
    await page.wait_for_url(path_is(f"/transits/{sim.transit_id}/playback"))
    await expect(page.locator(".pb-mark[data-alert-id]")).to_have_count(2)
    # Six hours of track play in about a minute: 300× (the offered speed nearest to 6 h / 60 s).
    await expect(page.locator("#pb-speed")).to_have_value("300")
    first = sim.fixes[0].t.astimezone(BAKU).strftime(EN_TIME)
    await expect(page.locator("#pb-time")).to_have_text(first)
    # Zoomed to the track: it fills most of the map (a whole-country view would leave it small).
    # Read once the fit (and its zoom animation) has settled.
    await page.wait_for_function(
        """() => {
            const map = document.getElementById('pb-map').getBoundingClientRect();
            const path = document.querySelector('#pb-map path[stroke="#90a4ae"]');
            if (!path) return false;
            const track = path.getBoundingClientRect();
            return Math.max(track.width / map.width, track.height / map.height) > 0.7;
        }""",
        timeout=10_000,
    )
    await page.click("#pb-play")
    moved = sim.fixes[0].t.timestamp() * 1000 + 60_000
    await page.wait_for_function(f"() => Number(document.getElementById('pb-slider').value) > {moved}")
    await page.click("#pb-play")  # pause
    alert_t = sim.fixes[120].t
    await page.locator(".pb-mark[data-alert-id]").first.click()
    await expect(page.locator("#pb-time")).to_have_text(alert_t.astimezone(BAKU).strftime(EN_TIME))
    await expect(page.locator("#pb-now")).to_contain_text("Unauthorized stop")
    await page.fill("#pb-slider", str(int((alert_t - timedelta(minutes=1)).timestamp() * 1000)))
    await expect(page.locator("#pb-now")).not_to_contain_text("Unauthorized stop")
    await expect(page.locator(".sw-tz")).to_contain_text("Asia/Baku")
    await docs_screenshot(page, "screens-playback.png")
    assert page.errors == []  # type: ignore[attr-defined]


async def test_time_release_study_and_alert_statistics(day: SimDay, auditor: Page) -> None:  # noqa: F811
    page = auditor
    await page.click("text=Time Release Study")
    await page.wait_for_url(path_is("/auditor/trs"))
    start = min(s.released_at for s in day.transits) - timedelta(days=1)
    await page.fill("input[name=start]", start.astimezone(BAKU).strftime("%Y-%m-%d"))
    await page.click("#trs-filters button[type=submit]")
    await expect(page.locator("#trs-overall")).to_contain_text(f"{len(day.transits)} transits, 2 arrived")
    arrived_routes = {s.route_code for s in day.transits[1:3]}
    await expect(page.locator("#trs-route-chart rect[data-series=median]")).to_have_count(len(arrived_routes))
    await expect(page.locator("#trs-routes tbody tr")).to_have_count(len({s.route_code for s in day.transits}))
    await expect(page.locator("#trs-transits tbody tr")).to_have_count(len(day.transits))
    await expect(page.locator("#trs-transits")).to_contain_text("5 h")
    await expect(page.locator("#trs-channel-chart rect[data-series=median]")).to_have_count(1)
    await expect(page.locator("#trs-transits")).to_contain_text("45 min")
    await docs_screenshot(page, "screens-trs.png", full_page=True)

    await page.click("text=Alert statistics")
    await page.wait_for_url(path_is("/auditor/alerts"))
    await expect(page.locator("#st-total")).to_have_text("2 alerts in the period.")
    by_type = page.locator(".st-group[data-group=by_type]")
    await expect(by_type.locator("tr[data-key=unauthorized_stop] td").last).to_have_text("100 %")
    await expect(by_type.locator("tr[data-key=route_deviation] td").last).to_have_text("0 %")
    await expect(by_type.locator("svg rect[data-series=rate]")).to_have_count(2)
    await expect(page.locator(".st-group[data-group=by_carrier] tbody tr")).to_have_count(1)
    await docs_screenshot(page, "screens-alert-stats.png", full_page=True)
    assert page.errors == []  # type: ignore[attr-defined]
