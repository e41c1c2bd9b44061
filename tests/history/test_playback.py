"""The playback page: a TimestampedGeoJson replay of the track, all assets served locally."""

from __future__ import annotations

import json
import re

import httpx

from tests.history.conftest import SimDay


async def test_playback_page_replays_the_track_offline(day: SimDay, client: httpx.AsyncClient) -> None:
    sim = day.transits[0]
    resp = await client.get(f"/transits/{sim.transit_id}/playback")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    page = resp.text
    assert "L.timeDimension.layer.geoJson" in page and "L.Control.TimeDimensionCustom" in page
    # The replayed line carries one time per vertex, the first being the first fix.
    first_ms = int(sim.fixes[0].t.timestamp() * 1000)
    assert f"[{first_ms}, " in page or f"[{first_ms}," in page
    assert json.dumps(sim.transit_id) in page or sim.transit_id in page
    # No remote asset: every script and stylesheet is under /static and is actually served.
    assets = re.findall(r"<(?:script|link)\b[^>]*\b(?:src|href)=\"([^\"]+)\"", page)
    assert assets and all(a.startswith("/static/") for a in assets)
    for asset in assets:
        assert (await client.get(asset)).status_code == 200, asset
    css = (await client.get("/static/vendor/leaflet-timedimension/leaflet.timedimension.control.css")).text
    assert "//" not in re.sub(r"/\*.*?\*/", "", css, flags=re.S)  # fonts are local too
    assert (
        await client.get("/static/vendor/leaflet-timedimension/fonts/glyphicons-halflings-regular.woff")
    ).status_code == 200
    assert (await client.get("/transits/NOPE/playback")).status_code == 404
