"""Reading a partition's consumer: the client library's ``fetch`` against ingest's long pull.

Run: ``python -m bench.nats_pull`` (starts a private nats-server). A stream is filled with
``--messages`` single-fix-sized messages over 16 subjects; then each way of reading drains it
through its own durable consumer (ack policy "all", one ack per 2,000 messages), twice, in turn:

* ``fetch``: ``PullSubscription.fetch(2000, timeout=0.1)`` in a loop, as ingest first did;
* ``long pull``: ``ingest.partitioned``'s way, a pull request that waits on the server (here for
  2,000 messages, as ``fetch`` asks), each message handed to a subscription callback as it arrives.

It prints the reader's CPU seconds and wall seconds for the whole stream, and µs of CPU per message.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nats
import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from ingest.partitioned import MAX_ACK_PENDING
from launcher.servers import NatsServer

BATCH = 2000


async def read_with_fetch(nc: NATS, durable: str, total: int) -> None:
    sub = await nc.jetstream().pull_subscribe_bind(durable, "BENCH")
    got = 0
    while got < total:
        with_msgs = await sub.fetch(BATCH, timeout=0.1)
        got += len(with_msgs)
        await with_msgs[-1].ack()


async def read_with_long_pull(nc: NATS, durable: str, total: int) -> None:
    got = 0
    over, finished = asyncio.Event(), asyncio.Event()

    async def arrived(msg: Msg) -> None:
        nonlocal got
        if msg.headers and msg.headers.get("Status"):
            over.set()
            return
        got += 1
        if got % BATCH == 0 or got == total:
            await msg.ack()
            over.set()
        if got >= total:
            finished.set()

    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, cb=arrived)
    request = orjson.dumps({"batch": BATCH, "expires": 2_000_000_000})
    while not finished.is_set():
        over.clear()
        await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.BENCH.{durable}", request, reply=inbox)
        await over.wait()
    await sub.unsubscribe()


async def run(url: str, total: int) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="BENCH", subjects=["bench.>"]))
    payload = b"x" * 300
    for start in range(0, total, 1000):
        await asyncio.gather(*(js.publish(f"bench.{k % 16}", payload) for k in range(start, min(total, start + 1000))))
    ways = {"fetch": read_with_fetch, "long pull": read_with_long_pull}
    for round_ in range(2):
        for name, read in ways.items():
            durable = f"bench-{name.replace(' ', '-')}-{round_}"
            config = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.ALL, max_ack_pending=MAX_ACK_PENDING)
            await js.add_consumer("BENCH", config)
            cpu, wall = time.process_time(), time.monotonic()
            await read(nc, durable, total)
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
            print(f"  {name:<10} CPU {cpu:5.2f} s, wall {wall:5.2f} s: {cpu / total * 1e6:5.1f} µs of CPU per message")
    await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    if shutil.which("nats-server") is None:
        sys.exit("bench.nats_pull needs nats-server (Debian package nats-server)")
    print(f"bench.nats_pull: reading {args.messages:,} messages, each way twice")
    with tempfile.TemporaryDirectory(prefix="sw-bench-nats-") as tmp:
        node = NatsServer(data_dir=Path(tmp))
        node.start()
        try:
            asyncio.run(run(node.url, args.messages))
        finally:
            node.stop()


if __name__ == "__main__":
    main()
