"""Small helpers shared by tests: make fixes, sign and publish them, wait for rows."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import paho.mqtt.client as paho
import psycopg
import uvicorn
from paho.mqtt.enums import CallbackAPIVersion
from psycopg.rows import dict_row

from ingest.worker import IngestWorker
from launcher.servers import free_port
from sealwatch.config import Settings, mqtt_credentials, mqtt_host_port
from sealwatch.wire import Fix, SealState, SigningKey, encode_batch, encode_single, sign, telemetry_topic
from store.seal_keys import provision


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


def signed(body: dict[str, Any], key: SigningKey) -> bytes:
    return orjson.dumps(sign(body, key))


def signed_single(seal_id: str, fix: Fix, key: SigningKey) -> bytes:
    return signed(encode_single(seal_id, fix), key)


def signed_batch(seal_id: str, fixes: list[Fix], key: SigningKey) -> bytes:
    return signed(encode_batch(seal_id, fixes), key)


class SealKeys:
    """Provisions (and commits) one key per seal on first use in a test database; signs with it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.keys: dict[str, SigningKey] = {}

    def key(self, seal_id: str) -> SigningKey:
        if seal_id not in self.keys:
            self.provision(seal_id)
        return self.keys[seal_id]

    def provision(self, *seal_ids: str, grace: timedelta | None = None) -> None:
        """A new key for each seal (a rotation when it had one); later messages sign with it."""
        with psycopg.connect(self.url, row_factory=dict_row) as conn:
            for seal_id in seal_ids:
                self.keys[seal_id] = provision(conn, seal_id, grace=grace).signing_key

    def single(self, seal_id: str, fix: Fix) -> bytes:
        return signed_single(seal_id, fix, self.key(seal_id))

    def batch(self, seal_id: str, fixes: list[Fix]) -> bytes:
        return signed_batch(seal_id, fixes, self.key(seal_id))

    def body(self, body: dict[str, Any]) -> bytes:
        return signed(body, self.key(str(body["seal_id"])))


def publish_all(mqtt_url: str, messages: Iterable[tuple[str, bytes]], qos: int = 1) -> int:
    """Publish with paho from the calling thread; returns once the broker acknowledged every one."""
    host, port = mqtt_host_port(mqtt_url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="", clean_session=True)
    username, password = mqtt_credentials(mqtt_url)
    if username is not None:
        client.username_pw_set(username, password)
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
    """Test ingest settings: production behaviour (signatures required) with a short flush timer."""
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


@contextlib.contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn in a thread on a free port; yields its base URL (no trailing /).

    Streams (SSE) and browsers need a real server: httpx's ASGI transport buffers responses."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
