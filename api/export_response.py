"""Answering a streamed export with a status that tells the truth.

The export's query runs, and its first chunks are read, before any header is sent: a query that
fails (bad input, the database down) is answered with an error status, never with a 200 and a
truncated body. An export that ends within :data:`PREFETCH_BYTES` is sent whole with a
``Content-Length``. A larger one is streamed with chunked transfer encoding; if it fails after
that, the body is aborted (the connection closes without the terminating chunk), which every HTTP
client — browsers, curl, httpx, requests — reports as an incomplete transfer. A trailing error
line in the data would not do: a CSV reader takes it for one more row and a user keeps the file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any

import psycopg
from fastapi import HTTPException
from fastapi.responses import Response, StreamingResponse

from sealwatch.logging import get_logger

log = get_logger(__name__)

PREFETCH_BYTES = 1 << 20


class ExportAbortedError(RuntimeError):
    """An export failed after its headers were sent; raised so the server aborts the body."""


async def _release(stack: AsyncExitStack, exc: BaseException | None) -> None:
    """Close the export's generator and give its connection back (rolled back after a failure)."""
    if exc is None:
        await stack.aclose()
    else:
        await stack.__aexit__(type(exc), exc, exc.__traceback__)


async def export_response(
    connection: AbstractAsyncContextManager[Any],
    stream: Callable[[Any], AsyncIterator[bytes]],
    *,
    media_type: str,
    headers: dict[str, str],
    what: str,
) -> Response:
    """Run ``stream(conn)`` on a connection from ``connection`` and answer with what it produced."""
    stack = AsyncExitStack()
    head: list[bytes] = []
    size = 0
    try:
        conn = await stack.enter_async_context(connection)
        chunks = stream(conn)
        stack.push_async_callback(chunks.aclose)  # type: ignore[attr-defined]
        async for chunk in chunks:
            head.append(chunk)
            size += len(chunk)
            if size >= PREFETCH_BYTES:
                break
        else:
            await _release(stack, None)
            return Response(b"".join(head), media_type=media_type, headers=headers)
    except psycopg.OperationalError as exc:
        await _release(stack, exc)
        log.warning("export failed before it started", export=what, error=str(exc))
        raise HTTPException(status_code=503, detail=f"database unavailable: {exc}") from exc
    except BaseException as exc:  # a DataError becomes the app's 422: refused data is the client's error
        await _release(stack, exc)
        raise

    async def body() -> AsyncIterator[bytes]:
        sent = 0
        failure: BaseException | None = None
        try:
            for chunk in head:
                yield chunk
                sent += len(chunk)
            head.clear()
            async for chunk in chunks:
                yield chunk
                sent += len(chunk)
        except Exception as exc:
            failure = exc
            log.warning("export aborted mid-stream", export=what, sent_bytes=sent, error=str(exc))
            raise ExportAbortedError(f"{what} export failed after {sent} bytes: {exc}") from exc
        except BaseException as exc:  # the client went away: nothing to tell it
            failure = exc
            raise
        finally:
            await _release(stack, failure)
        log.info("export streamed", export=what, bytes=sent)

    return StreamingResponse(body(), media_type=media_type, headers=headers)
