"""Idempotent requests: an ``Idempotency-Key`` header makes a step safe to send again.

A phone that queued an action while offline sends it when the connection returns; if the first
attempt reached the server but its answer was lost, the retry carries the same key. The receipt
(user, key) is inserted in the same transaction as the action: a retry finds it and gets the stored
answer back (``Idempotent-Replayed: true``), and two copies arriving at once serialize on the
receipt's key, so the action happens once. A failed action rolls its receipt back with it, so a
retry of a refused request is judged again. A key belongs to one request (method, path, body):
reusing it for another is a 422.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from api.deps import Conn
from store.users import User

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
HEADER = "Idempotency-Key"
KEEP = timedelta(days=7)
M = TypeVar("M", bound=BaseModel)


async def request_fingerprint(request: Request) -> str:
    body = await request.body()
    return f"{request.method} {request.url.path} {hashlib.sha256(body).hexdigest()}"


async def once(
    conn: Conn, request: Request, user: User, key: str | None, run: Callable[[], Awaitable[M]]
) -> M | JSONResponse:
    """``run()`` at most once per (user, key); without a key, simply ``run()``."""
    if key is None:
        return await run()
    if not KEY_PATTERN.match(key):
        raise HTTPException(status_code=422, detail=f"{HEADER} must be 8 to 128 letters, digits, '-' or '_'")
    fingerprint = await request_fingerprint(request)
    async with conn.transaction():
        cur = await conn.execute(
            """INSERT INTO request_receipts (user_name, key, request) VALUES (%s, %s, %s)
               ON CONFLICT DO NOTHING RETURNING key""",
            (user.name, key, fingerprint),
        )
        if await cur.fetchone() is None:
            cur = await conn.execute(
                "SELECT request, status, body FROM request_receipts WHERE user_name = %s AND key = %s",
                (user.name, key),
            )
            stored = await cur.fetchone()
            assert stored is not None
            if stored["request"] != fingerprint:
                raise HTTPException(status_code=422, detail=f"this {HEADER} was used for another request")
            return JSONResponse(stored["body"], status_code=stored["status"], headers={"Idempotent-Replayed": "true"})
        result = await run()
        await conn.execute(
            "UPDATE request_receipts SET status = 200, body = %s WHERE user_name = %s AND key = %s",
            (Jsonb(result.model_dump(mode="json")), user.name, key),
        )
        await conn.execute("DELETE FROM request_receipts WHERE created_at < now() - %s", (KEEP,))
    return result
