"""Key rotation: the previous key verifies during the grace period and not after; revocation is immediate."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from ingest.auth import KeyRing
from ingest.decode import DecodeLimits, Reason, decode
from ingest.worker import IngestWorker
from launcher.servers import Mosquitto
from sealwatch.wire import telemetry_topic
from store.seal_keys import SecretBox, load_verification_keys, provision, provision_many, revoke
from tests.helpers import (
    RunningWorker,
    SealKeys,
    count,
    ingest_settings,
    make_fix,
    publish_all,
    signed_single,
    wait_until,
)

LIMITS = DecodeLimits(max_clock_skew=timedelta(minutes=5), max_age=timedelta(days=30))
SEAL = "AZS-ROTATE1"


def _ring(url: str) -> KeyRing:
    ring = KeyRing(require_signatures=True)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        ring.replace_all(load_verification_keys(conn, SecretBox(None)))
    return ring


def _reasons(ring: KeyRing, payload: bytes, at: datetime) -> list[Reason]:
    out = decode(telemetry_topic(SEAL), payload, at, LIMITS, ring)
    return [r.reason for r in out.rejects] if out.rejects else []


def test_old_key_verifies_during_grace_and_fails_after(migrated_db: str) -> None:
    with psycopg.connect(migrated_db, row_factory=dict_row) as conn:
        old = provision(conn, SEAL).signing_key
        rotated = provision(conn, SEAL, grace=timedelta(hours=1))
    assert rotated.previous_valid_until is not None
    ring = _ring(migrated_db)
    now = datetime.now(UTC)
    by_old = signed_single(SEAL, make_fix(1, now), old)
    by_new = signed_single(SEAL, make_fix(2, now), rotated.signing_key)

    assert _reasons(ring, by_old, now) == []  # within the grace period
    assert _reasons(ring, by_new, now) == []
    after = rotated.previous_valid_until + timedelta(seconds=1)
    # Same messages received after the grace period (fix times moved along so they are not "future").
    late_old = signed_single(SEAL, make_fix(3, after), old)
    late_new = signed_single(SEAL, make_fix(4, after), rotated.signing_key)
    assert _reasons(ring, late_old, after) == [Reason.BAD_SIGNATURE]
    assert _reasons(ring, late_new, after) == []


def test_a_second_rotation_does_not_extend_an_expiring_key(migrated_db: str) -> None:
    with psycopg.connect(migrated_db, row_factory=dict_row) as conn:
        first = provision(conn, SEAL).signing_key
        provision(conn, SEAL, grace=timedelta(minutes=5))
        provision(conn, SEAL, grace=timedelta(days=2))
        rows = conn.execute("SELECT revoked_at FROM seal_keys WHERE kid = %s", (first.kid,)).fetchall()
    assert rows[0]["revoked_at"] < datetime.now(UTC) + timedelta(minutes=6)


def test_keys_issued_in_bulk_rotate_like_one_by_one(migrated_db: str) -> None:
    with psycopg.connect(migrated_db, row_factory=dict_row) as conn:
        old = provision(conn, SEAL).signing_key
        keys = provision_many(conn, [SEAL, "AZS-ROTATE2"], grace=timedelta(hours=1))
        rows = conn.execute("SELECT kid, revoked_at FROM seal_keys WHERE seal_id = %s", (SEAL,)).fetchall()
    ending = {r["kid"]: r["revoked_at"] for r in rows}
    assert ending[keys[SEAL].kid] is None  # the new key
    assert ending[old.kid] is not None and ending[old.kid] < datetime.now(UTC) + timedelta(hours=1, minutes=1)
    ring = _ring(migrated_db)
    now = datetime.now(UTC)
    assert _reasons(ring, signed_single(SEAL, make_fix(1, now), keys[SEAL]), now) == []
    assert _reasons(ring, signed_single(SEAL, make_fix(2, now), old), now) == []  # within the grace period


def test_revoked_key_fails_at_once(migrated_db: str) -> None:
    with psycopg.connect(migrated_db, row_factory=dict_row) as conn:
        key = provision(conn, SEAL).signing_key
        revoke(conn, SEAL, key.kid)
    now = datetime.now(UTC)
    assert _reasons(_ring(migrated_db), signed_single(SEAL, make_fix(1, now), key), now) == [Reason.UNKNOWN_SEAL]


async def test_rotation_reaches_a_running_ingest(migrated_db: str, broker: Mosquitto) -> None:
    keys = SealKeys(migrated_db)
    keys.provision(SEAL)
    old = keys.key(SEAL)
    worker = await RunningWorker(IngestWorker(ingest_settings(), migrated_db, broker.url)).start()
    try:
        now = datetime.now(UTC)
        await asyncio.to_thread(
            publish_all, broker.url, [(telemetry_topic(SEAL), signed_single(SEAL, make_fix(1, now), old))]
        )
        await wait_until(lambda: count(migrated_db, "SELECT count(*) FROM fixes") == 1, what="first fix")
        keys.provision(SEAL, grace=timedelta(0))  # rotate with no grace: the old key ends now
        new = keys.key(SEAL)
        # NOTIFY reaches the running ingest's cache within moments, without a restart.
        await wait_until(
            lambda: [k.kid for k in worker.worker.keys.ring.keys_for(SEAL)] == [new.kid], 5, "cache follows rotation"
        )
        messages = [
            (telemetry_topic(SEAL), signed_single(SEAL, make_fix(2, now), old)),
            (telemetry_topic(SEAL), signed_single(SEAL, make_fix(3, now), new)),
        ]
        before = worker.worker.stats.messages
        await asyncio.to_thread(publish_all, broker.url, messages)
        await wait_until(lambda: worker.worker.stats.messages >= before + 2, what="committed")
    finally:
        await worker.halt()
    assert count(migrated_db, "SELECT count(*) FROM fixes WHERE seq = 3") == 1
    assert count(migrated_db, "SELECT count(*) FROM fixes WHERE seq = 2") == 0
    assert count(migrated_db, "SELECT count(*) FROM dead_letters WHERE reason = 'bad_signature'") == 1
