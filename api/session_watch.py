"""End a live stream when its session ends: logout, expiry, or the user being disabled.

A stream outlives the request that authorized it, so the session is looked at again: at its
expiry time exactly, and every ``check_s`` seconds for a logout (the session row deleted) or a
disabled user. The stream then sends a last ``session-ended`` event, which tells the page to go
to the login form, and closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import tuple_row

from sealwatch.logging import get_logger
from store.users import token_hash

log = get_logger(__name__)

SESSION_ENDED: dict[str, str] = {"event": "session-ended", "data": "{}"}
_EXPIRES = """SELECT s.expires_at FROM sessions s JOIN users u USING (name)
    WHERE s.token_hash = %s AND s.expires_at > now() AND NOT u.disabled"""

Event = dict[str, str]


async def session_expires(conn: AsyncConnection[Any], token: str) -> datetime | None:
    """When the token's session expires, or None if it has ended already."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(_EXPIRES, (token_hash(token),))
        row = await cur.fetchone()
    return row[0] if row else None


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


async def until_session_ends(
    events: AsyncIterator[Event], expires: Callable[[], Awaitable[datetime | None]], check_s: float
) -> AsyncIterator[Event]:
    """``events`` until the session ends, then :data:`SESSION_ENDED`.

    The events are read by a task of their own into a queue, so waiting for the next one never
    delays a session check (and a check never cancels a read halfway).
    """
    queue: asyncio.Queue[Event | _Failed] = asyncio.Queue(maxsize=256)

    async def pump() -> None:
        try:
            async with contextlib.aclosing(events):  # type: ignore[type-var]
                async for event in events:
                    await queue.put(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # handed to the consumer, which raises it in the response
            await queue.put(_Failed(exc))

    task = asyncio.create_task(pump())
    try:
        until = await expires()
        next_check = time.monotonic() + check_s
        while until is not None:
            left = min(next_check - time.monotonic(), (until - datetime.now(UTC)).total_seconds())
            if left <= 0:
                until = await expires()
                next_check = time.monotonic() + check_s
                continue
            try:
                item = await asyncio.wait_for(queue.get(), left)
            except TimeoutError:
                continue
            if isinstance(item, _Failed):
                raise item.exc
            yield item
        log.info("stream closed: session ended")
        yield SESSION_ENDED
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
