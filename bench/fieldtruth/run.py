"""Running a field-truth scenario through the real pipeline, in simulated time.

A scratch database with the shipped routes, stop areas and offices; the scenario's transits
written into customs as released transits, its restricted zones into the zones; a private
Mosquitto; ingest, the geofence engine and the alert service wired as ``sealwatch ingest`` wires
them. The simulated clock moves in steps: each step's messages are published over MQTT (QoS 1),
and the clock moves on once ingest has committed and judged all of them and the alert timers
have ticked at the step's end. Ingest stamps receipt, and the alert service decides, with the
simulated clock, so hours of transits pass in minutes and every delay is in simulated time.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import psycopg
from psycopg.rows import dict_row

from alerts.service import AlertService
from alerts.settings import AlertSettings
from bench.fieldtruth.scenario import Area, Builder, Message, Plan, Road, Zone
from customs.db import as_db
from customs.routes import current_corridor
from geofence.live import LiveGeofence
from geofence.model import ZoneSpec
from ingest.worker import IngestWorker
from launcher.runner import Judging
from launcher.servers import Mosquitto
from sealwatch.config import Settings, mqtt_host_port
from sealwatch.wire import WIRE_VERSION, telemetry_topic
from store.migrate import migrate

ROUTES = ("RBR-BAK", "RBR-ALT", "AST-BAK", "SAM-BAK", "BLK-GNJ")  # both ends are offices
STEP_S = 60.0


class SimClock:
    """The simulated wall clock every component reads."""

    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)


@dataclass(slots=True)
class Outcome:
    plans: list[Plan]
    alerts: list[dict[str, Any]]
    messages: int
    fixes: int
    sim_hours: float
    wall_s: float
    zones: list[Zone] = field(default_factory=list)  # the restricted zones the scenario added


async def load_roads(url: str) -> list[Road]:
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        db = as_db(conn)
        areas = await (
            await conn.execute(
                "SELECT code, coalesce(purpose, 'office') AS purpose, center_lat, center_lon FROM zones"
                " WHERE kind IN ('authorized_stop', 'customs_office', 'border_checkpoint') AND active"
            )
        ).fetchall()
        roads = []
        for code in ROUTES:
            corridor = await current_corridor(db, code)
            row = await (await conn.execute("SELECT stop_tolerance_s FROM routes WHERE code = %s", (code,))).fetchone()
            assert row is not None
            lonlat = [(float(x), float(y)) for x, y, *_ in corridor.line["coordinates"]]
            widths = corridor.segment_widths or [corridor.width_m] * (len(lonlat) - 1)
            road = Road.of(code, lonlat, widths, float(row["stop_tolerance_s"] or 900.0))
            for a in areas:
                along, lateral = road.project(float(a["center_lon"]), float(a["center_lat"]))
                if lateral < 3000 and 0 < along < road.length:
                    road.areas.append(
                        Area(a["code"], a["purpose"], along, float(a["center_lat"]), float(a["center_lon"]))
                    )
            road.areas.sort(key=lambda a: a.along_m)
            roads.append(road)
    return roads


def write_scenario(url: str, plans: list[Plan], zones: list[Zone]) -> None:
    """Restricted zones, seals and released transits, straight into the tables customs fills."""
    with psycopg.connect(url) as conn:
        for z in zones:
            spec = ZoneSpec.circle(z.code, "restricted_area", z.lon, z.lat, z.radius_m, quad_segs=6)
            geometry = {"type": "Polygon", "coordinates": [[list(p) for p in spec.polygon]]}
            conn.execute(
                """INSERT INTO zones (code, name, kind, geometry, center_lat, center_lon, radius_m)
                   VALUES (%s, %s, 'restricted_area', %s, %s, %s, %s)""",
                (z.code, f"restricted {z.code}", json.dumps(geometry), z.lat, z.lon, z.radius_m),
            )
        lines: dict[str, Any] = {}
        for p in plans:
            code = p.road.code
            if code not in lines:
                lines[code] = conn.execute(
                    "SELECT polyline, place_codes, default_width_m FROM routes WHERE code = %s", (code,)
                ).fetchone()
            _polyline, places, width = lines[code]
            origin, destination = places[0], places[-1]
            widths = [float(w) for w in p.road.widths]
            line = {"type": "LineString", "coordinates": [[*lonlat] for lonlat in _lonlat(p.road)]}
            released = datetime.fromtimestamp(p.released_at, UTC)
            conn.execute("INSERT INTO seals (seal_id, battery_pct) VALUES (%s, 95)", (p.seal_id,))
            decl = conn.execute(
                """INSERT INTO declarations (lrn, mrn, status, declarant_tin, carrier_name, carrier_tin, vehicle_plate,
                       office_departure, office_destination, route_code, itinerary_places, seal_count, origin_country,
                       body, released_at)
                   VALUES (%s, %s, 'released', '1234567890', 'Field Truth Haulage', '1402345678', %s, %s, %s, %s,
                           %s, 1, 'GE', '{}', %s) RETURNING id""",
                (f"FT-{p.transit_id}", p.transit_id, f"{p.transit_id[-3:]}-FT-{p.transit_id[2:5]}", origin,
                 destination, code, [origin, destination], released),
            ).fetchone()  # fmt: skip
            assert decl is not None
            conn.execute(
                """INSERT INTO transits (transit_id, declaration_id, route_code, route_line, corridor, corridor_width_m,
                       office_departure, office_destination, channel, monitored, released_at, deadline, segment_widths)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'yellow', true, %s, %s, %s)""",
                (p.transit_id, decl[0], code, json.dumps(line), json.dumps(_box(line)), width, origin, destination,
                 released, datetime.fromtimestamp(p.deadline, UTC), json.dumps(widths)),
            )  # fmt: skip
            conn.execute("INSERT INTO transit_seals (transit_id, seal_id) VALUES (%s, %s)", (p.transit_id, p.seal_id))
            conn.execute(
                "UPDATE seals SET status = 'in_use', current_transit_id = %s WHERE seal_id = %s",
                (p.transit_id, p.seal_id),
            )
            conn.execute("UPDATE transits SET seal_id = %s WHERE transit_id = %s", (p.seal_id, p.transit_id))


def _lonlat(road: Road) -> list[tuple[float, float]]:
    from geofence.projection import to_lonlat

    lon, lat = to_lonlat(road.x, road.y)
    return list(zip(lon.tolist(), lat.tolist(), strict=True))


def _box(line: dict[str, Any]) -> dict[str, Any]:
    xs = [c[0] for c in line["coordinates"]]
    ys = [c[1] for c in line["coordinates"]]
    x0, x1, y0, y1 = min(xs) - 0.1, max(xs) + 0.1, min(ys) - 0.1, max(ys) + 0.1
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _payload(m: Message) -> tuple[str, bytes]:
    if len(m.fixes) == 1:
        body: dict[str, Any] = {"v": WIRE_VERSION, "seal_id": m.seal_id, **m.fixes[0]}
    else:
        body = {"v": WIRE_VERSION, "seal_id": m.seal_id, "fixes": m.fixes}
    return telemetry_topic(m.seal_id), orjson.dumps(body)


async def drive(url: str, plans: list[Plan], messages: list[Message], start: float, quiet: bool) -> Outcome:
    """Publish the messages step by step of simulated time through the running pipeline."""
    clock = SimClock(start)
    end = max(m.at for m in messages) + STEP_S
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(data_dir=Path(tmp)).start()
        try:
            settings = Settings(
                database_url=url,
                mqtt_url=broker.url,
                mqtt_client_id=f"fieldtruth-{uuid.uuid4().hex[:6]}",
                batch_max_wait_ms=15,
                require_signatures=False,
                log_level="WARNING",
            )
            geofence = LiveGeofence(url)
            await geofence.start()
            alert_settings = AlertSettings(timers_start_after_s=0)
            alerts = AlertService(url, alert_settings, publish=None, clock=clock.now)
            worker = IngestWorker(settings, url, broker.url, downstream=Judging(geofence, alerts))
            worker.clock = clock.now
            stop = asyncio.Event()
            running = asyncio.create_task(worker.run(stop))
            await asyncio.wait_for(worker.subscribed.wait(), 30)
            host, port = mqtt_host_port(broker.url)
            started = time.monotonic()
            sent = 0
            k = 0
            async with aiomqtt.Client(host, port, identifier=f"fieldtruth-seals-{uuid.uuid4().hex[:6]}") as client:
                t = start
                while t < end:
                    t += STEP_S
                    clock.t = t
                    while k < len(messages) and messages[k].at <= t:
                        topic, payload = _payload(messages[k])
                        await client.publish(topic, payload, qos=1)
                        k += 1
                        sent += 1
                    await asyncio.wait_for(worker.drained(sent), 120)
                    await alerts.tick(clock.now())
                    if not quiet and int(t - start) % 3600 < STEP_S:
                        hours, wall = (t - start) / 3600, time.monotonic() - started
                        print(f"  simulated {hours:4.1f} h, {sent} messages, {wall:5.0f} s")
            wall = time.monotonic() - started
            stop.set()
            await asyncio.wait_for(running, 60)
            await alerts.aclose()
            geofence.close()
        finally:
            broker.stop()
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute(
            """SELECT id, type, severity, status, transit_id, seal_id, first_t, last_t, raised_at, detected_at, late,
                      count, evidence FROM alerts ORDER BY id"""
        ).fetchall()
        fixes = conn.execute("SELECT count(*) AS n FROM fixes").fetchone()
    return Outcome(plans, rows, sent, int(fixes["n"]) if fixes else 0, (end - start) / 3600, wall)


def prepare(
    url: str, transits: int, seed: int, start: float, kinds: list[str] | None = None
) -> tuple[list[Plan], list[Zone]]:
    migrate(url)
    roads = asyncio.run(load_roads(url))
    builder = Builder(roads, start, seed)
    plans = builder.build(transits, kinds)
    write_scenario(url, plans, builder.zones)
    return plans, builder.zones
