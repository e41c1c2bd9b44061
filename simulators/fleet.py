"""A fleet of virtual seals publishing over MQTT (QoS 1), one tick every ``interval`` seconds.

Publishing is pipelined (many messages in flight) and survives a broker restart: messages
not acknowledged stay in the outbox and are sent again after reconnecting, as a real seal
keeps its buffer. A resend may duplicate a message; ingest stores each (seal, seq) once.
A seal whose plan carries a key signs each message with it, as a real seal does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import aiomqtt
import orjson

from sealwatch.config import mqtt_credentials, mqtt_host_port
from sealwatch.logging import get_logger
from sealwatch.wire import Fix, SigningKey, encode_batch, encode_single, sign, telemetry_topic
from simulators.clock import SimClock
from simulators.plans import SealPlan
from simulators.seal import VirtualSeal

log = get_logger(__name__)

Message = tuple[str, bytes]


def encode(seal_id: str, fixes: list[Fix], key: SigningKey | None = None) -> Message:
    body = encode_single(seal_id, fixes[0]) if len(fixes) == 1 else encode_batch(seal_id, fixes)
    if key is not None:
        body = sign(body, key)
    return telemetry_topic(seal_id), orjson.dumps(body)


@dataclass
class FleetStats:
    ticks: int = 0
    fixes: int = 0
    messages: int = 0
    reconnects: int = 0


@dataclass
class Fleet:
    seals: list[VirtualSeal]
    clock: SimClock = field(default_factory=SimClock)
    stats: FleetStats = field(default_factory=FleetStats)
    _last_sim: float | None = None

    @classmethod
    def from_plans(cls, plans: Iterable[SealPlan], clock: SimClock | None = None) -> Fleet:
        return cls([VirtualSeal.from_plan(p) for p in plans], clock or SimClock())

    def tick(self) -> list[Message]:
        """Advance every seal to the clock's now; the messages they send."""
        now = self.clock.now()
        sim = now.timestamp()
        dt = 0.0 if self._last_sim is None else max(0.0, sim - self._last_sim)
        self._last_sim = sim
        out: list[Message] = []
        for seal in self.seals:
            for fixes in seal.step(now, dt):
                out.append(encode(seal.seal_id, fixes, seal.plan.key))
                self.stats.fixes += len(fixes)
        self.stats.ticks += 1
        return out


async def _publish_all(client: aiomqtt.Client, outbox: list[Message]) -> None:
    """Publish and wait for every PUBACK; on failure the unacknowledged ones stay in ``outbox``."""
    sent = await asyncio.gather(*(client.publish(t, p, qos=1, timeout=30) for t, p in outbox), return_exceptions=True)
    failed = [m for m, r in zip(outbox, sent, strict=True) if isinstance(r, BaseException)]
    outbox[:] = failed
    if failed:
        raise aiomqtt.MqttError(f"{len(failed)} message(s) not acknowledged")


async def run_fleet(
    fleet: Fleet,
    mqtt_url: str,
    interval_s: float,
    stop: asyncio.Event,
    duration_s: float | None = None,
    on_tick: Callable[[Fleet], None] | None = None,
) -> FleetStats:
    """Tick until ``stop`` is set or ``duration_s`` has passed; returns what was published."""
    host, port = mqtt_host_port(mqtt_url)
    username, password = mqtt_credentials(mqtt_url)
    deadline = None if duration_s is None else time.monotonic() + duration_s
    outbox: list[Message] = []
    backoff = 0.5
    identifier = f"sealwatch-sim-{uuid.uuid4().hex[:8]}"
    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
        try:
            async with aiomqtt.Client(
                host,
                port,
                identifier=identifier,
                username=username,
                password=password,
                max_inflight_messages=1000,
                max_queued_outgoing_messages=0,
            ) as client:
                client.pending_calls_threshold = 100_000  # a fleet publishes many at once by design
                backoff = 0.5
                next_tick = time.monotonic()
                while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                    messages = fleet.tick()
                    fleet.stats.messages += len(messages)
                    outbox.extend(messages)
                    await _publish_all(client, outbox)
                    if on_tick:
                        on_tick(fleet)
                    next_tick += interval_s
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), max(0.0, next_tick - time.monotonic()))
        except aiomqtt.MqttError as exc:
            fleet.stats.reconnects += 1
            log.warning("broker unreachable; seals keep their messages", error=str(exc), pending=len(outbox))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, 10.0)
    if outbox:
        log.warning("stopped with messages the broker never acknowledged", pending=len(outbox))
    return fleet.stats
