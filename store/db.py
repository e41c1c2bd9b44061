"""Connections to the configured database."""

from __future__ import annotations

import orjson
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads

from sealwatch.config import Settings

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
