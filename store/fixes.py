"""Bulk writes of fixes, latest state and dead letters: one transaction per ingest batch.

Rows go in with binary COPY to a per-connection staging table, then one INSERT ... ON CONFLICT
DO NOTHING into ``fixes`` makes storage idempotent for redelivered messages (COPY alone cannot
skip duplicates). ``seal_latest`` only ever moves forward in (t, seq), so a late fix never
rolls a seal's position back.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Protocol

import psycopg
from psycopg.rows import tuple_row

from sealwatch.fixes import FixRecord
from store import dead_letters as dead_letter_store
from store import partitions
from store.dead_letters import DeadLetterLimits
from store.migrate import StorageMode, storage_mode

FIX_COLUMNS = FixRecord._fields
_COLS = ", ".join(FIX_COLUMNS)
_COPY_TYPES = [
    "text",
    "int8",
    "timestamptz",
    "float8",
    "float8",
    "float4",
    "float4",
    "int2",
    "float4",
    "float4",
    "text",
    "timestamptz",
]

# updated_at is stamped with the clock as this statement runs, the last write before the commit (not
# the transaction's start, now()): the console's feed reads "changed since" from it, and the gap
# between stamp and commit is what its margin (maps.console_units.COMMIT_LAG_S) must cover.
_UPSERT_LATEST = f"""
INSERT INTO seal_latest ({_COLS}, updated_at)
SELECT DISTINCT ON (seal_id) {_COLS}, clock_timestamp() FROM fixes_stage ORDER BY seal_id, t DESC, seq DESC
ON CONFLICT (seal_id) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in FIX_COLUMNS if c != "seal_id")}, updated_at = EXCLUDED.updated_at
WHERE (EXCLUDED.t, EXCLUDED.seq) > (seal_latest.t, seal_latest.seq)
"""


class DeadLetter(Protocol):
    @property
    def reason(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def topic(self) -> str: ...


@dataclass(frozen=True, slots=True)
class WriteResult:
    inserted: int
    duplicates: int
    dead_letters: int
    # (seal_id, seq) of the rows this write inserted: what a redelivery carries again is not in it.
    new_keys: set[tuple[str, int]] = field(default_factory=set)


class FixWriter:
    """Writes batches on one connection it owns; not shared between threads."""

    def __init__(
        self,
        conn: psycopg.Connection[dict[str, object]],
        mode: StorageMode | None = None,
        dead_letter_limits: DeadLetterLimits | None = None,
    ) -> None:
        # The database knows its mode (recorded by the migration); ``mode`` only saves the look-up.
        self.conn = conn
        self.mode = mode or storage_mode(conn)
        self.dead_letter_limits = dead_letter_limits or DeadLetterLimits()
        self._next_sweep = 0.0
        self._known_days: set[date] = set()
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS fixes_stage (LIKE fixes INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        conn.commit()

    def _ensure_days(self, records: Sequence[FixRecord]) -> None:
        if self.mode != "native":
            return
        days = {r.t.astimezone(UTC).date() for r in records} - self._known_days
        if days:
            partitions.ensure_partitions(self.conn, days)
            self._known_days |= days

    def write(
        self, records: Sequence[FixRecord], dead_letters: Sequence[DeadLetter], source: str = "mqtt"
    ) -> WriteResult:
        """Store one batch atomically: all of it or, on error, none of it."""
        self._ensure_days(records)
        new_keys: set[tuple[str, int]] = set()
        with self.conn.transaction():
            if records:
                with self.conn.cursor(row_factory=tuple_row) as cur:
                    with cur.copy(f"COPY fixes_stage ({_COLS}) FROM STDIN (FORMAT BINARY)") as copy:
                        copy.set_types(_COPY_TYPES)
                        for record in records:
                            copy.write_row(record)
                    cur.execute(
                        f"INSERT INTO fixes ({_COLS}) SELECT {_COLS} FROM fixes_stage ON CONFLICT DO NOTHING"
                        " RETURNING seal_id, seq"
                    )
                    new_keys = set(cur.fetchall())
                    cur.execute(_UPSERT_LATEST)
            if dead_letters:
                write_dead_letters(self.conn, dead_letters, source, self.dead_letter_limits)
        if dead_letters and time.monotonic() >= self._next_sweep:
            # In its own (sub)transaction after the write; skipped while another writer sweeps.
            dead_letter_store.sweep(self.conn, self.dead_letter_limits)
            self._next_sweep = time.monotonic() + self.dead_letter_limits.sweep_every_s
        return WriteResult(len(new_keys), len(records) - len(new_keys), len(dead_letters), new_keys)

    def forget_partitions(self) -> None:
        """After retention dropped partitions, re-check before the next write."""
        self._known_days.clear()


def write_dead_letters(
    conn: psycopg.Connection[dict[str, object]],
    dead_letters: Sequence[DeadLetter],
    source: str,
    limits: DeadLetterLimits | None = None,
) -> None:
    """Store rejects (payloads above the cap truncated), then hold their sources to their bound."""
    limits = limits or DeadLetterLimits()
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY dead_letters (received_at, source, topic, payload, reason, detail, source_key, payload_size,"
            " payload_sha256) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["timestamptz", "text", "text", "bytea", "text", "text", "text", "int4", "bytea"])
        now = datetime.now(UTC)
        for d in dead_letters:
            kept = dead_letter_store.stored_payload(d.payload, limits)
            key = dead_letter_store.source_key(d.topic)
            copy.write_row((now, source, d.topic, kept.payload, str(d.reason), d.detail, key, kept.size, kept.sha256))
    dead_letter_store.bound_sources(conn, (dead_letter_store.source_key(d.topic) for d in dead_letters), limits)
