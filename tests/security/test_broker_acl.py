"""The secured broker (config/mosquitto-secure.conf + generated password file and ACL), for real.

A seal can only publish its own telemetry, anonymous clients are refused, a mobile group only
reads its own alerts; and signed telemetry flows end to end through the secured broker.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.worker import IngestWorker
from launcher.broker_auth import BrokerAccounts, write_broker_auth
from launcher.servers import Mosquitto
from tests.helpers import RunningWorker, SealKeys, count, ingest_settings, make_fix, minutes_ago, wait_until

SEAL_A, SEAL_B, GROUP_1, GROUP_2 = "AZS-ACL0001", "AZS-ACL0002", "grp-north", "grp-south"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mosquitto, BrokerAccounts]]:
    accounts = BrokerAccounts()
    for seal in (SEAL_A, SEAL_B):
        accounts.add_seal(seal)
    for group in (GROUP_1, GROUP_2):
        accounts.add_group(group)
    directory = tmp_path_factory.mktemp("secured-broker")
    password_file, acl_file = write_broker_auth(directory / "auth", accounts)
    assert accounts.seals[SEAL_A] not in password_file.read_text()  # hashed, not plain text
    broker = Mosquitto(data_dir=directory / "data", password_file=password_file, acl_file=acl_file).start()
    yield broker, accounts
    broker.stop()


class Client:
    """A paho client that records what it receives and the CONNACK reason."""

    def __init__(self, broker: Mosquitto, username: str | None, password: str | None) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
        if username is not None:
            self.client.username_pw_set(username, password)
        self.received: list[tuple[str, bytes]] = []
        self.connack = threading.Event()
        self.connected = False
        self.subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, bytes(m.payload)))
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert self.connack.wait(10), "no CONNACK"

    def _on_connect(self, client: object, userdata: object, flags: object, reason: object, props: object) -> None:
        self.connected = not getattr(reason, "is_failure", True)
        self.connack.set()

    def subscribe(self, topic: str) -> None:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(10)

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _wait_for(predicate: Callable[[], object], seconds: float = 5.0) -> None:
    event = threading.Event()
    for _ in range(int(seconds * 20)):
        if predicate():
            return
        event.wait(0.05)


def test_anonymous_and_wrong_password_are_refused(secured: tuple[Mosquitto, BrokerAccounts]) -> None:
    broker, _ = secured
    anonymous = Client(broker, None, None)
    wrong = Client(broker, SEAL_A, "not-the-password")
    try:
        assert not anonymous.connected
        assert not wrong.connected
    finally:
        anonymous.close()
        wrong.close()


def test_a_seal_cannot_publish_on_another_seals_topic(secured: tuple[Mosquitto, BrokerAccounts]) -> None:
    broker, accounts = secured
    ingest = Client(broker, accounts.ingest_user, accounts.ingest_password)
    seal_a = Client(broker, SEAL_A, accounts.seals[SEAL_A])
    try:
        assert ingest.connected and seal_a.connected
        ingest.subscribe("seals/#")
        seal_a.publish(f"seals/{SEAL_B}/telemetry", b"impersonating B")
        seal_a.publish("alerts/groups/grp-north", b"fake alert")
        seal_a.publish(f"seals/{SEAL_A}/telemetry", b"own")  # sent last: once it arrives, the others would have
        _wait_for(lambda: ingest.received)
        assert ingest.received == [(f"seals/{SEAL_A}/telemetry", b"own")]
    finally:
        ingest.close()
        seal_a.close()


def test_a_group_reads_only_its_own_alerts(secured: tuple[Mosquitto, BrokerAccounts]) -> None:
    broker, accounts = secured
    north = Client(broker, GROUP_1, accounts.groups[GROUP_1])
    service = Client(broker, accounts.service_user, accounts.service_password)
    try:
        north.subscribe(f"alerts/groups/{GROUP_2}")
        north.subscribe(f"alerts/groups/{GROUP_1}")
        north.subscribe("seals/#")  # nor any telemetry
        service.publish(f"alerts/groups/{GROUP_2}", b"for south")
        service.publish(f"seals/{SEAL_A}/telemetry", b"service cannot write telemetry")
        service.publish(f"alerts/groups/{GROUP_1}", b"for north")
        _wait_for(lambda: north.received)
        assert north.received == [(f"alerts/groups/{GROUP_1}", b"for north")]
    finally:
        north.close()
        service.close()


async def test_signed_telemetry_flows_through_the_secured_broker(
    secured: tuple[Mosquitto, BrokerAccounts], migrated_db: str
) -> None:
    broker, accounts = secured
    keys = SealKeys(migrated_db)
    ingest_url = broker.url_for(accounts.ingest_user, accounts.ingest_password)
    worker = await RunningWorker(IngestWorker(ingest_settings(), migrated_db, ingest_url)).start()
    try:
        seal = Client(broker, SEAL_A, accounts.seals[SEAL_A])
        try:
            seal.publish(f"seals/{SEAL_A}/telemetry", keys.single(SEAL_A, make_fix(1, minutes_ago(1))))
        finally:
            seal.close()
        await wait_until(lambda: count(migrated_db, "SELECT count(*) FROM fixes") == 1, 15, "the fix stored")
    finally:
        await asyncio.wait_for(worker.halt(), 30)


def test_usernames_must_not_collide() -> None:
    accounts = BrokerAccounts()
    accounts.add_seal("AZS-SAME001")
    accounts.add_group("AZS-SAME001")
    with pytest.raises(ValueError, match="used twice"):
        accounts.logins()
    with pytest.raises(ValueError):
        accounts.add_seal("bad/id")
