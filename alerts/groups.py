"""Mobile customs groups: their positions (from MQTT), and which one is nearest to an alert.

Groups publish ``groups/{group_id}/position`` with JSON ``{group_id, t, lat, lon, available}``;
:func:`consume_group_positions` keeps ``mobile_groups`` current (a late message never overwrites a
newer position). A group is suggested when it is available, reported recently, and is not
already dispatched to an unresolved alert; the nearest by geodesic distance (WGS 84) wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiomqtt
import orjson
import psycopg
from pydantic import AwareDatetime, BaseModel, Field, ValidationError
from pyproj import Geod

from alerts.store import AnyConn, fetch_all
from sealwatch.config import mqtt_endpoint
from sealwatch.logging import get_logger

log = get_logger(__name__)

POSITION_TOPIC = "groups/+/position"
_GEOD = Geod(ellps="WGS84")


class GroupPosition(BaseModel):
    group_id: str = Field(min_length=1, max_length=64)
    t: AwareDatetime
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    available: bool = True
    name: str | None = Field(default=None, max_length=200)


@dataclass(frozen=True, slots=True)
class GroupDistance:
    group_id: str
    name: str
    lat: float
    lon: float
    available: bool
    updated_at: datetime
    distance_m: float


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic distance on the WGS 84 ellipsoid, in metres."""
    _, _, d = _GEOD.inv(lon1, lat1, lon2, lat2)
    return float(d)


def rank(groups: list[dict[str, Any]], lat: float, lon: float) -> list[GroupDistance]:
    """Groups sorted nearest first (ties by id, so the choice is deterministic)."""
    out = [
        GroupDistance(
            g["group_id"],
            g["name"],
            g["lat"],
            g["lon"],
            g["available"],
            g["updated_at"],
            distance_m(lat, lon, g["lat"], g["lon"]),
        )
        for g in groups
    ]
    return sorted(out, key=lambda g: (g.distance_m, g.group_id))


async def upsert_position(conn: AnyConn, pos: GroupPosition) -> bool:
    """Store a position unless a newer one is already stored; True when stored."""
    cur = await conn.execute(
        """INSERT INTO mobile_groups (group_id, name, lat, lon, available, updated_at)
           VALUES (%(id)s, coalesce(%(name)s, %(id)s), %(lat)s, %(lon)s, %(av)s, %(t)s)
           ON CONFLICT (group_id) DO UPDATE
              SET lat = EXCLUDED.lat, lon = EXCLUDED.lon, available = EXCLUDED.available,
                  updated_at = EXCLUDED.updated_at, name = coalesce(%(name)s, mobile_groups.name)
            WHERE mobile_groups.updated_at < EXCLUDED.updated_at""",
        {"id": pos.group_id, "name": pos.name, "lat": pos.lat, "lon": pos.lon, "av": pos.available, "t": pos.t},
    )
    return cur.rowcount == 1


async def list_groups(conn: AnyConn) -> list[dict[str, Any]]:
    return await fetch_all(
        conn,
        """SELECT g.group_id, g.name, g.lat, g.lon, g.available, g.updated_at,
                  (SELECT a.id FROM alerts a WHERE a.group_id = g.group_id AND a.status = 'dispatched'
                   ORDER BY a.dispatched_at DESC LIMIT 1) AS busy_with
           FROM mobile_groups g ORDER BY g.group_id""",
    )


async def candidates(conn: AnyConn, now: datetime, stale_after_s: float) -> list[dict[str, Any]]:
    """Groups that can take an alert now: available, fresh, not busy with a dispatched alert."""
    return await fetch_all(
        conn,
        """SELECT g.group_id, g.name, g.lat, g.lon, g.available, g.updated_at FROM mobile_groups g
           WHERE g.available AND g.updated_at >= %s
             AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.group_id = g.group_id AND a.status = 'dispatched')""",
        (now - timedelta(seconds=stale_after_s),),
    )


async def suggest(conn: AnyConn, lat: float, lon: float, now: datetime, stale_after_s: float) -> list[GroupDistance]:
    return rank(await candidates(conn, now, stale_after_s), lat, lon)


def parse_position(topic: str, payload: bytes) -> GroupPosition | None:
    """The position in a message, or None (logged) when it is malformed or names another group."""
    try:
        pos = GroupPosition.model_validate(orjson.loads(payload))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        log.warning("bad group position", topic=topic, error=str(exc)[:200])
        return None
    parts = topic.split("/")
    if len(parts) != 3 or parts[1] != pos.group_id:
        log.warning("group position topic does not match its group_id", topic=topic, group_id=pos.group_id)
        return None
    if not (math.isfinite(pos.lat) and math.isfinite(pos.lon)):
        return None
    return pos


async def consume_group_positions(database_url: str, mqtt_url: str, stop: asyncio.Event) -> None:
    """Subscribe to ``groups/+/position`` and keep ``mobile_groups`` current until ``stop`` is set.

    ``mqtt_url`` carries the login that may read the groups' positions (the service account)."""
    broker = mqtt_endpoint(mqtt_url)
    backoff = 0.5
    while not stop.is_set():
        try:
            async with (
                await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn,
                aiomqtt.Client(
                    broker.host,
                    broker.port,
                    username=broker.username,
                    password=broker.password,
                    identifier=f"sealwatch-groups-{id(stop):x}",
                ) as client,
            ):
                await client.subscribe(POSITION_TOPIC, qos=1)
                log.info("listening for group positions", topic=POSITION_TOPIC)
                backoff = 0.5
                stopper = asyncio.create_task(stop.wait())
                try:
                    messages = aiter(client.messages)
                    while not stop.is_set():
                        nxt = asyncio.ensure_future(anext(messages))
                        done, _ = await asyncio.wait({nxt, stopper}, return_when=asyncio.FIRST_COMPLETED)
                        if nxt not in done:
                            nxt.cancel()
                            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                                await nxt
                            break
                        message = nxt.result()
                        payload = message.payload if isinstance(message.payload, bytes) else b""
                        pos = parse_position(str(message.topic), payload)
                        if pos is not None:
                            await upsert_position(conn, pos)
                finally:
                    stopper.cancel()
        except (aiomqtt.MqttError, psycopg.OperationalError) as exc:
            log.warning("group position consumer reconnecting", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, 10.0)


def now_utc() -> datetime:
    return datetime.now(UTC)
