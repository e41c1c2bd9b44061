"""The two distributed brokers on this machine, on the path seals use: MQTT QoS 1 into partitions.

Run: ``python -m bench.brokers`` (needs nats-server and rabbitmq-server installed; starts a
private node of each on free ports, never the shared services). The same single-fix-sized
messages from 2,000 seals are published QoS 1 over 4 connections as fast as each broker
acknowledges them (PUBACK only after the message is stored in its partition):

* NATS 2.9 JetStream: the MQTT listener stores each message in its ``$MQTT_msgs`` stream under
  the seal's partition subject (the mapping in config/nats-server.conf), one durable consumer per
  partition keeping it;
* RabbitMQ 3.10: the MQTT plugin publishes to ``amq.topic``, bound to a consistent-hash exchange
  that spreads seals over 16 quorum queues (single active consumer), PUBACK after the quorum
  queue confirms.

It prints messages/s acknowledged and the broker's CPU per 1,000 messages.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench import cpu
from bench.mqtt_load import BulkPublisher, packet_ids, publish_packet
from launcher.servers import NatsServer, free_port, terminate, wait_for_port

CONNECTIONS = 4
PAYLOAD = b'{"v":1,"seal_id":"AZS-000001","seq":1,"t":"2026-01-01T00:00:00+00:00","lat":40.4,"lon":49.8}' * 3


def publish(port: int, n: int) -> float:
    """Publish ``n`` messages over CONNECTIONS connections; seconds until every PUBACK came."""
    clients = [BulkPublisher("127.0.0.1", port, f"bench-brokers-{os.getpid()}-{c}") for c in range(CONNECTIONS)]
    per = n // CONNECTIONS
    batches = [
        [
            publish_packet(f"seals/AZS-{(c + CONNECTIONS * k) % 2000:06d}/telemetry", PAYLOAD, mid)
            for k, mid in enumerate(packet_ids(per))
        ]
        for c in range(CONNECTIONS)
    ]
    started = time.time()
    threads = [threading.Thread(target=c.send, args=(b,)) for c, b in zip(clients, batches, strict=True)]
    for t in threads:
        t.start()
    while sum(c.acked for c in clients) < per * CONNECTIONS and time.time() - started < 300:
        time.sleep(0.005)
    seconds = time.time() - started
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    return seconds


def measure(name: str, pid: int, port: int, n: int) -> None:
    before = cpu.snapshot()
    seconds = publish(port, n)
    used = cpu.usage(before, cpu.snapshot(), {pid: "broker"}).get("broker", 0.0)
    print(f"  {name:<58} {n / seconds:>8,.0f} msg/s acknowledged, broker {used / n * 1000 * 1000:5.0f} ms CPU / 1,000")


async def nats_consumers(url: str, partitions: int) -> None:
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig

    from ingest.partitioned import MQTT_STREAM, filter_subject

    nc = await nats.connect(url)
    js = nc.jetstream()
    for p in range(partitions):
        config = ConsumerConfig(
            durable_name=f"bench-p{p}", filter_subject=filter_subject(p, partitions), ack_policy=AckPolicy.ALL
        )
        await js.add_consumer(MQTT_STREAM, config)
    await nc.close()


def run_nats(n: int, tmp: Path) -> None:
    node = NatsServer(data_dir=tmp / "nats").start()
    try:
        publish(node.mqtt_port, CONNECTIONS)  # the first MQTT client creates the MQTT streams
        time.sleep(1)
        asyncio.run(nats_consumers(node.url, 16))
        assert node.process is not None
        measure("NATS JetStream, $MQTT_msgs (file, 1 replica), 16 partitions", node.process.pid, node.mqtt_port, n)
    finally:
        node.stop()


def run_rabbitmq(n: int, tmp: Path) -> None:
    import pika

    base = tmp / "rabbitmq"
    base.mkdir()
    amqp, mqtt, dist = free_port(), free_port(), free_port()
    (base / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{amqp}\nmqtt.listeners.tcp.default = 127.0.0.1:{mqtt}\n"
        "mqtt.allow_anonymous = true\nloopback_users = none\n"
    )
    (base / "enabled_plugins").write_text("[rabbitmq_mqtt,rabbitmq_consistent_hash_exchange].\n")
    (base / "env.conf").write_text("")
    env = {
        **os.environ,
        "RABBITMQ_NODENAME": f"swbench{os.getpid()}@localhost",
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_DIST_PORT": str(dist),
        "RABBITMQ_PID_FILE": str(base / "pid"),
        "RABBITMQ_CONF_ENV_FILE": str(base / "env.conf"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "HOME": str(base),
    }
    with (base / "out.log").open("wb") as out:
        # Debian's /usr/sbin wrapper switches to the rabbitmq user, who cannot use this directory.
        binary = "/usr/lib/rabbitmq/bin/rabbitmq-server"
        proc = subprocess.Popen(
            [binary if Path(binary).exists() else "rabbitmq-server"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port("127.0.0.1", mqtt, timeout=120)
        conn = pika.BlockingConnection(
            pika.ConnectionParameters("127.0.0.1", amqp, credentials=pika.PlainCredentials("guest", "guest"))
        )
        ch = conn.channel()
        ch.exchange_declare("sealwatch.seals", "x-consistent-hash", durable=True)
        ch.exchange_bind("sealwatch.seals", "amq.topic", "seals.*.telemetry")
        for p in range(16):
            queue = f"sealwatch.p{p}"
            ch.queue_declare(
                queue, durable=True, arguments={"x-queue-type": "quorum", "x-single-active-consumer": True}
            )
            ch.queue_bind(queue, "sealwatch.seals", "1")
        conn.close()
        beam = int((base / "pid").read_text().strip())
        measure("RabbitMQ, consistent-hash exchange, 16 quorum queues", beam, mqtt, n)
    finally:
        terminate(proc, 60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=40_000)
    args = parser.parse_args()
    print(
        f"bench.brokers: {args.messages:,} MQTT QoS 1 messages over {CONNECTIONS} connections, "
        f"{os.cpu_count()} cores, host {socket.gethostname()}"
    )
    with tempfile.TemporaryDirectory(prefix="sw-bench-brokers-") as tmp:
        if shutil.which("nats-server"):
            run_nats(args.messages, Path(tmp))
        if shutil.which("rabbitmq-server"):
            run_rabbitmq(args.messages, Path(tmp))


if __name__ == "__main__":
    main()
