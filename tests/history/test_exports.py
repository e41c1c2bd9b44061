"""Exports stream and open in geopandas with exactly the rows that were written."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import geopandas as gpd  # type: ignore[import-untyped]
import httpx
import psycopg
import pytest

from tests.history.conftest import SimDay


async def _download(client: httpx.AsyncClient, path: Path, url: str, **params: str) -> httpx.Response:
    async with client.stream("GET", url, params=params) as resp:
        assert resp.status_code == 200, (await resp.aread()).decode()
        with path.open("wb") as fh:
            async for chunk in resp.aiter_bytes():
                fh.write(chunk)
    return resp


@pytest.mark.parametrize("fmt", ["csv", "geojson", "gpkg"])
async def test_track_export_of_a_transit_opens_in_geopandas(
    day: SimDay, client: httpx.AsyncClient, tmp_path: Path, fmt: str
) -> None:
    sim = day.transits[2]
    path = tmp_path / f"track.{fmt}"
    resp = await _download(client, path, "/api/history/export/tracks", format=fmt, transit_id=sim.transit_id)
    assert sim.transit_id in resp.headers["content-disposition"]
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        assert len(rows) == len(sim.fixes)
        assert [int(r["seq"]) for r in rows] == [f.seq for f in sim.fixes]
        assert float(rows[5]["lat"]) == sim.fixes[5].lat and rows[0]["t"].endswith("+00")
        return
    frame = gpd.read_file(path)
    assert len(frame) == len(sim.fixes)
    assert list(frame["seq"]) == [f.seq for f in sim.fixes]
    assert frame.geometry.x.tolist() == pytest.approx([f.lon for f in sim.fixes], abs=1e-9)
    assert frame.geometry.y.tolist() == pytest.approx([f.lat for f in sim.fixes], abs=1e-9)
    assert frame.crs is not None and frame.crs.to_epsg() == 4326


async def test_range_export_counts_every_fix_of_the_day(day: SimDay, client: httpx.AsyncClient, tmp_path: Path) -> None:
    with psycopg.connect(day.url) as conn:
        row = conn.execute("SELECT min(t), max(t), count(*) FROM fixes").fetchone()
    assert row is not None and row[2] == day.total_fixes
    start, end = row[0].isoformat(), (row[1] + timedelta(seconds=1)).isoformat()
    path = tmp_path / "all.geojson"
    await _download(client, path, "/api/history/export/tracks", format="geojson", start=start, end=end)
    assert len(gpd.read_file(path)) == day.total_fixes
    csv_path = tmp_path / "all.csv"
    await _download(client, csv_path, "/api/history/export/tracks", format="csv", start=start, end=end)
    assert len(csv_path.read_text().splitlines()) == day.total_fixes + 1  # header
    too_long = await client.get(
        "/api/history/export/tracks", params={"start": start, "end": (row[0] + timedelta(days=40)).isoformat()}
    )
    assert too_long.status_code == 422


async def test_observation_alert_and_transit_exports(day: SimDay, client: httpx.AsyncClient, tmp_path: Path) -> None:
    sim = day.transits[0]
    with psycopg.connect(day.url) as conn:
        for i, kind in enumerate(("stop_start", "stop_end", "corridor_exit")):
            f = sim.fixes[50 + i]
            conn.execute(
                "INSERT INTO observations (seal_id, transit_id, kind, t, lat, lon) VALUES (%s, %s, %s, %s, %s, %s)",
                (sim.seal_id, sim.transit_id, kind, f.t, f.lat, f.lon),
            )
        conn.execute(
            """INSERT INTO alerts (type, severity, transit_id, seal_id, lat, lon, first_t, last_t, raised_at,
                   updated_at)
               VALUES ('route_deviation', 'critical', %s, %s, 40.1, 48.2, now(), now(), now(), now())""",
            (sim.transit_id, sim.seal_id),
        )
    obs = tmp_path / "obs.geojson"
    await _download(client, obs, "/api/history/export/observations", format="geojson", transit_id=sim.transit_id)
    frame = gpd.read_file(obs)
    assert list(frame["kind"]) == ["stop_start", "stop_end", "corridor_exit"]
    alerts = tmp_path / "alerts.csv"
    await _download(client, alerts, "/api/history/export/alerts", format="csv", transit_id=sim.transit_id)
    rows = list(csv.DictReader(io.StringIO(alerts.read_text())))
    assert [r["type"] for r in rows] == ["route_deviation"]
    transits = tmp_path / "transits.geojson"
    await _download(client, transits, "/api/history/export/transits", format="geojson")
    tframe = gpd.read_file(transits)
    assert sorted(tframe["transit_id"]) == sorted(s.transit_id for s in day.transits)
    # Every dataset as a GeoPackage too: points for observations and alerts (an alert without a
    # position has no geometry), the route line for transits.
    obs_gpkg = tmp_path / "obs.gpkg"
    await _download(client, obs_gpkg, "/api/history/export/observations", format="gpkg", transit_id=sim.transit_id)
    oframe = gpd.read_file(obs_gpkg)
    assert list(oframe["kind"]) == ["stop_start", "stop_end", "corridor_exit"]
    assert oframe.geometry.x.tolist() == pytest.approx([sim.fixes[50 + i].lon for i in range(3)])
    with psycopg.connect(day.url) as conn:
        conn.execute(
            """INSERT INTO alerts (type, severity, transit_id, seal_id, first_t, last_t, raised_at, updated_at)
               VALUES ('signal_lost', 'warning', %s, %s, now(), now(), now(), now())""",
            (sim.transit_id, sim.seal_id),
        )
    alerts_gpkg = tmp_path / "alerts.gpkg"
    await _download(client, alerts_gpkg, "/api/history/export/alerts", format="gpkg", transit_id=sim.transit_id)
    aframe = gpd.read_file(alerts_gpkg)
    assert list(aframe["type"]) == ["route_deviation", "signal_lost"]
    assert (aframe.geometry.x[0], aframe.geometry.y[0]) == (48.2, 40.1) and aframe.geometry[1] is None
    transits_gpkg = tmp_path / "transits.gpkg"
    await _download(client, transits_gpkg, "/api/history/export/transits", format="gpkg")
    tg = gpd.read_file(transits_gpkg)
    assert sorted(tg["transit_id"]) == sorted(s.transit_id for s in day.transits)
    assert set(tg.geom_type) == {"LineString"} and set(tframe.geom_type) == {"LineString"}
    with psycopg.connect(day.url) as conn:
        row = conn.execute("SELECT route_line FROM transits WHERE transit_id = %s", (sim.transit_id,)).fetchone()
    assert row is not None
    line = tg.set_index("transit_id").geometry[sim.transit_id]
    assert [list(c) for c in line.coords] == row[0]["coordinates"]


async def test_tracks_of_a_period_carry_their_transit_ids(day: SimDay, client: httpx.AsyncClient) -> None:
    with psycopg.connect(day.url) as conn:
        row = conn.execute("SELECT min(t), max(t) FROM fixes").fetchone()
    assert row is not None
    params = {"format": "csv", "start": row[0].isoformat(), "end": (row[1] + timedelta(seconds=1)).isoformat()}
    resp = await client.get("/api/history/export/tracks", params=params)
    assert resp.status_code == 200
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert len(rows) == day.total_fixes
    by_key = {(r["seal_id"], int(r["seq"])): r["transit_id"] for r in rows}
    for sim in day.transits:
        assert {by_key[(sim.seal_id, f.seq)] for f in sim.fixes} == {sim.transit_id}
    # Fixes outside every transit window (before release, a seal on no transit) have none.
    assert sum(1 for r in rows if r["transit_id"] == "") == day.extra_fixes
