"""Small helpers shared by tests: make fixes, publish them, wait for rows."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from ingest.worker import IngestWorker
from sealwatch.config import Settings, mqtt_host_port
from sealwatch.wire import Fix, SealState, encode_batch, encode_single, telemetry_topic


def make_fix(seq: int, t: datetime | None = None, lat: float = 40.4, lon: float = 49.8, **kw: Any) -> Fix:
    return Fix(
        seq=seq,
        t=t or datetime.now(UTC),
        lat=lat,
        lon=lon,
        speed_kmh=kw.pop("speed_kmh", 60.0),
        heading_deg=kw.pop("heading_deg", 90.0),
        sats=kw.pop("sats", 9),
        hdop=kw.pop("hdop", 0.9),
        battery_pct=kw.pop("battery_pct", 88.0),
        seal_state=kw.pop("seal_state", SealState.CLOSED),
        **kw,
    )


def single_payload(seal_id: str, fix: Fix) -> bytes:
    return orjson.dumps(encode_single(seal_id, fix))


def batch_payload(seal_id: str, fixes: list[Fix]) -> bytes:
    return orjson.dumps(encode_batch(seal_id, fixes))


def publish_all(mqtt_url: str, messages: Iterable[tuple[str, bytes]], qos: int = 1) -> int:
    """Publish with paho from the calling thread; returns once the broker acknowledged every one."""
    host, port = mqtt_host_port(mqtt_url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="", clean_session=True)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    infos = [client.publish(topic, payload, qos=qos) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(timeout=120)
    client.loop_stop()
    client.disconnect()
    return len(infos)


def telemetry(seal_id: str, payload: bytes) -> tuple[str, bytes]:
    return telemetry_topic(seal_id), payload


def count(url: str, query: str, *params: Any) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(query, params).fetchone()
        assert row is not None
        return int(row[0])


async def wait_until(predicate: Callable[[], bool], within: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(0.1)


def minutes_ago(n: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=n)


def ingest_settings(**kw: object) -> Settings:
    return Settings(mqtt_client_id=f"ingest-test-{uuid.uuid4().hex[:8]}", batch_max_wait_ms=50, **kw)  # type: ignore[arg-type]


class RunningWorker:
    def __init__(self, worker: IngestWorker) -> None:
        self.worker = worker
        self.stop = asyncio.Event()
        self.task: asyncio.Task[object] | None = None

    async def start(self) -> RunningWorker:
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.worker.run(self.stop))
        await asyncio.wait_for(self.worker.subscribed.wait(), 15)
        return self

    async def halt(self) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 60)
        assert not self.task.cancelled() and self.task.exception() is None
