"""Partitioned ingest: each worker's timers cover only the transits whose seal it owns.

Two AlertService instances stand for two ``sealwatch ingest`` workers on one database, their
``owns`` the partition ownership ingest hands them (``Judging.own``). Every transit is silent, so
every tick that covers one raises its signal_lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from alerts.model import AlertEvent
from alerts.service import AlertService
from alerts.settings import AlertSettings
from geofence.live import LiveGeofence
from ingest.partitioned import partition_of
from launcher.runner import Judging
from tests.alerts.conftest import Clock, Transit, at, fix, insert_transit, rows

PARTITIONS = 4
TRANSITS = 12


@pytest.fixture
async def silent(migrated_db: str, clock: Clock) -> list[Transit]:
    """Transits whose seals last reported at 0 s (silent from 601 s on), in both halves of the partitions."""
    transits = [insert_transit(migrated_db, n) for n in range(1, TRANSITS + 1)]
    async with AlertService(migrated_db, AlertSettings(), None, clock=clock) as svc:
        await svc.on_batch([fix(t.seal_id, 0) for t in transits], [])
    assert {first_half(t.seal_id) for t in transits} == {True, False}
    return transits


@pytest.fixture
async def workers(migrated_db: str, clock: Clock) -> AsyncIterator[tuple[AlertService, AlertService]]:
    async with (
        AlertService(migrated_db, AlertSettings(), None, clock=clock) as a,
        AlertService(migrated_db, AlertSettings(), None, clock=clock) as b,
    ):
        yield a, b


def raised(events: list[AlertEvent]) -> set[str]:
    return {e.transit_id for e in events if e.type == "signal_lost" and e.change == "raised"}


def first_half(seal: str) -> bool:
    return partition_of(seal, PARTITIONS) < PARTITIONS // 2


def second_half(seal: str) -> bool:
    return not first_half(seal)


async def test_two_workers_each_time_only_their_own_seals(
    migrated_db: str, silent: list[Transit], workers: tuple[AlertService, AlertService]
) -> None:
    a, b = workers
    a.owns, b.owns = first_half, second_half
    mine_a = {t.transit_id for t in silent if first_half(t.seal_id)}
    mine_b = {t.transit_id for t in silent} - mine_a

    events_a, events_b = await asyncio.gather(a.tick(at(601)), b.tick(at(601)))

    assert raised(events_a) == mine_a and len(events_a) == len(mine_a)
    assert raised(events_b) == mine_b and len(events_b) == len(mine_b)
    stored = rows(migrated_db, "SELECT transit_id, count FROM alerts WHERE type = 'signal_lost' ORDER BY transit_id")
    assert stored == [{"transit_id": t.transit_id, "count": 1} for t in sorted(silent, key=lambda t: t.transit_id)]
    # Later ticks of both repeat nothing.
    assert [len(e) for e in await asyncio.gather(a.tick(at(700)), b.tick(at(700)))] == [0, 0]


async def test_a_partition_taken_over_is_timed_by_its_new_owner(
    migrated_db: str, silent: list[Transit], workers: tuple[AlertService, AlertService]
) -> None:
    """The worker holding partitions 2 and 3 died; A takes them over the way ingest does (leases,
    then ``Judging.own``) and its next tick covers their transits."""
    a, _ = workers
    leases = {0, 1}

    def owns(seal: str) -> bool:
        return partition_of(seal, PARTITIONS) in leases

    geofence = LiveGeofence(migrated_db)
    try:
        judging = Judging(geofence, a)
        await judging.own(owns, lambda _: False, set())
        first = raised(await a.tick(at(601)))
        assert first == {t.transit_id for t in silent if partition_of(t.seal_id, PARTITIONS) in {0, 1}}

        won = {2, 3}
        leases |= won
        await judging.own(owns, lambda seal: partition_of(seal, PARTITIONS) in won, set())
        second = raised(await a.tick(at(602)))
    finally:
        geofence.close()
    assert second == {t.transit_id for t in silent} - first
    stored = rows(migrated_db, "SELECT transit_id, count FROM alerts WHERE type = 'signal_lost'")
    assert sorted(r["transit_id"] for r in stored) == sorted(t.transit_id for t in silent)
    assert {r["count"] for r in stored} == {1}
