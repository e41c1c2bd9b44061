"""The documented flow, end to end, on the secured broker with one account per role.

Mosquitto runs config/mosquitto-secure.conf with the ACL launcher.broker_auth writes; ingest
logs in as the ingest account, the alerting service (dispatch outbox, group positions) as the
service account, the seal and each mobile group with their own logins. A seal's opening becomes
an alert; the groups' positions arrive over MQTT and decide the nearest-group suggestion; the
dispatch reaches the chosen group over MQTT; no group can post another group's position.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from alerts.settings import AlertSettings
from api.app import create_app
from launcher.broker_auth import BrokerAccounts, write_broker_auth
from launcher.runner import serve_ingest
from launcher.servers import Mosquitto
from sealwatch.config import Settings
from sealwatch.wire import SealState
from tests.alerts.conftest import ON_ROUTE, insert_transit, rows
from tests.helpers import SealKeys, make_fix, minutes_ago, serve_app, wait_until
from tests.login import auth
from tests.security.test_broker_acl import Client

NORTH, SOUTH = "MG-NORTH", "MG-SOUTH"
FAR = (39.0, 46.0)  # about 250 km from the truck
NEAR = (40.63, 47.17)  # about 2 km from it


def _position(group_id: str, lat: float, lon: float, t: datetime) -> bytes:
    return orjson.dumps({"group_id": group_id, "t": t.isoformat(), "lat": lat, "lon": lon, "available": True})


@pytest.fixture
def secured(tmp_path_factory: pytest.TempPathFactory, migrated_db: str) -> Iterator[tuple[Mosquitto, BrokerAccounts]]:
    accounts = BrokerAccounts()
    accounts.add_seal(insert_transit(migrated_db, 1).seal_id)
    for group in (NORTH, SOUTH):
        accounts.add_group(group)
    directory = tmp_path_factory.mktemp("secure-chain")
    password_file, acl_file = write_broker_auth(directory / "auth", accounts)
    broker = Mosquitto(data_dir=directory / "data", password_file=password_file, acl_file=acl_file).start()
    yield broker, accounts
    broker.stop()


@pytest.mark.timeout(120)
async def test_seal_to_group_and_group_positions_through_the_secured_broker(
    secured: tuple[Mosquitto, BrokerAccounts], migrated_db: str
) -> None:
    broker, accounts = secured
    [seal_id] = accounts.seals
    settings = Settings(
        database_url=migrated_db,
        mqtt_url=broker.url_for(accounts.ingest_user, accounts.ingest_password),
        alerts_mqtt_url=broker.url_for(accounts.service_user, accounts.service_password),
        mqtt_client_id=f"ingest-chain-{uuid.uuid4().hex[:6]}",
        batch_max_wait_ms=50,
    )
    stop = asyncio.Event()
    service = asyncio.create_task(serve_ingest(settings, stop, AlertSettings(outbox_poll_s=0.5)))
    north = Client(broker, NORTH, accounts.groups[NORTH])
    south = Client(broker, SOUTH, accounts.groups[SOUTH])
    seal = Client(broker, seal_id, accounts.seals[seal_id])
    try:
        assert north.connected and south.connected and seal.connected
        north.subscribe(f"alerts/groups/{NORTH}")
        south.subscribe(f"alerts/groups/{SOUTH}")
        t0 = datetime.now(UTC) - timedelta(seconds=30)

        # Group positions reach the service (it subscribes a moment after start: repeat until stored).
        def stored(group_id: str) -> list[dict[str, Any]]:
            return rows(migrated_db, "SELECT lat, lon, updated_at FROM mobile_groups WHERE group_id = %s", group_id)

        for i in range(100):
            south.publish(f"groups/{SOUTH}/position", _position(SOUTH, *FAR, t0 + timedelta(milliseconds=i)))
            if stored(SOUTH):
                break
            await asyncio.sleep(0.2)
        assert stored(SOUTH), "the service never received a group position"
        # North poses as south, right at the truck, and a seal poses as a group: the ACL drops both.
        north.publish(f"groups/{SOUTH}/position", _position(SOUTH, *ON_ROUTE, t0 + timedelta(seconds=5)))
        seal.publish(f"groups/{seal_id}/position", _position(seal_id, *ON_ROUTE, t0 + timedelta(seconds=5)))
        north.publish(f"groups/{NORTH}/position", _position(NORTH, *NEAR, t0 + timedelta(seconds=6)))
        await wait_until(lambda: bool(stored(NORTH)), 15, "north's own position")
        [south_row] = stored(SOUTH)
        assert (south_row["lat"], south_row["lon"]) == FAR, "a group overwrote another group's position"
        assert rows(migrated_db, "SELECT 1 FROM mobile_groups WHERE group_id = %s", seal_id) == []

        # The seal is opened: ingest (its own login) stores the fixes, the rules raise the alert.
        keys = SealKeys(migrated_db)
        fixes = [
            make_fix(1, minutes_ago(2), lat=ON_ROUTE[0], lon=ON_ROUTE[1]),
            make_fix(2, minutes_ago(1), lat=ON_ROUTE[0], lon=ON_ROUTE[1], seal_state=SealState.OPENED),
        ]
        seal.publish(f"seals/{seal_id}/telemetry", keys.batch(seal_id, fixes))

        def opened() -> list[dict[str, Any]]:
            return rows(migrated_db, "SELECT id FROM alerts WHERE seal_id = %s AND type = 'seal_opened'", seal_id)

        await wait_until(lambda: bool(opened()), 30, "the seal_opened alert")
        [alert] = opened()

        with serve_app(create_app(Settings(database_url=migrated_db, mqtt_url=None))) as api:
            headers = auth(migrated_db, "chain-operator", "operator")
            async with httpx.AsyncClient(base_url=api, headers=headers, timeout=30) as http:
                suggested = await http.get("/api/groups/suggest", params={"alert_id": alert["id"]})
                assert suggested.status_code == 200, suggested.text
                assert [g["group_id"] for g in suggested.json()] == [NORTH, SOUTH]
                sent = await http.post(f"/api/alerts/{alert['id']}/dispatch", json={"auto": True})
                assert sent.status_code == 200, sent.text

        # The outbox publishes with the service account; only the chosen group receives it.
        await wait_until(lambda: bool(north.received), 20, "the dispatch at the nearest group")
        [(topic, payload)] = north.received
        assert topic == f"alerts/groups/{NORTH}"
        assert orjson.loads(payload)["alert_id"] == alert["id"]
        assert south.received == []
    finally:
        for client in (north, south, seal):
            client.close()
        stop.set()
        await asyncio.wait_for(service, 60)
