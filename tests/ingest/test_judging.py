"""What ingest hands on to judgment: each stored fix once, and after a crash what was left unjudged."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg

from ingest.judging import Committed, Key, Owns
from ingest.worker import IngestWorker
from launcher.servers import Mosquitto
from sealwatch.fixes import FixRecord
from tests.helpers import RunningWorker, SealKeys, count, ingest_settings, make_fix, publish_all, telemetry, wait_until


class Spy:
    """A downstream that records what it is given and marks it judged like the real one."""

    def __init__(self, url: str, fail: bool = False) -> None:
        self.url = url
        self.fail = fail
        self.judged: list[FixRecord] = []
        self.recovering: list[bool] = []
        self.excluded: set[Key] = set()

    async def judge(self, batch: Committed) -> None:
        if self.fail:
            raise RuntimeError("judging crashed")
        async with await psycopg.AsyncConnection.connect(self.url) as conn, conn.transaction():
            await batch.mark_judged(conn)
        self.judged.extend(batch.records)
        self.recovering.append(batch.recovering)

    async def own(self, owns: Owns | None, rebuild: Owns, exclude: set[Key]) -> None:
        self.excluded |= exclude


def _messages(keys: SealKeys, seal: str, seqs: range) -> list[tuple[str, bytes]]:
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    return [telemetry(seal, keys.single(seal, make_fix(seq, t0 + timedelta(seconds=seq)))) for seq in seqs]


async def test_a_redelivered_message_is_not_handed_on_again(migrated_db: str, broker: Mosquitto) -> None:
    keys = SealKeys(migrated_db)
    first = _messages(keys, "AZS-J1", range(1, 11))
    seen: list[FixRecord] = []

    async def hook(records: list[FixRecord]) -> None:
        seen.extend(records)

    worker = await RunningWorker(IngestWorker(ingest_settings(), migrated_db, broker.url, hooks=[hook])).start()
    try:
        await asyncio.to_thread(publish_all, broker.url, first)
        await wait_until(lambda: worker.worker.stats.stored == 10, 30, "the first delivery stored")
        # The broker delivers the same messages again (as after a lost acknowledgement), with new ones.
        await asyncio.to_thread(publish_all, broker.url, first[3:] + _messages(keys, "AZS-J1", range(11, 13)))
        await wait_until(lambda: worker.worker.stats.duplicates == 7, 30, "the redelivery seen")
        await wait_until(lambda: len(seen) >= 12, 30, "the new fixes handed on")
    finally:
        await worker.halt()
    assert sorted(r.seq for r in seen) == list(range(1, 13))


async def test_fixes_stored_but_not_judged_before_a_crash_are_judged_at_the_next_start(
    migrated_db: str, broker: Mosquitto
) -> None:
    keys = SealKeys(migrated_db)
    settings = ingest_settings()
    crashing = Spy(migrated_db, fail=True)
    worker = await RunningWorker(IngestWorker(settings, migrated_db, broker.url, downstream=crashing)).start()
    try:
        await asyncio.to_thread(publish_all, broker.url, _messages(keys, "AZS-J2", range(1, 21)))
        await wait_until(lambda: worker.worker.stats.stored == 20, 30, "the fixes stored")
    finally:
        await worker.halt()
    assert count(migrated_db, "SELECT coalesce(sum(cardinality(seqs)), 0) FROM ingest_unjudged") == 20

    spy = Spy(migrated_db)
    worker = await RunningWorker(IngestWorker(settings, migrated_db, broker.url, downstream=spy)).start()
    try:
        await asyncio.to_thread(publish_all, broker.url, _messages(keys, "AZS-J2", range(21, 26)))
        await wait_until(lambda: len(spy.judged) == 25, 30, "the left-over and the new fixes judged")
    finally:
        await worker.halt()
    assert [r.seq for r in spy.judged] == list(range(1, 26))
    assert spy.recovering[0] is True and not any(spy.recovering[1:])
    assert spy.excluded == {("AZS-J2", seq) for seq in range(1, 21)}, "state is rebuilt without them"
    assert count(migrated_db, "SELECT count(*) FROM ingest_unjudged") == 0
