"""Keyset pagination cursors: the sort key of a page's last row, opaque to clients.

A list sorted by a (time, unique id) pair pages exactly with a row comparison against the last
row's pair; rows added meanwhile never shift or repeat rows the way OFFSET would. The cursor is
that pair as base64url JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import TypeVar

K = TypeVar("K", str, int)


class InvalidCursorError(ValueError):
    """The pagination cursor was not produced by this API (or was altered)."""


def encode_cursor(at: datetime, key: str | int) -> str:
    raw = json.dumps([at.astimezone(UTC).isoformat(), key], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, key_type: type[K]) -> tuple[datetime, K]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, key = json.loads(raw)
        when = datetime.fromisoformat(at)
        if when.tzinfo is None or type(key) is not key_type:
            raise ValueError("cursor fields")
        return when, key
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursorError("invalid cursor") from exc
