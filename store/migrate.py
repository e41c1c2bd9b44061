"""Ordered, recorded, idempotent schema migrations.

A migration is ``migrations/NNNN_name.sql``, or a pair ``NNNN_name.timescale.sql`` /
``NNNN_name.native.sql`` of which the runner applies the first when the ``timescaledb``
extension is available (and allowed by ``SEALWATCH_TIMESCALE``), the second otherwise.
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


def timescale_available(conn: psycopg.Connection[dict[str, object]]) -> bool:
    row = conn.execute("SELECT 1 AS ok FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    return row is not None


def choose_mode(conn: psycopg.Connection[dict[str, object]], setting: str) -> StorageMode:
    available = timescale_available(conn)
    if setting == "on" and not available:
        raise MigrationError("SEALWATCH_TIMESCALE=on but the timescaledb extension is not available")
    return "timescale" if available and setting != "off" else "native"


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


def migrate(url: str, timescale_setting: str = "auto") -> list[Migration]:
    """Apply every pending migration; returns the ones applied (none on a second run)."""
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
            mode: StorageMode = (
                "timescale"
                if "timescale" in recorded
                else "native"
                if "native" in recorded
                else choose_mode(conn, timescale_setting)
            )
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
                log.info(
                    "migration applied",
                    version=migration.version,
                    name=migration.name,
                    variant=migration.variant,
                )
                applied.append(migration)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied


def storage_mode(conn: psycopg.Connection[dict[str, object]]) -> StorageMode:
    """The mode the fixes table was created in (raises if the schema is not migrated)."""
    row = conn.execute("SELECT variant FROM schema_migrations WHERE variant IS NOT NULL LIMIT 1").fetchone()
    if row is None:
        raise MigrationError("the database is not migrated: run `sealwatch migrate`")
    return "timescale" if row["variant"] == "timescale" else "native"
