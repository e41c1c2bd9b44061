"""Structured logging set-up shared by every process (structlog over stdlib logging)."""

from __future__ import annotations

import logging
import sys

import structlog


class _PeerGoneWrites(logging.Filter):
    """Drops asyncio's "socket.send() raised exception." warning: it only says a client (a browser
    closing its live stream) went away while a response was still being written, which the server
    notices and handles anyway; left in, every closed tab adds warnings to the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("socket.send() raised exception")


_PEER_GONE = _PeerGoneWrites()


def configure_logging(level: str = "INFO", json: bool = False) -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    quiet_peer_gone_writes()


def quiet_peer_gone_writes() -> None:
    asyncio_log = logging.getLogger("asyncio")
    if _PEER_GONE not in asyncio_log.filters:
        asyncio_log.addFilter(_PEER_GONE)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
