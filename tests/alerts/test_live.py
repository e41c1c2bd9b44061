"""Live paths with real servers: outbox → Mosquitto, group positions ← Mosquitto, SSE over a real uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiomqtt
import httpx
import orjson
import psycopg
import pytest

from alerts import lifecycle
from alerts.groups import consume_group_positions
from alerts.service import AlertService
from alerts.settings import AlertSettings
from api.app import create_app
from launcher.servers import Mosquitto
from sealwatch.config import Settings, mqtt_host_port
from simulators.groups import VirtualGroup, run_groups
from tests.alerts.conftest import Clock, fix, insert_transit, obs, rows
from tests.helpers import publish_all, serve_app, wait_until
from tests.login import auth


def add_group(url: str, gid: str, lat: float, lon: float) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO mobile_groups VALUES (%s, %s, %s, %s, true, %s)", (gid, gid, lat, lon, datetime.now(UTC))
        )


@contextlib.asynccontextmanager
async def subscriber(broker: Mosquitto, topic: str) -> AsyncIterator[aiomqtt.Client]:
    host, port = mqtt_host_port(broker.url)
    async with aiomqtt.Client(host, port, identifier=f"test-sub-{time.monotonic_ns()}") as c:
        await c.subscribe(topic, qos=1)
        yield c


async def next_message(client: aiomqtt.Client, within: float = 15.0) -> aiomqtt.Message:
    async with asyncio.timeout(within):
        async for message in client.messages:
            return message
    raise AssertionError("no message")


async def test_dispatch_reaches_the_group_over_mqtt(migrated_db: str, broker: Mosquitto, clock: Clock) -> None:
    tr = insert_transit(migrated_db, 1)
    add_group(migrated_db, "G1", 40.62, 47.2)
    settings = AlertSettings(mqtt_url=broker.url, outbox_poll_s=30.0)  # long poll: NOTIFY must wake it
    async with (
        AlertService(migrated_db, settings, None, clock=clock) as svc,
        subscriber(broker, "alerts/groups/G1") as sub,
    ):
        [ev] = await svc.on_batch([fix(tr.seal_id, 10, state="tampered")], [])
        stop = asyncio.Event()
        runner = asyncio.create_task(svc.run_outbox(stop))
        try:
            await asyncio.sleep(0.5)  # the outbox loop is idle and listening now
            async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
                await lifecycle.dispatch(conn, ev.alert_id, "officer-1", settings)
            message = await next_message(sub)
        finally:
            stop.set()
            await asyncio.wait_for(runner, 10)
    body = orjson.loads(message.payload)
    assert str(message.topic) == "alerts/groups/G1" and message.qos == 1
    assert body["alert_id"] == ev.alert_id and body["type"] == "seal_tampered" and body["group_id"] == "G1"
    assert body["transit_id"] == tr.transit_id and body["lat"] is not None and body["message_id"] >= 1
    [row] = rows(migrated_db, "SELECT sent_at, attempts FROM alert_outbox")
    assert row["sent_at"] is not None and row["attempts"] == 1


async def test_outbox_keeps_messages_while_broker_is_down(migrated_db: str, tmp_path: Any, clock: Clock) -> None:
    """A dispatch made while the broker is unreachable is published once it is back."""
    tr = insert_transit(migrated_db, 1)
    add_group(migrated_db, "G1", 40.62, 47.2)
    mosq = Mosquitto(data_dir=tmp_path / "mosq")
    settings = AlertSettings(mqtt_url=mosq.url, outbox_poll_s=0.5)
    async with AlertService(migrated_db, settings, None, clock=clock) as svc:
        [ev] = await svc.on_batch([fix(tr.seal_id, 10, state="opened")], [])
        async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
            await lifecycle.dispatch(conn, ev.alert_id, "officer-1", settings)
        stop = asyncio.Event()
        runner = asyncio.create_task(svc.run_outbox(stop))
        try:
            await asyncio.sleep(1.5)
            assert rows(migrated_db, "SELECT sent_at FROM alert_outbox") == [{"sent_at": None}]
            mosq.start()
            async with subscriber(mosq, "alerts/groups/#") as sub:
                # Retries back off up to a few seconds; the message arrives on a later round.
                message = await next_message(sub, within=30)
            assert orjson.loads(message.payload)["alert_id"] == ev.alert_id
        finally:
            stop.set()
            await asyncio.wait_for(runner, 15)
            mosq.stop()


async def test_group_positions_update_the_table(migrated_db: str, broker: Mosquitto) -> None:
    stop = asyncio.Event()
    consumer = asyncio.create_task(consume_group_positions(migrated_db, broker.url, stop))
    try:
        await asyncio.sleep(0.5)
        now = datetime.now(UTC)

        def msg(gid: str, t: datetime, lat: float, available: bool = True) -> tuple[str, bytes]:
            body = {"group_id": gid, "t": t.isoformat(), "lat": lat, "lon": 47.0, "available": available}
            return f"groups/{gid}/position", orjson.dumps(body)

        await asyncio.to_thread(
            publish_all,
            broker.url,
            [
                msg("G1", now, 40.5),
                msg("G2", now, 40.9, available=False),
                msg("G1", now - timedelta(minutes=1), 39.0),  # late: must not overwrite
                ("groups/G3/position", b"not json"),
                ("groups/G4/position", b"{}"),  # schema-invalid
                ("groups/G5/position", orjson.dumps({"group_id": "OTHER", "t": now.isoformat(), "lat": 1, "lon": 1})),
                msg("G6", now, 41.0),
            ],
        )

        def done() -> bool:
            return len(rows(migrated_db, "SELECT 1 FROM mobile_groups")) >= 3

        await wait_until(done, 15, "group rows")
        await asyncio.sleep(0.3)
    finally:
        stop.set()
        await asyncio.wait_for(consumer, 10)
    got = rows(migrated_db, "SELECT group_id, lat, available FROM mobile_groups ORDER BY group_id")
    assert got == [
        {"group_id": "G1", "lat": 40.5, "available": True},
        {"group_id": "G2", "lat": 40.9, "available": False},
        {"group_id": "G6", "lat": 41.0, "available": True},
    ]


async def test_simulated_groups_publish_and_drive_to_a_dispatch(migrated_db: str, broker: Mosquitto) -> None:
    tr = insert_transit(migrated_db, 1)
    groups = [VirtualGroup("MG-A", "A", 40.60, 47.10, speed_kmh=3600.0), VirtualGroup("MG-B", "B", 41.3, 45.1)]
    settings = AlertSettings(mqtt_url=broker.url, outbox_poll_s=0.5)
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(consume_group_positions(migrated_db, broker.url, stop)),
        asyncio.create_task(run_groups(groups, broker.url, stop, interval_s=0.2, speedup=10.0)),
    ]
    try:
        await wait_until(lambda: len(rows(migrated_db, "SELECT 1 FROM mobile_groups")) == 2, 15, "groups")
        async with AlertService(migrated_db, settings, None) as svc:
            tasks.append(asyncio.create_task(svc.run_outbox(stop)))
            [ev] = await svc.on_batch([fix(tr.seal_id, 10, state="tampered")], [])
            async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
                await lifecycle.dispatch(conn, ev.alert_id, "officer-1", settings)  # nearest: MG-A
            await wait_until(lambda: bool(groups[0].received), 15, "dispatch at MG-A")
            assert groups[0].received[0]["alert_id"] == ev.alert_id and not groups[1].received

            def arrived() -> bool:
                [g] = rows(migrated_db, "SELECT lat, lon, available FROM mobile_groups WHERE group_id = 'MG-A'")
                return abs(g["lat"] - 40.6183) < 0.01 and abs(g["lon"] - 47.15) < 0.01 and not g["available"]

            await wait_until(arrived, 20, "MG-A on scene and busy")
    finally:
        stop.set()
        for task in tasks:
            await asyncio.wait_for(task, 15)


# ---- SSE ----


@pytest.fixture
def api_url(migrated_db: str) -> Iterator[str]:
    with serve_app(create_app(Settings(database_url=migrated_db, mqtt_url=None))) as url:
        yield url


class SseReader:
    """Reads ``alert`` events from an open streaming response (a background task owns the socket,
    so a timed-out wait does not cancel, and end, the response's line iterator)."""

    def __init__(self, response: httpx.Response) -> None:
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.task = asyncio.create_task(self._read(response))

    async def _read(self, response: httpx.Response) -> None:
        event: dict[str, Any] = {}
        try:
            async for line in response.aiter_lines():
                if line == "":
                    if "data" in event:
                        await self.queue.put(event)
                    event = {}
                elif not line.startswith(":"):  # ":" starts a ping / comment
                    name, _, value = line.partition(":")
                    event[name] = value[1:] if value.startswith(" ") else value
        finally:
            await self.queue.put(None)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await self.task

    async def next(self, within: float = 10.0) -> dict[str, Any]:
        event = await asyncio.wait_for(self.queue.get(), within)
        if event is None:
            raise AssertionError("stream ended")
        return event

    async def take(self, n: int) -> list[tuple[int, str, str]]:
        out = []
        for _ in range(n):
            e = await self.next()
            data = orjson.loads(e["data"])
            assert e["event"] == "alert" and int(e["id"]) == data["stream_id"]
            out.append((int(e["id"]), data["change"], data["alert"]["type"]))
        return out


async def test_sse_resumes_with_last_event_id_without_loss_or_duplicates(
    migrated_db: str, api_url: str, service: AlertService
) -> None:
    a = insert_transit(migrated_db, 1)
    b = insert_transit(migrated_db, 2)
    first = await service.on_batch([fix(a.seal_id, 10, state="opened")], [obs(a.seal_id, a.transit_id, "jump", 10)])
    assert len(first) == 2
    headers = auth(migrated_db, "control-room", "operator")
    async with httpx.AsyncClient(base_url=api_url, timeout=30, headers=headers) as http:
        async with http.stream("GET", "/api/alerts/stream", params={"after": 0}) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            reader = SseReader(r)
            replayed = await reader.take(2)
            assert [x[0] for x in replayed] == [e.stream_id for e in first]
            # Live: a change committed while connected arrives without polling the API.
            live = await service.on_batch([fix(b.seal_id, 20, battery=4.0)], [])
            assert await reader.take(1) == [(live[0].stream_id, "raised", "low_battery")]
            last_seen = live[0].stream_id
            await reader.close()
        # Disconnected: more changes happen.
        missed = await service.on_batch(
            [fix(a.seal_id, 30, state="tampered")], [obs(b.seal_id, b.transit_id, "corridor_exit", 30)]
        )
        async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
            _, acked = await lifecycle.acknowledge(conn, first[0].alert_id, "officer-1")
        missed += acked
        assert len(missed) == 3
        async with http.stream("GET", "/api/alerts/stream", headers={"Last-Event-ID": str(last_seen)}) as r:
            reader = SseReader(r)
            got = await reader.take(3)
            assert [x[0] for x in got] == [e.stream_id for e in missed]
            assert [x[1] for x in got] == ["raised", "raised", "acknowledged"]
            # Exactly the missed ones: nothing replayed twice, nothing more pending.
            with pytest.raises(TimeoutError):
                await reader.next(within=1.5)
            await reader.close()
        # No Last-Event-ID and no ?after=: live from now, no replay.
        async with http.stream("GET", "/api/alerts/stream") as r:
            reader = SseReader(r)
            with pytest.raises(TimeoutError):
                await reader.next(within=1.0)
            newest = await service.on_batch([fix(b.seal_id, 40, state="opened", battery=4.0)], [])
            assert [x[0] for x in await reader.take(1)] == [newest[0].stream_id]
            await reader.close()
