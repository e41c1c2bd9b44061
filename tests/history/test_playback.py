"""The playback data: one JSON the page replays, thinned tracks with their times, alerts, observations."""

from __future__ import annotations

import httpx
import psycopg

from maps.playback import MAX_PLAYBACK_POINTS, downsample
from tests.history.conftest import SimDay


def test_downsample_keeps_ends_and_limit() -> None:
    assert downsample(5, 10) == [0, 1, 2, 3, 4]
    kept = downsample(100_001, MAX_PLAYBACK_POINTS)
    assert kept[0] == 0 and kept[-1] == 100_000 and len(kept) <= MAX_PLAYBACK_POINTS
    assert kept == sorted(set(kept))


async def test_playback_data_of_a_transit(day: SimDay, client: httpx.AsyncClient) -> None:
    sim = day.transits[0]
    f = sim.fixes[120]
    with psycopg.connect(day.url) as conn:
        conn.execute(
            "INSERT INTO observations (seal_id, transit_id, kind, t, lat, lon)"
            " VALUES (%s, %s, 'stop_start', %s, %s, %s)",
            (sim.seal_id, sim.transit_id, f.t, f.lat, f.lon),
        )
        conn.execute(
            """INSERT INTO alerts (type, severity, transit_id, seal_id, lat, lon, first_t, last_t, raised_at,
                                  updated_at)
               VALUES ('unauthorized_stop', 'warning', %s, %s, %s, %s, %s, %s, now(), now())""",
            (sim.transit_id, sim.seal_id, f.lat, f.lon, f.t, f.t),
        )
    resp = await client.get(f"/api/history/transits/{sim.transit_id}/playback")
    assert resp.status_code == 200
    data = resp.json()
    [seal] = data["seals"]
    assert seal["seal_id"] == sim.seal_id and seal["fixes"] == len(sim.fixes)
    assert [p[0] for p in seal["points"]] == [int(x.t.timestamp() * 1000) for x in sim.fixes]
    assert [p[1:3] for p in seal["points"]] == [[x.lon, x.lat] for x in sim.fixes]
    assert data["start_ms"] == seal["points"][0][0] and data["end_ms"] == seal["points"][-1][0]
    assert [a["type"] for a in data["alerts"]] == ["unauthorized_stop"] and data["alerts"][0]["history"] == []
    assert [o["kind"] for o in data["observations"]] == ["stop_start"]
    assert data["plate"] and data["carrier"] and data["corridor"]["type"] == "Polygon"
    assert data["zones"] and all(z["kind"] for z in data["zones"])
    assert (await client.get("/api/history/transits/NOPE/playback")).status_code == 404
