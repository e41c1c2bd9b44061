"""Alert latency under load: from the publish of a faulty fix to the alert on the SSE stream.

Run: ``python -m bench.alerts`` (uses DATABASE_URL's server or the local PostgreSQL, and starts
its own Mosquitto with the project's configuration). It releases ``--seals`` transits through
customs, starts ``sealwatch ingest`` (ingest → geofence → alerts) and ``sealwatch api`` as the
service runs them, and drives the fleet with the simulator at ``--rate`` fixes/s of signed
background load. ``--faults`` seals open their seal one after another; for each, the time from
the publish of its first "opened" fix to the ``seal_opened`` event on ``/api/alerts/stream`` is
measured. Floor (issue 5): p99 under 1 s at 8,000 fixes/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import orjson
import psycopg

from bench.scratch import scratch_database
from sealwatch.demo import release_fleet
from sealwatch.runner import service_commands, supervised
from sealwatch.services import Mosquitto, free_port, wait_for_port
from simulators.faults import Fault, FaultKind
from simulators.fleet import Fleet, Message, run_fleet
from simulators.keys import provision_plans
from simulators.plans import SealPlan
from simulators.seal import VirtualSeal
from store.migrate import migrate


@dataclass
class TimedFleet(Fleet):
    """A fleet that notes when each faulty seal's first opened fix leaves for the broker."""

    opened_at: dict[str, float] = field(default_factory=dict)

    def tick(self) -> list[Message]:
        messages = super().tick()
        now = time.time()
        for seal in self.seals:
            if seal.plan.faults and seal.seal_id not in self.opened_at and seal.elapsed_s >= seal.plan.faults[0].at_s:
                self.opened_at[seal.seal_id] = now
        return messages


async def follow_stream(api: str, seen: dict[str, float], stop: asyncio.Event) -> None:
    async with (
        httpx.AsyncClient(timeout=None) as client,
        client.stream("GET", f"{api}/api/alerts/stream", params={"after": 0}) as response,
    ):
        async for line in response.aiter_lines():
            if stop.is_set():
                return
            if not line.startswith("data:"):
                continue
            event = orjson.loads(line[5:])
            alert = event.get("alert", {})
            if alert.get("type") == "seal_opened" and alert.get("seal_id") not in seen:
                seen[alert["seal_id"]] = time.time()


def with_opened_faults(plans: list[SealPlan], faults: int, warmup_s: float, spacing_s: float) -> list[SealPlan]:
    step = max(1, len(plans) // faults)
    chosen = {i * step: warmup_s + k * spacing_s for k, i in enumerate(range(faults))}
    return [
        replace(p, faults=(Fault(FaultKind.OPENED, at_s=chosen[i]),)) if i in chosen else replace(p, faults=())
        for i, p in enumerate(plans)
    ]


async def measure(url: str, mqtt_url: str, args: argparse.Namespace) -> None:
    plans = with_opened_faults(release_fleet(url, args.seals, seed=11, faults=False), args.faults, 15.0, 1.0)
    plans = provision_plans(url, plans)
    fleet = TimedFleet([VirtualSeal.from_plan(p) for p in plans])
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": url, "MQTT_URL": mqtt_url, "SEALWATCH_LOG_LEVEL": "WARNING"}
    env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="sw-bench-metrics-")
    with supervised(service_commands(port), env):
        wait_for_port("127.0.0.1", port, timeout=60)
        await asyncio.sleep(3)  # ingest subscribes and warm-starts the engine
        seen: dict[str, float] = {}
        stop = asyncio.Event()
        follower = asyncio.create_task(follow_stream(api, seen, stop))
        interval = len(plans) / args.rate
        started = time.monotonic()
        stats = await run_fleet(fleet, mqtt_url, interval, asyncio.Event(), duration_s=args.seconds)
        elapsed = time.monotonic() - started
        deadline = time.monotonic() + 30
        while len(seen) < len(fleet.opened_at) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        stop.set()
        follower.cancel()
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM fixes").fetchone()
        stored = row[0] if row else 0
    latencies = sorted(seen[s] - t for s, t in fleet.opened_at.items() if s in seen)
    print(
        f"background load: {stats.fixes / elapsed:,.0f} fixes/s published for {elapsed:.0f} s "
        f"({stats.fixes:,} fixes from {len(plans)} signed seals, {stored:,} stored)"
    )
    print(f"faults injected: {len(fleet.opened_at)}, seal_opened alerts on the stream: {len(seen)}")
    if latencies:
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        print(
            f"publish → alert on stream: p50 {statistics.median(latencies) * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms  "
            f"[floor p99 < 1000 ms: {'met' if p99 < 1.0 else 'NOT met'}]"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seals", type=int, default=1000, help="transits released and seals driven")
    parser.add_argument("--rate", type=float, default=8000.0, help="background fixes/s")
    parser.add_argument("--faults", type=int, default=40, help="seals that open, one per second after warm-up")
    parser.add_argument("--seconds", type=float, default=70.0, help="how long the fleet drives")
    args = parser.parse_args()
    print(f"bench.alerts: {args.seals} seals at {args.rate:,.0f} fixes/s, {args.faults} injected seal openings")
    with scratch_database() as url, tempfile.TemporaryDirectory() as tmp:
        migrate(url)
        broker = Mosquitto(data_dir=Path(tmp)).start()
        try:
            asyncio.run(measure(url, broker.url, args))
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
