"""The engine in the running service: fed by ingest, refreshed by customs, its observations stored.

- Transits come from the ``active_transits`` view and zones from ``zones``; both are reloaded when
  customs announces a change (``LISTEN sealwatch_transits`` / ``sealwatch_zones``).
- Each committed ingest batch goes through ``Engine.process``; observations are stored
  idempotently (unique on seal, kind, time, zone), and only the newly stored ones are returned,
  so a redelivered batch or a replay never reports the same observation twice.
- On start the recent fixes of the active transits are replayed to rebuild per-seal state
  (corridor runs, stops, zones inside) that lives only in memory.
- With partitioned ingest a worker judges only its own seals (``own``): the engine holds their
  transits alone, and the state of seals it takes over is rebuilt from storage the same way.
- A seal whose batch holds late fixes (older than its last accepted one: a backlog sent after a
  live fix) is judged again in time order from its stored fixes (``geofence.late``); the stored
  observations after the fix before the backlog are replaced by what that run finds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row

from geofence.engine import Engine
from geofence.late import Rejudged, rejudge
from geofence.model import EngineConfig, Observation, TransitSpec, ZoneSpec
from sealwatch.fixes import FixBatch, FixRecord
from sealwatch.logging import get_logger
from store.db import retry_lost_connection

log = get_logger(__name__)

CHANNELS = ("sealwatch_transits", "sealwatch_zones")
REPLAY_CHUNK = 50_000

_TRANSITS_SQL = """
SELECT transit_id, seal_id, route_line, corridor_width_m, office_destination, deadline, segment_widths
FROM active_transits ORDER BY transit_id
"""
_ZONES_SQL = "SELECT code, kind, geometry FROM zones WHERE active ORDER BY code"
_REPLAY_SQL = """
SELECT f.seal_id, f.seq, f.t, f.lat, f.lon, f.speed_kmh, f.heading_deg, f.sats, f.hdop, f.battery_pct,
       f.seal_state, f.received_at
FROM fixes f JOIN active_transits a ON a.seal_id = f.seal_id
WHERE f.t >= greatest(a.released_at, %s) AND a.seal_id = ANY(%s) ORDER BY f.t, f.seal_id
"""
# The seal's fixes from late_window_hours before the backlog on: a backlog is judged again over
# them. Like the live engine, every fix of a seal in transit counts, whatever its time.
_SEAL_FIXES_SQL = """
SELECT f.seal_id, f.seq, f.t, f.lat, f.lon, f.speed_kmh, f.heading_deg, f.sats, f.hdop, f.battery_pct,
       f.seal_state, f.received_at
FROM fixes f WHERE f.seal_id = %s AND f.t >= %s AND f.t <= %s ORDER BY f.t, f.seq
"""
_FORGET_SQL = """
DELETE FROM observations WHERE seal_id = %s AND transit_id = %s AND (%s::timestamptz IS NULL OR t > %s)
RETURNING kind, t, zone_code
"""
_STORE_SQL = """
INSERT INTO observations (seal_id, transit_id, kind, t, lat, lon, zone_code, evidence)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::float8[], %s::float8[],
                     %s::text[], %s::jsonb[])
ON CONFLICT (seal_id, kind, t, zone_code) DO NOTHING
RETURNING seal_id, kind, t, zone_code
"""


def _as_json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def transit_specs(rows: Sequence[dict[str, Any]]) -> list[TransitSpec]:
    specs = []
    for row in rows:
        line = _as_json(row["route_line"])
        deadline = row["deadline"]
        widths = _as_json(row.get("segment_widths"))
        specs.append(
            TransitSpec(
                transit_id=row["transit_id"],
                seal_id=row["seal_id"],
                route=[(float(x), float(y)) for x, y, *_ in line["coordinates"]],
                corridor_width_m=float(row["corridor_width_m"]),
                destination_zone=row["office_destination"],
                deadline=None if deadline is None else deadline.timestamp(),
                segment_widths_m=None if widths is None else tuple(float(w) for w in widths),
            )
        )
    return specs


def zone_specs(rows: Sequence[dict[str, Any]]) -> list[ZoneSpec]:
    return [
        ZoneSpec(
            code=row["code"],
            kind=row["kind"],
            polygon=[(float(x), float(y)) for x, y, *_ in _as_json(row["geometry"])["coordinates"][0]],
        )
        for row in rows
    ]


def store_observations(conn: psycopg.Connection[Any], observations: Sequence[Observation]) -> list[Observation]:
    """Insert; returns the observations that were new (in input order)."""
    if not observations:
        return []
    times = [datetime.fromtimestamp(o.t, UTC) for o in observations]
    with conn.transaction():
        rows = conn.execute(
            _STORE_SQL,
            (
                [o.seal_id for o in observations],
                [o.transit_id for o in observations],
                [o.kind for o in observations],
                times,
                [o.lat for o in observations],
                [o.lon for o in observations],
                [o.zone_code for o in observations],
                [orjson.dumps(o.evidence, default=str).decode() for o in observations],
            ),
        ).fetchall()
    new = {(r["seal_id"], r["kind"], r["t"], r["zone_code"]) for r in rows}
    return [o for o, t in zip(observations, times, strict=True) if (o.seal_id, o.kind, t, o.zone_code) in new]


@dataclass(slots=True)
class Judged:
    """A batch through the engine: its new observations, and the seals judged again for late fixes."""

    observations: list[Observation]
    late: list[Rejudged] = field(default_factory=list)


def replace_observations(conn: psycopg.Connection[Any], r: Rejudged) -> list[Observation]:
    """Store what the in-order run found after ``r.since`` in place of what was stored there;
    returns the observations that were not stored before (what the backlog revealed)."""
    since = None if r.since == float("-inf") else datetime.fromtimestamp(r.since, UTC)
    replaced = r.replaced()
    with conn.transaction():
        gone = {(row["kind"], row["t"], row["zone_code"]) for row in conn.execute(
            _FORGET_SQL, (r.seal_id, r.transit_id, since, since)
        ).fetchall()}  # fmt: skip
        store_observations(conn, replaced)
    return [o for o in replaced if (o.kind, datetime.fromtimestamp(o.t, UTC), o.zone_code) not in gone]


class LiveGeofence:
    """One engine for the process; ``on_batch`` is the ingest hook, ``listen`` keeps it current."""

    def __init__(
        self,
        database_url: str,
        config: EngineConfig | None = None,
        replay_hours: float = 24.0,
        late_window_hours: float = 48.0,
    ) -> None:
        self.database_url = database_url
        self.engine = Engine(config)
        self.replay_hours = replay_hours
        self.late_window_hours = late_window_hours  # how far before a backlog a seal is judged again
        self._lock = asyncio.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._owns: Callable[[str], bool] | None = None  # None: every seal
        self._seal_ids: list[str] = []  # of the transits in the engine

    def _db(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.database_url, row_factory=dict_row, autocommit=True)
        return self._conn

    def _load(self, drop: Callable[[str], bool] | None = None) -> tuple[int, int]:
        """Transits (of the owned seals) and zones into the engine; the seals ``drop`` accepts are
        first set without, so that their state starts afresh."""
        conn = self._db()
        zones = zone_specs(conn.execute(_ZONES_SQL).fetchall())
        transits = transit_specs(conn.execute(_TRANSITS_SQL).fetchall())
        if self._owns is not None:
            transits = [t for t in transits if self._owns(t.seal_id)]
        self.engine.set_zones(zones)
        if drop is not None:
            self.engine.set_transits([t for t in transits if not drop(t.seal_id)])
        self.engine.set_transits(transits)
        self._seal_ids = [t.seal_id for t in transits]
        return len(transits), len(zones)

    async def reload(self) -> None:
        async with self._lock:
            transits, zones = await asyncio.to_thread(self._load)
        log.info("geofence reloaded", transits=transits, zones=zones)

    def _replay(self, seal_ids: list[str], exclude: set[tuple[str, int]]) -> tuple[int, int]:
        since = datetime.fromtimestamp(time.time() - self.replay_hours * 3600, UTC)
        fixes = stored = 0
        with psycopg.connect(self.database_url) as conn, conn.cursor(name="geofence_replay") as cur:
            cur.execute(_REPLAY_SQL, (since, seal_ids))
            while rows := cur.fetchmany(REPLAY_CHUNK):
                records = [FixRecord(*row) for row in rows]
                if exclude:
                    records = [r for r in records if (r.seal_id, r.seq) not in exclude]
                fixes += len(records)
                stored += len(store_observations(self._db(), self.engine.process(FixBatch.from_records(records))))
        return fixes, stored

    async def start(self) -> None:
        """Load transits and zones, then rebuild per-seal state from recent fixes."""
        await self.own(None, lambda _: True, set())

    async def own(
        self, owns: Callable[[str], bool] | None, rebuild: Callable[[str], bool], exclude: set[tuple[str, int]]
    ) -> None:
        """Judge only the seals ``owns`` accepts (None: all). The state of those ``rebuild``
        accepts starts afresh and is rebuilt from their recent stored fixes, except ``exclude``
        (stored but not yet judged: they are judged next, as a batch)."""
        async with self._lock:
            self._owns = owns
            await asyncio.to_thread(self._load, rebuild)
            seal_ids = [s for s in self._seal_ids if rebuild(s)]
            started = time.monotonic()
            fixes, stored = await asyncio.to_thread(self._replay, seal_ids, exclude)
        log.info(
            "geofence warm start",
            transits=self.engine.transit_count,
            rebuilt=len(seal_ids),
            replayed_fixes=fixes,
            new_observations=stored,
            seconds=round(time.monotonic() - started, 2),
        )

    async def on_batch(self, records: list[FixRecord], every: bool = False) -> list[Observation]:
        """Run the checks on a committed batch; returns the observations not seen before (all of
        them with ``every``: a batch judged again after a crash may have stored them already).

        The engine's state has moved past the batch once it is processed, so its observations
        would never come again: storing them rides out a lost database connection.
        """
        return (await self.judge(records, every)).observations

    async def judge(self, records: list[FixRecord], every: bool = False) -> Judged:
        """``on_batch``, and the seals with late fixes judged again in time order."""
        if not records:
            return Judged([])
        async with self._lock:
            batch = FixBatch.from_records(records)
            late = self.engine.late_fixes(batch)
            observations = await asyncio.to_thread(self.engine.process, batch)
            new = await retry_lost_connection(
                lambda: asyncio.to_thread(lambda: store_observations(self._db(), observations)),
                "storing observations",
                after_failure=self.close,
            )
            rejudged = []
            for seal_id, late_t in sorted(late.items()):
                done = await retry_lost_connection(
                    lambda s=seal_id, t=late_t: asyncio.to_thread(self._rejudge, s, t),  # type: ignore[misc]
                    "judging late fixes",
                    after_failure=self.close,
                )
                if done is not None:
                    rejudged.append(done)
            return Judged(observations if every else new, rejudged)

    def _rejudge(self, seal_id: str, late_t: float) -> Rejudged | None:
        conn = self._db()
        start = late_t - self.late_window_hours * 3600
        window = datetime.fromtimestamp(start, UTC)
        # Up to the newest fix judged so far: ingest stores the next batch while this one is being
        # judged, and those fixes are judged with their own batch (with their observations).
        newest = self.engine.last_t(seal_id)
        if newest == float("-inf"):
            return None
        until = datetime.fromtimestamp(newest, UTC)
        rows = conn.execute(_SEAL_FIXES_SQL, (seal_id, window, until)).fetchall()
        records = [FixRecord(*row.values()) for row in rows]
        done = rejudge(self.engine, seal_id, records, late_t, start)
        if done is None:
            return None
        result, fresh = done
        result.new = replace_observations(conn, result)
        self.engine.adopt(fresh, [seal_id])
        log.info(
            "late fixes judged in time order",
            seal_id=seal_id,
            late_from=datetime.fromtimestamp(late_t, UTC).isoformat(),
            fixes=len(records),
            revealed=[o.kind for o in result.new][:20],
        )
        return result

    async def listen(self, stop: asyncio.Event) -> None:
        """Reload whenever customs announces a transit or zone change, until ``stop``."""
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn:
                    for channel in CHANNELS:
                        await conn.execute(f"LISTEN {channel}")
                    await self.reload()  # anything announced while we were not listening
                    while not stop.is_set():
                        changed = False
                        async for _ in conn.notifies(timeout=0.5):
                            changed = True  # coalesce a burst of releases into one reload
                        if changed:
                            await self.reload()
            except psycopg.OperationalError as exc:
                log.warning("geofence listener lost the database; retrying", error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 2.0)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
