"""The whole customs path through the API against a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import psycopg
from shapely.geometry import Point, shape

from tests.customs.bodies import flow_body, valid_body

PHYTO = {
    "permit_no": "AFSA-PHYTO-2025-0042",
    "permit_type": "PHYTO",
    "holder_tin": "1234567890",
    "hs_prefixes": ["0805"],
    "quantity_kg": 20000,
    "valid_from": "2025-01-01",
    "valid_to": "2099-12-31",
}


async def test_submit_hold_permit_accept_risk_release_arrive_close(client: httpx.AsyncClient, migrated_db: str) -> None:
    seal = await client.post("/api/seal-inventory", json={"seal_id": "AZS-90001", "battery_pct": 91})
    assert seal.status_code == 201 and seal.json()["status"] == "available"

    lodged = await client.post("/api/declarations", json=flow_body())
    assert lodged.status_code == 201, lodged.text
    out = lodged.json()
    assert out["status"] == "held"
    assert [(r["path"], r["code"], r["permit_type"]) for r in out["hold_reasons"]] == [
        ("items/1", "permit_missing", "PHYTO")
    ]
    decl_id = out["id"]

    # Officer cannot release a held declaration: illegal transition, clear message.
    illegal = await client.post(f"/api/declarations/{decl_id}/release")
    assert illegal.status_code == 409
    assert "held" in illegal.json()["detail"]["message"]

    permit = await client.post("/api/permits", json=PHYTO)
    assert permit.status_code == 201 and permit.json()["agency_code"] == "AFSA"
    dup = await client.post("/api/permits", json=PHYTO)
    assert dup.status_code == 409

    rechecked = await client.post(f"/api/declarations/{decl_id}/recheck")
    assert rechecked.status_code == 200 and rechecked.json()["status"] == "accepted"
    drawn = (await client.get("/api/permits", params={"holder_tin": "1234567890"})).json()
    assert [p["used_kg"] for p in drawn] == ["8500.000"]  # drawn in the accepting transaction

    assessed = await client.post(f"/api/declarations/{decl_id}/risk")
    assert assessed.status_code == 201
    a = assessed.json()
    assert {f["code"] for f in a["fired"]} == {"HS_ELECTRONICS", "UNDERVALUED", "ROUTE_LONG_TRANSIT"}
    assert a["score"] == 55 and a["channel"] == "yellow" and a["monitored"] and a["profile_version"] == 1
    assert a["controls"] == ["documents", "gps"]

    with psycopg.connect(migrated_db, autocommit=True) as listener:
        listener.execute("LISTEN sealwatch_transits")
        released = await client.post(f"/api/declarations/{decl_id}/release")
        assert released.status_code == 201, released.text
        transit = released.json()
        heard = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
    assert heard == [transit["transit_id"]]
    assert transit["seal_id"] == "AZS-90001" and transit["seal_ids"] == ["AZS-90001"]

    got = (await client.get(f"/api/transits/{transit['transit_id']}")).json()
    released_at = datetime.fromisoformat(got["released_at"])
    assert datetime.fromisoformat(got["deadline"]) - released_at == timedelta(hours=14)  # RBR-BAK limit
    corridor = shape(got["corridor"])
    assert got["corridor"]["type"] == "Polygon" and got["corridor_width_m"] == 2000
    assert corridor.contains(Point(49.8920, 40.3777)) and corridor.contains(Point(45.0772, 41.3311))
    assert not corridor.contains(Point(47.0, 42.0))
    listed = (await client.get("/api/transits", params={"status": "active"})).json()
    assert [t["transit_id"] for t in listed] == [transit["transit_id"]]
    with psycopg.connect(migrated_db) as conn:
        view = conn.execute("SELECT transit_id, seal_id, office_destination FROM active_transits").fetchall()
    assert view == [(transit["transit_id"], "AZS-90001", "AZBAK")]

    inv = (await client.get("/api/seal-inventory", params={"status": "in_use"})).json()
    assert [(s["seal_id"], s["current_transit_id"]) for s in inv] == [("AZS-90001", transit["transit_id"])]

    early_close = await client.post(f"/api/transits/{transit['transit_id']}/close")
    assert early_close.status_code == 409

    at = datetime.now(UTC) + timedelta(hours=9)
    arrived = await client.post(f"/api/transits/{transit['transit_id']}/arrive", json={"at": at.isoformat()})
    assert arrived.status_code == 200 and arrived.json()["status"] == "arrived"
    again = await client.post(f"/api/transits/{transit['transit_id']}/arrive")
    assert again.status_code == 409

    closed = await client.post(f"/api/transits/{transit['transit_id']}/close")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    back = (await client.get("/api/seal-inventory")).json()
    assert [(s["seal_id"], s["status"], s["current_transit_id"]) for s in back] == [("AZS-90001", "available", None)]

    final = (await client.get(f"/api/declarations/{decl_id}")).json()
    assert final["status"] == "closed" and final["mrn"] == transit["transit_id"]
    assert [h["to_status"] for h in final["history"]] == [
        "submitted", "held", "accepted", "released", "arrived", "closed",
    ]  # fmt: skip
    assert final["arrived_at"] is not None and final["closed_at"] is not None and final["risk"]["channel"] == "yellow"
    with psycopg.connect(migrated_db) as conn:
        assert conn.execute("SELECT count(*) FROM active_transits").fetchone() == (0,)

    cancel_closed = await client.post(f"/api/declarations/{decl_id}/cancel", json={"reason": "too late"})
    assert cancel_closed.status_code == 409


async def test_control_errors_are_422_with_every_error(client: httpx.AsyncClient) -> None:
    body = valid_body(office_of_departure="NOPE", vehicle_plate="?")
    body["items"][1]["hs_code"] = "12"
    resp = await client.post("/api/declarations", json=body)
    assert resp.status_code == 422
    found = {(e["path"], e["code"]) for e in resp.json()["errors"]}
    assert found == {
        ("office_of_departure", "unknown_office"),
        ("vehicle_plate", "plate_format"),
        ("items/1/hs_code", "hs_code_format"),
    }
    assert (await client.get("/api/declarations/1")).status_code == 404  # nothing stored


async def test_no_free_seal_is_409_and_rolls_back(client: httpx.AsyncClient) -> None:
    lodged = (await client.post("/api/declarations", json=valid_body())).json()
    assert lodged["status"] == "accepted"
    resp = await client.post(f"/api/declarations/{lodged['id']}/release", json={"monitor_all": True})
    assert resp.status_code == 409 and resp.json()["detail"]["code"] == "no_free_seal"
    view = (await client.get(f"/api/declarations/{lodged['id']}")).json()
    assert view["status"] == "accepted" and view["transit_id"] is None


async def test_low_battery_seal_is_refused(client: httpx.AsyncClient) -> None:
    await client.post("/api/seal-inventory", json={"seal_id": "AZS-LOW01", "battery_pct": 12})
    lodged = (await client.post("/api/declarations", json=valid_body())).json()
    resp = await client.post(
        f"/api/declarations/{lodged['id']}/release", json={"monitor_all": True, "seal_ids": ["AZS-LOW01"]}
    )
    assert resp.status_code == 409 and "below" in resp.json()["detail"]["message"]
    auto = await client.post(f"/api/declarations/{lodged['id']}/release", json={"monitor_all": True})
    assert auto.status_code == 409 and auto.json()["detail"]["code"] == "no_free_seal"


async def test_reference_data_and_zone_edit(client: httpx.AsyncClient) -> None:
    zones = (await client.get("/api/zones")).json()
    offices = {z["code"] for z in zones if z["kind"] != "authorized_stop"}
    assert offices == {"AZRBR", "AZAST", "AZSAM", "AZBLK", "AZBAK", "AZALT", "AZGNJ"}
    routes = (await client.get("/api/routes")).json()
    assert len(routes) == 6 and all(r["polyline"]["type"] == "LineString" for r in routes)
    put = await client.put(
        "/api/zones/YEVSTOP",
        json={"name": "Yevlakh truck park", "kind": "authorized_stop", "center_lat": 40.6183, "center_lon": 47.15,
              "radius_m": 500},
    )  # fmt: skip
    assert put.status_code == 201 and shape(put.json()["geometry"]).contains(Point(47.15, 40.6183))
    bad = await client.put("/api/zones/BAD", json={"name": "x", "kind": "moon_base", "center_lat": 0, "center_lon": 0})
    assert bad.status_code == 422
    baku = next(z for z in zones if z["code"] == "AZBAK")
    off = await client.put("/api/zones/AZBAK", json={**baku, "active": False})
    assert off.status_code == 422  # unknown fields (code, updated_at): bodies are strict
    body = {k: baku[k] for k in ("name", "kind", "center_lat", "center_lon", "radius_m", "geometry")}
    deactivated = await client.put("/api/zones/AZBAK", json={**body, "active": False})
    assert deactivated.status_code == 200
    resp = await client.post("/api/declarations", json=valid_body())
    assert ("office_of_destination", "unknown_office") in {(e["path"], e["code"]) for e in resp.json()["errors"]}
