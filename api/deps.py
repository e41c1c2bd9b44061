"""Request-scoped dependencies: the database connection pool and settings.

The request's connection names the authenticated user as the audit actor
(``sealwatch.actor``, read by the audit trigger of migration 0300), so every change the request
commits is recorded under that user. The setting is session-level and committed at once (so the
handlers' own ``conn.transaction()`` blocks stay top-level transactions, as before); the pool's
reset callback clears it when the connection goes back to the pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool
from pydantic import AfterValidator, AwareDatetime

from sealwatch.config import Settings

_SET_ACTOR = "SELECT set_config('sealwatch.actor', %s, false)"


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_pool(request: Request) -> AsyncConnectionPool[AsyncConnection[DictRow]]:
    pool: AsyncConnectionPool[AsyncConnection[DictRow]] = request.app.state.pool
    return pool


async def reset_actor(conn: AsyncConnection[Any]) -> None:
    """Pool reset callback: a connection returns to the pool naming nobody."""
    await conn.execute(_SET_ACTOR, ("",))
    await conn.commit()


async def get_conn(request: Request) -> AsyncIterator[AsyncConnection[DictRow]]:
    """One pooled connection per request; the request's work commits when the handler returns.

    ``api.auth.authorize`` (an app-wide dependency, resolved before this one) has put the user on
    ``request.state``; the connection records that user as the actor of the request's changes.
    """
    async with get_pool(request).connection() as conn:
        user = getattr(request.state, "user", None)
        if user is not None:
            await conn.execute(_SET_ACTOR, (user.name,))
            await conn.commit()
        yield conn


Conn = Annotated[AsyncConnection[DictRow], Depends(get_conn)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00:00+23:59 is a valid ISO time whose UTC instant is before year 1.
        raise ValueError("the time is outside the range of dates in UTC (years 1 to 9999)") from None


# A timezone-aware time normalised to UTC on the way in: any valid ISO offset is accepted, and what
# reaches PostgreSQL is an offset it represents (it refuses offsets beyond ±15:59).
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]

T = TypeVar("T")


def deprecated_alias(current: T | None, old: T | None, name: str, old_name: str) -> T | None:
    """One value from a query parameter and its deprecated older name (both given and different: 422)."""
    if old is not None and current is not None and old != current:
        raise HTTPException(status_code=422, detail=f"{old_name} is the deprecated name of {name}: give only {name}")
    return current if current is not None else old
