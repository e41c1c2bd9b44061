"""Migrations against a real, fresh PostgreSQL database."""

from __future__ import annotations

import psycopg
import pytest

from store.migrate import MigrationError, choose_mode, discover, migrate, storage_mode, timescale_available


def test_migrations_run_twice_without_error(fresh_db: str) -> None:
    first = migrate(fresh_db)
    assert [m.version for m in first] == sorted(m.version for m in first) and first
    assert migrate(fresh_db) == []
    with psycopg.connect(fresh_db) as conn:
        recorded = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in recorded] == [m.version for m in first]


def test_native_path_creates_a_range_partitioned_fixes_table(fresh_db: str) -> None:
    migrate(fresh_db, "off")
    with psycopg.connect(fresh_db) as conn:
        strategy = conn.execute(
            "SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'fixes'::regclass"
        ).fetchone()
        key = conn.execute("SELECT pg_get_partkeydef('fixes'::regclass)").fetchone()
    with psycopg.connect(fresh_db, row_factory=psycopg.rows.dict_row) as dconn:
        mode = storage_mode(dconn)
    assert strategy == ("r",)
    assert key == ("RANGE (t)",)
    assert mode == "native"


def test_timescale_path_is_guarded_by_the_extension_check(fresh_db: str) -> None:
    with psycopg.connect(fresh_db, row_factory=psycopg.rows.dict_row) as conn:
        available = timescale_available(conn)
        assert choose_mode(conn, "off") == "native"
        assert choose_mode(conn, "auto") == ("timescale" if available else "native")
        if not available:
            with pytest.raises(MigrationError, match="not available"):
                choose_mode(conn, "on")
    if not available:
        with pytest.raises(MigrationError):
            migrate(fresh_db, "on")


def test_timescale_variant_makes_a_compressed_hypertable_with_retention() -> None:
    sql = {m.version: m.sql for m in discover("timescale")}[2]
    assert "CREATE EXTENSION IF NOT EXISTS timescaledb" in sql
    assert "create_hypertable('fixes', by_range('t'" in sql
    assert "timescaledb.compress_segmentby = 'seal_id'" in sql
    assert "add_compression_policy" in sql and "add_retention_policy" in sql
    native = {m.version: m for m in discover("native")}[2]
    assert native.variant == "native" and "PARTITION BY RANGE (t)" in native.sql


def test_every_migration_has_a_variant_for_each_mode() -> None:
    assert [m.version for m in discover("native")] == [m.version for m in discover("timescale")]
