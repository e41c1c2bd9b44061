"""Ingest end to end: real Mosquitto (project config) → IngestWorker → real PostgreSQL.

Signatures are required, as in production: every seal here has a key and signs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest

import ingest.worker as worker_module
from ingest.decode import Decoded, decode
from ingest.worker import IngestWorker
from launcher.servers import Mosquitto
from sealwatch.fixes import FixRecord
from sealwatch.wire import encode_single
from tests.helpers import (
    RunningWorker,
    SealKeys,
    count,
    ingest_settings,
    make_fix,
    minutes_ago,
    publish_all,
    telemetry,
    wait_until,
)


@pytest.fixture
def keys(migrated_db: str) -> SealKeys:
    return SealKeys(migrated_db)


@pytest.fixture
async def ingest(migrated_db: str, broker: Mosquitto) -> AsyncIterator[RunningWorker]:
    worker = RunningWorker(IngestWorker(ingest_settings(), migrated_db, broker.url))
    await worker.start()
    yield worker
    if not worker.stop.is_set():
        await worker.halt()


async def test_fixes_stored_exactly_once_with_redelivery_and_batch(
    ingest: RunningWorker, migrated_db: str, broker: Mosquitto, keys: SealKeys
) -> None:
    seal = "AZS-E2E001"
    base = minutes_ago(30)
    singles = [make_fix(i, base + timedelta(seconds=10 * i)) for i in range(1, 21)]
    messages = [telemetry(seal, keys.single(seal, f)) for f in singles]
    messages += messages[:5]  # a redelivered duplicate of the first five
    buffered = [make_fix(100 + i, minutes_ago(20 - i)) for i in range(10)]
    messages.append(telemetry(seal, keys.batch(seal, buffered)))
    messages.append(telemetry(seal, keys.batch(seal, buffered[:3])))  # the flush, redelivered in part

    await asyncio.to_thread(publish_all, broker.url, messages)
    await wait_until(lambda: ingest.worker.stats.messages >= len(messages), what="all messages committed")

    assert count(migrated_db, "SELECT count(*) FROM fixes WHERE seal_id = %s", seal) == 30
    assert count(migrated_db, "SELECT count(DISTINCT (seq, t)) FROM fixes WHERE seal_id = %s", seal) == 30
    assert ingest.worker.stats.duplicates == 8
    assert count(migrated_db, "SELECT count(*) FROM dead_letters") == 0
    # Latest state is the newest fix, not the last message to arrive.
    assert count(migrated_db, "SELECT seq FROM seal_latest WHERE seal_id = %s", seal) == 109


def _bad_inputs(keys: SealKeys) -> list[tuple[str, str, bytes, str]]:
    """(case, topic, payload, expected reason) for every kind of bad input."""
    topic = "seals/AZS-BAD001/telemetry"
    good = encode_single("AZS-BAD001", make_fix(1, minutes_ago(1)))

    def variant(**changes: object) -> bytes:
        # Signed by the seal's real key: these are bad values from a genuine seal.
        return keys.body({**good, **changes})

    return [
        ("malformed_json", topic, b'{"v": 1, "seal_id": ', "malformed_json"),
        ("not_utf8", topic, b"\xff\xfe\x00garbage", "malformed_json"),
        ("wrong_type", topic, variant(seq="one"), "invalid_payload"),
        ("lat_out_of_range", topic, variant(lat=91.5), "invalid_payload"),
        ("future", topic, variant(t="2099-01-01T00:00:00Z"), "future_timestamp"),
        ("before_year_1_in_utc", topic, variant(t="0001-01-01T00:00:00+23:59"), "invalid_payload"),
        ("after_year_9999_in_utc", topic, variant(t="9999-12-31T23:59:59-23:59"), "invalid_payload"),
        ("unknown_field_bad_value", topic, variant(speed="fast"), "invalid_payload"),
        ("bad_state", topic, variant(seal_state="broken"), "invalid_payload"),
        ("wrong_version", topic, variant(v=7), "unsupported_version"),
        ("topic_mismatch", "seals/AZS-OTHER1/telemetry", variant(), "topic_mismatch"),
        ("bad_topic", "seals/x/y/z", variant(seq=2), "bad_topic"),
    ]


async def test_bad_input_goes_to_dead_letters_and_ingest_keeps_running(
    ingest: RunningWorker, migrated_db: str, broker: Mosquitto, keys: SealKeys
) -> None:
    bad = _bad_inputs(keys)
    good_after = telemetry("AZS-GOOD01", keys.single("AZS-GOOD01", make_fix(5, minutes_ago(1))))
    messages = [(topic, payload) for _, topic, payload, _ in bad] + [good_after]
    await asyncio.to_thread(publish_all, broker.url, messages)
    await wait_until(lambda: ingest.worker.stats.messages >= len(messages), what="all messages committed")

    with psycopg.connect(migrated_db) as conn:
        rows = conn.execute("SELECT topic, payload, reason, detail FROM dead_letters ORDER BY id").fetchall()
    assert len(rows) == len(bad)
    by_payload = {bytes(r[1]): (r[0], r[2], r[3]) for r in rows}
    for name, topic, payload, reason in bad:
        assert payload in by_payload, f"{name} was not dead-lettered with its raw payload"
        stored_topic, stored_reason, detail = by_payload[payload]
        assert (stored_topic, stored_reason) == (topic, reason), name
        assert detail, f"{name} has no readable detail"
    assert count(migrated_db, "SELECT count(*) FROM fixes WHERE seal_id = 'AZS-GOOD01'") == 1
    assert count(migrated_db, "SELECT count(*) FROM fixes WHERE seal_id <> 'AZS-GOOD01'") == 0
    assert ingest.task is not None and not ingest.task.done()


async def test_batch_with_some_bad_fixes_keeps_the_good_ones(
    ingest: RunningWorker, migrated_db: str, broker: Mosquitto, keys: SealKeys
) -> None:
    seal = "AZS-MIXED1"
    fixes = [encode_single(seal, make_fix(i, minutes_ago(10 - i))) for i in range(5)]
    for f in fixes:
        del f["v"], f["seal_id"]
    fixes[2]["lat"] = 123.0
    payload = keys.body({"v": 1, "seal_id": seal, "fixes": fixes})
    await asyncio.to_thread(publish_all, broker.url, [telemetry(seal, payload)])
    await wait_until(lambda: ingest.worker.stats.messages >= 1, what="the batch committed")
    assert count(migrated_db, "SELECT count(*) FROM fixes WHERE seal_id = %s", seal) == 4
    assert count(migrated_db, "SELECT count(*) FROM fixes WHERE seal_id = %s AND seq = 2", seal) == 0
    assert (
        count(
            migrated_db,
            "SELECT count(*) FROM dead_letters WHERE reason = 'invalid_payload' AND detail LIKE 'fixes.2.lat%%'",
        )
        == 1
    )


async def test_burst_of_50000_while_ingest_is_away_and_running_loses_nothing(
    migrated_db: str, broker: Mosquitto, keys: SealKeys
) -> None:
    """Half the burst queues at the broker while the persistent session is offline (past Mosquitto's
    default limit of 1000 queued messages), the other half arrives while ingest drains the backlog."""
    settings = ingest_settings(batch_max_fixes=2000)
    worker = RunningWorker(IngestWorker(settings, migrated_db, broker.url))
    await worker.start()
    await worker.halt()  # the session now persists at the broker with nobody consuming

    seals = [f"AZS-B{n:05d}" for n in range(100)]
    keys.provision(*seals)
    start = minutes_ago(60)

    def burst(lo: int, hi: int) -> list[tuple[str, bytes]]:
        return [
            telemetry(
                seals[i % 100],
                keys.single(seals[i % 100], make_fix(i, start + timedelta(milliseconds=i * 50))),
            )
            for i in range(lo, hi)
        ]

    await asyncio.to_thread(publish_all, broker.url, burst(0, 25_000))
    await worker.start()
    await asyncio.to_thread(publish_all, broker.url, burst(25_000, 50_000))
    await wait_until(
        lambda: count(migrated_db, "SELECT count(*) FROM fixes") >= 50_000,
        within=180,
        what="50,000 fixes stored",
    )
    await worker.halt()
    assert count(migrated_db, "SELECT count(*) FROM fixes") == 50_000
    assert count(migrated_db, "SELECT count(DISTINCT seq) FROM fixes") == 50_000
    assert count(migrated_db, "SELECT count(*) FROM seal_latest") == 100


async def test_a_slow_hook_does_not_hold_storage_back_and_sees_batches_in_order(
    migrated_db: str, broker: Mosquitto, keys: SealKeys
) -> None:
    seal = "AZS-HOOK01"
    release = asyncio.Event()
    seen: list[list[int]] = []

    async def slow_hook(records: list[FixRecord]) -> None:
        seen.append([r.seq for r in records])
        await release.wait()  # e.g. the alert service stuck behind a lock

    worker = RunningWorker(IngestWorker(ingest_settings(), migrated_db, broker.url, hooks=[slow_hook]))
    await worker.start()
    try:
        base = minutes_ago(10)

        async def publish_and_see_stored(n: int) -> None:
            await asyncio.to_thread(publish_all, broker.url, [telemetry(seal, keys.single(seal, make_fix(n, base)))])
            await wait_until(
                lambda: count(migrated_db, "SELECT count(*) FROM fixes WHERE seal_id = %s", seal) == n,
                within=20,
                what=f"fix {n} stored while the hook is still busy with the first batch",
            )

        await publish_and_see_stored(1)
        await publish_and_see_stored(2)
        assert seen == [[1]]
        release.set()
        await wait_until(lambda: len(seen) == 2, what="the second batch reaching the hook")
        assert seen == [[1], [2]]
    finally:
        release.set()
        await worker.halt()


async def test_a_message_that_breaks_the_decoder_is_dead_lettered_and_ingest_goes_on(
    ingest: RunningWorker, migrated_db: str, broker: Mosquitto, keys: SealKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    def decode_with_a_bug(topic: str, payload: bytes, *args: Any) -> Decoded:
        if b"AZS-POISON" in payload:
            raise KeyError("a bug the fuzzers missed")
        return decode(topic, payload, *args)

    monkeypatch.setattr(worker_module, "decode", decode_with_a_bug)
    poison = telemetry("AZS-POISON", keys.single("AZS-POISON", make_fix(1, minutes_ago(2))))
    good = telemetry("AZS-AFTER1", keys.single("AZS-AFTER1", make_fix(1, minutes_ago(1))))
    await asyncio.to_thread(publish_all, broker.url, [poison, good])
    await wait_until(lambda: ingest.worker.stats.messages >= 2, what="both messages committed")

    with psycopg.connect(migrated_db) as conn:
        rows = conn.execute("SELECT reason, detail, payload FROM dead_letters").fetchall()
    assert rows == [("internal_error", "KeyError: 'a bug the fuzzers missed'", poison[1])]
    assert count(migrated_db, "SELECT count(*) FROM fixes WHERE seal_id = 'AZS-AFTER1'") == 1
