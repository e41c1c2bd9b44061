"""The load generator's publisher loses nothing when its broker drops the connection mid-stream."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.mqtt_load import BulkPublisher, packet_id_of, packet_ids, publish_packet
from launcher.servers import Mosquitto


def test_packet_id_is_read_back_whatever_the_length_fields() -> None:
    # A payload past 127 and past 16,383 bytes makes the remaining length two and three bytes long.
    for size, pid in [(10, 1), (300, 65535), (20_000, 258)]:
        assert packet_id_of(publish_packet("seals/AZS-1/telemetry", b"x" * size, pid)) == pid


def test_a_restarted_broker_gets_everything_that_was_not_acknowledged(tmp_path: Path) -> None:
    broker = Mosquitto(data_dir=tmp_path / "mosquitto").start()
    received: set[bytes] = set()
    lock = threading.Lock()

    def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        with lock:
            received.add(bytes(msg.payload))

    # A persistent QoS 1 subscriber: Mosquitto keeps its queue across the restart.
    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id="load-test-sub", clean_session=False)
    sub.on_message = on_message
    sub.on_connect = lambda c, *_: c.subscribe("seals/#", qos=1)
    sub.reconnect_delay_set(1, 1)
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    try:
        time.sleep(0.5)
        n = 20_000
        ids = packet_ids(n)
        packets = [publish_packet(f"seals/AZS-{i % 50}/telemetry", b"%d" % i, ids[i]) for i in range(n)]
        pub = BulkPublisher("127.0.0.1", broker.port, "load-test-pub")
        sender = threading.Thread(target=pub.send_on_schedule, args=(packets, time.time() + 0.2, 5000.0))
        sender.start()
        time.sleep(1.5)  # about a third of the stream is out
        broker.stop()
        time.sleep(0.5)  # the publisher keeps writing into a dead connection and then retries
        broker.start()
        sender.join(30)
        pub.close(drain_s=30)
        deadline = time.time() + 30
        while len(received) < n and time.time() < deadline:
            time.sleep(0.1)
    finally:
        sub.loop_stop()
        sub.disconnect()
        broker.stop()
    assert pub.reconnects >= 1
    assert pub.in_flight() == 0
    assert received == {b"%d" % i for i in range(n)}
