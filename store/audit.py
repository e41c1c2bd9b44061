"""The audit log (migration 0300): who changed what and when, and verification of its hash chain.

Triggers write every INSERT/UPDATE/DELETE of the audited tables to ``audit_log``, each entry
chained to the previous one by ``hash = sha256(prev_hash || canonical(entry))``. Updates and
deletes on the log are refused by a trigger, but a superuser can disable triggers; :func:`verify`
recomputes the whole chain here, in Python, independently of the database's functions, and
reports the first entry that does not hold:

* ``edited`` — the entry's content (or its hash) is not what was hashed when it was written;
* ``deleted`` — an id is missing (ids are gapless), or entries after the last one are gone
  (the chain head says more were written);
* ``reordered`` — the entry links to an earlier entry's hash than the one before it, or ids
  repeat or go backwards;
* ``broken link`` — the entry links to a hash that is in no earlier entry.

Writers name themselves with :func:`set_actor` (``SET LOCAL sealwatch.actor``); otherwise the
database session user is recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from sealwatch.logging import get_logger

log = get_logger(__name__)

GENESIS = "0" * 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FETCH = 10_000


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    checked: int
    last_id: int
    bad_id: int | None = None
    reason: str | None = None  # edited | deleted | reordered | broken link
    detail: str = ""

    def describe(self) -> str:
        if self.ok:
            return f"audit log OK: {self.checked} entries, chain intact up to id {self.last_id}"
        return f"audit log BROKEN at id {self.bad_id}: {self.reason} — {self.detail} ({self.checked} entries checked)"


def _field(value: str | None) -> str:
    return "N;" if value is None else f"{len(value)}:{value};"


def canonical(
    entry_id: int,
    at: datetime,
    actor: str,
    table_name: str,
    op: str,
    row_key: str,
    old: str | None,
    new: str | None,
) -> str:
    """The text hashed for one entry (SQL: ``audit_canonical``); jsonb values as PostgreSQL prints them."""
    micros = (at - _EPOCH) // timedelta(microseconds=1)
    return "".join(_field(v) for v in (str(entry_id), str(micros), actor, table_name, op, row_key, old, new))


def entry_hash(prev_hash: str, text: str) -> str:
    return hashlib.sha256((prev_hash + text).encode("utf-8")).hexdigest()


def set_actor(conn: psycopg.Connection[Any], actor: str) -> None:
    """Name who makes the changes of the current transaction (recorded at commit)."""
    conn.execute("SELECT set_config('sealwatch.actor', %s, true)", (actor,))


async def set_actor_async(conn: psycopg.AsyncConnection[Any], actor: str) -> None:
    await conn.execute("SELECT set_config('sealwatch.actor', %s, true)", (actor,))


def attach_known(conn: psycopg.Connection[Any]) -> list[str]:
    """(Re)attach the audit trigger to every audited table that exists, e.g. after a later migration
    created ``users``; returns the tables audited."""
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        cur.execute("SELECT audit_attach_known()")
        row = cur.fetchone()
    tables = [str(t) for t in row[0]] if row else []
    log.info("audit triggers attached", tables=tables)
    return tables


_ROWS = """SELECT id, at, actor, table_name, op, row_key::text, old::text, new::text, prev_hash, hash
           FROM audit_log ORDER BY id"""


def check_chain(rows: Iterable[tuple[Any, ...]], head_id: int | None = None) -> VerifyResult:
    """Verify a stream of audit rows in id order (the columns of ``_ROWS``)."""
    expected_id = 1
    prev_hash = GENESIS
    seen: set[str] = {GENESIS}  # hashes of earlier entries, to tell a reordering from a forgery
    checked = 0
    last_id = 0
    for entry_id, at, actor, table_name, op, row_key, old, new, stored_prev, stored_hash in rows:
        checked += 1
        recomputed = entry_hash(stored_prev, canonical(entry_id, at, actor, table_name, op, row_key, old, new))
        if recomputed != stored_hash:
            return VerifyResult(
                False, checked, last_id, entry_id, "edited",
                "content does not match its hash (a field, the hash or the link was changed)",
            )  # fmt: skip
        if entry_id != expected_id:
            if entry_id > expected_id:
                missing = f"{expected_id}" if entry_id == expected_id + 1 else f"{expected_id}..{entry_id - 1}"
                return VerifyResult(False, checked, last_id, entry_id, "deleted", f"entries {missing} are missing")
            return VerifyResult(
                False, checked, last_id, entry_id, "reordered", f"id {entry_id} follows id {expected_id - 1}"
            )
        if stored_prev != prev_hash:
            if stored_prev in seen:
                return VerifyResult(
                    False, checked, last_id, entry_id, "reordered", "links to an earlier entry than the one before it"
                )
            return VerifyResult(
                False, checked, last_id, entry_id, "broken link",
                "links to a hash of no earlier entry (entries before it were deleted or replaced)",
            )  # fmt: skip
        seen.add(stored_hash)
        prev_hash = stored_hash
        last_id = entry_id
        expected_id += 1
    if head_id is not None and head_id > last_id:
        return VerifyResult(
            False, checked, last_id, last_id + 1, "deleted",
            f"the chain head says {head_id} entries were written; entries after {last_id} are missing",
        )  # fmt: skip
    return VerifyResult(True, checked, last_id)


def verify(conn: psycopg.Connection[Any]) -> VerifyResult:
    """Recompute the whole chain, streaming it through a server-side cursor (memory stays flat)."""
    with conn.transaction():
        # The head is read before the rows: entries committed in between only make the rows longer
        # than the head, so concurrent writers can never look like a deleted tail.
        with conn.cursor(row_factory=tuple_row) as cur:
            cur.execute("SELECT last_id FROM audit_chain")
            head = cur.fetchone()
        with conn.cursor(name="audit_verify", row_factory=tuple_row) as cur:
            cur.itersize = _FETCH
            cur.execute(_ROWS)
            result = check_chain(cur, head_id=int(head[0]) if head else None)
    if result.ok:
        log.info("audit chain verified", entries=result.checked, last_id=result.last_id)
    else:
        log.error("audit chain broken", bad_id=result.bad_id, reason=result.reason, detail=result.detail)
    return result
