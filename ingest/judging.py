"""From storage to judgment: what ingest hands the engine and the alert rules, exactly once.

A committed batch's newly stored fixes go downstream (geofence, then alerts) as a
:class:`Committed`. Fixes are stored and judged in two transactions, so the write transaction
also records the new fixes in ``ingest_unjudged`` and the judging transaction deletes that record
(:meth:`Committed.mark_judged`). A crash between the two leaves the record behind; whoever owns
the fixes next (the restarted process, or the worker that takes the partition over) rebuilds its
state from storage without them and judges them then (:func:`load_unjudged`). A redelivered
message stores nothing new and is not judged again.

With partitions, the judging transaction is fenced too: it commits only while the partition's
epoch in ``ingest_partitions`` is the one the batch was written under.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import tuple_row

from sealwatch.fixes import FixRecord
from store.fixes import FIX_COLUMNS

Key = tuple[str, int]  # (seal_id, seq)
Owns = Callable[[str], bool]


class PartitionLostError(RuntimeError):
    """Another worker took partitions over: this worker may no longer store or judge their fixes."""

    def __init__(self, lost: set[int]) -> None:
        super().__init__(f"partitions taken over by another worker: {sorted(lost)}")
        self.lost = lost


@dataclass(slots=True)
class Committed:
    """A committed batch on its way to judgment."""

    records: list[FixRecord]  # stored for the first time by this batch (or left unjudged), in arrival order
    unjudged: dict[int, list[int]] = field(default_factory=dict)  # partition → its ingest_unjudged rows
    fence: dict[int, int] = field(default_factory=dict)  # partition → epoch it was written under
    recovering: bool = False  # judged after a crash or a takeover: its observations may be stored already

    async def mark_judged(self, conn: AsyncConnection[Any]) -> None:
        """Inside the judging transaction: check the fence, then drop the unjudged record."""
        if self.fence:
            await check_fence(conn, self.fence)
        ids = [i for rows in self.unjudged.values() for i in rows]
        if ids:
            await conn.execute("DELETE FROM ingest_unjudged WHERE id = ANY(%s)", (ids,))

    def without(self, lost: set[int], partition_of: Callable[[str], int]) -> Committed:
        """The part of this batch in the partitions not lost (for the rest, the new owner judges)."""
        return Committed(
            [r for r in self.records if partition_of(r.seal_id) not in lost],
            {p: ids for p, ids in self.unjudged.items() if p not in lost},
            {p: e for p, e in self.fence.items() if p not in lost},
            self.recovering,
        )


class Downstream(Protocol):
    """What ingest feeds: the engine and the rules, kept by the composition root."""

    async def judge(self, batch: Committed) -> None:
        """Judge the batch; commit its judgment together with ``batch.mark_judged``."""

    async def own(self, owns: Owns | None, rebuild: Owns, exclude: set[Key]) -> None:
        """Judge only seals ``owns`` accepts (None: all); rebuild the state of the seals ``rebuild``
        accepts from storage, leaving out the fixes in ``exclude`` (they are judged next)."""


async def check_fence(conn: AsyncConnection[Any], fence: dict[int, int]) -> None:
    """Raise :class:`PartitionLostError` unless every partition still has the given epoch; the
    share lock holds a takeover back until this transaction ends."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(
            "SELECT partition, epoch FROM ingest_partitions WHERE partition = ANY(%s) FOR SHARE", (list(fence),)
        )
        current: dict[int, int] = dict(await cur.fetchall())
    lost = {p for p, epoch in fence.items() if current.get(p) != epoch}
    if lost:
        raise PartitionLostError(lost)


def record_unjudged(conn: psycopg.Connection[Any], by_partition: dict[int, list[FixRecord]]) -> dict[int, int]:
    """Inside the write transaction: note each partition's new fixes (one statement); returns
    each partition's row id."""
    rows = [
        (p, [r.seal_id for r in rs], [r.t for r in rs], [r.seq for r in rs]) for p, rs in by_partition.items() if rs
    ]
    if not rows:
        return {}
    values = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            f"INSERT INTO ingest_unjudged (partition, seal_ids, ts, seqs) VALUES {values} RETURNING partition, id",
            [v for row in rows for v in row],
        )
        return {int(p): int(i) for p, i in cur.fetchall()}


_COLS = ", ".join(f"f.{c}" for c in FIX_COLUMNS)
_UNJUDGED_FIXES = f"""
SELECT {_COLS} FROM unnest(%s::text[], %s::timestamptz[], %s::int8[]) WITH ORDINALITY AS k(seal_id, t, seq, n)
JOIN fixes f ON f.seal_id = k.seal_id AND f.t = k.t AND f.seq = k.seq ORDER BY k.n
"""


def load_unjudged(conn: psycopg.Connection[Any], partitions: Sequence[int]) -> Committed:
    """What was stored but never judged in these partitions, as a batch to judge (recovering)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            "SELECT id, seal_ids, ts, seqs, partition FROM ingest_unjudged WHERE partition = ANY(%s) ORDER BY id",
            (list(partitions),),
        )
        rows = cur.fetchall()
        keys = [[v for row in rows for v in row[column]] for column in (1, 2, 3)]
        records = [FixRecord(*r) for r in cur.execute(_UNJUDGED_FIXES, keys).fetchall()] if keys[0] else []
    unjudged: dict[int, list[int]] = {}
    for row_id, partition in ((int(r[0]), int(r[4])) for r in rows):
        unjudged.setdefault(partition, []).append(row_id)
    return Committed(records, unjudged, recovering=True)


def keys_of(records: Iterable[FixRecord]) -> set[Key]:
    return {(r.seal_id, r.seq) for r in records}
