"""Two releases racing for the last free seal: exactly one wins; the database enforces it."""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Any

import psycopg
import pytest

from customs import lifecycle, transits
from customs.db import AsyncDb, SyncDb
from customs.declarations import Limits
from customs.errors import NoFreeSealError
from customs.reference import load_reference
from customs.settings import CustomsSettings
from tests.customs.bodies import valid_body

MONITOR_ALL = CustomsSettings(monitored_channels=frozenset({"green", "blue", "yellow", "red"}))


async def _prepare(url: str, n: int) -> list[int]:
    """One free seal and ``n`` accepted declarations."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        db = AsyncDb(conn)
        await db.run("INSERT INTO seals (seal_id, battery_pct) VALUES ('AZS-LAST1', 80)")
        ref = await load_reference(db)
        ids = []
        for i in range(n):
            lodged = await lifecycle.lodge(db, valid_body(lrn=f"RACE-{i}"), ref, Limits())
            assert lodged.declaration_id is not None and lodged.status == "accepted"
            ids.append(lodged.declaration_id)
        await conn.commit()
    return ids


async def _release(url: str, declaration_id: int) -> str:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        view = await transits.release(AsyncDb(conn), declaration_id, MONITOR_ALL, random.Random(0))
        await conn.commit()
        return view.transit_id


def test_two_threads_race_for_the_last_seal(migrated_db: str) -> None:
    ids = asyncio.run(_prepare(migrated_db, 2))
    barrier = threading.Barrier(2)
    results: dict[int, Any] = {}

    def run(declaration_id: int) -> None:
        barrier.wait()  # start both releases at the same moment
        try:
            results[declaration_id] = asyncio.run(_release(migrated_db, declaration_id))
        except Exception as exc:
            results[declaration_id] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [v for v in results.values() if isinstance(v, str)]
    losers = [v for v in results.values() if not isinstance(v, str)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert isinstance(losers[0], NoFreeSealError) and "no free seal" in str(losers[0])
    with psycopg.connect(migrated_db) as conn:
        assert conn.execute("SELECT seal_id, transit_id FROM transit_seals").fetchall() == [("AZS-LAST1", winners[0])]
        statuses = sorted(r[0] for r in conn.execute("SELECT status FROM declarations").fetchall())
    assert statuses == ["accepted", "released"]  # the loser rolled back entirely


def test_release_while_the_other_holds_the_seal_lock(migrated_db: str) -> None:
    """Deterministic interleaving: B runs completely while A's transaction holds the seal."""
    first, second = asyncio.run(_prepare(migrated_db, 2))
    with psycopg.connect(migrated_db) as conn_a:
        with conn_a.transaction():
            view = asyncio.run(transits.release(SyncDb(conn_a), first, MONITOR_ALL, random.Random(0)))
            with pytest.raises(NoFreeSealError, match="no free seal"):
                asyncio.run(_release(migrated_db, second))
        assert view.seal_id == "AZS-LAST1"
    # After A committed, the seal is in use: B still finds none.
    with pytest.raises(NoFreeSealError):
        asyncio.run(_release(migrated_db, second))


def test_unique_open_assignment_is_a_database_constraint(migrated_db: str) -> None:
    ids = asyncio.run(_prepare(migrated_db, 2))
    first = asyncio.run(_release(migrated_db, ids[0]))
    with psycopg.connect(migrated_db) as conn:
        index = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'transit_seals_one_open_per_seal'"
        ).fetchone()
        assert index is not None and "UNIQUE" in index[0] and "returned_at IS NULL" in index[0]
        # A second open assignment of the same seal, bypassing the application, is refused.
        fake = conn.execute(
            """INSERT INTO transits (transit_id, declaration_id, route_line, corridor, corridor_width_m,
                   office_departure, office_destination, channel, monitored, released_at, deadline)
               SELECT 'FAKE', d.id, t.route_line, t.corridor, 1, 'AZRBR', 'AZBAK', 'red', true, now(),
                      now() + interval '1 hour'
               FROM transits t, declarations d WHERE d.id = %s""",
            (ids[1],),
        )
        assert fake.rowcount == 1
        with pytest.raises(psycopg.errors.UniqueViolation, match="transit_seals_one_open_per_seal"):
            conn.execute("INSERT INTO transit_seals (transit_id, seal_id) VALUES ('FAKE', 'AZS-LAST1')")
    assert first
