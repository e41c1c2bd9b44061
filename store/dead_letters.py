"""Bounds on the dead-letter store, and what they dropped.

Anyone who may publish under ``seals/`` can make dead letters, so the store is bounded three
ways: a payload longer than ``payload_max_bytes`` is kept truncated (with its size and sha256);
each source (``seals/<seal id>``, the topic's first two levels) keeps its newest
``max_per_source`` rows; and all rows together keep at most ``max_bytes`` of payload, and none
older than ``retention_days``. The per-source bound is applied as dead letters are written; age
and total bytes by a writer at most every ``sweep_every_s`` (one writer at a time) and by the
hourly maintenance pass. Every
dropped row is counted in ``dead_letter_drops`` by cause (``/api/dead-letters/dropped``) and in
the ``sealwatch_dead_letters_dropped_total`` metric.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from prometheus_client import Counter
from psycopg.rows import tuple_row

from sealwatch.config import Settings
from sealwatch.logging import get_logger

log = get_logger(__name__)

DROPPED = Counter("sealwatch_dead_letters_dropped_total", "Dead letters dropped by the store's bounds", ["cause"])
DROPPED_BYTES = Counter(
    "sealwatch_dead_letters_dropped_bytes_total", "Stored payload bytes of dropped dead letters", ["cause"]
)
_SWEEP_LOCK = 0x5EA1_DEAD  # one sweeper at a time; the others skip instead of waiting


@dataclass(frozen=True, slots=True)
class DeadLetterLimits:
    retention_days: int = 14
    max_per_source: int = 1000
    max_bytes: int = 256 * 1024 * 1024
    payload_max_bytes: int = 16 * 1024
    # A writer sweeps age and total bytes at most this often (the total is a scan of the table).
    sweep_every_s: float = 10.0

    @classmethod
    def of(cls, settings: Settings) -> DeadLetterLimits:
        return cls(
            retention_days=settings.dead_letter_retention_days,
            max_per_source=settings.dead_letter_max_per_source,
            max_bytes=settings.dead_letter_max_bytes,
            payload_max_bytes=settings.dead_letter_payload_max_bytes,
        )


def source_key(topic: str | None) -> str:
    return "/".join((topic or "").split("/")[:2])


@dataclass(frozen=True, slots=True)
class StoredPayload:
    payload: bytes
    size: int
    sha256: bytes


def stored_payload(payload: bytes, limits: DeadLetterLimits) -> StoredPayload:
    return StoredPayload(payload[: limits.payload_max_bytes], len(payload), hashlib.sha256(payload).digest())


def _count(conn: psycopg.Connection[Any], cause: str, rows: list[Any]) -> None:
    if not rows:
        return
    size = sum(int(r[0]) for r in rows)
    conn.execute(
        """INSERT INTO dead_letter_drops (cause, messages, bytes, last_at) VALUES (%s, %s, %s, now())
           ON CONFLICT (cause) DO UPDATE SET messages = dead_letter_drops.messages + EXCLUDED.messages,
               bytes = dead_letter_drops.bytes + EXCLUDED.bytes, last_at = now()""",
        (cause, len(rows), size),
    )
    DROPPED.labels(cause=cause).inc(len(rows))
    DROPPED_BYTES.labels(cause=cause).inc(size)
    log.info("dead letters dropped", cause=cause, messages=len(rows), bytes=size)


def bound_sources(conn: psycopg.Connection[Any], keys: Iterable[str], limits: DeadLetterLimits) -> None:
    """Keep each source's newest ``max_per_source`` rows (in the writer's transaction)."""
    for key in sorted(set(keys)):
        with conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(
                """DELETE FROM dead_letters WHERE id IN (
                       SELECT id FROM dead_letters WHERE source_key = %s ORDER BY id DESC OFFSET %s)
                   RETURNING octet_length(payload)""",
                (key, limits.max_per_source),
            )
            _count(conn, "per_source", cur.fetchall())


def sweep(conn: psycopg.Connection[Any], limits: DeadLetterLimits) -> bool:
    """Drop rows past the age and total-bytes bounds; False when another sweeper is at it."""
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        cur.execute("SELECT pg_try_advisory_xact_lock(%s)", (_SWEEP_LOCK,))
        row = cur.fetchone()
        if not row or not row[0]:
            return False
        cur.execute(
            "DELETE FROM dead_letters WHERE received_at < now() - make_interval(days => %s)"
            " RETURNING octet_length(payload)",
            (limits.retention_days,),
        )
        _count(conn, "age", cur.fetchall())
        cur.execute(
            """DELETE FROM dead_letters d USING (
                   SELECT id, sum(octet_length(payload)) OVER (ORDER BY id DESC) AS newer_bytes
                   FROM dead_letters) r
               WHERE d.id = r.id AND r.newer_bytes > %s
               RETURNING octet_length(d.payload)""",
            (limits.max_bytes,),
        )
        _count(conn, "total_bytes", cur.fetchall())
    return True


def drops(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``dead_letter_drops`` rows by cause, every cause present."""
    out = {c: {"messages": 0, "bytes": 0, "last_at": None} for c in ("age", "per_source", "total_bytes")}
    for r in rows:
        out[r["cause"]] = {"messages": int(r["messages"]), "bytes": int(r["bytes"]), "last_at": r["last_at"]}
    return out
