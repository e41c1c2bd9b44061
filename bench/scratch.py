"""A throw-away database for a benchmark run, on DATABASE_URL's server or the local PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import psycopg
from psycopg import sql

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    return os.environ.get("DATABASE_URL", DEFAULT_ADMIN_URL)


@contextlib.contextmanager
def scratch_database(
    admin: str | None = None, prefix: str = "sw_bench", keep: bool = False, template: str | None = None
) -> Iterator[str]:
    """Create a database (a copy of the database at URL ``template`` if given), yield its URL, drop
    it (with any sessions still attached) afterwards unless ``keep`` (to look at it after the run)."""
    admin = admin or admin_url()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        source = psycopg.conninfo.conninfo_to_dict(template)["dbname"]
        create = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(str(source)))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(create)
    info = psycopg.conninfo.conninfo_to_dict(admin)
    info["dbname"] = name
    try:
        yield psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]
    finally:
        if not keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
