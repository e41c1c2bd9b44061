"""The alerts API over a real database: listing, lifecycle with history and 409s, groups, stats."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import psycopg
import pytest

from alerts.service import AlertService
from api.app import create_app
from sealwatch.config import Settings
from tests.alerts.conftest import Clock, at, fix, insert_transit, obs, rows
from tests.login import auth


@pytest.fixture
async def client(migrated_db: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=migrated_db))
    headers = auth(migrated_db, "officer-1", "operator")  # the control room; its name is the actor
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers) as c,
    ):
        yield c


def add_group(url: str, gid: str, lat: float, lon: float, available: bool = True) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO mobile_groups VALUES (%s, %s, %s, %s, %s, %s)",
            (gid, f"Group {gid}", lat, lon, available, datetime.now(UTC)),
        )


async def test_lifecycle_with_history_and_conflicts(
    migrated_db: str, service: AlertService, client: httpx.AsyncClient
) -> None:
    tr = insert_transit(migrated_db, 1)
    [ev] = await service.on_batch([fix(tr.seal_id, 10, state="tampered")], [])
    add_group(migrated_db, "G1", 40.7, 47.3)
    add_group(migrated_db, "G2", 41.3, 45.1)
    aid = ev.alert_id

    r = await client.get("/api/alerts", params={"status": "unresolved"})
    assert r.status_code == 200 and [a["id"] for a in r.json()] == [aid]
    assert int(r.headers["X-Alert-Stream-Id"]) == ev.stream_id

    r = await client.post(f"/api/alerts/{aid}/acknowledge")
    assert r.status_code == 200 and r.json()["status"] == "acknowledged" and r.json()["acknowledged_by"] == "officer-1"
    r = await client.post(f"/api/alerts/{aid}/acknowledge", headers=auth(migrated_db, "officer-2", "operator"))
    assert r.status_code == 409

    r = await client.get("/api/groups/suggest", params={"alert_id": aid})
    assert [g["group_id"] for g in r.json()] == ["G1", "G2"]
    r = await client.get("/api/groups/G2/suggest", params={"alert_id": aid})
    assert r.json()["rank"] == 2 and r.json()["distance_m"] > 100_000

    r = await client.post(f"/api/alerts/{aid}/dispatch", json={"auto": True})
    assert r.status_code == 200 and r.json()["status"] == "dispatched" and r.json()["group_id"] == "G1"
    # G1 is busy now: the next suggestion skips it.
    r = await client.get("/api/groups/suggest", params={"alert_id": aid})
    assert [g["group_id"] for g in r.json()] == ["G2"]

    r = await client.post(f"/api/alerts/{aid}/resolve", json={"outcome": "nonsense"})
    assert r.status_code == 422
    # The mobile group G1, logged in as itself, resolves on scene: it is the actor.
    r = await client.post(
        f"/api/alerts/{aid}/resolve",
        json={"outcome": "violation_confirmed", "comment": "seal cut, goods missing"},
        headers=auth(migrated_db, "G1", "mobile_group", group_id="G1"),
    )
    body = r.json()
    assert r.status_code == 200 and body["status"] == "resolved" and body["resolved_by"] == "G1"
    assert body["outcome"] == "violation_confirmed" and body["comment"] == "seal cut, goods missing"
    assert [(h["kind"], h["actor"], h["from_status"], h["to_status"]) for h in body["history"]] == [
        ("raised", "system", None, "open"),
        ("acknowledged", "officer-1", "open", "acknowledged"),
        ("dispatched", "officer-1", "acknowledged", "dispatched"),
        ("resolved", "G1", "dispatched", "resolved"),
    ]
    for step, payload in (("acknowledge", {}), ("dispatch", {"group_id": "G2"}), ("resolve", {"outcome": "other"})):
        r = await client.post(f"/api/alerts/{aid}/{step}", json=payload)
        assert r.status_code == 409, step
    assert (await client.post("/api/alerts/999/acknowledge")).status_code == 404
    assert (await client.get("/api/alerts/999")).status_code == 404
    # The dispatch left exactly one message for G1 in the outbox.
    assert rows(migrated_db, "SELECT topic FROM alert_outbox") == [{"topic": "alerts/groups/G1"}]
    # Every step is on the stream.
    changes = [r["change"] for r in rows(migrated_db, "SELECT change FROM alert_stream ORDER BY id")]
    assert changes == ["raised", "acknowledged", "dispatched", "resolved"]


async def test_dispatch_without_available_group_is_409(
    migrated_db: str, service: AlertService, client: httpx.AsyncClient
) -> None:
    tr = insert_transit(migrated_db, 1)
    [ev] = await service.on_batch([fix(tr.seal_id, 10, state="opened")], [])
    add_group(migrated_db, "G9", 40.6, 47.1, available=False)
    r = await client.post(f"/api/alerts/{ev.alert_id}/dispatch", json={})
    assert r.status_code == 409
    r = await client.post(f"/api/alerts/{ev.alert_id}/dispatch", json={"group_id": "NOPE"})
    assert r.status_code == 404
    assert rows(migrated_db, "SELECT count(*) AS n FROM alert_outbox") == [{"n": 0}]


async def test_filters(migrated_db: str, service: AlertService, client: httpx.AsyncClient) -> None:
    a = insert_transit(migrated_db, 1)
    b = insert_transit(migrated_db, 2)
    await service.on_batch(
        [fix(a.seal_id, 10, battery=5.0), fix(b.seal_id, 10, state="opened")],
        [obs(b.seal_id, b.transit_id, "jump", 10)],
    )
    r = await client.get("/api/alerts", params={"transit_id": b.transit_id})
    assert sorted(x["type"] for x in r.json()) == ["gps_jump", "seal_opened"]
    r = await client.get("/api/alerts", params=[("type", "low_battery"), ("type", "gps_jump")])
    assert sorted((x["type"], x["severity"]) for x in r.json()) == [
        ("gps_jump", "warning"),
        ("low_battery", "critical"),
    ]
    r = await client.get("/api/alerts", params={"seal_id": a.seal_id, "status": "resolved"})
    assert r.json() == []
    r = await client.get("/api/alerts", params={"seal_id": a.seal_id, "status": "open"})
    [only] = r.json()
    r = await client.get(f"/api/alerts/{only['id']}")
    assert r.status_code == 200 and r.json()["type"] == "low_battery" and r.json()["history"][0]["kind"] == "raised"


async def test_stats_by_type_route_and_carrier(
    migrated_db: str, service: AlertService, client: httpx.AsyncClient
) -> None:
    a = insert_transit(migrated_db, 1, route_code="RBR-BAK", carrier=("Silk Way Trans", "1700456123"))
    b = insert_transit(migrated_db, 2, route_code="SAM-BAK", carrier=("Volga Freight OOO", "RU7701234567"))
    c = insert_transit(migrated_db, 3, route_code="SAM-BAK", carrier=("Volga Freight OOO", "RU7701234567"))
    await service.on_batch(
        [fix(a.seal_id, 10, state="opened"), fix(b.seal_id, 10, state="opened"), fix(c.seal_id, 10, battery=5.0)],
        [],
    )
    ids = {r["transit_id"]: r["id"] for r in rows(migrated_db, "SELECT id, transit_id FROM alerts")}
    await client.post(f"/api/alerts/{ids[a.transit_id]}/resolve", json={"outcome": "false_alarm"})
    await client.post(f"/api/alerts/{ids[b.transit_id]}/resolve", json={"outcome": "violation_confirmed"})
    stats = (await client.get("/api/alerts/stats")).json()
    assert stats["total"] == 3
    by_type = {r["key"]: r for r in stats["by_type"]}
    assert by_type["seal_opened"]["total"] == 2 and by_type["seal_opened"]["false_alarm_rate"] == 0.5
    assert by_type["low_battery"]["open"] == 1 and by_type["low_battery"]["false_alarm_rate"] is None
    by_route = {r["key"]: (r["total"], r["false_alarms"]) for r in stats["by_route"]}
    assert by_route == {"SAM-BAK": (2, 0), "RBR-BAK": (1, 1)}
    by_carrier = {r["label"]: (r["total"], r["violations"], r["false_alarm_rate"]) for r in stats["by_carrier"]}
    assert by_carrier == {"Volga Freight OOO": (2, 1, 0.0), "Silk Way Trans": (1, 0, 1.0)}


async def test_an_alert_found_late_says_so_and_when_it_was_found(
    migrated_db: str, service: AlertService, client: httpx.AsyncClient, clock: Clock
) -> None:
    from geofence.late import Rejudged

    tr = insert_transit(migrated_db, 1)
    await service.on_batch([fix(tr.seal_id, 0), fix(tr.seal_id, 3000), fix(tr.seal_id, 3060, state="tampered")], [])
    backlog = [fix(tr.seal_id, s, state="opened" if 900 <= s < 1500 else "closed") for s in range(0, 3001, 60)]
    late = Rejudged(tr.seal_id, tr.transit_id, at(60).timestamp(), at(0).timestamp(), backlog, [], [])
    [ev] = await service.on_batch([], [], late=[late])
    r = await client.get("/api/alerts", params={"status": "unresolved"})
    got = {a["type"]: a for a in r.json()}
    assert got["seal_opened"]["late"] is True and got["seal_tampered"]["late"] is False
    assert datetime.fromisoformat(got["seal_opened"]["detected_at"]) == clock.now
    assert datetime.fromisoformat(got["seal_opened"]["first_t"]) == at(900)
    r = await client.get(f"/api/alerts/{ev.alert_id}")
    assert r.status_code == 200 and r.json()["late"] is True
