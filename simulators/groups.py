"""Virtual mobile customs groups: patrol near a base, publish positions, drive to dispatched alerts.

Each group publishes ``groups/{group_id}/position`` (QoS 1, JSON ``{group_id, t, lat, lon,
available, name}``) every ``interval_s`` and listens on ``alerts/groups/{group_id}``. On a
dispatch it becomes unavailable, drives straight to the alert at ``speed_kmh`` (times
``speedup``), stays ``on_scene_s`` and becomes available again at its new position.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiomqtt
import orjson
from pyproj import Geod

from sealwatch.config import mqtt_host_port
from sealwatch.logging import get_logger

log = get_logger(__name__)

_GEOD = Geod(ellps="WGS84")
DISPATCH_TOPIC = "alerts/groups/{group_id}"
POSITION_TOPIC = "groups/{group_id}/position"


@dataclass
class VirtualGroup:
    group_id: str
    name: str
    lat: float
    lon: float
    speed_kmh: float = 90.0
    on_scene_s: float = 600.0
    available: bool = True
    target: tuple[float, float] | None = None
    alert_id: int | None = None
    on_scene_until: float | None = None
    received: list[dict[str, Any]] = field(default_factory=list)

    def dispatch(self, message: dict[str, Any]) -> None:
        """Take a dispatch message; duplicates (same message_id, QoS 1 redelivery) are ignored."""
        if any(m.get("message_id") == message.get("message_id") for m in self.received):
            return
        self.received.append(message)
        if message.get("lat") is None or message.get("lon") is None:
            return
        self.target = (float(message["lat"]), float(message["lon"]))
        self.alert_id = message.get("alert_id")
        self.available = False
        log.info("group dispatched", group_id=self.group_id, alert_id=self.alert_id)

    def step(self, dt_s: float, sim_now: float, rng: random.Random) -> None:
        """Advance ``dt_s`` simulated seconds: drive to the target, wait on scene, or patrol."""
        if self.target is not None:
            az, _, dist = _GEOD.inv(self.lon, self.lat, self.target[1], self.target[0])
            move = self.speed_kmh / 3.6 * dt_s
            if move >= dist:
                self.lat, self.lon = self.target
                self.target = None
                self.on_scene_until = sim_now + self.on_scene_s
            else:
                lon, lat, _ = _GEOD.fwd(self.lon, self.lat, az, move)
                self.lat, self.lon = float(lat), float(lon)
            return
        if self.on_scene_until is not None:
            if sim_now >= self.on_scene_until:
                self.on_scene_until, self.alert_id, self.available = None, None, True
            return
        # Patrol: a small random walk (a few hundred metres) around where the group is.
        lon, lat, _ = _GEOD.fwd(self.lon, self.lat, rng.uniform(0, 360), rng.uniform(0, 30) * dt_s / 10)
        self.lat, self.lon = float(lat), float(lon)

    def position(self, t: datetime) -> tuple[str, bytes]:
        body = {
            "group_id": self.group_id,
            "name": self.name,
            "t": t.isoformat(),
            "lat": round(self.lat, 6),
            "lon": round(self.lon, 6),
            "available": self.available,
        }
        return POSITION_TOPIC.format(group_id=self.group_id), orjson.dumps(body)


def default_groups() -> list[VirtualGroup]:
    """A few groups based at customs offices along the main corridors."""
    return [
        VirtualGroup("MG-BAK", "Mobile group Baku", 40.3777, 49.892),
        VirtualGroup("MG-GNJ", "Mobile group Ganja", 40.6828, 46.3606),
        VirtualGroup("MG-KUR", "Mobile group Kurdamir", 40.3456, 48.1625),
        VirtualGroup("MG-RBR", "Mobile group Red Bridge", 41.3311, 45.0772),
        VirtualGroup("MG-SAL", "Mobile group Salyan", 39.595, 48.9792),
    ]


async def run_groups(
    groups: list[VirtualGroup],
    mqtt_url: str,
    stop: asyncio.Event,
    *,
    interval_s: float = 5.0,
    speedup: float = 1.0,
    seed: int = 1,
) -> None:
    """Publish positions and follow dispatches until ``stop``; reconnects when the broker goes away."""
    host, port = mqtt_host_port(mqtt_url)
    by_id = {g.group_id: g for g in groups}
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    backoff = 0.5
    while not stop.is_set():
        try:
            async with aiomqtt.Client(host, port, identifier=f"sealwatch-groups-sim-{uuid.uuid4().hex[:8]}") as c:
                for g in groups:
                    await c.subscribe(DISPATCH_TOPIC.format(group_id=g.group_id), qos=1)
                backoff = 0.5
                listener = asyncio.create_task(_listen(c, by_id))
                try:
                    last = loop.time()
                    while not stop.is_set():
                        now = loop.time()
                        sim_now = now * speedup
                        for g in groups:
                            g.step((now - last) * speedup, sim_now, rng)
                        last = now
                        t = datetime.now(UTC)
                        for g in groups:
                            topic, payload = g.position(t)
                            await c.publish(topic, payload, qos=1, timeout=30)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), interval_s)
                finally:
                    listener.cancel()
                    with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                        await listener
        except aiomqtt.MqttError as exc:
            log.warning("group simulator reconnecting", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, 10.0)


async def _listen(client: aiomqtt.Client, by_id: dict[str, VirtualGroup]) -> None:
    async for message in client.messages:
        group_id = str(message.topic).rsplit("/", 1)[-1]
        group = by_id.get(group_id)
        if group is None or not isinstance(message.payload, bytes):
            continue
        try:
            group.dispatch(orjson.loads(message.payload))
        except orjson.JSONDecodeError:
            log.warning("bad dispatch message", topic=str(message.topic))
