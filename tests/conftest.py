"""Shared fixtures: real PostgreSQL databases and a real Mosquitto broker per test session.

Each test that needs storage gets a database of its own, created and dropped here, once per
storage backend (the ``pg_backend`` lanes, in the test id as ``[native]`` / ``[timescale]``):

- native: ``SEALWATCH_TEST_PG`` (an admin URL), else the local PostgreSQL on 127.0.0.1:5432,
  else a private embedded PostgreSQL; migrated with ``SEALWATCH_STORAGE=native``.
- timescale: ``SEALWATCH_TEST_TIMESCALE_PG``, a server with the timescaledb extension
  preloaded; without it the lane's tests are not run (deselected, so they cost nothing) and
  the summary says so in one line.

A test for one backend only says ``@pytest.mark.backends("native")``. The broker is Mosquitto
started with the project's configuration on a free port.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings as hypothesis_settings
from psycopg import sql
from psycopg.rows import dict_row

from launcher.servers import Mosquitto, start_embedded_postgres
from store.migrate import StorageMode, migrate, timescale_support
from tests.tsdb import pause_jobs

# Property tests run derandomized (the same examples every run, no example database): a run that
# passes in CI passes on every rerun, and a boundary a test reaches it reaches every time.
# HYPOTHESIS_PROFILE=explore searches at random instead, to find new cases.
hypothesis_settings.register_profile("derandomized", derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("explore", derandomize=False, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "derandomized"))

TIMESCALE_ENV = "SEALWATCH_TEST_TIMESCALE_PG"
BACKENDS: tuple[StorageMode, ...] = ("native", "timescale")


@dataclass(frozen=True)
class PgBackend:
    name: StorageMode
    admin_url: str


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "backends(*names): storage backends the test runs on (default: all)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "pg_backend" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backends")
        names = marker.args if marker else BACKENDS
        metafunc.parametrize("pg_backend", names, indirect=True, scope="module")


_LANE_NOT_RUN = pytest.StashKey[int]()


def _lane(item: pytest.Item) -> object:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("pg_backend") if callspec is not None else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(TIMESCALE_ENV):
        return
    lane = [item for item in items if _lane(item) == "timescale"]
    if lane:
        items[:] = [item for item in items if _lane(item) != "timescale"]
        config.hook.pytest_deselected(items=lane)
        config.stash[_LANE_NOT_RUN] = len(lane)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if n := config.stash.get(_LANE_NOT_RUN, 0):
        terminalreporter.write_sep(
            "-", f"timescale lane skipped: {n} tests not run ({TIMESCALE_ENV} names no TimescaleDB server)"
        )


pytest_plugins = ["tests.browser"]


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def native_admin_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("SEALWATCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    if _reachable(url):
        return url
    return start_embedded_postgres(tmp_path_factory.mktemp("pg") / "data")


@pytest.fixture(scope="session")
def timescale_admin_url() -> str:
    url = os.environ.get(TIMESCALE_ENV)
    if not url:
        pytest.skip(f"timescale lane: set {TIMESCALE_ENV} to a PostgreSQL server with timescaledb preloaded")
    if not _reachable(url):
        pytest.fail(f"{TIMESCALE_ENV}={url} is not reachable")
    with psycopg.connect(url, row_factory=dict_row) as conn:
        support = timescale_support(conn)
    if not (support.available and support.preloaded):
        pytest.fail(f"{TIMESCALE_ENV}={url} has no preloaded timescaledb ({support})")
    return url


@pytest.fixture(scope="module")
def pg_backend(request: pytest.FixtureRequest) -> PgBackend:
    """The storage backend of this lane and the admin URL of its server.

    Module-scoped lanes: a module's tests run on one backend and straight after on the next, so
    data that a module builds from a module-level "now" is as fresh on both.
    """
    name: StorageMode = request.param
    return PgBackend(name, request.getfixturevalue(f"{name}_admin_url"))


@pytest.fixture(scope="module")
def pg_admin_url(pg_backend: PgBackend) -> str:
    return pg_backend.admin_url


def _with_dbname(admin_url: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(admin_url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]


@contextmanager
def new_database(admin_url: str) -> Iterator[str]:
    """URL of a new, empty database on the server of ``admin_url``, dropped on exit."""
    name = f"sw_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_dbname(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def migrate_for(url: str, backend: PgBackend) -> str:
    migrate(url, backend.name)
    if backend.name == "timescale":
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            pause_jobs(conn)  # no background job races a test; tests run policies with run_job
    return url


@pytest.fixture
def fresh_db(pg_admin_url: str) -> Iterator[str]:
    """URL of a new, empty database, dropped after the test."""
    with new_database(pg_admin_url) as url:
        yield url


@pytest.fixture
def migrated_db(fresh_db: str, pg_backend: PgBackend) -> str:
    return migrate_for(fresh_db, pg_backend)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A Mosquitto started with the project's config, shared by the session."""
    mosq = Mosquitto(data_dir=Path(tmp_path_factory.mktemp("mosquitto"))).start()
    yield mosq
    mosq.stop()
