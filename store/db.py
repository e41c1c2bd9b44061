"""Connections to the configured database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import orjson
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads

from sealwatch.config import Settings
from sealwatch.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")
RETRY_ATTEMPTS = 6  # 0.2 + 0.4 + ... + 3.2 s of back-off: rides out a database restart

# psycopg parses json/jsonb with the stdlib unless told otherwise; orjson is several times faster,
# and JSON columns (rule memory, evidence, zone outlines) are read on hot paths.
set_json_loads(orjson.loads)


class DatabaseNotConfiguredError(RuntimeError):
    pass


def database_url(settings: Settings) -> str:
    if not settings.database_url:
        raise DatabaseNotConfiguredError(
            "DATABASE_URL is not set (sealwatch demo starts a private PostgreSQL; other commands need one)"
        )
    return settings.database_url


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection[dict[str, object]]:
    return psycopg.connect(url, autocommit=autocommit, row_factory=dict_row)


async def connect_async(url: str, *, autocommit: bool = False) -> psycopg.AsyncConnection[dict[str, object]]:
    return await psycopg.AsyncConnection.connect(url, autocommit=autocommit, row_factory=dict_row)


async def retry_lost_connection(
    attempt: Callable[[], Awaitable[T]], what: str, after_failure: Callable[[], object] = lambda: None
) -> T:
    """``attempt()``, again with back-off while the database connection is lost (OperationalError).

    For work that must not be dropped when PostgreSQL restarts or fails over; ``attempt`` must be
    safe to repeat (its transaction rolled back). ``after_failure`` runs after each failure, to
    drop a broken connection or state that the rolled-back transaction invalidated.
    """
    delay = 0.2
    for n in range(1, RETRY_ATTEMPTS):
        try:
            return await attempt()
        except psycopg.OperationalError as exc:
            after_failure()
            log.warning(f"{what} failed; retrying", error=str(exc).strip(), attempt=n, retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    try:
        return await attempt()  # the last attempt's error propagates
    except psycopg.OperationalError:
        after_failure()
        raise
