"""Device key API: provision, rotate, list and revoke the signing keys of seals.

Admin only: the role matrix (``api.auth.ACCESS``) lets only ``admin`` users call these routes.

A secret is returned exactly once, in the answer to ``POST /api/devices/{seal_id}/keys``;
listings show key ids and dates only. POSTing again rotates: the new key is valid at once and
the previous ones keep verifying for the grace period (``SEALWATCH_KEY_ROTATION_GRACE_S``, or
``grace_s`` in the request), so a seal can switch keys without losing messages in flight.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field

from api.deps import Conn, SettingsDep
from sealwatch.logging import get_logger
from sealwatch.wire import KID_PATTERN, SEAL_ID_PATTERN
from store.seal_keys import SecretBox, UnknownKeyError, alist_keys, aprovision, arevoke

log = get_logger(__name__)


router = APIRouter(prefix="/api/devices", tags=["devices"])

SealId = Annotated[str, Path(pattern=SEAL_ID_PATTERN, description="the seal's id")]
Kid = Annotated[str, Path(pattern=KID_PATTERN, description="key id")]


class ProvisionRequest(BaseModel):
    grace_s: float | None = Field(
        default=None, ge=0, le=30 * 86_400, description="how long previous keys keep verifying (default from settings)"
    )


class IssuedKeyOut(BaseModel):
    seal_id: str
    kid: str
    secret: str = Field(description="base64url, no padding; shown only in this response: load it into the seal now")
    algorithm: str = "HMAC-SHA256"
    created_at: datetime
    previous_valid_until: datetime | None = Field(description="when the keys this one replaces stop verifying")


class KeyOut(BaseModel):
    kid: str
    created_at: datetime
    revoked_at: datetime | None
    active: bool


class KeyList(BaseModel):
    seal_id: str
    keys: list[KeyOut]


@router.post("/{seal_id}/keys", status_code=status.HTTP_201_CREATED, response_model=IssuedKeyOut)
async def create_key(
    seal_id: SealId, conn: Conn, settings: SettingsDep, body: ProvisionRequest | None = None
) -> IssuedKeyOut:
    """Issue a new key for the seal (its first, or a rotation); the secret is in this answer only."""
    grace = timedelta(seconds=body.grace_s if body and body.grace_s is not None else settings.key_rotation_grace_s)
    issued = await aprovision(conn, seal_id, grace=grace, box=SecretBox.from_settings(settings))
    return IssuedKeyOut(
        seal_id=issued.seal_id,
        kid=issued.kid,
        secret=base64.urlsafe_b64encode(issued.secret).rstrip(b"=").decode("ascii"),
        created_at=issued.created_at,
        previous_valid_until=issued.previous_valid_until,
    )


@router.get("/{seal_id}/keys", response_model=KeyList)
async def list_seal_keys(seal_id: SealId, conn: Conn) -> KeyList:
    """The seal's keys, oldest first: ids and dates, never a secret."""
    cur = await conn.execute("SELECT now() AS now")
    row = await cur.fetchone()
    now: datetime = row["now"] if row else datetime.now().astimezone()
    keys = await alist_keys(conn, seal_id)
    if not keys:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"seal {seal_id!r} has no keys")
    return KeyList(
        seal_id=seal_id,
        keys=[
            KeyOut(
                kid=k.kid,
                created_at=k.created_at,
                revoked_at=k.revoked_at,
                active=k.revoked_at is None or k.revoked_at > now,
            )
            for k in keys
        ],
    )


@router.delete("/{seal_id}/keys/{kid}", response_model=KeyOut)
async def revoke_key(seal_id: SealId, kid: Kid, conn: Conn) -> KeyOut:
    """End a key now, e.g. for a compromised seal (no grace period)."""
    try:
        await arevoke(conn, seal_id, kid)
    except UnknownKeyError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    [info] = [k for k in await alist_keys(conn, seal_id) if k.kid == kid]
    return KeyOut(kid=info.kid, created_at=info.created_at, revoked_at=info.revoked_at, active=False)
