"""History API over a simulated day: list filters and keyset pages, the full record, the exact track."""

from __future__ import annotations

from datetime import datetime

import httpx
import psycopg

from tests.history.conftest import SimDay


async def test_track_matches_what_was_written_fix_for_fix(day: SimDay, client: httpx.AsyncClient) -> None:
    for sim in day.transits:
        resp = await client.get(f"/api/history/transits/{sim.transit_id}/track")
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("application/geo+json")
        (feature,) = resp.json()["features"]
        props = feature["properties"]
        assert props["seal_id"] == sim.seal_id and props["points"] == len(sim.fixes) and not props["truncated"]
        assert feature["geometry"]["coordinates"] == [[f.lon, f.lat] for f in sim.fixes]
        assert props["seqs"] == [f.seq for f in sim.fixes]
        assert [datetime.fromisoformat(t) for t in props["times"]] == [f.t for f in sim.fixes]
        assert props["speeds"] == [f.speed_kmh for f in sim.fixes]


async def test_full_record_of_a_transit(day: SimDay, client: httpx.AsyncClient) -> None:
    sim = day.transits[0]
    with psycopg.connect(day.url) as conn:
        conn.execute(
            "INSERT INTO observations (seal_id, transit_id, kind, t, lat, lon)"
            " VALUES (%s, %s, 'stop_start', %s, 40, 49)",
            (sim.seal_id, sim.transit_id, sim.fixes[100].t),
        )
    resp = await client.get(f"/api/history/transits/{sim.transit_id}")
    assert resp.status_code == 200
    body = resp.json()
    assert body["fix_count"] == len(sim.fixes)
    assert body["seals"][0]["seal_id"] == sim.seal_id and body["seals"][0]["fixes"] == len(sim.fixes)
    assert body["track_url"] == f"/api/history/transits/{sim.transit_id}/track"
    assert body["declaration"]["mrn"] == sim.transit_id and body["declaration"]["items"]
    assert [h["to_status"] for h in body["declaration"]["status_history"]][-1] == "released"
    assert body["risk"]["channel"] == body["release"]["channel"]
    assert body["release"]["actor"] == "demo"
    assert [o["kind"] for o in body["observations"]] == ["stop_start"]
    assert body["alerts_available"] is True and body["alerts"] == []
    assert body["arrival"]["arrived_at"] is None and body["closure"]["closed_at"] is None
    # The audit trail names the transit's own insert.
    assert any(a["table_name"] == "transits" and a["op"] == "INSERT" for a in body["audit"])
    missing = await client.get("/api/history/transits/NOPE")
    assert missing.status_code == 404


async def test_keyset_pages_are_stable_and_complete(day: SimDay, client: httpx.AsyncClient) -> None:
    everything = (await client.get("/api/history/transits", params={"limit": 500})).json()
    ids = [t["transit_id"] for t in everything["items"]]
    assert sorted(ids) == sorted(s.transit_id for s in day.transits) and everything["next_cursor"] is None
    keys = [(t["released_at"], t["transit_id"]) for t in everything["items"]]
    assert keys == sorted(keys, reverse=True)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/history/transits", params=params)).json()
        seen += [t["transit_id"] for t in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids and pages == len(ids)
    bad = await client.get("/api/history/transits", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400


async def test_filters(day: SimDay, client: httpx.AsyncClient) -> None:
    sim = day.transits[1]

    async def ids(**params: str) -> list[str]:
        resp = await client.get("/api/history/transits", params=params)
        assert resp.status_code == 200, resp.text
        return [t["transit_id"] for t in resp.json()["items"]]

    assert await ids(seal=sim.seal_id) == [sim.transit_id]
    assert await ids(transit=sim.transit_id) == [sim.transit_id]
    assert await ids(declaration=sim.transit_id) == [sim.transit_id]  # MRN
    with psycopg.connect(day.url) as conn:
        row = conn.execute(
            "SELECT d.id, d.carrier_tin, t.channel FROM transits t JOIN declarations d ON d.id = t.declaration_id"
            " WHERE t.transit_id = %s",
            (sim.transit_id,),
        ).fetchone()
        assert row is not None
        decl_id, carrier, channel = row
        same_carrier = {
            r[0]
            for r in conn.execute(
                "SELECT t.transit_id FROM transits t JOIN declarations d ON d.id = t.declaration_id"
                " WHERE d.carrier_tin = %s",
                (carrier,),
            )
        }
        # An alert on one transit only, to filter by alert type.
        conn.execute(
            """INSERT INTO alerts (type, severity, transit_id, seal_id, first_t, last_t, raised_at, updated_at)
               VALUES ('unauthorized_stop', 'warning', %s, %s, now(), now(), now(), now())""",
            (sim.transit_id, sim.seal_id),
        )
    assert await ids(declaration=str(decl_id)) == [sim.transit_id]
    assert set(await ids(carrier=carrier)) == same_carrier
    assert sim.transit_id in await ids(channel=channel)
    assert await ids(channel="no-such-channel") == []
    assert set(await ids(route=sim.route_code or "")) == {
        s.transit_id for s in day.transits if s.route_code == sim.route_code
    }
    assert await ids(alert_type="unauthorized_stop") == [sim.transit_id]
    assert await ids(alert_type="seal_opened") == []
    assert await ids(end=min(s.released_at for s in day.transits).isoformat()) == []
    assert len(await ids(start=datetime.now().astimezone().isoformat())) == len(day.transits)  # none closed
    assert await ids(status="closed") == []
