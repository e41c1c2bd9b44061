"""End to end: violations made out of coverage, with the backlog sent after the live fix.

A seal out of coverage keeps fixing and buffering; back in coverage it sends its current position
first and flushes the backlog a moment later. Through MQTT, ingest, geofence and alerts, a
38-minute trip up to 7 km off the route, and a 36-minute stop, made entirely in such a backlog
must raise their alerts, stamped with when they happened and marked as found late; the same trip
with the backlog sent first raises it live. Nothing moves the seal's current position backward.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg.rows import dict_row
from shapely.geometry import LineString

from alerts.settings import AlertSettings
from geofence.projection import point_to_lonlat, to_metric
from launcher.demo import release_fleet
from launcher.runner import serve_ingest
from launcher.servers import Mosquitto
from sealwatch.config import Settings
from sealwatch.wire import Fix, SealState
from simulators.fleet import encode
from simulators.plans import SealPlan
from tests.helpers import publish_all, wait_until

MIN = 60.0
STEP_S = 30.0
TRIP_MIN = 100  # minutes of track, ending two minutes ago
GAP = (40, 78)  # out of coverage, minutes into the track: 38 minutes


def _rows(url: str, query: str, params: Any = None) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


def _track(plan: SealPlan, start: datetime, kind: str) -> list[Fix]:
    """Fixes every 30 s at 60 km/h along the transit's line; ``kind`` adds what happens in the gap."""
    assert plan.route_line is not None
    x, y = to_metric(np.asarray([p[0] for p in plan.route_line]), np.asarray([p[1] for p in plan.route_line]))
    line = LineString(np.column_stack([x, y]))
    along = 0.1 * line.length
    fixes = []
    for i in range(int(TRIP_MIN * MIN / STEP_S) + 1):
        minute = i * STEP_S / MIN
        speed = 60.0
        offset = 0.0
        if kind == "deviation" and GAP[0] + 2 <= minute <= GAP[1] - 2:  # up to 7 km off, and back
            offset = 7000.0 * math.sin(math.pi * (minute - GAP[0] - 2) / (GAP[1] - GAP[0] - 4))
        if kind == "stop" and GAP[0] + 1 <= minute < GAP[0] + 37:  # 36 minutes standing
            speed = 0.0
        if i:
            along += speed / 3.6 * STEP_S
        p = line.interpolate(along)
        q = line.interpolate(along + 5.0)
        dx, dy = q.x - p.x, q.y - p.y
        norm = math.hypot(dx, dy) or 1.0
        lon, lat = point_to_lonlat(p.x - dy / norm * offset, p.y + dx / norm * offset)
        t = start + timedelta(seconds=i * STEP_S)
        fixes.append(Fix(seq=i, t=t, lat=lat, lon=lon, speed_kmh=speed, battery_pct=90.0, seal_state=SealState.CLOSED))
    return fixes


def _in_gap(f: Fix, start: datetime) -> bool:
    minute = (f.t - start).total_seconds() / MIN
    return GAP[0] < minute < GAP[1]


@pytest.mark.timeout(240)
async def test_backlog_sent_after_the_live_fix_raises_late_alerts(migrated_db: str, broker: Mosquitto) -> None:
    plans: list[SealPlan] = await asyncio.to_thread(release_fleet, migrated_db, 3, 13, False)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(minutes=TRIP_MIN + 2)
    with psycopg.connect(migrated_db) as conn:
        conn.execute(
            "UPDATE transits SET released_at = %s, deadline = %s WHERE transit_id = ANY(%s)",
            (start - timedelta(minutes=5), now + timedelta(hours=12), [p.transit_id for p in plans]),
        )
    deviation, stop, backlog_first = plans
    tracks = {
        deviation.seal_id: _track(deviation, start, "deviation"),
        stop.seal_id: _track(stop, start, "stop"),
        backlog_first.seal_id: _track(backlog_first, start, "deviation"),
    }
    keys = {p.seal_id: p.key for p in plans}

    def messages(seal_id: str, fixes: list[Fix], batch: bool = False) -> list[tuple[str, bytes]]:
        if batch:
            return [encode(seal_id, fixes, keys[seal_id])]
        return [encode(seal_id, [f], keys[seal_id]) for f in fixes]

    settings = Settings(
        database_url=migrated_db,
        mqtt_url=broker.url,
        mqtt_client_id=f"late-{uuid.uuid4().hex[:6]}",
        batch_max_wait_ms=100,
    )
    alert_settings = AlertSettings(mqtt_url=broker.url, signal_lost_after_s=12 * 3600)
    service_stop = asyncio.Event()
    service = asyncio.create_task(serve_ingest(settings, service_stop, alert_settings))
    try:
        await asyncio.sleep(3)  # subscribed, engine loaded
        before, live, backlog, after = [], [], [], []
        for seal_id, fixes in tracks.items():
            gap = [f for f in fixes if _in_gap(f, start)]
            rest = [f for f in fixes if (f.t - start).total_seconds() / MIN >= GAP[1]]
            before += messages(seal_id, [f for f in fixes if (f.t - start).total_seconds() / MIN <= GAP[0]])
            if seal_id == backlog_first.seal_id:
                backlog += messages(seal_id, gap, batch=True) + messages(seal_id, rest[:1])
            else:
                live += messages(seal_id, rest[:1])
                backlog += messages(seal_id, gap, batch=True)
            after += messages(seal_id, rest[1:])
        await asyncio.to_thread(publish_all, broker.url, before + live)
        live_t = {s: next(f for f in fx if (f.t - start).total_seconds() / MIN >= GAP[1]).t for s, fx in tracks.items()}

        def live_stored() -> bool:
            got = {r["seal_id"]: r["t"] for r in _rows(migrated_db, "SELECT seal_id, t FROM seal_latest")}
            return all(got.get(s) == live_t[s] for s in (deviation.seal_id, stop.seal_id))

        await wait_until(live_stored, 60, "the live fixes after the gap")
        published_backlog = datetime.now(UTC)
        await asyncio.to_thread(publish_all, broker.url, backlog + after)
        want = {(deviation.seal_id, "route_deviation"), (stop.seal_id, "unauthorized_stop"),
                (backlog_first.seal_id, "route_deviation")}  # fmt: skip

        def raised() -> set[tuple[str, str]]:
            return {(a["seal_id"], a["type"]) for a in _rows(migrated_db, "SELECT seal_id, type FROM alerts")}

        await wait_until(lambda: want <= raised(), 90, "the alerts the backlogs reveal")
        await asyncio.sleep(2)  # anything that would come as a duplicate comes now
    finally:
        service_stop.set()
        await asyncio.wait_for(service, 60)

    alerts = _rows(migrated_db, "SELECT * FROM alerts ORDER BY id")
    by_seal: dict[str, list[dict[str, Any]]] = {}
    for a in alerts:
        by_seal.setdefault(a["seal_id"], []).append(a)
    gap_from, gap_to = start + timedelta(minutes=GAP[0]), start + timedelta(minutes=GAP[1])
    for seal_id, kind in ((deviation.seal_id, "route_deviation"), (stop.seal_id, "unauthorized_stop")):
        [a] = by_seal[seal_id]  # exactly one alert, of its type: no stale duplicate
        assert a["type"] == kind and a["late"] is True, a
        assert gap_from < a["first_t"] < gap_to, (a["first_t"], gap_from, gap_to)
        assert a["raised_at"] == a["first_t"]  # stamped with when it happened
        assert a["detected_at"] >= published_backlog  # and with when it was found
        assert a["status"] != "resolved" and a["evidence"]["cleared"] is True  # over, but left for an operator
    [a] = by_seal[backlog_first.seal_id]
    assert a["type"] == "route_deviation" and a["late"] is False and gap_from < a["first_t"] < gap_to
    # The current position is the newest fix's, whatever arrived after it.
    latest = {r["seal_id"]: r["t"] for r in _rows(migrated_db, "SELECT seal_id, t FROM seal_latest")}
    assert latest == {s: fx[-1].t for s, fx in tracks.items()}
    state = {r["transit_id"]: r["last_fix_t"] for r in _rows(migrated_db, "SELECT * FROM alert_transit_state")}
    assert state[deviation.transit_id] == tracks[deviation.seal_id][-1].t
