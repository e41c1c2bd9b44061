"""Per-transit rule memory (``alert_transit_state``): locked, read and written once per batch.

Rows are locked ``FOR UPDATE`` in transit order, so two ingest workers never judge the same
transit at once. Every write bumps the row's ``version``; this process keeps the memories it
wrote, and reads a memory's JSON back only when the version in the database is not the one it
wrote last (another worker, or a restart). On a busy stream that skips parsing, and building,
a JSON document per transit per batch; the row lock and the write stay transactional.
"""

from __future__ import annotations

from alerts.model import TransitMemory
from alerts.store import AnyConn, dumps, fetch_all


class MemoryStore:
    def __init__(self, max_cached: int = 100_000) -> None:
        # transit → (version written, memory), least recently written first
        self._cached: dict[str, tuple[int, TransitMemory]] = {}
        self.max_cached = max_cached

    async def lock(self, conn: AnyConn, transit_ids: list[str]) -> dict[str, TransitMemory]:
        """Lock the transits' rows (creating missing ones) and return their memories, to mutate."""
        new = [t for t in transit_ids if t not in self._cached]
        if new:  # rows exist before locking so concurrent workers serialize on them
            await conn.execute(
                "INSERT INTO alert_transit_state (transit_id) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING",
                (new,),
            )
        rows = await fetch_all(
            conn,
            "SELECT transit_id, version FROM alert_transit_state WHERE transit_id = ANY(%s) ORDER BY transit_id"
            " FOR UPDATE",
            (transit_ids,),
        )
        versions = {r["transit_id"]: r["version"] for r in rows}
        stale = [t for t, v in versions.items() if self._cached.get(t, (-1,))[0] != v]
        if stale:
            for r in await fetch_all(
                conn, "SELECT transit_id, memory FROM alert_transit_state WHERE transit_id = ANY(%s)", (stale,)
            ):
                self._cached[r["transit_id"]] = (versions[r["transit_id"]], TransitMemory.from_json(r["memory"] or {}))
        return {t: self._cached[t][1] for t in versions}

    async def save(self, conn: AnyConn, memories: dict[str, TransitMemory]) -> None:
        """Write the memories back (in the transaction that locked them) as one JSON document."""
        if not memories:
            return
        await conn.execute(
            """UPDATE alert_transit_state s SET memory = v.memory, version = s.version + 1,
                      last_fix_t = to_timestamp(v.last_fix_t), updated_at = now()
               FROM jsonb_to_recordset(%s::jsonb) AS v(transit_id text, memory jsonb, last_fix_t float8)
               WHERE s.transit_id = v.transit_id""",
            (dumps([{"transit_id": t, "memory": m, "last_fix_t": m.last_fix_t} for t, m in memories.items()]),),
        )
        for t, m in memories.items():
            self._cached[t] = (self._cached.pop(t)[0] + 1, m)
        if len(self._cached) > self.max_cached:  # ended transits stop being written and age out
            for t in list(self._cached)[: len(self._cached) - self.max_cached]:
                del self._cached[t]

    def forget(self, transit_ids: list[str]) -> None:
        """After a rollback the memories mutated in memory are not what the database holds."""
        for t in transit_ids:
            self._cached.pop(t, None)
