"""End to end: simulated seals with injected faults → MQTT → ingest → geofence → alerts.

Transits are released through customs, the fleet signs with provisioned keys, the service runs
ingest with the engine and alert rules behind it (``serve_ingest``, as ``sealwatch ingest``
does), and mobile groups report positions. Each faulty seal must raise exactly its alert, once;
the seals without faults raise nothing but informational arrivals; a critical alert is
dispatched over MQTT to one group.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from typing import Any

import aiomqtt
import orjson
import psycopg
import pytest
from psycopg.rows import dict_row

from alerts.settings import AlertSettings
from launcher.demo import release_fleet
from launcher.runner import serve_ingest
from launcher.servers import Mosquitto
from sealwatch.config import Settings, mqtt_host_port
from simulators.clock import SimClock
from simulators.faults import Fault, FaultKind
from simulators.fleet import Fleet, run_fleet
from simulators.groups import default_groups, run_groups
from simulators.plans import SealPlan
from tests.helpers import wait_until

MIN = 60.0
FAULTS: dict[int, tuple[Fault, str]] = {
    0: (Fault(FaultKind.DEVIATION, at_s=5 * MIN, duration_s=20 * MIN, magnitude=8000), "route_deviation"),
    # Past the Astara border-queue area (a stop there is no alarm), and longer than the route tolerates.
    1: (Fault(FaultKind.STOP, at_s=9 * MIN, duration_s=20 * MIN), "unauthorized_stop"),
    2: (Fault(FaultKind.OPENED, at_s=6 * MIN), "seal_opened"),
    3: (Fault(FaultKind.TAMPER, at_s=6 * MIN), "seal_tampered"),
    4: (Fault(FaultKind.LOW_BATTERY, at_s=3 * MIN, duration_s=5 * MIN, magnitude=8), "low_battery"),
    5: (Fault(FaultKind.GPS_JUMP, at_s=8 * MIN, magnitude=40_000), "gps_jump"),
}
SEALS = 12


def _alerts(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute("SELECT id, type, seal_id, severity, status FROM alerts ORDER BY id").fetchall()


async def _collect_dispatches(mqtt_url: str, got: list[tuple[str, dict[str, Any]]], ready: asyncio.Event) -> None:
    host, port = mqtt_host_port(mqtt_url)
    async with aiomqtt.Client(host, port, identifier=f"test-groups-{uuid.uuid4().hex[:6]}") as client:
        await client.subscribe("alerts/groups/#", qos=1)
        ready.set()
        async for message in client.messages:
            got.append((message.topic.value, orjson.loads(bytes(message.payload))))


@pytest.mark.timeout(240)
async def test_each_injected_fault_raises_exactly_its_alert_once(migrated_db: str, broker: Mosquitto) -> None:
    plans: list[SealPlan] = await asyncio.to_thread(release_fleet, migrated_db, SEALS, 21, False)
    plans = [p if i not in FAULTS else _with(p, FAULTS[i][0]) for i, p in enumerate(plans)]
    expected = {plans[i].seal_id: alert_type for i, (_, alert_type) in FAULTS.items()}

    settings = Settings(
        database_url=migrated_db,
        mqtt_url=broker.url,
        mqtt_client_id=f"ingest-e2e-{uuid.uuid4().hex[:6]}",
        batch_max_wait_ms=100,
    )
    # Simulated time runs ahead of fix reception here, so silence is judged on a long threshold.
    alert_settings = AlertSettings(mqtt_url=broker.url, auto_dispatch_critical=True, signal_lost_after_s=6 * 3600)
    stop = asyncio.Event()
    service = asyncio.create_task(serve_ingest(settings, stop, alert_settings))
    dispatches: list[tuple[str, dict[str, Any]]] = []
    listening = asyncio.Event()
    collector = asyncio.create_task(_collect_dispatches(broker.url, dispatches, listening))
    groups = asyncio.create_task(run_groups(default_groups(), broker.url, stop, interval_s=1.0))
    try:
        await asyncio.wait_for(listening.wait(), 15)
        await asyncio.sleep(3)  # ingest subscribed, engine warm, groups reported
        # 30 simulated minutes in ~30 s: the clock starts 30 minutes back and runs 60x until now.
        fleet = Fleet.from_plans(plans, SimClock(start_ago_s=30 * MIN, speedup=60))
        await run_fleet(fleet, broker.url, 0.5, asyncio.Event(), duration_s=35)

        def raised() -> set[str]:
            return {a["seal_id"] for a in _alerts(migrated_db) if a["type"] == expected.get(a["seal_id"])}

        await wait_until(lambda: raised() == set(expected), 60, "every injected fault's alert")
        await wait_until(lambda: len(dispatches) >= 2, 30, "critical alerts dispatched to groups")
    finally:
        stop.set()
        await asyncio.wait_for(service, 60)
        await asyncio.gather(groups, return_exceptions=True)
        collector.cancel()

    alerts = _alerts(migrated_db)
    for seal_id, alert_type in expected.items():
        mine = [a for a in alerts if a["seal_id"] == seal_id and a["type"] != "arrival"]
        assert [a["type"] for a in mine] == [alert_type], f"{seal_id}: {mine}"
    quiet = {p.seal_id for p in plans} - set(expected)
    assert [a for a in alerts if a["seal_id"] in quiet and a["type"] != "arrival"] == []
    critical = {a["id"] for a in alerts if a["type"] in ("seal_opened", "seal_tampered")}
    assert all(a["severity"] == "critical" for a in alerts if a["id"] in critical)
    dispatched = [payload["alert_id"] for _, payload in dispatches]
    assert sorted(dispatched) == sorted(critical), "each critical alert goes to exactly one group"
    assert all(topic == f"alerts/groups/{payload['group_id']}" for topic, payload in dispatches)


def _with(plan: SealPlan, fault: Fault) -> SealPlan:
    return replace(plan, faults=(fault,))
