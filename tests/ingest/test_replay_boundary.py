"""The replay guard at its boundary: the seal's highest stored seq itself.

A seq equal to the watermark has been stored: reused with another time it is a replay (dead-
lettered), not a new fix; only a seq above the watermark is new without a look-up.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from ingest.auth import ReplayGuard
from ingest.worker import IngestWorker
from launcher.servers import Mosquitto
from sealwatch.fixes import FixRecord
from store.fixes import FixWriter
from tests.helpers import RunningWorker, SealKeys, count, ingest_settings, make_fix, publish_all, telemetry, wait_until

NOW = datetime.now(UTC).replace(microsecond=0)
SEAL = "AZS-TOP0001"
TOPIC = f"seals/{SEAL}/telemetry"


def _fix(seq: int, t: datetime) -> FixRecord:
    return FixRecord(SEAL, seq, t, 40.0, 49.0, 60.0, 90.0, 9, 0.9, 80.0, "closed", NOW)


@pytest.mark.parametrize(
    ("seq", "replay"),
    [(9, True), (10, True), (11, False)],
    ids=["below-the-top", "the-top-itself", "above-the-top"],
)
def test_a_stored_seq_reused_with_another_time_is_a_replay_up_to_and_including_the_top(
    migrated_db: str, seq: int, replay: bool
) -> None:
    stored = [_fix(s, NOW - timedelta(minutes=20 - s)) for s in range(1, 11)]  # seq 1..10; 10 is the top
    guard = ReplayGuard(window_seq=1000)
    with psycopg.connect(migrated_db, row_factory=dict_row) as conn:
        FixWriter(conn).write(stored, [])
        with conn.transaction():
            guard.advance(conn, stored)
        reused = _fix(seq, NOW - timedelta(seconds=5))  # another time than any stored fix
        with conn.transaction():
            screened = guard.screen(conn, [reused], [(TOPIC, b"reused")])
    if replay:
        assert screened.records == [] and [r.payload for r in screened.rejects] == [b"reused"]
        assert f"seq {seq} is already stored with different content" in screened.rejects[0].detail
    else:
        assert screened.records == [reused] and screened.rejects == []


async def test_the_top_seq_sent_again_with_another_time_is_not_stored_twice(
    migrated_db: str, broker: Mosquitto
) -> None:
    keys = SealKeys(migrated_db)
    base = NOW - timedelta(minutes=30)
    worker = RunningWorker(IngestWorker(ingest_settings(), migrated_db, broker.url))
    await worker.start()
    try:
        first = [telemetry(SEAL, keys.single(SEAL, make_fix(s, base + timedelta(seconds=10 * s)))) for s in range(1, 8)]
        await asyncio.to_thread(publish_all, broker.url, first)
        await wait_until(lambda: worker.worker.stats.messages >= 7, what="seq 1..7 committed")
        # The top seq (7) again, signed by the seal, with another time: and a plain redelivery of it.
        again = [
            telemetry(SEAL, keys.single(SEAL, make_fix(7, base + timedelta(minutes=5)))),
            first[-1],
        ]
        await asyncio.to_thread(publish_all, broker.url, again)
        await wait_until(lambda: worker.worker.stats.messages >= 9, what="the repeats committed")
    finally:
        await worker.halt()
    assert count(migrated_db, "SELECT count(*) FROM fixes WHERE seal_id = %s AND seq = 7", SEAL) == 1
    assert count(migrated_db, "SELECT count(*) FROM fixes WHERE seal_id = %s", SEAL) == 7
    assert count(migrated_db, "SELECT count(*) FROM dead_letters WHERE reason = 'replay'") == 1
    assert worker.worker.stats.duplicates == 1
