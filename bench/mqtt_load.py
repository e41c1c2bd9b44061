"""A load generator's MQTT publisher: pre-encoded QoS 1 PUBLISH packets written in bulk to a socket.

paho in Python costs tens of microseconds per message, and on a two-core machine a load generator
at 10,000 messages/s would take the CPU the service under test needs (or fail to reach the
rate). This speaks just enough MQTT 3.1.1 to publish: CONNECT, then PUBLISH packets encoded
before the clock starts and sent as one write per tick; PUBACKs are only counted, to keep the
number in flight under the 16-bit packet-id space. Benchmarks only: no TLS, no reconnect.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """A QoS 1 PUBLISH packet (``packet_id`` in 1..65535)."""
    body = _string(topic) + struct.pack("!H", packet_id) + payload
    return b"\x32" + _remaining_length(len(body)) + body


def packet_ids(count: int) -> list[int]:
    return [i % 65535 + 1 for i in range(count)]


class BulkPublisher:
    MAX_IN_FLIGHT = 60_000  # below 65,535 so no packet id is reused before its PUBACK

    def __init__(self, host: str, port: int, client_id: str) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # CONNECT: MQTT 3.1.1, clean session, keep-alive off (the stream itself keeps it busy).
        body = _string("MQTT") + b"\x04\x02\x00\x00" + _string(client_id)
        self.sock.sendall(b"\x10" + _remaining_length(len(body)) + body)
        connack = self._read_exactly(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"broker refused the connection: CONNACK {connack.hex()}")
        self.sent = 0
        self._acked_bytes = 0
        self._reader = threading.Thread(target=self._count_acks, name="puback-counter", daemon=True)
        self._reader.start()

    @property
    def acked(self) -> int:
        return self._acked_bytes // 4  # the broker sends nothing but 4-byte PUBACKs to a publisher

    def send(self, packets: list[bytes]) -> None:
        self.sock.sendall(b"".join(packets))
        self.sent += len(packets)

    def in_flight(self) -> int:
        return self.sent - self.acked

    def send_on_schedule(
        self,
        packets: list[bytes],
        start: float,
        rate: float,
        sent: Callable[[int, int, float], object] = lambda *_: None,
    ) -> None:
        """Write ``packets[k]`` at ``start + k / rate`` (epoch s), all that are due in one write;
        ``sent(i, j, t)`` is told that ``packets[i:j]`` went at ``t``."""
        time.sleep(max(0.0, start - time.time()))
        i = 0
        while i < len(packets):
            due = min(len(packets), int((time.time() - start) * rate) + 1, i + self.MAX_IN_FLIGHT - self.in_flight())
            if due <= i:  # nothing due yet, or the broker lags behind its acknowledgements
                time.sleep(0.002)
                continue
            sent_at = time.time()
            self.send(packets[i:due])
            sent(i, due, sent_at)
            i = due

    def close(self, drain_s: float = 30.0) -> None:
        """Wait up to ``drain_s`` for the outstanding PUBACKs, then disconnect."""
        deadline = time.time() + drain_s
        while self.in_flight() and time.time() < deadline:
            time.sleep(0.05)
        self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        self.sock.close()

    def _count_acks(self) -> None:
        while chunk := self._recv():
            self._acked_bytes += len(chunk)

    def _recv(self) -> bytes:
        try:
            return self.sock.recv(65536)
        except OSError:  # closed by close()
            return b""

    def _read_exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            data += chunk
        return data
