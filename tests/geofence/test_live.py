"""The engine in the service: transits from customs, observations stored once, LISTEN refresh, warm start."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from customs.demo_fleet import release_demo_fleet
from customs.transits import ReleasedTransit
from geofence.live import LiveGeofence
from sealwatch.fixes import FixRecord
from simulators.faults import Fault, FaultKind
from simulators.plans import SealPlan
from simulators.seal import VirtualSeal
from store.fixes import FixWriter
from tests.helpers import count, wait_until


def _drive(seal_id: str, route: str, minutes: int, *faults: Fault) -> list[FixRecord]:
    """A minute-by-minute track ending now, with the given faults."""
    seal = VirtualSeal.from_plan(SealPlan(seal_id, route, faults=faults, seed=3), seq_start=1)
    start = datetime.now(UTC) - timedelta(minutes=minutes)
    records = []
    for i in range(minutes):
        t = start + timedelta(minutes=i)
        records.append(FixRecord.of(seal_id, seal.fix(t, 60.0), t))
    return records


async def _release(url: str, n: int, seed: int) -> list[ReleasedTransit]:
    def run() -> list[ReleasedTransit]:
        with psycopg.connect(url, row_factory=dict_row) as conn:
            return release_demo_fleet(conn, n, seed)

    return await asyncio.to_thread(run)


def _store(url: str, records: list[FixRecord]) -> None:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        FixWriter(conn).write(records, [])


async def test_a_released_transit_is_checked_and_observations_are_stored_once(migrated_db: str) -> None:
    released = await _release(migrated_db, 2, seed=1)
    transit = released[0]
    assert transit.seal_id and transit.route_code
    deviation = Fault(FaultKind.DEVIATION, at_s=20 * 60, duration_s=20 * 60, magnitude=8000)
    records = _drive(transit.seal_id, transit.route_code, 60, deviation)
    _store(migrated_db, records)

    live = LiveGeofence(migrated_db, replay_hours=0)  # no replay: the fixes go through on_batch below
    await live.start()
    try:
        assert live.engine.transit_count == 2
        observed = await live.on_batch(records)
        kinds = [o.kind for o in observed if o.seal_id == transit.seal_id]
        assert kinds.count("corridor_exit") == 1 and kinds.count("corridor_reentry") == 1
        assert all(o.transit_id == transit.transit_id for o in observed)
        stored = count(migrated_db, "SELECT count(*) FROM observations WHERE transit_id = %s", transit.transit_id)
        assert stored == len(observed)
        # The same batch again (a redelivery): nothing new is reported or stored.
        assert await live.on_batch(records) == []
        assert count(migrated_db, "SELECT count(*) FROM observations") == stored
    finally:
        live.close()


async def test_a_new_release_reaches_the_running_engine_through_listen(migrated_db: str) -> None:
    await _release(migrated_db, 1, seed=2)
    live = LiveGeofence(migrated_db)
    await live.start()
    stop = asyncio.Event()
    listener = asyncio.create_task(live.listen(stop))
    try:
        assert live.engine.transit_count == 1
        await _release(migrated_db, 3, seed=2)
        await wait_until(lambda: live.engine.transit_count == 3, 15, "the engine to hear of two new transits")
    finally:
        stop.set()
        await asyncio.wait_for(listener, 10)
        live.close()


async def test_warm_start_rebuilds_state_so_a_deviation_is_not_reported_twice(migrated_db: str) -> None:
    transit = (await _release(migrated_db, 1, seed=3))[0]
    assert transit.seal_id and transit.route_code
    deviation = Fault(FaultKind.DEVIATION, at_s=30 * 60, duration_s=60 * 60, magnitude=8000)
    records = _drive(transit.seal_id, transit.route_code, 50, deviation)  # still out at the end
    # Fixes before the release are not the transit's: make the release older than the track.
    with psycopg.connect(migrated_db) as conn:
        conn.execute("UPDATE transits SET released_at = now() - interval '2 hours'")
    _store(migrated_db, records[:-1])

    first = LiveGeofence(migrated_db)
    await first.start()  # replays the stored fixes: the exit is observed and stored
    first.close()
    assert count(migrated_db, "SELECT count(*) FROM observations WHERE kind = 'corridor_exit'") == 1

    second = LiveGeofence(migrated_db)
    await second.start()  # a restart: replays again, stores nothing new
    try:
        assert count(migrated_db, "SELECT count(*) FROM observations WHERE kind = 'corridor_exit'") == 1
        # The next fix, still outside: the rebuilt state knows the seal is out, so no second exit.
        assert [o.kind for o in await second.on_batch(records[-1:])] == []
    finally:
        second.close()


async def test_observations_are_stored_across_a_lost_database_connection(migrated_db: str) -> None:
    transit = (await _release(migrated_db, 1, seed=2))[0]
    assert transit.seal_id and transit.route_code
    deviation = Fault(FaultKind.DEVIATION, at_s=30 * 60, duration_s=20 * 60, magnitude=8000)
    records = _drive(transit.seal_id, transit.route_code, 60, deviation)
    _store(migrated_db, records)
    live = LiveGeofence(migrated_db, replay_hours=0)
    await live.start()
    try:
        before = await live.on_batch(records[:25])  # on the road so far; the engine's connection is open
        assert "corridor_exit" not in [o.kind for o in before]
        with psycopg.connect(migrated_db, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        observed = await live.on_batch(records[25:])
        assert "corridor_exit" in [o.kind for o in observed]
        assert count(migrated_db, "SELECT count(*) FROM observations") == len(before) + len(observed)
    finally:
        live.close()


async def test_a_backlog_is_judged_again_only_up_to_what_was_judged(migrated_db: str) -> None:
    """Ingest stores the next batch while this one is judged: judging a late fix again must not
    swallow those newer fixes (they come with their own batch, and their own observations)."""
    released = await _release(migrated_db, 1, seed=4)
    transit = released[0]
    assert transit.seal_id and transit.route_code
    records = _drive(transit.seal_id, transit.route_code, 60)
    first, late, newer = [*records[:29], records[30]], records[29], records[31:]
    _store(migrated_db, records)  # all stored: the newer ones by the batch written meanwhile
    live = LiveGeofence(migrated_db, replay_hours=0)
    await live.start()
    try:
        await live.on_batch(first)
        judged = await live.judge([late])
        assert [r.seal_id for r in judged.late] == [transit.seal_id]
        assert live.engine.last_t(transit.seal_id) == records[30].t.timestamp()
        stale = live.engine.stats.stale
        await live.on_batch(newer)
        assert live.engine.stats.stale == stale  # the newer fixes are judged, not dropped
    finally:
        live.close()
