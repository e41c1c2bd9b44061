"""Partitioned ingest on NATS JetStream: seals hashed to partitions, failover with nothing lost.

Each test starts its own NATS node (or a three-node cluster on loopback ports) with the project's
config/nats-server.conf, runs ``sealwatch ingest`` workers as processes, and drives released
transits with signed fixes over the broker's MQTT listener, faults injected while a worker or a
broker node is killed. Every fix must be stored once, every injected fault must raise its alert
once (alert count 1: judged once), and nothing may be left unjudged.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import paho.mqtt.client as paho
import psycopg
import pytest
from nats.js.api import AckPolicy, ConsumerConfig
from paho.mqtt.enums import CallbackAPIVersion

from bench.mqtt_load import BulkPublisher, packet_ids, publish_packet
from bench.stepped import Step, build, with_faults
from ingest.partitioned import MQTT_STREAM, PULL_EXPIRES_S, partition_of, topic_of
from launcher.demo import release_fleet
from launcher.servers import NatsServer, nats_cluster
from sealwatch.config import mqtt_host_port
from simulators.plans import SealPlan
from tests.helpers import count, publish_all, telemetry, wait_until

pytestmark = pytest.mark.skipif(shutil.which("nats-server") is None, reason="nats-server is not installed")

PARTITIONS = 16
SEALS = 24
RATE = 160.0  # fixes/s over the fleet
SECONDS = 36.0
FAULT_ALERTS = ("seal_opened", "seal_tampered", "gps_jump")


@pytest.fixture
def nats_node(tmp_path: Path) -> Iterator[NatsServer]:
    node = NatsServer(data_dir=tmp_path / "nats").start()
    yield node
    node.stop()


async def test_the_broker_puts_each_seal_in_the_partition_ingest_computes(nats_node: NatsServer) -> None:
    seals = [f"AZS-{i:06d}" for i in range(300)] + ["X", "seal-with-long-id-0123456789"]
    await asyncio.to_thread(publish_all, nats_node.mqtt_url, [telemetry(s, b"{}") for s in seals[:1]])
    nc = await nats.connect(nats_node.url)
    js = nc.jetstream()
    await js.add_consumer(
        MQTT_STREAM, ConsumerConfig(durable_name="probe", filter_subject="$MQTT.msgs.>", ack_policy=AckPolicy.NONE)
    )
    await asyncio.to_thread(publish_all, nats_node.mqtt_url, [telemetry(s, b"{}") for s in seals])
    subscription = await js.pull_subscribe_bind("probe", MQTT_STREAM)
    subjects = [m.subject for m in await subscription.fetch(len(seals), timeout=10)]
    await nc.close()
    assert len(subjects) == len(seals)
    for seal, subject in zip(seals, subjects, strict=True):
        assert subject == f"$MQTT.msgs.sealwatch.part.{partition_of(seal, PARTITIONS)}.{seal}"
        assert topic_of(subject) == f"seals/{seal}/telemetry"
    assert len({partition_of(s, PARTITIONS) for s in seals}) == PARTITIONS
    assert topic_of("$MQTT.msgs.seals.x.y") == "seals/x/y"


async def test_each_partition_is_asked_again_before_its_pull_request_expires(
    migrated_db: str, nats_node: NatsServer, tmp_path: Path
) -> None:
    """NATS 2.9 drops an expired pull request without the 408 status whenever a message, not its
    expiry timer, finds it first. A worker that asks again only on the 408 leaves the partition
    unread until its own timeout (publish → receive p99 near 1 s under load). So each partition's
    next request must reach the broker while the last one is still alive."""
    workers = Workers(migrated_db, [nats_node.url], nats_node.mqtt_url, tmp_path)
    workers.start(1)
    nc = await nats.connect(nats_node.url)
    asked: dict[str, list[float]] = {}

    async def request(msg: Any) -> None:
        asked.setdefault(msg.subject.rsplit(".", 1)[-1], []).append(time.monotonic())

    try:
        await wait_until(lambda: len(owners(migrated_db)) == PARTITIONS + 1, 60, "the worker owning every partition")
        await nc.subscribe(f"$JS.API.CONSUMER.MSG.NEXT.{MQTT_STREAM}.*", cb=request)
        await asyncio.sleep(3 * PULL_EXPIRES_S + 0.5)
    finally:
        await nc.close()
        workers.stop()
    assert len(asked) == PARTITIONS + 1, sorted(asked)
    for consumer, times in asked.items():
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert len(gaps) >= 2, (consumer, times)
        assert max(gaps) < PULL_EXPIRES_S, f"{consumer} went {max(gaps):.2f} s between pull requests"


def publish_backlog(mqtt_url: str, messages: list[tuple[str, bytes]]) -> None:
    """Publish QoS 1 as fast as the broker acknowledges (paho's queue refuses this many)."""
    publisher = BulkPublisher(*mqtt_host_port(mqtt_url), f"backlog-{uuid.uuid4().hex[:6]}")
    ids = packet_ids(len(messages))
    packets = [publish_packet(t, m, mid) for (t, m), mid in zip(messages, ids, strict=True)]
    publisher.send_on_schedule(packets, time.time(), rate=1e9)  # all due at once, within its in-flight window
    assert publisher.close() == 0, "the broker acknowledged every message"


@pytest.mark.timeout(300)
async def test_a_worker_behind_a_backlog_keeps_its_leases(
    migrated_db: str, nats_node: NatsServer, tmp_path: Path
) -> None:
    """After an outage the worker starts behind a backlog and runs flat out until it has caught
    up. The broker must not push the backlog at it faster than it ingests: its lease renewals
    would wait behind the deliveries, the leases expire and the partitions change hands."""
    plans = await asyncio.to_thread(lambda: release_fleet(migrated_db, 300, 34, faults=False))
    stream = build(plans, [Step(4000.0, 20.0)], time.time() - 30)
    workers = Workers(migrated_db, [nats_node.url], nats_node.mqtt_url, tmp_path)
    workers.start(1)  # creates the partitions' consumers, which keep what is published meanwhile
    await wait_until(lambda: len(owners(migrated_db)) == PARTITIONS + 1, 60, "the worker owning every partition")
    workers.stop()
    await asyncio.to_thread(publish_backlog, nats_node.mqtt_url, stream.messages)
    workers.start(1)
    try:
        await wait_until(
            lambda: count(migrated_db, "SELECT count(*) FROM fixes") >= len(stream.messages), 180, "the backlog stored"
        )
        await wait_until(lambda: count(migrated_db, "SELECT count(*) FROM ingest_unjudged") == 0, 60, "all judged")
    finally:
        workers.stop()
    log = (tmp_path / "worker-1.log").read_text(errors="replace")
    assert "expired unrenewed" not in log and "cannot renew" not in log, log[-3000:]
    assert count(migrated_db, "SELECT count(DISTINCT (seal_id, seq)) FROM fixes") == len(stream.messages)


# -- failover ----------------------------------------------------------------------------------


class Workers:
    """``sealwatch ingest`` processes sharing the partitions of one broker (or cluster)."""

    def __init__(self, database_url: str, nats_urls: list[str], mqtt_url: str, logs: Path) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "MQTT_URL": mqtt_url,
            "SEALWATCH_NATS_URL": ",".join(nats_urls),
            "SEALWATCH_BATCH_MAX_WAIT_MS": "100",
            "SEALWATCH_ALERTS_TIMERS_START_AFTER_S": "3600",  # silence is not what is tested here
            "SEALWATCH_LOG_LEVEL": "INFO",
        }
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, n: int) -> None:
        for _ in range(n):
            with (self.logs / f"worker-{len(self.procs)}.log").open("ab") as out:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "launcher.cli", "ingest"], env=self.env, stdout=out, stderr=out
                    )
                )

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def owners(url: str) -> dict[int, str]:
    with psycopg.connect(url) as conn:
        return {int(p): str(o) for p, o in conn.execute("SELECT partition, owner FROM ingest_partitions").fetchall()}


def publish_on_schedule(
    mqtt_url: str, messages: list[tuple[str, bytes]], start: float, rate: float, clients: list[paho.Client]
) -> None:
    """Publish QoS 1 with paho, as seals do: a persistent session that reconnects and resends what
    the broker has not acknowledged (the client keeps running: the caller stops it)."""
    host, port = mqtt_host_port(mqtt_url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"seals-{uuid.uuid4().hex[:6]}", clean_session=False)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(1, 2)
    client.connect(host, port)
    client.loop_start()
    clients.append(client)
    for i, (topic, payload) in enumerate(messages):
        time.sleep(max(0.0, start + i / rate - time.time()))
        client.publish(topic, payload, qos=1)  # queued while reconnecting, sent after


async def run_fleet_through(
    url: str,
    mqtt_url: str,
    workers: Workers,
    plans: list[SealPlan],
    fault: Any,
) -> dict[str, Any]:
    """Publish the fleet's stream; ``fault(elapsed_s)`` is called every 0.2 s while it runs."""
    start = time.time() + 3
    stream = build(plans, [Step(RATE, SECONDS)], start)
    messages, first_faulty = stream.messages, stream.first_faulty
    clients: list[paho.Client] = []
    publisher = threading.Thread(target=publish_on_schedule, args=(mqtt_url, messages, start, RATE, clients))
    publisher.start()
    while publisher.is_alive():
        await fault(time.time() - start)
        await asyncio.sleep(0.2)
    publisher.join()
    expected = set(first_faulty.values())
    try:
        await wait_until(lambda: count(url, "SELECT count(*) FROM fixes") >= len(messages), 120, "every fix stored")
    finally:
        for client in clients:
            client.loop_stop()
            client.disconnect()

    def alerted() -> set[tuple[str, str]]:
        with psycopg.connect(url) as conn:
            return {(s, t) for s, t in conn.execute("SELECT seal_id, type FROM alerts").fetchall()}

    await wait_until(lambda: expected <= alerted(), 60, "the injected faults' alerts")
    await wait_until(lambda: count(url, "SELECT count(*) FROM ingest_unjudged") == 0, 30, "every fix judged")
    await asyncio.sleep(2)  # anything judged twice would show now
    return {"messages": messages, "expected": expected}


def assert_everything_once(url: str, result: dict[str, Any]) -> None:
    messages, expected = result["messages"], result["expected"]
    with psycopg.connect(url) as conn:
        stored, distinct = conn.execute("SELECT count(*), count(DISTINCT (seal_id, seq)) FROM fixes").fetchone()  # type: ignore[misc]
        alerts = conn.execute(
            "SELECT seal_id, type, count FROM alerts WHERE type = ANY(%s)", (list(FAULT_ALERTS),)
        ).fetchall()
        jumps = Counter(s for (s,) in conn.execute("SELECT seal_id FROM observations WHERE kind = 'jump'"))
        unjudged = conn.execute("SELECT count(*) FROM ingest_unjudged").fetchone()
    assert stored == distinct == len(messages), "each fix stored exactly once"
    assert Counter((s, t) for s, t, _ in alerts) == Counter(expected), "each fault raised its alert exactly once"
    assert all(n == 1 for _, _, n in alerts), f"a fault's alert was counted again: {alerts}"
    jumped = {s for s, t in expected if t == "gps_jump"}
    assert dict(jumps) == dict.fromkeys(jumped, 1), "one jump observation per injected jump"
    assert unjudged == (0,)


def faulty_fleet(url: str, seed: int) -> list[SealPlan]:
    plans = release_fleet(url, SEALS, seed, faults=False)
    # Three kinds a single fix decides (opened, tampered, GPS jump), spread over the kill.
    faulty = with_faults(plans, 12, first_s=6.0, spacing_s=1.5)
    return [p for p in faulty if not p.faults or p.faults[0].kind.value != "low_battery"]


@pytest.mark.timeout(300)
async def test_a_worker_killed_mid_stream_loses_and_repeats_nothing(
    migrated_db: str, nats_node: NatsServer, tmp_path: Path
) -> None:
    plans = await asyncio.to_thread(faulty_fleet, migrated_db, 31)
    workers = Workers(migrated_db, [nats_node.url], nats_node.mqtt_url, tmp_path)
    workers.start(2)
    try:
        await wait_until(
            lambda: len(owners(migrated_db)) == PARTITIONS + 1 and len(set(owners(migrated_db).values())) == 2,
            60,
            "two workers sharing every partition",
        )
        victim = workers.procs[0]
        victim_id = next(o for o in owners(migrated_db).values() if f"-{victim.pid}-" in o)
        killed: dict[str, float] = {}

        async def kill_one(elapsed: float) -> None:
            if elapsed >= 10 and not killed:
                victim.send_signal(signal.SIGKILL)
                killed["at"] = time.monotonic()
            elif killed and "taken" not in killed and victim_id not in owners(migrated_db).values():
                killed["taken"] = time.monotonic() - killed["at"]

        result = await run_fleet_through(migrated_db, nats_node.mqtt_url, workers, plans, kill_one)
        assert "taken" in killed, "the survivor never took the dead worker's partitions"
        print(f"partitions taken over {killed['taken']:.1f} s after the kill")
        assert killed["taken"] < 10.0
        assert len(set(owners(migrated_db).values())) == 1
        assert_everything_once(migrated_db, result)
    finally:
        workers.stop()


@pytest.mark.timeout(300)
async def test_a_broker_node_killed_mid_stream_loses_and_repeats_nothing(migrated_db: str, tmp_path: Path) -> None:
    nodes = nats_cluster(tmp_path / "cluster")
    try:
        for node in nodes:
            node.start()
        plans = await asyncio.to_thread(faulty_fleet, migrated_db, 32)
        workers = Workers(migrated_db, [n.url for n in nodes], nodes[0].mqtt_url, tmp_path)
        workers.start(2)
        try:
            await wait_until(
                lambda: len(owners(migrated_db)) == PARTITIONS + 1, 90, "two workers sharing every partition"
            )
            # The node leading the MQTT stream dies; the seals publish through another one.
            nc = await nats.connect(nodes[0].url)
            info = await nc.jetstream().stream_info(MQTT_STREAM)
            await nc.close()
            assert info.cluster is not None and info.config.num_replicas == 3
            victim = next(n for n in nodes if n.name == info.cluster.leader)
            seals_node = next(n for n in nodes if n is not victim)
            killed: list[float] = []

            async def kill_node(elapsed: float) -> None:
                if elapsed >= 10 and not killed:
                    victim.kill()
                    killed.append(elapsed)

            result = await run_fleet_through(migrated_db, seals_node.mqtt_url, workers, plans, kill_node)
            assert killed
            assert_everything_once(migrated_db, result)
        finally:
            workers.stop()
    finally:
        for node in nodes:
            node.stop()


@pytest.mark.timeout(300)
async def test_deliveries_lost_on_the_way_are_read_again(
    migrated_db: str, nats_node: NatsServer, tmp_path: Path
) -> None:
    """Deliveries that never reach the worker (a broker node dying with them in flight) leave a
    gap in a consumer's delivery numbers. Acknowledging what follows would acknowledge them too
    (ack policy "all"): the worker must read the partition again from after what it took. Here
    another client pulls a few messages off every partition's consumer mid-stream and never
    acknowledges them, which is what the worker sees when deliveries are lost."""
    plans = await asyncio.to_thread(faulty_fleet, migrated_db, 33)
    workers = Workers(migrated_db, [nats_node.url], nats_node.mqtt_url, tmp_path)
    workers.start(1)
    nc = await nats.connect(nats_node.url)
    stolen: list[str] = []
    asked: list[float] = []

    async def took(msg: Any) -> None:
        if msg.reply and msg.reply.startswith("$JS.ACK."):
            stolen.append(msg.reply)

    inbox = nc.new_inbox()
    await nc.subscribe(inbox, cb=took)
    try:
        await wait_until(lambda: len(owners(migrated_db)) == PARTITIONS + 1, 60, "the worker owning every partition")

        async def steal(elapsed: float) -> None:
            if elapsed >= 8 and not asked:
                asked.append(elapsed)
                for consumer in await nc.jetstream().consumers_info(MQTT_STREAM):
                    request = b'{"batch": 2, "expires": 3000000000}'
                    await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{MQTT_STREAM}.{consumer.name}", request, reply=inbox)

        result = await run_fleet_through(migrated_db, nats_node.mqtt_url, workers, plans, steal)
        assert len(stolen) >= 4, "the thief should have taken deliveries from several partitions"
        assert_everything_once(migrated_db, result)
        log = (tmp_path / "worker-0.log").read_text(errors="replace")
        assert "rereading the partition" in log
    finally:
        await nc.close()
        workers.stop()


# -- stopping without a broker ----------------------------------------------------------------


@pytest.mark.timeout(240)
@pytest.mark.parametrize("size", [1, 3], ids=["node", "cluster"])
async def test_a_worker_stops_promptly_when_its_brokers_are_gone(migrated_db: str, tmp_path: Path, size: int) -> None:
    """Every NATS node the worker knows dies, then the worker gets SIGTERM: it hands back what it
    can without the broker and exits within seconds, saying the broker is unreachable."""
    nodes = [NatsServer(data_dir=tmp_path / "nats")] if size == 1 else nats_cluster(tmp_path / "cluster")
    try:
        for node in nodes:
            node.start()
        workers = Workers(migrated_db, [n.url for n in nodes], nodes[0].mqtt_url, tmp_path)
        workers.start(1)
        try:
            log_file = tmp_path / "worker-0.log"
            await wait_until(
                lambda: "partitions taken over" in log_file.read_text(errors="replace"), 90, "the worker reading"
            )
            assert len(owners(migrated_db)) == PARTITIONS + 1
            await asyncio.sleep(1)  # settled: its readers fetch, its leases are renewed
            for node in nodes:
                node.kill()
            await asyncio.sleep(2)  # reconnecting now, the leases not yet expired
            [worker] = workers.procs
            worker.send_signal(signal.SIGTERM)
            started = time.monotonic()
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(worker.wait, 10)
            took = time.monotonic() - started
            log = log_file.read_text(errors="replace")
            assert worker.poll() is not None, f"still running {took:.0f} s after SIGTERM:\n{log[-3000:]}"
            assert worker.returncode == 0, log[-3000:]
            assert "broker unreachable; the leases expire instead" in log
        finally:
            workers.stop()
    finally:
        for node in nodes:
            node.stop()


async def test_workers_started_before_their_broker_wait_for_it(migrated_db: str, tmp_path: Path) -> None:
    """After a power cut the workers may come up before NATS: they wait for it (or for SIGTERM)."""
    node = NatsServer(data_dir=tmp_path / "nats")  # its ports are chosen, nothing listens yet
    workers = Workers(migrated_db, [node.url], node.mqtt_url, tmp_path)
    workers.start(2)
    try:
        stopped, waiting = workers.procs
        logs = [tmp_path / f"worker-{i}.log" for i in range(2)]
        await wait_until(lambda: all("broker error" in f.read_text(errors="replace") for f in logs), 30, "refusals")
        await asyncio.sleep(2)
        assert stopped.poll() is None and waiting.poll() is None, logs[0].read_text(errors="replace")[-3000:]
        stopped.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(stopped.wait, 10) == 0
        assert "stopped before any broker answered" in logs[0].read_text(errors="replace")
        node.start()
        await wait_until(
            lambda: "partitions taken over" in logs[1].read_text(errors="replace"), 90, "the other worker reading"
        )
        await wait_until(lambda: len(owners(migrated_db)) == PARTITIONS + 1, 30, "every partition owned")
    finally:
        workers.stop()
        node.stop()
