"""Device authentication in ingest: the seal key cache, signature checks and replay screening.

``KeyCache`` holds every seal's currently valid keys in memory (decoding runs on the event
loop and must not wait for the database). It loads all keys at start, reloads a seal on
``NOTIFY sealwatch_keys`` (sent by a trigger on ``seal_keys``), reloads everything every
``SEALWATCH_KEY_CACHE_TTL_S`` as a safety net, and at commit time looks up the seals of
messages it refused as unknown or badly signed, in case their key was created a moment ago.

``ReplayGuard`` runs inside the batch's write transaction. A (seal, seq) already stored with the
same content is a redelivery: it passes and storage skips it. It is a replay when the (seal, seq)
is stored with different content (a reused seq), or when the seq is ``SEALWATCH_REPLAY_WINDOW_SEQ``
or more below the highest seq stored for the seal. See docs/wire-format.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg

from ingest.decode import DecodeLimits, Reason, Reject, decode
from sealwatch.config import Settings
from sealwatch.fixes import FixRecord
from sealwatch.logging import get_logger
from sealwatch.wire import seal_id_from_topic, signature_valid
from store.seal_keys import (
    NOTIFY_CHANNEL,
    SecretBox,
    VerificationKey,
    aload_verification_keys,
    load_verification_keys,
)

log = get_logger(__name__)

Origin = tuple[str, bytes]  # (topic, raw payload) of the message a record came from
_RECHECK = frozenset({Reason.UNKNOWN_SEAL, Reason.BAD_SIGNATURE})


class KeyRing:
    """Valid keys by seal, and the signature verdict on a message (``ingest.decode.SignatureCheck``)."""

    def __init__(self, require_signatures: bool = True) -> None:
        self.require_signatures = require_signatures
        self._keys: dict[str, tuple[VerificationKey, ...]] = {}

    def replace_all(self, keys: Mapping[str, Sequence[VerificationKey]]) -> None:
        self._keys = {seal: tuple(k) for seal, k in keys.items()}

    def update(self, seal_ids: Sequence[str], keys: Mapping[str, Sequence[VerificationKey]]) -> set[str]:
        """Set the keys of ``seal_ids`` (none found: the seal has none); returns the seals whose kids changed."""
        changed: set[str] = set()
        new = dict(self._keys)
        for seal in seal_ids:
            found = tuple(keys.get(seal, ()))
            if {k.kid for k in found} != {k.kid for k in new.get(seal, ())}:
                changed.add(seal)
            if found:
                new[seal] = found
            else:
                new.pop(seal, None)
        self._keys = new  # one assignment: readers on the event loop see the old or the new map
        return changed

    def keys_for(self, seal_id: str) -> tuple[VerificationKey, ...]:
        return self._keys.get(seal_id, ())

    def __len__(self) -> int:
        return len(self._keys)

    def check(self, seal_id: str, body: Mapping[str, Any], received_at: datetime) -> tuple[Reason, str] | None:
        valid = [k for k in self.keys_for(seal_id) if k.valid_until is None or k.valid_until > received_at]
        sig, kid = body.get("sig"), body.get("kid")
        if not valid:
            if sig is None and not self.require_signatures:
                return None  # migration mode: a seal never given a key may still send unsigned
            return Reason.UNKNOWN_SEAL, f"seal {seal_id!r} has no valid key"
        if sig is None:
            return Reason.UNSIGNED, "the message has no sig and the seal has a key"
        if not isinstance(sig, str):
            return Reason.BAD_SIGNATURE, "sig is not a string"
        candidates = [k for k in valid if kid is None or k.kid == kid]
        if not candidates:
            return Reason.BAD_SIGNATURE, f"kid {kid!r} is not a valid key of seal {seal_id!r}"
        if any(signature_valid(k.secret, body, sig) for k in candidates):
            return None
        return Reason.BAD_SIGNATURE, "signature does not match the canonical payload"


@dataclass(slots=True)
class Rechecked:
    records: list[FixRecord] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


class KeyCache:
    """Keeps a ``KeyRing`` current from the database (see the module docstring)."""

    def __init__(self, settings: Settings, database_url: str) -> None:
        self.ring = KeyRing(settings.require_signatures)
        self.box = SecretBox.from_settings(settings)
        self.database_url = database_url
        self.ttl_s = settings.key_cache_ttl_s
        self.ready = asyncio.Event()

    async def maintain(self, stop: asyncio.Event) -> None:
        """LISTEN for key changes and reload until ``stop``; rides out database outages."""
        backoff = 0.5
        while not stop.is_set():
            try:
                conn = await psycopg.AsyncConnection.connect(self.database_url, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    # LISTEN first, then load: a change made in between is not missed.
                    self.ring.replace_all(await aload_verification_keys(conn, self.box))
                    self.ready.set()
                    log.info("seal keys loaded", seals=len(self.ring))
                    backoff = 0.5
                    await self._follow(conn, stop)
            except psycopg.Error as exc:
                log.warning("seal key listener lost the database; retrying", error=str(exc).strip(), retry_in_s=backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, 30.0)

    async def _follow(self, conn: psycopg.AsyncConnection[Any], stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_full = loop.time() + self.ttl_s
        while not stop.is_set():
            seals: set[str] = set()
            # Wake on the first notification (short waits so ``stop`` is noticed), then gather
            # what follows within 50 ms: a burst of key changes becomes one reload.
            async for note in conn.notifies(timeout=min(1.0, self.ttl_s), stop_after=1):
                seals.add(note.payload)
            if seals:
                async for note in conn.notifies(timeout=0.05):
                    seals.add(note.payload)
            if seals:
                found = await aload_verification_keys(conn, self.box, sorted(seals))
                changed = self.ring.update(sorted(seals), found)
                log.info("seal keys reloaded", seals=len(seals), changed=len(changed))
            if loop.time() >= next_full:
                self.ring.replace_all(await aload_verification_keys(conn, self.box))
                next_full = loop.time() + self.ttl_s

    def recheck(
        self,
        conn: psycopg.Connection[dict[str, Any]],
        rejects: Sequence[Reject],
        received_at: datetime,
        limits: DecodeLimits,
    ) -> Rechecked:
        """Decode again the messages refused for want of a key whose seal has new keys in the database."""
        out = Rechecked()
        suspects = sorted({s for r in rejects if r.reason in _RECHECK and (s := seal_id_from_topic(r.topic))})
        if not suspects:
            out.rejects = list(rejects)
            return out
        changed = self.ring.update(suspects, load_verification_keys(conn, self.box, suspects))
        # Decode again whenever the seal has keys now: the NOTIFY listener may have updated the
        # ring between decode and commit, so "changed just now" would miss those messages.
        keyed = {s for s in suspects if self.ring.keys_for(s)}
        for reject in rejects:
            if reject.reason not in _RECHECK or seal_id_from_topic(reject.topic) not in keyed:
                out.rejects.append(reject)
                continue
            again = decode(reject.topic, reject.payload, received_at, limits, self.ring)
            out.records.extend(again.records)
            out.origins.extend((reject.topic, reject.payload) for _ in again.records)
            out.rejects.extend(again.rejects)
        if changed:
            log.info("seal keys found at commit time", seals=len(changed))
            log.debug("seal keys found at commit time", seal_ids=sorted(changed))
        return out


# -- replay screening ------------------------------------------------------------------------

# Joined from unnest rather than ``seal_id = ANY(%s)``: a prepared statement's generic plan may
# filter every watermark against the whole array (tests/ingest/test_batch_plans.py).
_WATERMARKS = (
    "SELECT w.seal_id, w.max_seq FROM unnest(%s::text[]) AS k(seal_id) JOIN seal_seq_watermark w USING (seal_id)"
)
# A stored fix with a batch's (seal, seq) is looked for within this span of the batch's fix times:
# fixes is partitioned by time and keyed (seal_id, t, seq), so without a time bound the look-up
# probes every partition or chunk under retention (90 by default, compressed ones included).
# A week covers store-and-forward delivery; a seq reused further apart in time is stored as a
# fix of its own (its own time) instead of being dead-lettered.
REPLAY_LOOKUP_SPAN = timedelta(days=7)
_STORED = """SELECT f.seal_id, f.seq, f.t, f.lat, f.lon, f.speed_kmh, f.heading_deg, f.sats, f.hdop,
                    f.battery_pct, f.seal_state
             FROM unnest(%s::text[], %s::int8[]) AS q(seal_id, seq)
             JOIN fixes f ON f.seal_id = q.seal_id AND f.seq = q.seq
             WHERE f.t >= %s AND f.t <= %s"""
_ADVANCE = """INSERT INTO seal_seq_watermark (seal_id, max_seq)
              SELECT * FROM unnest(%s::text[], %s::int8[])
              ON CONFLICT (seal_id) DO UPDATE SET max_seq = EXCLUDED.max_seq, updated_at = now()
              WHERE EXCLUDED.max_seq > seal_seq_watermark.max_seq"""


def _f32(value: object) -> float | None:
    # real columns store float4: compare what the database could have stored.
    return None if value is None else struct.unpack("f", struct.pack("f", float(value)))[0]  # type: ignore[arg-type]


def _content(t: object, lat: object, lon: object, speed: object, heading: object, sats: object, hdop: object,
             battery: object, state: object) -> tuple[object, ...]:  # fmt: skip
    return (t, lat, lon, _f32(speed), _f32(heading), sats, _f32(hdop), _f32(battery), state)


def _record_content(r: FixRecord) -> tuple[object, ...]:
    return _content(r.t, r.lat, r.lon, r.speed_kmh, r.heading_deg, r.sats, r.hdop, r.battery_pct, r.seal_state)


def _row_content(r: Mapping[str, Any]) -> tuple[object, ...]:
    return _content(
        r["t"],
        r["lat"],
        r["lon"],
        r["speed_kmh"],
        r["heading_deg"],
        r["sats"],
        r["hdop"],
        r["battery_pct"],
        r["seal_state"],
    )


@dataclass(slots=True)
class Screened:
    records: list[FixRecord]
    rejects: list[Reject]


class ReplayGuard:
    def __init__(self, window_seq: int) -> None:
        self.window = window_seq

    def screen(
        self, conn: psycopg.Connection[dict[str, Any]], records: Sequence[FixRecord], origins: Sequence[Origin]
    ) -> Screened:
        """Split a batch into fixes to store (new or redelivered) and replays, one dead letter per message."""
        if not records:
            return Screened([], [])
        seals = sorted({r.seal_id for r in records})
        marks = {str(r["seal_id"]): int(str(r["max_seq"])) for r in conn.execute(_WATERMARKS, (seals,)).fetchall()}
        why: dict[int, str] = {}
        below: list[int] = []
        for i, r in enumerate(records):
            mark = marks.get(r.seal_id)
            if mark is None or r.seq > mark:
                continue  # never stored: nothing to compare with
            if r.seq <= mark - self.window:
                why[i] = (
                    f"seq {r.seq} is {mark - r.seq} below the seal's highest stored seq {mark} (window {self.window})"
                )
            else:
                below.append(i)
        if below:
            stored: dict[tuple[str, int], list[tuple[object, ...]]] = {}
            times = [records[i].t for i in below]
            keys = (
                [records[i].seal_id for i in below],
                [records[i].seq for i in below],
                min(times) - REPLAY_LOOKUP_SPAN,
                max(times) + REPLAY_LOOKUP_SPAN,
            )
            for row in conn.execute(_STORED, keys).fetchall():
                stored.setdefault((str(row["seal_id"]), int(str(row["seq"]))), []).append(_row_content(row))
            for i in below:
                r = records[i]
                if any(c != _record_content(r) for c in stored.get((r.seal_id, r.seq), ())):
                    why[i] = f"seq {r.seq} is already stored with different content"
        # Within the batch the first occurrence of a (seal, seq) wins; an identical repeat is a redelivery.
        first: dict[tuple[str, int], int] = {}
        for i, r in enumerate(records):
            if i in why:
                continue
            j = first.setdefault((r.seal_id, r.seq), i)
            if j != i and _record_content(records[j]) != _record_content(r):
                why[i] = f"seq {r.seq} is repeated in the batch with different content"
        if not why:
            return Screened(list(records), [])
        return Screened([r for i, r in enumerate(records) if i not in why], _replay_rejects(why, origins))

    def advance(self, conn: psycopg.Connection[dict[str, Any]], stored: Sequence[FixRecord]) -> None:
        """Move each seal's watermark up to the highest seq of ``stored`` (same transaction as the write)."""
        top: dict[str, int] = {}
        for r in stored:
            top[r.seal_id] = max(r.seq, top.get(r.seal_id, r.seq))
        if top:
            seals = sorted(top)  # a fixed lock order: concurrent workers cannot deadlock on it
            conn.execute(_ADVANCE, (seals, [top[s] for s in seals]))


def _replay_rejects(why: Mapping[int, str], origins: Sequence[Origin]) -> list[Reject]:
    # One dead letter per message, keeping its raw (signed, so verifiable) bytes.
    grouped: dict[int, tuple[Origin, list[str]]] = {}
    for i in sorted(why):
        origin = origins[i]
        grouped.setdefault(id(origin[1]), (origin, []))[1].append(why[i])
    return [Reject(Reason.REPLAY, "; ".join(details), payload, topic) for (topic, payload), details in grouped.values()]
