"""The declaration queue (GET /api/declarations): filters, keyset pages, a declarant's own only;
and what an officer's declaration page reads: control results, permits drawn, release preview."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from shapely.geometry import Point, shape

from tests.customs.bodies import flow_body, valid_body
from tests.customs.test_api_flow import PHYTO
from tests.login import auth


@pytest.fixture
async def lodged(client: httpx.AsyncClient) -> list[int]:
    """Seven declarations: five of declarant 1234567890 (one held for a permit), two of another."""
    ids = []
    for i in range(5):
        body = valid_body(lrn=f"Q-{i}", vehicle_plate=f"10 AB {100 + i}")
        if i == 2:
            body = flow_body(lrn="Q-2")  # oranges without a permit: held
        if i == 4:
            body["carrier"] = {"name": "Caspian Logistics LLC", "tin": "1402345678"}
        resp = await client.post("/api/declarations", json=body)
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()["id"])
    for i in range(2):
        other = valid_body(lrn=f"O-{i}", declarant={"tin": "9876543210", "name": "Other LLC"})
        resp = await client.post("/api/declarations", json=other)
        assert resp.status_code == 201
        ids.append(resp.json()["id"])
    return ids


async def _ids(client: httpx.AsyncClient, **params: object) -> list[int]:
    resp = await client.get("/api/declarations", params=params)  # type: ignore[arg-type]
    assert resp.status_code == 200, resp.text
    return [d["id"] for d in resp.json()["items"]]


async def test_filters(client: httpx.AsyncClient, lodged: list[int]) -> None:
    assert await _ids(client) == lodged  # oldest first: the order a queue is worked in
    assert await _ids(client, order="newest") == lodged[::-1]
    assert await _ids(client, status="held") == [lodged[2]]
    assert await _ids(client, status=["held", "accepted"]) == lodged
    assert await _ids(client, declarant_tin="9876543210") == lodged[5:]
    assert await _ids(client, carrier="caspian") == [lodged[4]]  # part of the name, any case
    assert await _ids(client, carrier="1402345678") == [lodged[4]]
    assert await _ids(client, q="Q-3") == [lodged[3]]
    assert await _ids(client, q="10 ab 101") == [lodged[1]]  # plate
    assert await _ids(client, q="%") == []  # a literal percent sign, not a wildcard
    assert await _ids(client, route="rbr-bak") == lodged
    assert await _ids(client, office="AZGNJ") == lodged  # an office of transit
    assert await _ids(client, office="AZAST") == []
    await client.post(f"/api/declarations/{lodged[0]}/risk")
    first = (await client.get("/api/declarations", params={"status": "accepted"})).json()["items"][0]
    assert first["channel"] in ("green", "blue", "yellow", "red") and first["items"] == 2
    assert await _ids(client, channel=first["channel"]) == [lodged[0]]
    held = (await client.get("/api/declarations", params={"status": "held"})).json()["items"][0]
    assert held["hold_reasons"] == 1 and held["channel"] is None and held["transit_id"] is None
    bad = await client.get("/api/declarations", params={"status": "nonsense"})
    assert bad.status_code == 422


async def test_keyset_pages_count_and_stay_stable(client: httpx.AsyncClient, lodged: list[int]) -> None:
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/declarations", params=params)).json()  # type: ignore[arg-type]
        assert page["total"] == len(lodged)
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if len(seen) == 3:  # one lodged while paging lands at the end, not in the middle
            late = await client.post("/api/declarations", json=valid_body(lrn="LATE"))
            assert late.status_code == 201
            lodged = [*lodged, late.json()["id"]]
        if cursor is None:
            break
    assert seen == lodged
    newest: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2, "order": "newest", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/declarations", params=params)).json()  # type: ignore[arg-type]
        newest += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert newest == lodged[::-1]
    bad = await client.get("/api/declarations", params={"cursor": "garbage"})
    assert bad.status_code == 400


async def test_a_declarant_sees_only_its_own(client: httpx.AsyncClient, lodged: list[int], migrated_db: str) -> None:
    mine = auth(migrated_db, "decl-one", "declarant", tin="1234567890")
    resp = await client.get("/api/declarations", headers=mine, params={"declarant_tin": "9876543210"})
    assert resp.status_code == 200
    assert [d["id"] for d in resp.json()["items"]] == lodged[:5] and resp.json()["total"] == 5
    theirs = lodged[5]
    for path in (f"/api/declarations/{theirs}/control", f"/api/declarations/{theirs}/permits"):
        assert (await client.get(path, headers=mine)).status_code == 404
    preview = await client.get(f"/api/declarations/{lodged[0]}/release-preview", headers=mine)
    assert preview.status_code == 403


async def test_what_the_officer_page_reads(client: httpx.AsyncClient, lodged: list[int], migrated_db: str) -> None:
    officer = auth(migrated_db, "off", "officer")
    held = lodged[2]
    control = (await client.get(f"/api/declarations/{held}/control", headers=officer)).json()
    assert control["errors"] == [] and [(r["path"], r["code"]) for r in control["hold_reasons"]] == [
        ("items/1", "permit_missing")
    ]
    assert (await client.get(f"/api/declarations/{held}/permits", headers=officer)).json() == []
    assert (await client.post("/api/permits", json=PHYTO, headers=officer)).status_code == 201
    assert (await client.post(f"/api/declarations/{held}/recheck", headers=officer)).json()["status"] == "accepted"
    drawn = (await client.get(f"/api/declarations/{held}/permits", headers=officer)).json()
    assert [(u["item_no"], u["permit_type"], u["quantity_kg"]) for u in drawn] == [(2, "PHYTO", "8500.000")]
    # Reference data changed since lodging: the re-run control shows it at its field.
    with psycopg.connect(migrated_db) as conn:
        conn.execute("UPDATE declarations SET body = jsonb_set(body, '{origin_country}', '\"XX\"') WHERE id = %s",
                     (lodged[0],))  # fmt: skip
    rerun = (await client.get(f"/api/declarations/{lodged[0]}/control", headers=officer)).json()
    assert [(e["path"], e["code"]) for e in rerun["errors"]] == [("origin_country", "unknown_country")]

    for seal, battery in (("AZS-70001", 95), ("AZS-70002", 60), ("AZS-70003", 10)):
        await client.post("/api/seal-inventory", json={"seal_id": seal, "battery_pct": battery}, headers=officer)
    preview = (await client.get(f"/api/declarations/{held}/release-preview", headers=officer)).json()
    assert preview["suggested_seals"] == ["AZS-70001"]
    assert [s["seal_id"] for s in preview["available_seals"]] == ["AZS-70001", "AZS-70002"]  # not the flat one
    assert preview["time_limit_h"] == 14 and preview["corridor_width_m"] == 2000
    assert shape(preview["corridor"]).contains(Point(49.8920, 40.3777))
    released = await client.post(f"/api/declarations/{held}/release", json={"seal_ids": ["AZS-70002"]}, headers=officer)
    assert released.status_code == 201, released.text
    assert released.json()["seal_ids"] == ["AZS-70002"] and released.json()["corridor"] == preview["corridor"]
    # An officer may not handle alerts or read dead letters.
    assert (await client.post("/api/alerts/1/dispatch", headers=officer)).status_code == 403
    assert (await client.get("/api/dead-letters", headers=officer)).status_code == 403
