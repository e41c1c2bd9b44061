"""Shared fixtures: real PostgreSQL databases and a real Mosquitto broker per test session.

Each test that needs storage gets a database of its own, created and dropped here. The
server is ``SEALWATCH_TEST_PG`` (an admin URL), else the local PostgreSQL on 127.0.0.1:5432,
else a private embedded PostgreSQL. The broker is Mosquitto started with the project's
configuration on a free port.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from launcher.servers import Mosquitto, start_embedded_postgres
from store.migrate import migrate

pytest_plugins = ["tests.browser"]


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("SEALWATCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    if _reachable(url):
        return url
    return start_embedded_postgres(tmp_path_factory.mktemp("pg") / "data")


def _with_dbname(admin_url: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(admin_url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]


@pytest.fixture
def fresh_db(pg_admin_url: str) -> Iterator[str]:
    """URL of a new, empty database, dropped after the test."""
    name = f"sw_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_dbname(pg_admin_url, name)
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def migrated_db(fresh_db: str) -> str:
    migrate(fresh_db)
    return fresh_db


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A Mosquitto started with the project's config, shared by the session."""
    mosq = Mosquitto(data_dir=Path(tmp_path_factory.mktemp("mosquitto"))).start()
    yield mosq
    mosq.stop()
