"""Per-seal signing keys: provisioning, rotation, revocation and loading for verification.

Each seal has its own 32-byte random secret. A secret leaves the server exactly once, in the
answer to its creation; listings carry key ids and dates only. Secrets are encrypted at rest
with Fernet when ``SEALWATCH_KEY_ENCRYPTION_KEY`` is set, else stored raw (``secret_enc`` says
which, so a deployment can start raw and add a key later: new keys are then encrypted).

Sync functions take a psycopg connection and do not commit (the caller's transaction decides);
the ``a``-prefixed ones are the same for the API's async connections. A trigger on ``seal_keys``
sends ``NOTIFY sealwatch_keys, '<seal_id>'`` so ingest caches reload at once.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from cryptography.fernet import Fernet, InvalidToken
from psycopg.rows import dict_row

from sealwatch.config import Settings, get_settings
from sealwatch.logging import get_logger
from sealwatch.wire import SEAL_ID_PATTERN, SECRET_BYTES, SigningKey

log = get_logger(__name__)

NOTIFY_CHANNEL = "sealwatch_keys"
_SEAL_ID_RE = re.compile(SEAL_ID_PATTERN)


class UnknownKeyError(LookupError):
    pass


class SecretBox:
    """Encrypts secrets for storage (Fernet) when a key is configured; passes them through otherwise."""

    def __init__(self, fernet_key: str | None) -> None:
        self._fernet = Fernet(fernet_key.encode()) if fernet_key else None

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        key = settings.key_encryption_key
        return cls(key.get_secret_value() if key is not None else None)

    @property
    def encrypting(self) -> bool:
        return self._fernet is not None

    def seal(self, secret: bytes) -> tuple[bytes, str]:
        if self._fernet is None:
            return secret, "raw"
        return self._fernet.encrypt(secret), "fernet"

    def open(self, stored: bytes, enc: str) -> bytes:
        if enc == "raw":
            return stored
        if self._fernet is None:
            raise InvalidToken("secret is Fernet-encrypted but SEALWATCH_KEY_ENCRYPTION_KEY is not set")
        return self._fernet.decrypt(stored)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A newly created key: the only object that ever carries a secret out of the server."""

    seal_id: str
    kid: str
    secret: bytes
    created_at: datetime
    previous_valid_until: datetime | None  # when the keys it replaced stop verifying (None: first key)

    @property
    def signing_key(self) -> SigningKey:
        return SigningKey(self.kid, self.secret)

    def __repr__(self) -> str:
        return f"IssuedKey(seal_id={self.seal_id!r}, kid={self.kid!r}, secret=<redacted>)"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What may be shown about a key: never its secret."""

    seal_id: str
    kid: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str
    secret: bytes
    valid_until: datetime | None  # None: until rotated or revoked

    def __repr__(self) -> str:
        return f"VerificationKey(kid={self.kid!r}, valid_until={self.valid_until!r})"


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def new_kid() -> str:
    return secrets.token_urlsafe(6)  # 8 characters of [A-Za-z0-9_-]: unique per seal in practice


def _check_seal_id(seal_id: str) -> None:
    if not _SEAL_ID_RE.match(seal_id):
        raise ValueError(f"seal id {seal_id!r} does not match {SEAL_ID_PATTERN}")


# The new key is inserted first so the RETURNING of the retirement can exclude it; previous keys
# end at now() + grace unless they already end sooner (a revoked key is never revived).
_INSERT = """INSERT INTO seal_keys (seal_id, kid, secret, secret_enc) VALUES (%s, %s, %s, %s)
             RETURNING created_at"""
_RETIRE = """UPDATE seal_keys SET revoked_at = now() + make_interval(secs => %s)
             WHERE seal_id = %s AND kid <> %s AND (revoked_at IS NULL OR revoked_at > now() + make_interval(secs => %s))
             RETURNING revoked_at"""
_INSERT_MANY = "INSERT INTO seal_keys (seal_id, kid, secret, secret_enc) VALUES (%s, %s, %s, %s)"
_RETIRE_MANY = """UPDATE seal_keys k SET revoked_at = now() + make_interval(secs => %s)
             FROM unnest(%s::text[], %s::text[]) AS new(seal_id, kid)
             WHERE k.seal_id = new.seal_id AND k.kid <> new.kid
               AND (k.revoked_at IS NULL OR k.revoked_at > now() + make_interval(secs => %s))"""
_LIST = "SELECT seal_id, kid, created_at, revoked_at FROM seal_keys WHERE seal_id = %s ORDER BY created_at, kid"
_REVOKE = """UPDATE seal_keys SET revoked_at = now()
             WHERE seal_id = %s AND kid = %s AND (revoked_at IS NULL OR revoked_at > now())
             RETURNING revoked_at"""
_EXISTS = "SELECT revoked_at FROM seal_keys WHERE seal_id = %s AND kid = %s"


def _grace_s(grace: timedelta | None) -> float:
    return (grace if grace is not None else timedelta(seconds=get_settings().key_rotation_grace_s)).total_seconds()


def _issued(seal_id: str, kid: str, secret: bytes, created: Any, retired: Sequence[Any]) -> IssuedKey:
    until = max((r["revoked_at"] for r in retired), default=None)
    return IssuedKey(seal_id, kid, secret, created, until)


def provision(
    conn: psycopg.Connection[dict[str, Any]],
    seal_id: str,
    *,
    grace: timedelta | None = None,
    box: SecretBox | None = None,
) -> IssuedKey:
    """Create a new key for ``seal_id`` (its first, or a rotation); the caller commits.

    Previous keys keep verifying for ``grace`` (default ``SEALWATCH_KEY_ROTATION_GRACE_S``).
    """
    _check_seal_id(seal_id)
    box = box or SecretBox.from_settings(get_settings())
    secret, kid = new_secret(), new_kid()
    stored, enc = box.seal(secret)
    row = conn.execute(_INSERT, (seal_id, kid, stored, enc)).fetchone()
    assert row is not None
    grace_s = _grace_s(grace)
    retired = conn.execute(_RETIRE, (grace_s, seal_id, kid, grace_s)).fetchall()
    log.debug("seal key issued", seal_id=seal_id, kid=kid, rotated=len(retired), encrypted=box.encrypting)
    return _issued(seal_id, kid, secret, row["created_at"], retired)


def provision_many(
    conn: psycopg.Connection[dict[str, Any]],
    seal_ids: Sequence[str],
    *,
    grace: timedelta | None = None,
    box: SecretBox | None = None,
) -> dict[str, SigningKey]:
    """``provision`` for many seals in a few statements (a fleet's start-up); the caller commits."""
    for seal_id in seal_ids:
        _check_seal_id(seal_id)
    box = box or SecretBox.from_settings(get_settings())
    keys = {seal_id: SigningKey(new_kid(), new_secret()) for seal_id in seal_ids}
    rows = [(seal_id, key.kid, *box.seal(key.secret)) for seal_id, key in keys.items()]
    with conn.cursor() as cur:
        cur.executemany(_INSERT_MANY, rows)
    grace_s = _grace_s(grace)
    conn.execute(_RETIRE_MANY, (grace_s, list(keys), [k.kid for k in keys.values()], grace_s))
    log.info("seal keys issued", seals=len(keys), encrypted=box.encrypting)
    return keys


async def aprovision(
    conn: psycopg.AsyncConnection[Any],
    seal_id: str,
    *,
    grace: timedelta | None = None,
    box: SecretBox | None = None,
) -> IssuedKey:
    """``provision`` on an async connection (the API's)."""
    _check_seal_id(seal_id)
    box = box or SecretBox.from_settings(get_settings())
    secret, kid = new_secret(), new_kid()
    stored, enc = box.seal(secret)
    cur = conn.cursor(row_factory=dict_row)
    row = await (await cur.execute(_INSERT, (seal_id, kid, stored, enc))).fetchone()
    assert row is not None
    grace_s = _grace_s(grace)
    retired = await (await cur.execute(_RETIRE, (grace_s, seal_id, kid, grace_s))).fetchall()
    log.debug("seal key issued", seal_id=seal_id, kid=kid, rotated=len(retired), encrypted=box.encrypting)
    return _issued(seal_id, kid, secret, row["created_at"], retired)


def list_keys(conn: psycopg.Connection[dict[str, Any]], seal_id: str) -> list[KeyInfo]:
    return [KeyInfo(**r) for r in conn.execute(_LIST, (seal_id,)).fetchall()]


async def alist_keys(conn: psycopg.AsyncConnection[Any], seal_id: str) -> list[KeyInfo]:
    cur = conn.cursor(row_factory=dict_row)
    return [KeyInfo(**r) for r in await (await cur.execute(_LIST, (seal_id,))).fetchall()]


def revoke(conn: psycopg.Connection[dict[str, Any]], seal_id: str, kid: str) -> datetime:
    """End a key now (a compromised seal); returns when it ended. Raises UnknownKeyError."""
    row = conn.execute(_REVOKE, (seal_id, kid)).fetchone() or conn.execute(_EXISTS, (seal_id, kid)).fetchone()
    if row is None:
        raise UnknownKeyError(f"seal {seal_id!r} has no key {kid!r}")
    log.info("seal key revoked", seal_id=seal_id, kid=kid)
    revoked: datetime = row["revoked_at"]
    return revoked


async def arevoke(conn: psycopg.AsyncConnection[Any], seal_id: str, kid: str) -> datetime:
    cur = conn.cursor(row_factory=dict_row)
    row = await (await cur.execute(_REVOKE, (seal_id, kid))).fetchone()
    if row is None:
        row = await (await cur.execute(_EXISTS, (seal_id, kid))).fetchone()
    if row is None:
        raise UnknownKeyError(f"seal {seal_id!r} has no key {kid!r}")
    log.info("seal key revoked", seal_id=seal_id, kid=kid)
    revoked: datetime = row["revoked_at"]
    return revoked


_VALID = """SELECT seal_id, kid, secret, secret_enc, revoked_at FROM seal_keys
            WHERE (revoked_at IS NULL OR revoked_at > now())"""


def _valid_query(seal_ids: Sequence[str] | None) -> tuple[str, tuple[object, ...]]:
    if seal_ids is None:
        return _VALID, ()
    return _VALID + " AND seal_id = ANY(%s)", (list(seal_ids),)


def _by_seal(rows: Sequence[Mapping[str, Any]], box: SecretBox) -> dict[str, list[VerificationKey]]:
    out: dict[str, list[VerificationKey]] = {}
    for r in rows:
        try:
            secret = box.open(bytes(r["secret"]), str(r["secret_enc"]))
        except InvalidToken:
            # Wrong or missing SEALWATCH_KEY_ENCRYPTION_KEY: the seal will be rejected, loudly.
            log.error("cannot decrypt seal key; check SEALWATCH_KEY_ENCRYPTION_KEY", seal_id=r["seal_id"], kid=r["kid"])
            continue
        out.setdefault(str(r["seal_id"]), []).append(VerificationKey(str(r["kid"]), secret, r["revoked_at"]))
    return out


def load_verification_keys(
    conn: psycopg.Connection[dict[str, Any]], box: SecretBox, seal_ids: Sequence[str] | None = None
) -> dict[str, list[VerificationKey]]:
    """Keys still valid now, by seal (all seals, or only ``seal_ids``); undecryptable ones are skipped."""
    query, params = _valid_query(seal_ids)
    return _by_seal(conn.execute(query, params).fetchall(), box)


async def aload_verification_keys(
    conn: psycopg.AsyncConnection[Any], box: SecretBox, seal_ids: Sequence[str] | None = None
) -> dict[str, list[VerificationKey]]:
    query, params = _valid_query(seal_ids)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(query, params)
    return _by_seal(await cur.fetchall(), box)
