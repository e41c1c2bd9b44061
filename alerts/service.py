"""The alert service the ingest process runs: batches and timers in, alert changes out.

``on_batch`` runs the pure rules (``alerts.rules``) over a committed batch's fixes and the
engine's observations, then applies their conditions in one transaction: per-transit rule memory
is locked (``alerts.memory``: ``alert_transit_state ... FOR UPDATE``, so two workers never judge
the same transit at once), the open alerts of the batch's transits are locked, each condition is
decided by ``alerts.dedup`` and written with its history, stream rows are appended last, and
arrivals are recorded in customs in the same transaction. Seals the engine judged again for late
fixes are judged again here too, in the same transaction (``alerts.late``). ``tick`` handles timers
(signal lost, overdue) and escalation; ``run_outbox`` publishes dispatch messages.

With partitioned ingest each worker's ``tick`` covers only the seals it owns (``owns``, set when
partitions move): N workers share the timer work instead of each doing all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import aiomqtt
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from alerts import dispatch as outbox
from alerts import lifecycle
from alerts.briefing import AlertWords, english_words
from alerts.dedup import Decision, OpenAlert, ResolvedAlert, decide
from alerts.late import Episode, Known, episodes, overlapping
from alerts.memory import MemoryStore
from alerts.model import SYSTEM, AlertConflictError, AlertEvent, Condition, TransitContext, TransitMemory, from_epoch
from alerts.rules import BatchStats, evaluate_batch, evaluate_tick
from alerts.settings import AlertSettings
from alerts.stops import StopPolicy
from alerts.store import (
    ALERT_COLUMNS,
    AnyConn,
    ChangeLog,
    Row,
    add_event,
    dumps,
    fetch_all,
    fetch_one,
    fetch_tuples,
)
from alerts.storm_log import RaisedAlertLog
from customs.errors import CustomsError
from customs.transits import record_arrival
from geofence.late import Rejudged
from geofence.model import Observation
from sealwatch.fixes import FixRecord
from sealwatch.logging import get_logger
from store.db import retry_lost_connection

log = get_logger(__name__)

Publish = Callable[[str, bytes], Awaitable[None]]
Owns = Callable[[str], bool]  # by seal id; ingest's partition ownership
InTransaction = Callable[[AsyncConnection[DictRow]], Awaitable[None]]
Key = tuple[str, str]  # (transit_id, type)

# Everything a TransitContext is made of, in its order (see _context).
_CONTEXT_COLUMNS = (
    "t.transit_id, t.status, t.deadline, t.released_at, t.office_destination, t.route_code, t.arrived_at,"
    " (SELECT r.stop_tolerance_s FROM routes r WHERE r.code = t.route_code)"
)

# The batch's seals are joined from unnest, not tested with ``= ANY(%s)``: once psycopg prepares the
# statement, PostgreSQL's generic plan filters every open seal against the whole array, one
# comparison per pair (a 1,500-seal batch took 60-120 ms instead of 6; tests/ingest/test_batch_plans.py).
_CONTEXT_SQL = f"""
SELECT ts.seal_id, {_CONTEXT_COLUMNS}
FROM unnest(%s::text[]) AS k(seal_id)
JOIN transit_seals ts ON ts.seal_id = k.seal_id AND ts.returned_at IS NULL
JOIN transits t ON t.transit_id = ts.transit_id
WHERE t.monitored AND t.status IN ('active', 'arrived')
"""

# Active transits whose deadline or silence threshold has passed: the only ones a tick can concern.
_DUE_SQL = f"""
SELECT t.seal_id, s.memory, {_CONTEXT_COLUMNS}
FROM transits t LEFT JOIN alert_transit_state s ON s.transit_id = t.transit_id
WHERE t.status = 'active' AND t.monitored AND t.seal_id IS NOT NULL AND t.released_at <= %(now)s
  AND (t.deadline < %(overdue_before)s OR coalesce(s.last_fix_t, t.released_at) < %(silent_before)s)
ORDER BY t.transit_id
"""
MAX_CACHED_CONTEXTS = 100_000


Ring = tuple[tuple[float, float], ...]
RINGS_TTL_S = 60.0  # zone outlines change rarely; an edit reaches the rules within a minute


def _ring(geometry: dict[str, Any] | None) -> Ring:
    if geometry and geometry.get("type") == "Polygon":
        return tuple((float(x), float(y)) for x, y in geometry["coordinates"][0])
    return ()


def _context(values: tuple[Any, ...], rings: dict[str, Ring], stops: StopPolicy | None = None) -> TransitContext:
    transit_id, status, deadline, released_at, office_destination, route_code, arrived, stop_tolerance = values
    return TransitContext(
        transit_id=transit_id,
        status=status,
        deadline=deadline.timestamp(),
        released_at=released_at.timestamp(),
        office_destination=office_destination,
        route_code=route_code,
        arrived_at=arrived.timestamp() if arrived else None,
        destination_ring=rings.get(office_destination, ()),
        stop_tolerance_s=None if stop_tolerance is None else float(stop_tolerance),
        stops=stops,
    )


def _open_alert(row: Row) -> OpenAlert:
    return OpenAlert(
        row["id"],
        row["type"],
        row["status"],
        row["severity"],
        row["last_t"].timestamp(),
        row["count"],
        bool((row["evidence"] or {}).get("cleared")),
    )


def _continue_from(live: TransitMemory, fresh: TransitMemory, seal_id: str) -> None:
    """The live memory takes the seal's in-order state (it ends at the same newest fix, so nothing
    moves backward); a stop the live rules already raised keeps its severity."""
    seal = fresh.seals.get(seal_id)
    if seal is None:
        return
    old = live.seals.get(seal_id)
    if old is not None and old.last_t is not None and (seal.last_t is None or seal.last_t < old.last_t):
        return  # the window judged again ends before what the live rules saw: keep theirs
    live.seals[seal_id] = seal
    if live.stop is None or live.stop.seal_id == seal_id:
        stop = fresh.stop if fresh.stop is not None and fresh.stop.seal_id == seal_id else None
        if stop is not None and live.stop is not None and live.stop.started_at == stop.started_at:
            stop.severity = max(stop.severity, live.stop.severity, key=_STOP_RANK.__getitem__)
        live.stop = stop
    if fresh.last_fix_t is not None and (live.last_fix_t is None or fresh.last_fix_t > live.last_fix_t):
        live.last_fix_t, live.last_lat, live.last_lon = fresh.last_fix_t, fresh.last_lat, fresh.last_lon


_STOP_RANK = {"": 0, "info": 1, "warning": 2, "critical": 3}


class AlertService:
    """Entry point for the glue; see the module docstring. ``clock`` is injectable for tests."""

    def __init__(
        self,
        database_url: str,
        settings: AlertSettings,
        publish: Publish | None,
        *,
        clock: Callable[[], datetime] | None = None,
        words: AlertWords = english_words,
    ) -> None:
        self.database_url = database_url
        self.words = words  # alert types in words for dispatch messages (the catalogs, from the caller)
        self.settings = settings
        self.publish = publish
        self.clock = clock or (lambda: datetime.now(UTC))
        self.stats = BatchStats()
        self._pool: AsyncConnectionPool[AsyncConnection[DictRow]] | None = None
        self._pool_lock = asyncio.Lock()
        self._rings: dict[str, Ring] | None = None
        self._rings_at = 0.0
        self._context_cache: dict[tuple[Any, ...], TransitContext] = {}
        self.memories = MemoryStore()
        self.stops = StopPolicy(settings)
        self.raised_log = RaisedAlertLog()
        # The seals whose timers this process runs (None: all). Read at every tick, so a partition
        # taken over is timed by its new owner from its next tick on.
        self.owns: Owns | None = None

    async def _get_pool(self) -> AsyncConnectionPool[AsyncConnection[DictRow]]:
        async with self._pool_lock:
            if self._pool is None:
                pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
                    self.database_url,
                    min_size=1,
                    max_size=4,
                    kwargs={"row_factory": dict_row},
                    open=False,
                    connection_class=AsyncConnection[DictRow],
                    check=AsyncConnectionPool.check_connection,  # dead after a database restart
                )
                await pool.open()
                self._pool = pool
            return self._pool

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def __aenter__(self) -> AlertService:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- batches ----

    async def on_batch(
        self,
        records: list[FixRecord],
        observations: list[Observation],
        then: InTransaction | None = None,
        late: Sequence[Rejudged] = (),
    ) -> list[AlertEvent]:
        """Judge one committed ingest batch; returns the alert changes it caused (committed).

        ``then`` runs first in the same transaction (ingest marks the batch judged there, so the
        judgment and that mark commit together or not at all).

        A lost database connection is retried with back-off: the failed transaction rolled back
        (and a commit that did land makes the retry see those fixes as already judged), so a
        PostgreSQL restart or failover delays a batch's alerts instead of swallowing them.
        """
        return await retry_lost_connection(lambda: self._judge(records, observations, then, late), "alert batch")

    async def _judge(
        self,
        records: list[FixRecord],
        observations: list[Observation],
        then: InTransaction | None,
        late: Sequence[Rejudged] = (),
    ) -> list[AlertEvent]:
        seal_ids = sorted({r.seal_id for r in records} | {o.seal_id for o in observations} | {r.seal_id for r in late})
        if not seal_ids and then is None:
            return []
        now = self.clock()
        pool = await self._get_pool()
        async with pool.connection() as conn, conn.transaction():
            if then is not None:
                await then(conn)
            contexts = await self._contexts(conn, seal_ids) if seal_ids else {}
            if not contexts:
                self.stats.unknown += len(records) + len(observations)
                return []
            transit_ids = sorted({c.transit_id for c in contexts.values()})
            try:
                memories = await self.memories.lock(conn, transit_ids)
                await self._prepare_stops(conn, records, observations, memories, now.timestamp())
                conditions = evaluate_batch(records, observations, contexts, memories, self.settings, self.stats)
                changes = ChangeLog()
                await self._apply(conn, conditions, now, changes)
                for cond in conditions:
                    if cond.type == "arrival" and cond.action == "raise":
                        await self._record_arrival(conn, cond)
                for rejudged in late:
                    ctx = contexts.get(rejudged.seal_id)
                    if ctx is not None and ctx.transit_id == rejudged.transit_id:
                        await self._judge_late(conn, rejudged, ctx, memories[ctx.transit_id], now, changes)
                await self.memories.save(conn, memories)
                events = await changes.flush(conn)
            except BaseException:
                self.memories.forget(transit_ids)
                raise
        if events:
            log.debug("alert changes", count=len(events), changes=[f"{e.change}:{e.type}" for e in events][:20])
        return events

    # ---- late fixes ----

    async def _judge_late(
        self, conn: AnyConn, r: Rejudged, ctx: TransitContext, live: TransitMemory, now: datetime, changes: ChangeLog
    ) -> None:
        """Run the rules over the seal's in-order stream from a fresh memory; raise what the
        backlog revealed (see ``alerts.late``); the live memory continues from the in-order one."""
        if r.records:
            await self.stops.refresh_areas(conn)
            first, last = r.records[0].t.timestamp(), r.records[-1].t.timestamp()
            window = self.settings.stop_jam_window_s
            await self.stops.refresh_slow_between(conn, max(first, r.since) - 2 * window, last + window)
        fresh = TransitMemory()
        conditions = evaluate_batch(
            r.records,
            r.observations,
            {r.seal_id: replace(ctx, arrived_at=None)},
            {ctx.transit_id: fresh},
            self.settings,
        )
        for ep in episodes(conditions, r.since):
            await self._apply_late(conn, ep, now, changes)
        _continue_from(live, fresh, r.seal_id)

    async def _apply_late(self, conn: AnyConn, ep: Episode, now: datetime, changes: ChangeLog) -> None:
        rows = await fetch_all(
            conn,
            """SELECT id, status, first_t, last_t, (evidence->>'cleared_t')::float8 AS cleared_t FROM alerts
               WHERE transit_id = %s AND type = %s ORDER BY id FOR UPDATE""",
            (ep.transit_id, ep.type),
        )
        known = [
            Known(r["id"], r["first_t"].timestamp(), r["status"], r["last_t"].timestamp(), r["cleared_t"]) for r in rows
        ]
        same = overlapping(ep, known)
        if same is not None:  # seen live: at most it happened earlier than the live fix showed
            if ep.start < same.first_t:
                row = await fetch_one(
                    conn,
                    f"""UPDATE alerts a SET first_t = %s, updated_at = %s,
                            evidence = a.evidence || jsonb_build_object('late_first_t', %s::float8)
                        WHERE a.id = %s RETURNING {ALERT_COLUMNS}""",
                    (from_epoch(ep.start), now, ep.start, same.id),
                )
                assert row is not None
                await add_event(
                    conn, row["id"], "late_evidence", row["status"], row["status"], SYSTEM, now,
                    {"first_t": from_epoch(ep.start).isoformat()},
                )  # fmt: skip
                changes.add("updated", row)
            return
        open_ = [k for k in known if k.status != "resolved"]
        if open_:  # another episode is open (one unresolved alert per type): count this one on it
            row = await fetch_one(
                conn,
                f"""UPDATE alerts a SET count = a.count + 1, updated_at = %s WHERE a.id = %s
                    RETURNING {ALERT_COLUMNS}""",
                (now, open_[0].id),
            )
            assert row is not None
            await add_event(
                conn, row["id"], "late_episode", row["status"], row["status"], SYSTEM, now,
                {"from": from_epoch(ep.start).isoformat(), "until": None if ep.end is None else ep.end},
            )  # fmt: skip
            changes.add("updated", row)
            return
        evidence: dict[str, Any] = {**ep.evidence, "late": True}
        if ep.end is not None and ep.type != "gps_jump":
            evidence |= {"cleared": True, "cleared_t": ep.end, "cleared_reason": ep.end_reason}
        t = from_epoch(ep.start)
        row = await fetch_one(
            conn,
            f"""INSERT INTO alerts AS a (type, severity, transit_id, seal_id, lat, lon, first_t, last_t, count,
                                         evidence, raised_at, updated_at, late, detected_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, true, %s)
                RETURNING {ALERT_COLUMNS}""",
            (ep.type, ep.severity, ep.transit_id, ep.seal_id, ep.lat, ep.lon, t, from_epoch(ep.last), ep.raises,
             dumps(evidence), t, now, now),
        )  # fmt: skip
        assert row is not None
        await add_event(
            conn, row["id"], "raised", None, "open", SYSTEM, now,
            {"severity": ep.severity, "t": t.isoformat(), "late": True},
        )  # fmt: skip
        changes.add("raised", row)
        log.info(
            "late alert raised",
            alert_id=row["id"],
            type=ep.type,
            transit_id=ep.transit_id,
            happened_at=t.isoformat(),
            ended=ep.end is not None,
        )
        if ep.severity == "critical" and self.settings.auto_dispatch_critical:
            await self._auto_dispatch(conn, row, now, changes)

    async def _prepare_stops(
        self,
        conn: AnyConn,
        records: list[FixRecord],
        observations: list[Observation],
        memories: dict[str, TransitMemory],
        now: float,
    ) -> None:
        """Stop areas and the congestion snapshot, read only when this batch has a stop to judge."""
        starts = [o.t for o in observations if o.kind == "stop_start"]
        stopped = {m.stop.seal_id for m in memories.values() if m.stop is not None}
        stopped |= {o.seal_id for o in observations if o.kind == "stop_start"}
        times = starts + [r.t.timestamp() for r in records if r.seal_id in stopped]
        if not times:
            return
        await self.stops.refresh_areas(conn)
        s = self.settings
        if min(times) < now - s.stop_jam_window_s:
            # A backlog (sent before the live fix, so judged here): the jam it stood in is in the
            # stored fixes of its own time, not in the seals' latest positions.
            await self.stops.refresh_slow_between(
                conn, min(times) - 2 * s.stop_jam_window_s, max(times) + s.stop_jam_window_s
            )
        else:
            await self.stops.refresh_slow(conn, min(times) - max(s.stop_jam_window_s, s.stop_jam_silent_s))

    async def _contexts(self, conn: AnyConn, seal_ids: list[str]) -> dict[str, TransitContext]:
        """Each seal's monitored transit, read in this transaction. A context is rebuilt only when
        its row changed: on a busy stream the same few thousand rows come back batch after batch."""
        rings = await self._destination_rings(conn)
        rows = await fetch_tuples(conn, _CONTEXT_SQL, (seal_ids,))
        cache = self._context_cache
        if len(cache) > MAX_CACHED_CONTEXTS:
            cache.clear()
        contexts = {}
        for seal_id, *values in rows:
            key = tuple(values)
            ctx = cache.get(key)
            if ctx is None:
                ctx = cache[key] = _context(key, rings, self.stops)
            contexts[seal_id] = ctx
        return contexts

    async def _destination_rings(self, conn: AnyConn) -> dict[str, Ring]:
        """Zone outlines by code, parsed once and cached: per-batch JSON parsing dominated a busy batch."""
        if self._rings is None or time.monotonic() - self._rings_at > RINGS_TTL_S:
            rows = await fetch_all(conn, "SELECT code, geometry FROM zones", ())
            self._rings = {r["code"]: _ring(r["geometry"]) for r in rows}
            self._rings_at = time.monotonic()
            self._context_cache.clear()  # contexts carry the destination outline
        return self._rings

    async def _record_arrival(self, conn: AnyConn, cond: Condition) -> None:
        try:
            await record_arrival(conn, cond.transit_id, from_epoch(cond.t), actor="alerts")
        except CustomsError as exc:
            # An officer may have recorded or closed it already; the alert stands either way.
            log.warning("arrival not recorded in customs", transit_id=cond.transit_id, error=exc.message)

    # ---- applying conditions ----

    async def _apply(self, conn: AnyConn, conditions: list[Condition], now: datetime, changes: ChangeLog) -> None:
        if not conditions:
            return
        transit_ids = sorted({c.transit_id for c in conditions})
        rows = await fetch_all(
            conn,
            f"""SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.transit_id = ANY(%s) AND a.status <> 'resolved'
                ORDER BY a.id FOR UPDATE""",
            (transit_ids,),
        )
        open_by_key: dict[Key, Row] = {(r["transit_id"], r["type"]): r for r in rows}
        for cond in conditions:
            key = (cond.transit_id, cond.type)
            current = open_by_key.get(key)
            last = None
            if current is None and cond.action == "raise":
                last = await self._last_resolved(conn, key)
            decision = decide(cond, _open_alert(current) if current else None, last, self.settings)
            row = await self._do(conn, decision, cond, current, last, now, changes)
            if decision == "resolve":
                open_by_key.pop(key, None)
            elif row is not None:
                open_by_key[key] = row

    async def _last_resolved(self, conn: AnyConn, key: Key) -> ResolvedAlert | None:
        row = await fetch_one(
            conn,
            """SELECT id, outcome, (evidence->>'cleared_t')::float8 AS cleared_t FROM alerts
               WHERE transit_id = %s AND type = %s AND status = 'resolved' ORDER BY id DESC LIMIT 1 FOR UPDATE""",
            key,
        )
        return ResolvedAlert(row["id"], row["outcome"], row["cleared_t"]) if row else None

    async def _do(
        self,
        conn: AnyConn,
        decision: Decision,
        cond: Condition,
        current: Row | None,
        last: ResolvedAlert | None,
        now: datetime,
        changes: ChangeLog,
    ) -> Row | None:
        t = from_epoch(cond.t)
        evidence = dumps(
            {**cond.evidence, "reason": cond.reason} if cond.reason and cond.action == "clear" else cond.evidence
        )
        if decision == "create":
            return await self._create(conn, cond, t, now, changes)
        if decision == "update" and current is not None:
            row = await self._update_repeat(conn, current["id"], cond, t, now, evidence, "a.status")
            severity_changed = row["severity"] != current["severity"]
            if severity_changed:
                await add_event(
                    conn,
                    row["id"],
                    "severity",
                    row["status"],
                    row["status"],
                    SYSTEM,
                    now,
                    {"from": current["severity"], "to": row["severity"]},
                )
            changes.add("severity" if severity_changed else "updated", row)
            return row
        if decision == "reopen" and last is not None:
            row = await self._update_repeat(
                conn,
                last.id,
                cond,
                t,
                now,
                evidence,
                "'open'",
                extra=", resolved_at = NULL, resolved_by = NULL, outcome = NULL",
            )
            await add_event(
                conn,
                row["id"],
                "reopened",
                "resolved",
                "open",
                SYSTEM,
                now,
                {"t": t.isoformat(), "window_s": self.settings.route_deviation_reopen_within_s},
            )
            changes.add("reopened", row)
            return row
        if decision == "resolve" and current is not None:
            await conn.execute(
                "UPDATE alerts SET evidence = evidence || jsonb_build_object('cleared_t', %s::float8) WHERE id = %s",
                (cond.t, current["id"]),
            )
            cleared = {**current, "evidence": {**(current["evidence"] or {}), "cleared_t": cond.t}}
            return await lifecycle.resolve_locked(
                conn, cleared, "auto_cleared", SYSTEM, now, cond.reason, changes, {"t": t.isoformat()}
            )
        if decision == "note" and current is not None:
            noted = await fetch_one(
                conn,
                f"""UPDATE alerts a SET evidence = a.evidence || jsonb_build_object('cleared', true,
                        'cleared_t', %s::float8, 'cleared_reason', %s::text), updated_at = %s
                    WHERE a.id = %s RETURNING {ALERT_COLUMNS}""",
                (cond.t, cond.reason, now, current["id"]),
            )
            assert noted is not None
            row = noted
            await add_event(
                conn,
                row["id"],
                "cleared",
                row["status"],
                row["status"],
                SYSTEM,
                now,
                {"t": t.isoformat(), "reason": cond.reason},
            )
            changes.add("cleared", row)
            return row
        return None

    async def _insert(self, conn: AnyConn, cond: Condition, t: datetime, now: datetime) -> Row | None:
        """The new alert's row, or None when an unresolved alert of its type is already open on the transit."""
        return await fetch_one(
            conn,
            f"""INSERT INTO alerts AS a (type, severity, transit_id, seal_id, lat, lon, first_t, last_t, evidence,
                                         raised_at, updated_at, detected_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)
                ON CONFLICT (transit_id, type) WHERE status <> 'resolved' DO NOTHING
                RETURNING {ALERT_COLUMNS}""",
            (
                cond.type,
                cond.severity,
                cond.transit_id,
                cond.seal_id,
                cond.lat,
                cond.lon,
                t,
                t,
                dumps(cond.evidence),
                now,
                now,
                now,
            ),
        )

    async def _create(self, conn: AnyConn, cond: Condition, t: datetime, now: datetime, changes: ChangeLog) -> Row:
        # Another writer (a partition's new owner, the timers) may raise the same alert between our read and
        # insert, and may even resolve it before we look at it again: then our insert goes through next time.
        for _ in range(3):
            row = await self._insert(conn, cond, t, now)
            if row is not None:
                break
            other = await fetch_one(
                conn,
                f"SELECT {ALERT_COLUMNS} FROM alerts a WHERE transit_id = %s AND type = %s AND status <> 'resolved'"
                " FOR UPDATE",
                (cond.transit_id, cond.type),
            )
            if other is not None:  # count ours as a repetition of theirs
                row = await self._update_repeat(conn, other["id"], cond, t, now, dumps(cond.evidence), "a.status")
                changes.add("updated", row)
                return row
        else:
            raise RuntimeError(f"alert {cond.type} on {cond.transit_id} kept changing under its insert")
        await add_event(
            conn, row["id"], "raised", None, "open", SYSTEM, now, {"severity": cond.severity, "t": t.isoformat()}
        )
        changes.add("raised", row)
        self.raised_log.raised(
            alert_id=row["id"],
            type=cond.type,
            severity=cond.severity,
            transit_id=cond.transit_id,
            seal_id=cond.seal_id,
        )
        if cond.severity == "critical" and self.settings.auto_dispatch_critical:
            row = await self._auto_dispatch(conn, row, now, changes)
        return row

    async def _update_repeat(
        self,
        conn: AnyConn,
        alert_id: int,
        cond: Condition,
        t: datetime,
        now: datetime,
        evidence: str,
        status: str,
        extra: str = "",
    ) -> Row:
        # Position and evidence follow the newest occurrence; an older one only counts.
        row = await fetch_one(
            conn,
            f"""UPDATE alerts a SET count = a.count + 1, status = {status}, severity = %(sev)s,
                    lat = CASE WHEN %(t)s >= a.last_t THEN %(lat)s ELSE a.lat END,
                    lon = CASE WHEN %(t)s >= a.last_t THEN %(lon)s ELSE a.lon END,
                    evidence = CASE WHEN %(t)s >= a.last_t THEN %(ev)s::jsonb ELSE a.evidence END,
                    last_t = greatest(a.last_t, %(t)s), updated_at = %(now)s{extra}
                WHERE a.id = %(id)s RETURNING {ALERT_COLUMNS}""",
            {
                "sev": cond.severity,
                "t": t,
                "lat": cond.lat,
                "lon": cond.lon,
                "ev": evidence,
                "now": now,
                "id": alert_id,
            },
        )
        assert row is not None
        return row

    async def _auto_dispatch(self, conn: AnyConn, row: Row, now: datetime, changes: ChangeLog) -> Row:
        try:
            group = await lifecycle.choose_group(conn, row, self.settings, now, None)
        except AlertConflictError as exc:
            log.warning("critical alert not auto-dispatched", alert_id=row["id"], reason=str(exc))
            return row
        return await lifecycle.dispatch_locked(conn, row, group, SYSTEM, now, self.settings, changes, self.words)

    # ---- timers ----

    async def tick(self, now: datetime) -> list[AlertEvent]:
        """Timers at ``now``: escalation, signal lost, overdue. Returns the committed changes."""
        pool = await self._get_pool()
        owns = self.owns
        async with pool.connection() as conn:
            # Escalation stays global, on every worker: it concerns alerts, not seals, and must go on
            # while the broker is down and no worker holds a partition. Workers never escalate an alert
            # twice: escalate_due locks ``FOR UPDATE SKIP LOCKED`` and PostgreSQL checks ``escalated_at
            # IS NULL`` again on the row version it locks; the scan is a small partial index's.
            events = await lifecycle.escalate_due(conn, now, self.settings)
            async with conn.transaction():
                due = await fetch_tuples(
                    conn,
                    _DUE_SQL,
                    {
                        "now": now,
                        "overdue_before": from_epoch(now.timestamp() - self.settings.overdue_grace_s),
                        "silent_before": from_epoch(now.timestamp() - self.settings.signal_lost_after_s),
                    },
                )
                conditions: list[Condition] = []
                rings = await self._destination_rings(conn)
                for seal_id, memory, *values in due:
                    if owns is not None and not owns(seal_id):
                        continue  # another worker's seal: it runs this transit's timers
                    mem = TransitMemory.from_json(memory or {})
                    conditions.extend(
                        evaluate_tick(
                            now.timestamp(), _context(tuple(values), rings, self.stops), mem, self.settings, seal_id
                        )
                    )
                changes = ChangeLog()
                await self._apply(conn, conditions, now, changes)
                events += await changes.flush(conn)
        return events

    async def run_timers(self, stop: asyncio.Event, every_s: float = 5.0) -> None:
        """Convenience loop for the glue: ``tick(now)`` every ``every_s`` seconds until ``stop``,
        the first after ``timers_start_after_s``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), self.settings.timers_start_after_s)
        while not stop.is_set():
            try:
                await self.tick(self.clock())
            except Exception:  # a failed tick must not end the loop; the next one retries
                log.exception("alert tick failed")
            self.raised_log.flush()  # a storm's summary appears even when no further alert comes
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)

    # ---- outbox ----

    async def run_outbox(self, stop: asyncio.Event) -> None:
        """Publish pending dispatch messages (QoS 1, marked sent after PUBACK) until ``stop``."""
        s = self.settings
        if self.publish is None and not s.mqtt_url:
            log.warning("no publish callable and no SEALWATCH_ALERTS_MQTT_URL: dispatches stay in the outbox")
            await stop.wait()
            return
        backoff = 0.5
        while not stop.is_set():
            try:
                if self.publish is not None:
                    await outbox.run_outbox(self.database_url, self.publish, stop, s.outbox_poll_s, s.outbox_batch)
                else:
                    assert s.mqtt_url is not None
                    async with outbox.mqtt_publisher(s.mqtt_url) as publish:
                        backoff = 0.5
                        await outbox.run_outbox(self.database_url, publish, stop, s.outbox_poll_s, s.outbox_batch)
            except (aiomqtt.MqttError, outbox.OutboxPublishError) as exc:
                log.warning("outbox cannot publish; retrying", error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, 10.0)
