"""Alert rows in SQL: reading them as JSON, history events, and the ordered change stream.

Every transaction that changes alerts collects its changes in a :class:`ChangeLog` and flushes it
last: the flush takes a transaction-scoped advisory lock, inserts the ``alert_stream`` rows and
queues ``pg_notify('sealwatch_alerts', <last id>)``. Holding the lock until commit makes stream
ids become visible in id order, so a reader resuming "after id N" can never skip a row that
commits late; flushing last keeps the lock short and means no alert row lock is ever awaited
while holding it (no deadlock between writers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from psycopg import AsyncConnection
from psycopg.rows import dict_row, tuple_row

from alerts.model import AlertEvent, Change
from sealwatch.logging import get_logger

log = get_logger(__name__)

STREAM_CHANNEL = "sealwatch_alerts"
OUTBOX_CHANNEL = "sealwatch_alert_outbox"
_STREAM_LOCK = 0x5EA1_0200

ALERT_COLUMNS = """a.id, a.type, a.severity, a.status, a.transit_id, a.seal_id, a.lat, a.lon, a.first_t, a.last_t,
    a.count, a.evidence, a.raised_at, a.updated_at, a.escalated_at, a.acknowledged_at, a.acknowledged_by,
    a.dispatched_at, a.dispatched_by, a.group_id, a.resolved_at, a.resolved_by, a.outcome, a.comment,
    a.late, a.detected_at"""

Row = dict[str, Any]
AnyConn = AsyncConnection[Any]


def _iso(value: Any) -> Any:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value


def alert_json(row: Row) -> dict[str, Any]:
    """An alert row as plain JSON types (times as ISO 8601 UTC)."""
    return {k: _iso(v) for k, v in row.items()}


def dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


async def fetch_all(conn: AnyConn, query: Any, params: Any = None) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def fetch_tuples(conn: AnyConn, query: Any, params: Any = None) -> list[tuple[Any, ...]]:
    """Rows as tuples: cheaper than dicts where a hot path reads thousands of them."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def fetch_one(conn: AnyConn, query: Any, params: Any = None) -> Row | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchone()


async def get_alert(conn: AnyConn, alert_id: int, *, lock: bool = False) -> Row | None:
    suffix = " FOR UPDATE" if lock else ""
    return await fetch_one(conn, f"SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.id = %s{suffix}", (alert_id,))


async def add_event(
    conn: AnyConn,
    alert_id: int,
    kind: str,
    from_status: str | None,
    to_status: str,
    actor: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO alert_events (alert_id, kind, from_status, to_status, actor, at, detail)
           VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb)""",
        (alert_id, kind, from_status, to_status, actor, at, dumps(detail or {})),
    )


@dataclass(slots=True)
class ChangeLog:
    """Alert changes of one transaction, written to ``alert_stream`` by :meth:`flush` at its end."""

    items: list[tuple[Change, Row]] = field(default_factory=list)

    def add(self, change: Change, row: Row) -> None:
        self.items.append((change, row))

    async def flush(self, conn: AnyConn) -> list[AlertEvent]:
        if not self.items:
            return []
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_STREAM_LOCK,))
        events: list[AlertEvent] = []
        last_id = 0
        for change, row in self.items:
            alert = alert_json(row)
            payload = {"change": change, "alert": alert}
            got = await fetch_one(
                conn,
                "INSERT INTO alert_stream (alert_id, change, payload) VALUES (%s, %s, %s::jsonb) RETURNING id",
                (row["id"], change, dumps(payload)),
            )
            assert got is not None
            last_id = int(got["id"])
            events.append(
                AlertEvent(
                    stream_id=last_id,
                    change=change,
                    alert_id=int(row["id"]),
                    type=row["type"],
                    severity=row["severity"],
                    status=row["status"],
                    transit_id=row["transit_id"],
                    seal_id=row["seal_id"],
                    t=cast(datetime, row["last_t"]),
                    lat=row["lat"],
                    lon=row["lon"],
                    evidence=dict(row["evidence"] or {}),
                    alert=alert,
                )
            )
        # One notification per transaction: listeners read every row after their last id anyway.
        await conn.execute("SELECT pg_notify(%s, %s)", (STREAM_CHANNEL, str(last_id)))
        self.items.clear()
        return events
