"""Ingest benchmark: sustained fixes/s stored and publish→commit latency, against a naive peer.

Run: ``python -m bench.ingest`` (uses DATABASE_URL's server or the local PostgreSQL, and starts
its own Mosquitto with the project's configuration). A separate process publishes single-fix
QoS 1 messages at a fixed rate (encoded first, then written in bulk on schedule); each fix's GPS
time is its scheduled publish time, so commit time minus fix time is the publish→commit
latency. The peer, in the same run and on the same stream, is paho-mqtt with one autocommitted
INSERT per message.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

import orjson
import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from bench.mqtt_load import BulkPublisher, packet_ids, publish_packet
from bench.scratch import scratch_database
from ingest.worker import IngestWorker
from launcher.servers import Mosquitto
from sealwatch.config import Settings, mqtt_host_port
from sealwatch.fixes import FixRecord
from sealwatch.wire import SigningKey, sign
from store.db import connect
from store.migrate import migrate
from store.seal_keys import provision

SEALS = 2000


def publisher(mqtt_url: str, rate: float, seconds: float, ready: EventType, keys: dict[str, SigningKey]) -> None:
    """Publish ``rate`` fixes/s for ``seconds`` from this process, each stamped with its scheduled
    send time and signed with its seal's key (what ingest requires). The messages are encoded
    first and written in bulk on schedule (bench.mqtt_load): a Python MQTT client would spend the
    CPU the consumers under test need."""
    total = int(rate * seconds)
    start = time.time() + 5 + total / 15_000  # time to sign and encode them all first
    seq_base = int(time.time() * 1000)
    packets = []
    for i, mid in enumerate(packet_ids(total)):
        seal = f"AZS-{i % SEALS:06d}"
        body = {
            "v": 1,
            "seal_id": seal,
            "seq": seq_base + i,
            "t": datetime.fromtimestamp(start + i / rate, UTC).isoformat(),
            "lat": 40.4 + (i % 1000) * 1e-4,
            "lon": 49.8,
            "speed_kmh": 72.0,
            "heading_deg": 90.0,
            "sats": 10,
            "hdop": 0.8,
            "battery_pct": 90.0,
            "seal_state": "closed",
        }
        packets.append(publish_packet(f"seals/{seal}/telemetry", orjson.dumps(sign(body, keys[seal])), mid))
    host, port = mqtt_host_port(mqtt_url)
    client = BulkPublisher(host, port, f"bench-pub-{uuid.uuid4().hex[:6]}")
    ready.set()
    client.send_on_schedule(packets, start, rate)
    client.close()


class Recorder:
    """Commit-time latencies and commit timestamps, fed by the consumer under test."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.commits: list[tuple[float, int]] = []
        self.lock = threading.Lock()

    def record(self, times: list[datetime]) -> None:
        now = datetime.now(UTC)
        with self.lock:
            self.latencies.extend((now - t).total_seconds() for t in times)
            self.commits.append((time.perf_counter(), len(times)))

    def report(self, name: str, offered: float, seconds: float) -> dict[str, float]:
        stored = sum(n for _, n in self.commits)
        if len(self.commits) < 2:
            return {"stored": stored}
        span = self.commits[-1][0] - self.commits[0][0]
        lat = sorted(self.latencies)
        result = {
            "offered": offered,
            "stored": stored,
            "rate": stored / span if span else 0.0,
            "p50": statistics.median(lat),
            "p99": lat[int(len(lat) * 0.99) - 1],
            "max": lat[-1],
        }
        print(
            f"  {name:<34} offered {offered:>7.0f}/s  stored {stored:>7d} in {span:5.1f}s"
            f" = {result['rate']:>7.0f} fixes/s"
            f"  latency p50 {result['p50'] * 1000:>7.0f} ms  p99 {result['p99'] * 1000:>7.0f} ms"
        )
        return result


def _provision(url: str) -> dict[str, SigningKey]:
    with connect(url) as conn:
        return {seal: provision(conn, seal).signing_key for seal in (f"AZS-{i:06d}" for i in range(SEALS))}


def _publish(url: str, mqtt_url: str, rate: float, seconds: float) -> BaseProcess:
    keys = _provision(url)
    ready = mp.get_context("spawn").Event()
    proc = mp.get_context("spawn").Process(target=publisher, args=(mqtt_url, rate, seconds, ready, keys))
    proc.start()
    ready.wait(120)
    return proc


async def run_sealwatch(url: str, mqtt_url: str, rate: float, seconds: float) -> dict[str, float]:
    recorder = Recorder()

    async def hook(records: list[FixRecord]) -> None:
        recorder.record([r.t for r in records])

    settings = Settings(mqtt_client_id=f"bench-ingest-{uuid.uuid4().hex[:6]}")
    worker = IngestWorker(settings, url, mqtt_url, hooks=[hook])
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(worker.subscribed.wait(), 15)
    proc = await asyncio.to_thread(_publish, url, mqtt_url, rate, seconds)  # the worker keeps its connection
    total = int(rate * seconds)
    deadline = time.monotonic() + seconds * 6 + 30
    while worker.stats.stored < total and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a counter
        await asyncio.sleep(0.2)
    stop.set()
    await task
    proc.join()
    return recorder.report("sealwatch (aiomqtt + batched COPY)", rate, seconds)


def run_naive(url: str, mqtt_url: str, rate: float, seconds: float) -> dict[str, float]:
    """The peer: paho callback, one autocommitted INSERT per message."""
    recorder = Recorder()
    conn = psycopg.connect(url, autocommit=True)
    total = int(rate * seconds)
    done = threading.Event()
    stored = 0

    def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        nonlocal stored
        b = orjson.loads(msg.payload)
        t = datetime.fromisoformat(b["t"])
        conn.execute(
            "INSERT INTO fixes (seal_id, seq, t, lat, lon, speed_kmh, heading_deg, sats, hdop, battery_pct, "
            "seal_state, received_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s, now()) ON CONFLICT DO NOTHING",
            (
                b["seal_id"],
                b["seq"],
                t,
                b["lat"],
                b["lon"],
                b["speed_kmh"],
                b["heading_deg"],
                b["sats"],
                b["hdop"],
                b["battery_pct"],
                b["seal_state"],
            ),
        )
        recorder.record([t])
        stored += 1
        if stored >= total:
            done.set()

    host, port = mqtt_host_port(mqtt_url)
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-naive-{uuid.uuid4().hex[:6]}", clean_session=False
    )
    client.on_message = on_message
    client.connect(host, port)
    client.subscribe("seals/+/telemetry", qos=1)
    client.loop_start()
    time.sleep(0.5)
    proc = _publish(url, mqtt_url, rate, seconds)
    done.wait(seconds * 6 + 30)
    client.loop_stop()
    client.disconnect()
    proc.join()
    conn.close()
    return recorder.report("naive peer (paho + INSERT per msg)", rate, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default="8000,12000,16000", help="offered rates, fixes/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=20.0, help="publishing time per run")
    args = parser.parse_args()
    admin = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    rates = [float(r) for r in args.rates.split(",")]
    print(
        f"bench.ingest: single-fix QoS 1 messages from a separate process, {SEALS} seals, "
        f"{args.seconds:.0f}s per rate, {os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(data_dir=Path(tmp), extra_config=os.environ.get("BENCH_MOSQUITTO_EXTRA", "")).start()
        try:
            results: dict[str, list[dict[str, float]]] = {"sealwatch": [], "naive": []}
            for rate in rates:
                for name in ("sealwatch", "naive"):
                    with scratch_database(admin) as url:
                        migrate(url)
                        _ensure_today(url)
                        if name == "sealwatch":
                            results[name].append(asyncio.run(run_sealwatch(url, broker.url, rate, args.seconds)))
                        else:
                            results[name].append(run_naive(url, broker.url, rate, args.seconds))
        finally:
            broker.stop()
    best_sw = max((r.get("rate", 0.0) for r in results["sealwatch"] if r.get("p99", 9.0) < 1.0), default=0.0)
    best_naive = max(r.get("rate", 0.0) for r in results["naive"])
    print(
        f"summary: sealwatch sustained {best_sw:.0f} fixes/s with p99 < 1 s; naive peer at most "
        f"{best_naive:.0f} fixes/s; ratio {best_sw / best_naive if best_naive else float('inf'):.1f}x"
    )


def _ensure_today(url: str) -> None:
    from store import partitions
    from store.db import connect

    with connect(url) as conn:
        partitions.maintain(conn, "native", retention_days=90, ahead_days=1, compress_after_days=7)


if __name__ == "__main__":
    main()
