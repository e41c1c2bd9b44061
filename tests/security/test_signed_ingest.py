"""Signed telemetry end to end: real Mosquitto → IngestWorker (signatures required) → real PostgreSQL.

Every kind of forged or replayed message is dead-lettered with its reason and none is stored;
genuine messages, redeliveries and late flushes of never-stored fixes are stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import orjson
import psycopg
import pytest

from ingest.worker import IngestWorker
from launcher.servers import Mosquitto
from sealwatch.wire import SigningKey, encode_single, sign
from store.seal_keys import new_secret
from tests.helpers import (
    RunningWorker,
    SealKeys,
    count,
    ingest_settings,
    make_fix,
    minutes_ago,
    publish_all,
    signed,
    single_payload,
    telemetry,
    wait_until,
)


@pytest.fixture
def keys(migrated_db: str) -> SealKeys:
    return SealKeys(migrated_db)


@pytest.fixture
async def ingest(migrated_db: str, broker: Mosquitto) -> AsyncIterator[RunningWorker]:
    settings = ingest_settings(replay_window_seq=1000)
    worker = RunningWorker(IngestWorker(settings, migrated_db, broker.url))
    await worker.start()
    yield worker
    if not worker.stop.is_set():
        await worker.halt()


async def _deliver(ingest: RunningWorker, mqtt_url: str, messages: list[tuple[str, bytes]]) -> None:
    before = ingest.worker.stats.messages
    await asyncio.to_thread(publish_all, mqtt_url, messages)
    await wait_until(lambda: ingest.worker.stats.messages >= before + len(messages), what="messages committed")


def _dead(url: str) -> dict[bytes, tuple[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT payload, reason, detail FROM dead_letters").fetchall()
    return {bytes(r[0]): (r[1], r[2]) for r in rows}


async def test_forged_unsigned_other_seal_and_unknown_are_rejected_and_never_stored(
    ingest: RunningWorker, migrated_db: str, broker: Mosquitto, keys: SealKeys
) -> None:
    alice, bob = "AZS-ALICE1", "AZS-BOB001"
    keys.provision(alice, bob)
    t = minutes_ago(5)
    good = keys.single(alice, make_fix(1, t))
    forged = signed(encode_single(alice, make_fix(2, t)), SigningKey(keys.key(alice).kid, new_secret()))
    unsigned = single_payload(alice, make_fix(3, t))
    # Bob signs a fix claiming to be Alice's, on Alice's topic: his key is not hers.
    as_alice_by_bob = signed(encode_single(alice, make_fix(4, t)), keys.key(bob))
    # Bob publishes his own message on Alice's topic.
    bob_on_alice_topic = keys.single(bob, make_fix(5, t))
    stranger = signed(encode_single("AZS-NOBODY", make_fix(6, t)), SigningKey("k1", new_secret()))
    # A valid signature, then a field changed in flight.
    tampered_body = orjson.loads(keys.single(alice, make_fix(7, t)))
    tampered_body["lat"] = 41.0
    tampered = orjson.dumps(tampered_body)
    # A kid the seal does not have.
    wrong_kid = orjson.dumps(
        sign(encode_single(alice, make_fix(8, t)), SigningKey("nosuchkid", keys.key(alice).secret))
    )

    expected = {
        forged: "bad_signature",
        unsigned: "unsigned",
        as_alice_by_bob: "bad_signature",
        bob_on_alice_topic: "topic_mismatch",
        stranger: "unknown_seal",
        tampered: "bad_signature",
        wrong_kid: "bad_signature",
    }
    messages = [telemetry(alice, good)]
    messages += [telemetry("AZS-NOBODY" if p is stranger else alice, p) for p in expected]
    await _deliver(ingest, broker.url, messages)

    dead = _dead(migrated_db)
    for payload, reason in expected.items():
        assert payload in dead, f"{reason}: not dead-lettered"
        assert dead[payload][0] == reason, (reason, dead[payload])
    assert count(migrated_db, "SELECT count(*) FROM fixes") == 1
    assert count(migrated_db, "SELECT seq FROM fixes") == 1
    assert count(migrated_db, "SELECT count(*) FROM fixes WHERE seal_id = %s", bob) == 0


async def test_replay_same_seq_other_content_rejected_redelivery_and_late_flush_stored(
    ingest: RunningWorker, migrated_db: str, broker: Mosquitto, keys: SealKeys
) -> None:
    seal = "AZS-REPLAY1"
    base = minutes_ago(30)
    # seqs 5000..5009 stored live; 4950..4959 were buffered during signal loss and flushed later.
    live = [make_fix(5000 + i, base + timedelta(minutes=10 + i)) for i in range(10)]
    await _deliver(ingest, broker.url, [telemetry(seal, keys.single(seal, f)) for f in live])
    assert count(migrated_db, "SELECT max_seq FROM seal_seq_watermark WHERE seal_id = %s", seal) == 5009

    redelivered = keys.single(seal, live[3])  # same fix, signed again: a legitimate duplicate
    late_flush = keys.batch(seal, [make_fix(4950 + i, base + timedelta(minutes=i)) for i in range(10)])
    reused_seq = keys.single(seal, make_fix(5004, base + timedelta(minutes=14), lat=41.5))  # same seq, other place
    reused_time = keys.single(seal, make_fix(5005, base + timedelta(minutes=25)))  # same seq, other time
    too_far_back = keys.single(seal, make_fix(5009 - 1000, base))  # at/below the 1000-seq window
    messages = [redelivered, late_flush, reused_seq, reused_time, too_far_back]
    await _deliver(ingest, broker.url, [telemetry(seal, p) for p in messages])

    dead = _dead(migrated_db)
    assert set(dead) == {reused_seq, reused_time, too_far_back}
    assert {reason for reason, _ in dead.values()} == {"replay"}
    assert "different content" in dead[reused_seq][1]
    assert "below the seal's highest stored seq" in dead[too_far_back][1]
    assert count(migrated_db, "SELECT count(*) FROM fixes WHERE seal_id = %s", seal) == 20
    assert count(migrated_db, "SELECT count(*) FROM fixes WHERE seal_id = %s AND seq = 5004 AND lat = 41.5", seal) == 0
    assert count(migrated_db, "SELECT count(*) FROM fixes WHERE seal_id = %s AND seq = 5005", seal) == 1
    assert ingest.worker.stats.duplicates >= 1


async def test_same_seq_twice_in_one_batch_with_different_content_keeps_the_first(
    ingest: RunningWorker, migrated_db: str, broker: Mosquitto, keys: SealKeys
) -> None:
    seal = "AZS-TWICE01"
    t = minutes_ago(3)
    first, second = keys.single(seal, make_fix(7, t)), keys.single(seal, make_fix(7, t + timedelta(seconds=5)))
    await _deliver(ingest, broker.url, [telemetry(seal, first), telemetry(seal, second)])
    assert count(migrated_db, "SELECT count(*) FROM fixes WHERE seal_id = %s", seal) == 1
    dead = _dead(migrated_db)
    assert list(dead) == [second] and dead[second][0] == "replay"


async def test_key_provisioned_after_ingest_started_is_picked_up(
    ingest: RunningWorker, migrated_db: str, broker: Mosquitto, keys: SealKeys
) -> None:
    seal = "AZS-NEWKEY1"
    keys.provision(seal)  # ingest loaded its keys before this: NOTIFY or the commit-time recheck find it
    await _deliver(ingest, broker.url, [telemetry(seal, keys.single(seal, make_fix(1, minutes_ago(1))))])
    assert count(migrated_db, "SELECT count(*) FROM fixes WHERE seal_id = %s", seal) == 1
    assert count(migrated_db, "SELECT count(*) FROM dead_letters") == 0


async def test_signatures_optional_still_binds_seals_that_have_a_key(
    migrated_db: str, broker: Mosquitto, keys: SealKeys
) -> None:
    keys.provision("AZS-KEYED01")
    worker = await RunningWorker(
        IngestWorker(ingest_settings(require_signatures=False), migrated_db, broker.url)
    ).start()
    try:
        legacy = single_payload("AZS-LEGACY1", make_fix(1, minutes_ago(1)))
        downgrade = single_payload("AZS-KEYED01", make_fix(1, minutes_ago(1)))
        messages = [telemetry("AZS-LEGACY1", legacy), telemetry("AZS-KEYED01", downgrade)]
        before = worker.worker.stats.messages
        await asyncio.to_thread(publish_all, broker.url, messages)
        await wait_until(lambda: worker.worker.stats.messages >= before + 2, what="committed")
    finally:
        await worker.halt()
    assert count(migrated_db, "SELECT count(*) FROM fixes WHERE seal_id = 'AZS-LEGACY1'") == 1
    assert _dead(migrated_db) == {downgrade: ("unsigned", "the message has no sig and the seal has a key")}
