"""The mobile group's API: its dispatches as the phone shows them, its steps (acknowledge, on scene,
resolve) sent twice changing nothing, and its position from the phone."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
from psycopg.rows import dict_row

from alerts.service import AlertService
from sealwatch.fixes import FixRecord
from store.fixes import FixWriter
from tests.alerts.conftest import fix, insert_transit, rows
from tests.alerts.test_api import add_group, client  # noqa: F401  (the operator's API client fixture)
from tests.login import auth

SHAMKIR_EAST = (40.84, 46.15)


async def dispatched_alert(url: str, service: AlertService, client: httpx.AsyncClient) -> int:  # noqa: F811
    tr = insert_transit(url, 1)
    await service.on_batch([fix(tr.seal_id, 10, lat=SHAMKIR_EAST[0], lon=SHAMKIR_EAST[1], state="opened")], [])
    [alert] = rows(url, "SELECT id FROM alerts")
    now = datetime.now(UTC)
    with psycopg.connect(url, row_factory=dict_row) as conn:  # the truck's latest fix, a bit further east
        FixWriter(conn).write(
            [FixRecord(tr.seal_id, 99, now, 40.85, 46.2, 35.0, 90.0, 9, 0.9, 80.0, "opened", now)], []
        )
    add_group(url, "G1", 40.70, 46.30)
    assert (await client.post(f"/api/alerts/{alert['id']}/dispatch", json={"group_id": "G1"})).status_code == 200
    return int(alert["id"])


async def test_the_group_screen_data(
    migrated_db: str,
    service: AlertService,
    client: httpx.AsyncClient,  # noqa: F811
) -> None:
    alert_id = await dispatched_alert(migrated_db, service, client)
    group = auth(migrated_db, "mg-1", "mobile_group", group_id="G1")
    other = auth(migrated_db, "mg-2", "mobile_group", group_id="G2")
    resp = await client.get("/api/group/dispatches", headers=group)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    [item] = body["alerts"]
    assert item["id"] == alert_id and item["status"] == "dispatched"
    assert item["brief"]["plate"] == "10-AA-100" and item["brief"]["place"]["name"] == "Shamkir"
    assert item["brief"]["type_text"]["ru"] == "Пломба вскрыта"
    assert (item["truck"]["lat"], item["truck"]["lon"]) == (40.85, 46.2)
    assert [h["kind"] for h in item["history"]] == ["raised", "dispatched"]
    assert body["group"]["group_id"] == "G1"
    assert (await client.get("/api/group/dispatches", headers=other)).json()["alerts"] == []
    assert (await client.get("/api/group/dispatches")).status_code == 403  # an operator's role may not
    assert (await client.get("/api/group/dispatches", headers=auth(migrated_db))).status_code == 409  # admin: no group


async def test_steps_sent_twice_change_nothing(
    migrated_db: str,
    service: AlertService,
    client: httpx.AsyncClient,  # noqa: F811
) -> None:
    alert_id = await dispatched_alert(migrated_db, service, client)
    group = auth(migrated_db, "mg-1", "mobile_group", group_id="G1")

    async def step(path: str, key: str, body: dict[str, object]) -> httpx.Response:
        return await client.post(f"/api/alerts/{alert_id}/{path}", json=body, headers={**group, "Idempotency-Key": key})

    ack_key = uuid.uuid4().hex
    first = await step("acknowledge", ack_key, {"comment": "on our way"})
    again = await step("acknowledge", ack_key, {"comment": "on our way"})
    assert first.status_code == again.status_code == 200
    assert again.headers.get("idempotent-replayed") == "true" and again.json() == first.json()
    # A new key is a new request: the group has acknowledged already.
    assert (await step("acknowledge", uuid.uuid4().hex, {})).status_code == 409
    # Two copies of the same step at once (a flaky connection): one happens.
    scene_key = uuid.uuid4().hex
    answers = await asyncio.gather(*(step("on-scene", scene_key, {}) for _ in range(3)))
    assert [a.status_code for a in answers] == [200, 200, 200]
    resolve_key = uuid.uuid4().hex
    resolved = await step("resolve", resolve_key, {"outcome": "false_alarm", "comment": "seal intact"})
    replay = await step("resolve", resolve_key, {"outcome": "false_alarm", "comment": "seal intact"})
    assert resolved.json()["status"] == "resolved" and replay.json() == resolved.json()
    reused = await step("resolve", resolve_key, {"outcome": "violation_confirmed"})
    assert reused.status_code == 422  # a key names one request
    history = rows(migrated_db, "SELECT kind, actor FROM alert_events WHERE alert_id = %s ORDER BY id", alert_id)
    assert [(h["kind"], h["actor"]) for h in history] == [
        ("raised", "system"),
        ("dispatched", "officer-1"),
        ("acknowledged", "mg-1"),
        ("on_scene", "mg-1"),
        ("resolved", "mg-1"),
    ]
    bad_key = await client.post(f"/api/alerts/{alert_id}/acknowledge", headers={**group, "Idempotency-Key": "x"})
    assert bad_key.status_code == 422


async def test_the_phone_reports_the_group_position(migrated_db: str, client: httpx.AsyncClient) -> None:  # noqa: F811
    group = auth(migrated_db, "mg-1", "mobile_group", group_id="G1")
    now = datetime.now(UTC)
    resp = await client.post("/api/group/position", json={"lat": 40.5, "lon": 47.1}, headers=group)
    assert resp.status_code == 200 and resp.json()["stored"] is True
    older = {"lat": 41.0, "lon": 45.0, "t": (now - timedelta(minutes=5)).isoformat()}
    assert (await client.post("/api/group/position", json=older, headers=group)).json()["stored"] is False
    future = {"lat": 41.0, "lon": 45.0, "t": (now + timedelta(hours=1)).isoformat()}
    assert (await client.post("/api/group/position", json=future, headers=group)).status_code == 422
    assert rows(migrated_db, "SELECT group_id, lat, lon, available FROM mobile_groups") == [
        {"group_id": "G1", "lat": 40.5, "lon": 47.1, "available": True}
    ]
    suggest = await client.get("/api/groups", params={})
    assert [g["group_id"] for g in suggest.json()] == ["G1"]
