"""Request-scoped dependencies: the database connection pool and settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool

from sealwatch.config import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_pool(request: Request) -> AsyncConnectionPool[AsyncConnection[DictRow]]:
    pool: AsyncConnectionPool[AsyncConnection[DictRow]] = request.app.state.pool
    return pool


async def get_conn(request: Request) -> AsyncIterator[AsyncConnection[DictRow]]:
    """One pooled connection per request; the request's work commits when the handler returns."""
    async with get_pool(request).connection() as conn:
        yield conn


Conn = Annotated[AsyncConnection[DictRow], Depends(get_conn)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
