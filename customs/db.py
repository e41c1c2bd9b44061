"""One small database facade over psycopg's async and sync connections.

Customs logic is written once, as coroutines against :class:`Db`. The API passes its pooled
``AsyncConnection``; synchronous callers (the demo runner, a sync engine) pass a plain
``Connection`` and drive the coroutine with ``asyncio.run`` — the calls then simply block.
Rows are always dicts, whatever row factory the caller's connection has.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, LiteralString, Protocol

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

Row = dict[str, Any]
Query = LiteralString | bytes | sql.SQL | sql.Composed
Params = Sequence[Any] | dict[str, Any] | None
AnyConnection = psycopg.AsyncConnection[Any] | psycopg.Connection[Any]


class Db(Protocol):
    async def all(self, query: Query, params: Params = None) -> list[Row]: ...

    async def one(self, query: Query, params: Params = None) -> Row | None: ...

    async def run(self, query: Query, params: Params = None) -> int: ...

    def transaction(self) -> AbstractAsyncContextManager[None]: ...


class AsyncDb:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def all(self, query: Query, params: Params = None) -> list[Row]:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            return await cur.fetchall()

    async def one(self, query: Query, params: Params = None) -> Row | None:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            return await cur.fetchone()

    async def run(self, query: Query, params: Params = None) -> int:
        async with self.conn.cursor() as cur:
            await cur.execute(query, params)
            return cur.rowcount

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        # A transaction block commits at exit, or becomes a savepoint inside the caller's one.
        async with self.conn.transaction():
            yield


class SyncDb:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    async def all(self, query: Query, params: Params = None) -> list[Row]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)
            return cur.fetchall()

    async def one(self, query: Query, params: Params = None) -> Row | None:
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)
            return cur.fetchone()

    async def run(self, query: Query, params: Params = None) -> int:
        with self.conn.cursor() as cur:
            cur.execute(query, params)
            return cur.rowcount

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        with self.conn.transaction():
            yield


def as_db(conn: AnyConnection | Db) -> Db:
    """Wrap a psycopg connection (async or sync); a ``Db`` passes through."""
    if isinstance(conn, psycopg.AsyncConnection):
        return AsyncDb(conn)
    if isinstance(conn, psycopg.Connection):
        return SyncDb(conn)
    return conn


async def notify(db: Db, channel: str, payload: str) -> None:
    """NOTIFY is transactional: listeners hear it only when the surrounding transaction commits."""
    await db.run("SELECT pg_notify(%s, %s)", (channel, payload))
