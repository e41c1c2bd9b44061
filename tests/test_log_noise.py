"""Start-up and serving stay quiet about things that are not problems."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct

import pytest

from sealwatch.logging import quiet_peer_gone_writes


async def _write_after_the_peer_left() -> int:
    """A server keeps writing to a client that reset its connection, as a live stream does when
    a browser tab closes; returns how many writes found the connection lost."""
    accepted: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put(writer)

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    writer = await accepted.get()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # RST: the next send fails
    await asyncio.sleep(0.1)
    for _ in range(10):
        writer.write(b"data: ping\n\n")
        await asyncio.sleep(0.01)
    lost = int(getattr(writer.transport, "_conn_lost", 0))
    writer.transport.abort()
    server.close()
    await server.wait_closed()
    return lost


async def test_a_closed_stream_does_not_log_socket_send_warnings(caplog: pytest.LogCaptureFixture) -> None:
    quiet_peer_gone_writes()
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        lost = await _write_after_the_peer_left()
    assert lost > 5, "the writes should have met the lost connection (asyncio warns after 5)"
    assert not [r for r in caplog.records if "socket.send() raised exception" in r.getMessage()]
