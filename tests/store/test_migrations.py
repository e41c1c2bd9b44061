"""Migrations and the storage mode, against real, fresh PostgreSQL databases (both backends)."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from psycopg.rows import dict_row
from structlog.testing import capture_logs

from sealwatch.config import Settings
from store.migrate import (
    MigrationError,
    TimescaleSupport,
    choose_mode,
    discover,
    migrate,
    storage_mode,
    timescale_support,
)
from tests.conftest import PgBackend


def test_migrations_run_twice_without_error(fresh_db: str, pg_backend: PgBackend) -> None:
    first = migrate(fresh_db, pg_backend.name)
    assert [m.version for m in first] == sorted(m.version for m in first) and first
    assert migrate(fresh_db) == []
    with psycopg.connect(fresh_db) as conn:
        recorded = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in recorded] == [m.version for m in first]


def test_native_path_creates_a_range_partitioned_fixes_table(fresh_db: str) -> None:
    # Forced native also on a server that has TimescaleDB.
    migrate(fresh_db, "native")
    with psycopg.connect(fresh_db) as conn:
        strategy = conn.execute(
            "SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'fixes'::regclass"
        ).fetchone()
        key = conn.execute("SELECT pg_get_partkeydef('fixes'::regclass)").fetchone()
    with psycopg.connect(fresh_db, row_factory=dict_row) as dconn:
        mode = storage_mode(dconn)
    assert strategy == ("r",)
    assert key == ("RANGE (t)",)
    assert mode == "native"


def test_auto_takes_the_servers_backend_and_logs_why(fresh_db: str, pg_backend: PgBackend) -> None:
    with capture_logs() as logs:
        migrate(fresh_db, "auto")
    with psycopg.connect(fresh_db, row_factory=dict_row) as conn:
        support = timescale_support(conn)
        mode = storage_mode(conn)
    assert mode == ("timescale" if support.available and support.preloaded else "native")
    if pg_backend.name == "timescale":
        assert mode == "timescale" and support.installed
    chosen = [e for e in logs if e["event"] == "storage mode chosen"]
    assert len(chosen) == 1 and chosen[0]["mode"] == mode and chosen[0]["setting"] == "auto"
    assert "timescaledb" in chosen[0]["reason"]


@pytest.mark.backends("native")
def test_forcing_timescale_without_the_extension_is_a_clear_error(fresh_db: str) -> None:
    with psycopg.connect(fresh_db, row_factory=dict_row) as conn:
        support = timescale_support(conn)
    if support.available and support.preloaded:
        pytest.skip("this native server has TimescaleDB preloaded")
    with pytest.raises(MigrationError, match="SEALWATCH_STORAGE=timescale, but the timescaledb"):
        migrate(fresh_db, "timescale")
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT to_regclass('fixes')").fetchone() == (None,)


def test_forced_mode_must_match_an_already_migrated_database(fresh_db: str) -> None:
    migrate(fresh_db, "native")
    with pytest.raises(MigrationError, match="migrated for native"):
        migrate(fresh_db, "timescale")
    assert migrate(fresh_db, "auto") == [] and migrate(fresh_db, "native") == []


def test_storage_choice_from_what_the_server_offers() -> None:
    preloaded = TimescaleSupport(available="2.28.3", installed=None, preloaded=True)
    not_preloaded = TimescaleSupport(available="2.28.3", installed=None, preloaded=False)
    absent = TimescaleSupport(available=None, installed=None, preloaded=False)
    assert choose_mode(preloaded, "auto")[0] == "timescale"
    assert choose_mode(preloaded, "timescale")[0] == "timescale"
    assert choose_mode(preloaded, "native") == ("native", "SEALWATCH_STORAGE=native")
    # Installed but not preloaded: CREATE EXTENSION would fail, so auto falls back and says why.
    mode, why = choose_mode(not_preloaded, "auto")
    assert mode == "native" and "not preloaded" in why and "shared_preload_libraries" in why
    with pytest.raises(MigrationError, match="not preloaded"):
        choose_mode(not_preloaded, "timescale")
    assert choose_mode(absent, "auto")[0] == "native"
    with pytest.raises(MigrationError, match="not installed"):
        choose_mode(absent, "timescale")


def test_a_lost_connection_reports_its_own_error_not_connection_closed(fresh_db: str, pg_backend: PgBackend) -> None:
    """A migration whose session dies (a FATAL error, a terminated backend) raises that error."""
    url = psycopg.conninfo.make_conninfo(fresh_db, application_name="sw_migrate_killed")
    holder = psycopg.connect(fresh_db)
    # An uncommitted table of the same name: migrate's first statement waits for this transaction.
    holder.execute("CREATE TABLE schema_migrations (version integer)")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate(url, pg_backend.name)
        except BaseException as exc:  # the test inspects whatever it was
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        killed = False
        while not killed and time.monotonic() < deadline:
            with psycopg.connect(fresh_db, autocommit=True) as admin:
                row = admin.execute(
                    """SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                       WHERE application_name = 'sw_migrate_killed' AND wait_event_type = 'Lock'"""
                ).fetchone()
            killed = bool(row and row[0])
            time.sleep(0.05)
        thread.join(30)
    finally:
        holder.close()
    assert killed and not thread.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], psycopg.errors.AdminShutdown), repr(errors[0])


def test_fixes_indexes_are_the_primary_key_and_a_brin_on_t(migrated_db: str) -> None:
    """Both modes index fixes alike: no btree on t beside the primary key (TimescaleDB's default).

    (seal_id, seq) is the replay check's look-up."""
    with psycopg.connect(migrated_db) as conn:
        rows = conn.execute(
            """SELECT i.relname, a.amname FROM pg_index x
               JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am a ON a.oid = i.relam
               WHERE x.indrelid = 'fixes'::regclass ORDER BY 1"""
        ).fetchall()
    assert rows == [("fixes_pkey", "btree"), ("fixes_seal_seq", "btree"), ("fixes_t", "brin")]


def test_every_migration_has_a_variant_for_each_mode() -> None:
    assert [m.version for m in discover("native")] == [m.version for m in discover("timescale")]
    timescale = {m.version: m.sql for m in discover("timescale")}[2]
    assert "create_hypertable('fixes', by_range('t'" in timescale
    native = {m.version: m for m in discover("native")}[2]
    assert native.variant == "native" and "PARTITION BY RANGE (t)" in native.sql


def test_storage_setting_and_its_older_spelling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEALWATCH_STORAGE", raising=False)
    monkeypatch.delenv("SEALWATCH_TIMESCALE", raising=False)
    assert Settings().storage == "auto"
    monkeypatch.setenv("SEALWATCH_TIMESCALE", "off")
    assert Settings().storage == "native"
    monkeypatch.setenv("SEALWATCH_TIMESCALE", "on")
    assert Settings().storage == "timescale"
    monkeypatch.setenv("SEALWATCH_STORAGE", "native")  # the new name wins
    assert Settings().storage == "native"
    monkeypatch.setenv("SEALWATCH_STORAGE", "postgres")
    with pytest.raises(ValueError, match="auto"):
        Settings()
