"""Connections to the configured database."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from sealwatch.config import Settings


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
