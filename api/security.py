"""Security headers on every response: a content security policy, no framing, no MIME sniffing,
no referrer sent to other sites.

A pure ASGI middleware: the headers are added as the response starts, so bodies are never
buffered and streams, GZip and static files pass through unchanged. Each request gets a fresh
nonce (:func:`csp_nonce`); the few inline scripts (folium's map set-up on the console, Swagger
UI's start on /docs) carry it, every other script is a file under /static. Styles allow inline
CSS: folium and Leaflet write ``<style>`` blocks and ``style`` attributes, and a nonce in
``style-src`` would turn that allowance off.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NONCE_KEY = "csp_nonce"


def tile_origin(tile_url: str | None) -> str | None:
    """The origin a base-map tile URL template loads from (``{s}`` subdomains as a wildcard);
    None for tiles served by sealwatch itself."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url)
    if not parts.scheme or not parts.netloc:
        return None
    host = parts.netloc.replace("{s}", "*")
    return f"{parts.scheme}://{host}"


def content_security_policy(nonce: str, img_sources: tuple[str, ...] = ()) -> str:
    images = " ".join(("'self'", "data:", "blob:", *img_sources))
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src {images}",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def csp_nonce(request: Request) -> str:
    """This request's CSP nonce, for a page's inline scripts ("" outside the middleware)."""
    return str(request.scope.get("state", {}).get(NONCE_KEY, ""))


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, img_sources: tuple[str, ...] = ()) -> None:
        self.app = app
        self.img_sources = img_sources

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})[NONCE_KEY] = nonce
        headers = [
            (b"content-security-policy", content_security_policy(nonce, self.img_sources).encode("ascii")),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
        ]
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in headers if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # An unhandled error is answered outside this middleware (a bare 500): answer it here,
            # with the headers, and let the error go on to be logged.
            if not started:
                await send_with_headers(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                    }
                )
                await send({"type": "http.response.body", "body": b"Internal Server Error"})
            raise
