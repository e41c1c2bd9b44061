"""Decode and validate one MQTT payload into fix records, or reasons to reject.

Nothing is thrown away: every rejected message (or rejected fix of a batch) comes back as a
``Reject`` carrying the raw bytes and a stable reason code, for the dead-letter store. A batch
with some bad fixes keeps its good ones: a seal flushing hours of buffer should not lose them
to one bad GPS reading.

With a ``SignatureCheck`` (ingest/auth.py) every message is authenticated before its fixes are
accepted: the signature covers the whole message, so a batch with a bad signature is rejected
whole, before any of its fixes is salvaged. Replays are screened later, against storage
(``ingest.auth.ReplayGuard``), because only the database knows what is already stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import orjson
from pydantic import ValidationError

from sealwatch.fixes import FixRecord
from sealwatch.wire import MAX_MESSAGE_BYTES, Envelope, Fix, fixes_of, seal_id_from_topic, telemetry_adapter


class Reason(StrEnum):
    """Stable reason codes stored with every dead letter."""

    TOO_LARGE = "too_large"
    BAD_TOPIC = "bad_topic"
    MALFORMED_JSON = "malformed_json"
    UNSUPPORTED_VERSION = "unsupported_version"
    INVALID_PAYLOAD = "invalid_payload"
    TOPIC_MISMATCH = "topic_mismatch"
    FUTURE_TIMESTAMP = "future_timestamp"
    TOO_OLD = "too_old"
    UNKNOWN_SEAL = "unknown_seal"
    UNSIGNED = "unsigned"
    BAD_SIGNATURE = "bad_signature"
    REPLAY = "replay"
    INTERNAL_ERROR = "internal_error"  # decoding itself failed: a bug, the message is kept for replay


class SignatureCheck(Protocol):
    """Authenticates a parsed message; returns why it is rejected, or None when it is accepted."""

    def check(self, seal_id: str, body: Mapping[str, Any], received_at: datetime) -> tuple[Reason, str] | None: ...


@dataclass(frozen=True, slots=True)
class Reject:
    reason: Reason
    detail: str
    payload: bytes
    topic: str


@dataclass(slots=True)
class Decoded:
    records: list[FixRecord] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    max_clock_skew: timedelta
    max_age: timedelta


def decode(
    topic: str, payload: bytes, received_at: datetime, limits: DecodeLimits, auth: SignatureCheck | None = None
) -> Decoded:
    """Turn one message into accepted fix records and rejects; never raises on bad input.

    Without ``auth`` signatures are not checked (``sig`` and ``kid`` are ignored).
    """
    if len(payload) > MAX_MESSAGE_BYTES:
        detail = f"{len(payload)} bytes, above the limit of {MAX_MESSAGE_BYTES}"
        return Decoded(rejects=[Reject(Reason.TOO_LARGE, detail, payload, topic)])
    topic_seal = seal_id_from_topic(topic)
    if topic_seal is None:
        detail = f"topic {topic!r} is not seals/{{seal_id}}/telemetry"
        return Decoded(rejects=[Reject(Reason.BAD_TOPIC, detail, payload, topic)])
    try:
        message = telemetry_adapter.validate_json(payload)
    except ValidationError as exc:
        reason = _reason(exc)
        if reason is Reason.INVALID_PAYLOAD and _only_fix_errors(exc):
            salvaged = _salvage_batch(topic, topic_seal, payload, received_at, limits, auth)
            if salvaged is not None:
                return salvaged
        return Decoded(rejects=[Reject(reason, _describe(exc), payload, topic)])
    if message.seal_id != topic_seal:
        return Decoded(rejects=[_mismatch(message.seal_id, topic_seal, payload, topic)])
    if auth is not None:
        refused = _authenticate(auth, message.seal_id, payload, None, received_at, topic)
        if refused is not None:
            return Decoded(rejects=[refused])
    out = Decoded()
    fixes = fixes_of(message)
    _accept(message.seal_id, fixes, payload if len(fixes) == 1 else None, topic, received_at, limits, out)
    return out


def _authenticate(
    auth: SignatureCheck,
    seal_id: str,
    payload: bytes,
    body: dict[str, Any] | None,
    received_at: datetime,
    topic: str,
) -> Reject | None:
    """The signature verdict on the whole message (``body``: the payload already parsed, if it was)."""
    if body is None:
        try:
            # The signature covers the parsed JSON, re-serialised canonically (sealwatch.wire).
            parsed = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            return Reject(Reason.MALFORMED_JSON, f"not strict JSON, cannot be canonicalised: {exc}", payload, topic)
        if not isinstance(parsed, dict):
            return Reject(Reason.INVALID_PAYLOAD, "the message is not a JSON object", payload, topic)
        body = parsed
    try:
        verdict = auth.check(seal_id, body, received_at)
    except (TypeError, ValueError) as exc:
        # e.g. a number orjson cannot re-serialise: not something the seal could have signed.
        return Reject(Reason.BAD_SIGNATURE, f"cannot compute the canonical payload: {exc}", payload, topic)
    if verdict is None:
        return None
    reason, detail = verdict
    return Reject(reason, detail, payload, topic)


def _reason(exc: ValidationError) -> Reason:
    errors = exc.errors()
    if any(e["type"] == "json_invalid" for e in errors):
        return Reason.MALFORMED_JSON
    if any(e["type"] == "literal_error" and e["loc"][1:] == ("v",) for e in errors):
        return Reason.UNSUPPORTED_VERSION
    return Reason.INVALID_PAYLOAD


def _describe(error: ValidationError, limit: int = 10) -> str:
    parts = []
    for e in error.errors(include_url=False)[:limit]:
        # The first location element is the union tag (single / batch): noise for a reader.
        loc = ".".join(str(p) for p in e["loc"][1:]) or "(message)"
        parts.append(f"{loc}: {e['msg']}")
    more = error.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _mismatch(payload_seal: str, topic_seal: str, payload: bytes, topic: str) -> Reject:
    detail = f"payload seal_id {payload_seal!r} does not match topic seal {topic_seal!r}"
    return Reject(Reason.TOPIC_MISMATCH, detail, payload, topic)


def _only_fix_errors(exc: ValidationError) -> bool:
    return all(
        len(e["loc"]) >= 3 and e["loc"][:2] == ("batch", "fixes") and isinstance(e["loc"][2], int) for e in exc.errors()
    )


def _salvage_batch(
    topic: str,
    topic_seal: str,
    payload: bytes,
    received_at: datetime,
    limits: DecodeLimits,
    auth: SignatureCheck | None,
) -> Decoded | None:
    """Keep the good fixes of a batch whose envelope is valid; None if the envelope is not."""
    try:
        body = orjson.loads(payload)
        header = {k: v for k, v in body.items() if k != "fixes"}
        envelope = Envelope.model_validate(header)
        raw_fixes = list(body["fixes"])
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValidationError):
        return None
    if envelope.seal_id != topic_seal:
        return Decoded(rejects=[_mismatch(envelope.seal_id, topic_seal, payload, topic)])
    if auth is not None:
        # Authenticate the whole message before keeping any of it: a forged batch salvages nothing.
        refused = _authenticate(auth, envelope.seal_id, payload, body, received_at, topic)
        if refused is not None:
            return Decoded(rejects=[refused])
    out = Decoded()
    good: list[Fix] = []
    for index, raw in enumerate(raw_fixes):
        try:
            good.append(Fix.model_validate(raw))
        except ValidationError as exc:
            detail = "; ".join(
                f"fixes.{index}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
            )
            out.rejects.append(Reject(Reason.INVALID_PAYLOAD, detail, orjson.dumps({**header, "fixes": [raw]}), topic))
    _accept(envelope.seal_id, good, None, topic, received_at, limits, out)
    return out


def _accept(
    seal_id: str,
    fixes: list[Fix],
    single_payload: bytes | None,
    topic: str,
    received_at: datetime,
    limits: DecodeLimits,
    out: Decoded,
) -> None:
    """Time checks, then records; a rejected fix of a batch is dead-lettered as a batch of one."""
    for fix in fixes:
        if fix.t > received_at + limits.max_clock_skew:
            reason, why = Reason.FUTURE_TIMESTAMP, f"is after receipt {received_at.isoformat()}"
        elif fix.t < received_at - limits.max_age:
            reason, why = Reason.TOO_OLD, "is older than the retention period"
        else:
            out.records.append(FixRecord.of(seal_id, fix, received_at))
            continue
        raw = single_payload
        if raw is None:
            body: dict[str, Any] = {"v": 1, "seal_id": seal_id, "fixes": [fix.model_dump(mode="json")]}
            raw = orjson.dumps(body)
        out.rejects.append(Reject(reason, f"seq {fix.seq}: t {fix.t.isoformat()} {why}", raw, topic))
