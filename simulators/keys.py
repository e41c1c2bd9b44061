"""Signing keys for virtual seals: provisioned in the database, or read from a key file.

A real seal gets its secret once, at provisioning (``POST /api/devices/{seal_id}/keys``); a
simulator that can reach the database provisions its seals itself with ``provision_plans``,
which is what the demo does. A key file is JSON ``{"SEAL-ID": {"kid": "...", "secret": "<base64url>"}}``.
"""

from __future__ import annotations

import base64
from pathlib import Path

import orjson

from sealwatch.logging import get_logger
from sealwatch.wire import SigningKey
from simulators.plans import SealPlan, with_keys

log = get_logger(__name__)


def provision_plans(database_url: str, plans: list[SealPlan]) -> list[SealPlan]:
    """Create a fresh key for every planned seal (committed) and return the plans carrying them."""
    from store.db import connect
    from store.seal_keys import provision_many

    with connect(database_url) as conn:  # commits on leaving the block
        keys = provision_many(conn, [p.seal_id for p in plans])
    return with_keys(plans, keys)


def _b64(secret: bytes) -> str:
    return base64.urlsafe_b64encode(secret).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def read_key_file(path: Path) -> dict[str, SigningKey]:
    try:
        body = orjson.loads(path.read_bytes())
        return {seal: SigningKey(str(k["kid"]), _unb64(str(k["secret"]))) for seal, k in body.items()}
    except (OSError, orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"cannot read key file {path}: {exc}") from None


def write_key_file(path: Path, keys: dict[str, SigningKey]) -> None:
    body = {seal: {"kid": k.kid, "secret": _b64(k.secret)} for seal, k in sorted(keys.items())}
    path.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    path.chmod(0o600)  # it holds secrets
