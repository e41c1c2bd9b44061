"""Ordered, recorded, idempotent schema migrations.

A migration is ``migrations/NNNN_name.sql``, or a pair ``NNNN_name.timescale.sql`` /
``NNNN_name.native.sql`` of which the runner applies the one for the storage mode. The mode is
chosen once, by the first migration run (``SEALWATCH_STORAGE``: ``timescale`` requires the
``timescaledb`` extension installed and preloaded on the server, ``native`` never uses it,
``auto`` takes it when it is, and logs why it chose what it did); later runs keep it.
Each runs in its own transaction under an advisory lock, so concurrent runners are safe.
Number ranges: 0001-0099 telemetry, 0100-0199 customs, 0200-0299 alerts, 0300-0399 history and audit,
0400-0499 device keys, 0500-0599 users and sessions.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import psycopg
from psycopg.rows import dict_row

from sealwatch.logging import get_logger

log = get_logger(__name__)

_NAME_RE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+?)(?:\.(?P<variant>timescale|native))?\.sql$")
_LOCK_KEY = 0x5EA1_0001

StorageMode = Literal["timescale", "native"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    variant: str | None
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class TimescaleSupport:
    """What the server offers: the extension's package, and whether its loader is preloaded."""

    available: str | None  # default version in pg_available_extensions
    installed: str | None  # version created in this database
    preloaded: bool  # shared_preload_libraries has 'timescaledb' (its launcher's settings exist)


def timescale_support(conn: psycopg.Connection[dict[str, object]]) -> TimescaleSupport:
    # The launcher's settings exist only when the loader library was preloaded (a placeholder
    # set in postgresql.conf is not listed in pg_settings); readable without superuser rights.
    row = conn.execute(
        """SELECT (SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb') AS available,
                  (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS installed,
                  EXISTS (SELECT FROM pg_settings WHERE name = 'timescaledb.bgw_launcher_poll_time') AS preloaded"""
    ).fetchone()
    assert row is not None
    available, installed = row["available"], row["installed"]
    return TimescaleSupport(
        str(available) if available else None, str(installed) if installed else None, bool(row["preloaded"])
    )


def choose_mode(support: TimescaleSupport, setting: str) -> tuple[StorageMode, str]:
    """The storage mode for ``setting`` (auto | timescale | native) on this server, and why."""
    if setting == "native":
        return "native", "SEALWATCH_STORAGE=native"
    if support.available and support.preloaded:
        return "timescale", f"timescaledb {support.installed or support.available} is available and preloaded"
    if support.available:
        why = (
            f"timescaledb {support.available} is installed on the server but not preloaded"
            " (add it to shared_preload_libraries and restart PostgreSQL)"
        )
    else:
        why = "the timescaledb extension is not installed on the server"
    if setting == "timescale":
        raise MigrationError(f"SEALWATCH_STORAGE=timescale, but {why}")
    return "native", why


def discover(mode: StorageMode) -> list[Migration]:
    """Every migration in order, with the variant for ``mode`` chosen where there is a pair."""
    found: dict[int, Migration] = {}
    names: dict[int, str] = {}
    for entry in resources.files("store.migrations").iterdir():
        match = _NAME_RE.match(entry.name)
        if not match:
            continue
        version, name, variant = int(match["version"]), match["name"], match["variant"]
        if version in names and names[version] != name:
            raise MigrationError(f"two migrations share version {version:04d}: {names[version]}, {name}")
        names[version] = name
        if variant is not None and variant != mode:
            continue
        found[version] = Migration(version, name, variant, entry.read_text(encoding="utf-8"))
    missing = sorted(set(names) - set(found))
    if missing:
        raise MigrationError(f"migrations {missing} have no {mode} variant")
    return [found[v] for v in sorted(found)]


def migrate(url: str, storage: str = "auto") -> list[Migration]:
    """Apply every pending migration; returns the ones applied (none on a second run).

    ``storage`` is ``SEALWATCH_STORAGE`` (auto | timescale | native); it matters only on the
    first run, which creates the fixes table.
    """
    applied: list[Migration] = []
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version integer PRIMARY KEY,
                       name text NOT NULL,
                       variant text,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {int(str(r["version"])): r for r in conn.execute("SELECT * FROM schema_migrations")}
            # Once the fixes table exists its mode is fixed; later variants must match it.
            recorded = {str(r["variant"]) for r in done.values() if r["variant"]}
            mode: StorageMode
            if recorded:
                mode = "timescale" if "timescale" in recorded else "native"
                if storage not in ("auto", mode):
                    raise MigrationError(f"SEALWATCH_STORAGE={storage}, but this database was migrated for {mode}")
            else:
                mode, why = choose_mode(timescale_support(conn), storage)
                log.info("storage mode chosen", mode=mode, setting=storage, reason=why)
            for migration in discover(mode):
                previous = done.get(migration.version)
                if previous is not None:
                    if previous["checksum"] != migration.checksum:
                        log.warning(
                            "migration changed after it was applied",
                            version=migration.version,
                            name=migration.name,
                        )
                    continue
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, variant, checksum) VALUES (%s, %s, %s, %s)",
                        (migration.version, migration.name, migration.variant, migration.checksum),
                    )
                log.debug(
                    "migration applied",
                    version=migration.version,
                    name=migration.name,
                    variant=migration.variant,
                )
                applied.append(migration)
        finally:
            # A failure may have closed the connection (a FATAL error): the lock went with the
            # session then, and unlocking would only replace the real error with "connection closed".
            if not conn.closed:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    if applied:
        log.info("migrations applied", count=len(applied), latest=applied[-1].version)
    return applied


def storage_mode(conn: psycopg.Connection[dict[str, object]]) -> StorageMode:
    """The mode the fixes table was created in (raises if the schema is not migrated)."""
    row = conn.execute("SELECT variant FROM schema_migrations WHERE variant IS NOT NULL LIMIT 1").fetchone()
    if row is None:
        raise MigrationError("the database is not migrated: run `sealwatch migrate`")
    return "timescale" if row["variant"] == "timescale" else "native"
