"""Live alert changes for SSE clients: replay from ``alert_stream``, then follow NOTIFY.

Order of operations per client, so nothing is lost between replay and live: LISTEN on a
dedicated connection first, then replay every row after the client's last id, then on each
notification (or every ``poll_s`` as a safety net) read the rows after the last id sent. Rows are
read by id, never taken from the notification payload, so a duplicate or coalesced notification
cannot duplicate or drop an event; stream ids become visible in order (see ``alerts.store``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alerts.store import STREAM_CHANNEL, dumps
from sealwatch.logging import get_logger

log = get_logger(__name__)

PAGE = 500


@dataclass(frozen=True, slots=True)
class StreamItem:
    id: int
    change: str
    payload: dict[str, Any]

    def sse(self) -> dict[str, str]:
        """The event as sse-starlette expects it; the SSE id lets the browser resume with Last-Event-ID."""
        return {"id": str(self.id), "event": "alert", "data": dumps({"stream_id": self.id, **self.payload})}


async def latest_id(conn: psycopg.AsyncConnection[Any]) -> int:
    cur = await conn.execute("SELECT coalesce(max(id), 0) FROM alert_stream")
    row = await cur.fetchone()
    return int(row[0] if isinstance(row, tuple) else next(iter(row.values()))) if row else 0


async def _rows_after(conn: psycopg.AsyncConnection[Any], after: int) -> list[StreamItem]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, change, payload FROM alert_stream WHERE id > %s ORDER BY id LIMIT %s", (after, PAGE)
        )
        return [StreamItem(r["id"], r["change"], r["payload"]) for r in await cur.fetchall()]


async def follow(database_url: str, after: int | None, poll_s: float = 5.0) -> AsyncIterator[StreamItem]:
    """Every stream row with id > ``after`` (None: from now on), then live ones, in id order, forever."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(f"LISTEN {STREAM_CHANNEL}")
        last = await latest_id(conn) if after is None else after
        while True:
            while True:
                items = await _rows_after(conn, last)
                for item in items:
                    last = item.id
                    yield item
                if len(items) < PAGE:
                    break
            # Notifications that arrived while the queries ran wait in psycopg's backlog and end
            # this wait at once; the timeout is only a safety net.
            async for _ in conn.notifies(timeout=poll_s, stop_after=1):
                pass
