"""A load generator's MQTT publisher: pre-encoded QoS 1 PUBLISH packets written in bulk to a socket.

paho in Python costs tens of microseconds per message, and on a two-core machine a load generator
at 10,000 messages/s would take the CPU the service under test needs (or fail to reach the
rate). This speaks just enough MQTT 3.1.1 to publish: CONNECT, then PUBLISH packets encoded
before the clock starts and sent as one write per tick. Each packet is kept until its PUBACK, as
a seal keeps its buffer: when the broker (or a cluster node) drops the connection, the publisher
connects again, to the same address or the next one given, and sends what was not acknowledged
again with the DUP flag. Benchmarks only: no TLS.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence


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


def packet_id_of(packet: bytes) -> int:
    """The packet id of a QoS 1 PUBLISH packet made by :func:`publish_packet`."""
    at = 1
    while packet[at] & 0x80:  # the remaining length's continuation bytes
        at += 1
    at += 1
    topic_len = (packet[at] << 8) | packet[at + 1]
    at += 2 + topic_len
    return (packet[at] << 8) | packet[at + 1]


# The load generator shares the cores with what it measures: it writes what is due every TICK_S
# (a fix sent up to that late counts against the service, as its time is its scheduled one) and
# lets PUBACKs gather for ACK_GATHER_S between reads, instead of a wake-up per message.
TICK_S = 0.01
ACK_GATHER_S = 0.02


class BulkPublisher:
    MAX_IN_FLIGHT = 60_000  # below 65,535 so no packet id is reused before its PUBACK
    RECONNECT_S = 60.0  # how long to keep trying the addresses after the connection is lost

    def __init__(self, host: str, port: int, client_id: str, others: Sequence[tuple[str, int]] = ()) -> None:
        self.addresses = [(host, port), *others]
        self.client_id = client_id
        self.sent = 0
        self.reconnects = 0
        self._unacked: dict[int, bytes] = {}  # packet id → packet, until its PUBACK
        self._acks_lock = threading.Lock()
        self._conn_lock = threading.Lock()
        self._closing = False
        self.sock = self._connect(*self.addresses[0])
        self._reader = threading.Thread(target=self._count_acks, name="puback-counter", daemon=True)
        self._reader.start()

    @property
    def acked(self) -> int:
        return self.sent - self.in_flight()

    def send(self, packets: list[bytes]) -> None:
        # Under the connection lock: a reconnect either resends these (they are unacknowledged
        # when it looks) or comes after them, never between their recording and their sending.
        failed = None
        with self._conn_lock:
            with self._acks_lock:
                for packet in packets:
                    self._unacked[packet_id_of(packet)] = packet
            sock = self.sock
            try:
                sock.sendall(b"".join(packets))
            except OSError:
                failed = sock
        if failed is not None:
            self._reconnect(failed)  # sends them again with everything else unacknowledged
        self.sent += len(packets)

    def in_flight(self) -> int:
        return len(self._unacked)

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
                time.sleep(TICK_S)
                continue
            sent_at = time.time()
            self.send(packets[i:due])
            sent(i, due, sent_at)
            i = due

    def close(self, drain_s: float = 30.0) -> int:
        """Wait up to ``drain_s`` for the outstanding PUBACKs, then disconnect; returns how many
        messages the broker never acknowledged (a seal would still hold them)."""
        deadline = time.time() + drain_s
        while self.in_flight() and time.time() < deadline:
            time.sleep(0.05)
        self._closing = True
        with contextlib.suppress(OSError):
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        self.sock.close()
        return self.in_flight()

    def _connect(self, host: str, port: int) -> socket.socket:
        sock = socket.create_connection((host, port), timeout=5)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # CONNECT: MQTT 3.1.1, clean session, keep-alive off (the stream itself keeps it busy).
            body = _string("MQTT") + b"\x04\x02\x00\x00" + _string(self.client_id)
            sock.sendall(b"\x10" + _remaining_length(len(body)) + body)
            connack = _read_exactly(sock, 4)
            if connack[0] != 0x20 or connack[3] != 0:
                raise ConnectionRefusedError(f"broker refused the connection: CONNACK {connack.hex()}")
            sock.settimeout(None)
            return sock
        except BaseException:
            sock.close()
            raise

    def _reconnect(self, failed: socket.socket) -> None:
        """Replace a lost connection (once, whichever thread sees it first) and resend what is unacknowledged."""
        with self._conn_lock:
            if self.sock is not failed or self._closing:
                return
            with contextlib.suppress(OSError):
                failed.shutdown(socket.SHUT_RDWR)  # wakes the reader if it waits on this socket
                failed.close()
            deadline = time.monotonic() + self.RECONNECT_S
            attempt = 0
            while True:
                host, port = self.addresses[attempt % len(self.addresses)]
                attempt += 1
                try:
                    sock = self._connect(host, port)
                    with self._acks_lock:
                        pending = [p[:1].replace(b"\x32", b"\x3a") + p[1:] for p in self._unacked.values()]
                    sock.sendall(b"".join(pending))  # DUP: the broker may have stored some already
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
                    continue
                self.sock = sock
                self.reconnects += 1
                return

    def _count_acks(self) -> None:
        rest = b""
        while not self._closing:
            sock = self.sock
            try:
                chunk = sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                if self._closing:
                    return
                self._reconnect(sock)
                rest = b""
                continue
            data = rest + chunk
            whole = len(data) - len(data) % 4  # the broker sends a publisher nothing but 4-byte PUBACKs
            acked = [(data[k + 2] << 8) | data[k + 3] for k in range(0, whole, 4) if data[k] == 0x40]
            rest = data[whole:]
            with self._acks_lock:
                for packet_id in acked:
                    self._unacked.pop(packet_id, None)
            time.sleep(ACK_GATHER_S)


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return data
