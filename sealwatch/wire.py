"""Wire format v1: the JSON payload a seal publishes on ``seals/{seal_id}/telemetry``.

One message carries either one fix (fields inline) or a batch (``fixes``: a seal that was
out of coverage flushes its buffer). ``schemas/telemetry-v1.schema.json`` is generated from
these models (``sealwatch schema``) and a test keeps the two in step.

Messages are signed (HMAC-SHA256 with the seal's own secret, see ``docs/wire-format.md``):
the signature covers the canonical payload, i.e. the message's JSON without ``sig``, keys
sorted at every level, no whitespace (orjson ``OPT_SORT_KEYS``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    field_validator,
)

WIRE_VERSION = 1
TOPIC_PREFIX = "seals"
SEAL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$"
MAX_BATCH_FIXES = 1000
# The largest message the receiver accepts, in bytes. The largest valid batch (1000 fixes with
# 17-digit floats, offset timestamps with nanoseconds, the longest seal id and kid) is about
# 275 KB compact and 365 KB indented; the broker's own limit (config/mosquitto*.conf,
# message_size_limit 1 MiB) sits above this one, so an oversized message is dead-lettered
# (too_large) instead of being dropped silently by the broker.
MAX_MESSAGE_BYTES = 512 * 1024
KID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
SIG_BYTES = 32  # HMAC-SHA256
SECRET_BYTES = 32
_SEAL_ID_RE = re.compile(SEAL_ID_PATTERN)


class SealState(StrEnum):
    CLOSED = "closed"
    OPENED = "opened"
    TAMPERED = "tampered"


class Fix(BaseModel):
    """One GPS fix with the seal's status at that instant."""

    # v1 is strict: a string, a boolean or a float where an integer belongs is a wrong type
    # ("lat": "40.5", "seq": 7.0, "sats": true), never coerced.
    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(strict=True, ge=0, lt=2**63, description="Per-seal sequence number, increasing by one per fix.")
    t: AwareDatetime = Field(description="GPS time of the fix, RFC 3339 with a UTC offset.")
    lat: float = Field(strict=True, ge=-90, le=90, description="WGS 84 latitude, degrees.")
    lon: float = Field(strict=True, ge=-180, le=180, description="WGS 84 longitude, degrees.")
    speed_kmh: float | None = Field(default=None, strict=True, ge=0, le=400, description="Ground speed, km/h.")
    heading_deg: float | None = Field(
        default=None, strict=True, ge=0, lt=360, description="Course over ground, degrees."
    )
    sats: int | None = Field(default=None, strict=True, ge=0, le=64, description="Satellites used in the fix.")
    hdop: float | None = Field(
        default=None, strict=True, ge=0, le=99.9, description="Horizontal dilution of precision."
    )
    battery_pct: float = Field(strict=True, ge=0, le=100, description="Battery charge, percent.")
    seal_state: SealState = Field(description="closed, opened or tampered (tamper stays until re-armed).")

    @field_validator("t", mode="before")
    @classmethod
    def _rfc3339_only(cls, value: object) -> object:
        # Lax datetimes take numbers as Unix time; the format says RFC 3339 text.
        if not isinstance(value, str | datetime):
            raise ValueError("t must be an RFC 3339 date-time string")
        return value

    @field_validator("seal_state", mode="before")
    @classmethod
    def _state_text(cls, value: object) -> object:
        if not isinstance(value, str):
            raise ValueError("seal_state must be a string")
        return value

    @field_validator("t")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        try:
            return value.astimezone(UTC)
        except OverflowError:
            # e.g. 0001-01-01T00:00:00+23:59: a valid date whose UTC instant is before year 1.
            raise ValueError("t is outside the range of dates in UTC (years 1 to 9999)") from None


class Envelope(BaseModel):
    """The fields every message carries besides its fix or fixes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = Field(description="Wire format version.")
    seal_id: str = Field(pattern=SEAL_ID_PATTERN, description="The seal's unique ID (ISO 18185 style).")
    kid: str | None = Field(
        default=None,
        pattern=KID_PATTERN,
        description="Id of the seal key that made `sig`; optional, lets the receiver pick the key during a rotation.",
    )
    sig: str | None = Field(
        default=None,
        max_length=256,
        description="base64url (no padding) HMAC-SHA256 of the canonical payload with the seal's secret.",
    )

    @field_validator("v", mode="before")
    @classmethod
    def _integer_version(cls, value: object) -> object:
        # Literal[1] would take true and 1.0 as 1: a wrong type, not another version.
        if isinstance(value, bool | float):
            raise ValueError("v must be the integer 1")
        return value


class SingleFixMessage(Envelope, Fix):
    """A message that carries one fix inline."""


class BatchMessage(Envelope):
    """A message that carries buffered fixes, oldest first."""

    fixes: list[Fix] = Field(min_length=1, max_length=MAX_BATCH_FIXES)


def _message_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "batch" if "fixes" in value else "single"
    return "batch" if hasattr(value, "fixes") else "single"


TelemetryMessage = Annotated[
    Annotated[SingleFixMessage, Tag("single")] | Annotated[BatchMessage, Tag("batch")],
    Discriminator(_message_kind),
]
telemetry_adapter: TypeAdapter[SingleFixMessage | BatchMessage] = TypeAdapter(TelemetryMessage)


def fixes_of(message: SingleFixMessage | BatchMessage) -> list[Fix]:
    if isinstance(message, BatchMessage):
        return list(message.fixes)
    return [Fix.model_validate(message.model_dump(exclude={"v", "seal_id", "kid", "sig"}))]


def telemetry_topic(seal_id: str) -> str:
    return f"{TOPIC_PREFIX}/{seal_id}/telemetry"


def seal_id_from_topic(topic: str) -> str | None:
    parts = topic.split("/")
    if len(parts) == 3 and parts[0] == TOPIC_PREFIX and parts[2] == "telemetry" and _SEAL_ID_RE.match(parts[1]):
        return parts[1]
    return None


def _fix_json(fix: Fix) -> dict[str, Any]:
    body = fix.model_dump(mode="json", exclude_none=True)
    body["t"] = fix.t.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return body


def encode_single(seal_id: str, fix: Fix) -> dict[str, Any]:
    return {"v": WIRE_VERSION, "seal_id": seal_id, **_fix_json(fix)}


def encode_batch(seal_id: str, fixes: list[Fix]) -> dict[str, Any]:
    return {"v": WIRE_VERSION, "seal_id": seal_id, "fixes": [_fix_json(f) for f in fixes]}


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A seal's secret and its key id, as the seal holds them."""

    kid: str
    secret: bytes

    def __repr__(self) -> str:
        # Never let a secret reach a log line or a test failure message.
        return f"SigningKey(kid={self.kid!r}, secret=<{len(self.secret)} bytes>)"


def canonical_payload(body: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: the message without ``sig``, keys sorted, no whitespace."""
    return orjson.dumps({k: v for k, v in body.items() if k != "sig"}, option=orjson.OPT_SORT_KEYS)


def signature(secret: bytes, body: Mapping[str, Any]) -> str:
    digest = hmac.new(secret, canonical_payload(body), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign(body: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    """``body`` with ``kid`` set and ``sig`` over everything else (``kid`` included)."""
    signed = {k: v for k, v in body.items() if k != "sig"}
    signed["kid"] = key.kid
    signed["sig"] = signature(key.secret, signed)
    return signed


def signature_valid(secret: bytes, body: Mapping[str, Any], sig: str) -> bool:
    """Constant-time check of ``sig`` against the canonical payload of ``body``."""
    return hmac.compare_digest(signature(secret, body).encode("ascii"), sig.encode("utf-8", "surrogatepass"))


def json_schema() -> dict[str, Any]:
    schema = telemetry_adapter.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://sealwatch.example/schemas/telemetry-v1.schema.json"
    schema["title"] = "sealwatch seal telemetry, wire format v1"
    schema["description"] = (
        f"One message is at most {MAX_MESSAGE_BYTES} bytes of JSON (larger ones are dead-lettered too_large);"
        f" a batch holds at most {MAX_BATCH_FIXES} fixes."
    )
    return schema
