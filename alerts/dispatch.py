"""Dispatch messages to mobile groups through a transactional outbox.

The dispatch writes its ``alert_outbox`` row in the same transaction as the alert update (and
``pg_notify('sealwatch_alert_outbox')``), so a dispatch is either fully recorded and eventually
published, or not at all. :func:`run_outbox` publishes pending rows QoS 1 and marks each sent only
after the broker's PUBACK; a crash in between republishes it (at least once: the payload carries
``message_id`` for receivers to drop duplicates). Rows are claimed with ``FOR UPDATE SKIP
LOCKED`` so several publishers never send the same row concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import aiomqtt
import orjson
import psycopg

from alerts.briefing import AlertWords, brief
from alerts.store import OUTBOX_CHANNEL, AnyConn, Row, alert_json, fetch_all
from sealwatch.config import mqtt_endpoint
from sealwatch.logging import get_logger

log = get_logger(__name__)

Publish = Callable[[str, bytes], Awaitable[None]]

# The dispatch message's contract: docs/dispatch.md, schemas/dispatch-v1.schema.json.
DISPATCH_SCHEMA = "sealwatch.dispatch"
DISPATCH_VERSION = 1


def group_topic(prefix: str, group_id: str) -> str:
    return f"{prefix}/{group_id}"


def dispatch_payload(
    alert: Row,
    group_id: str,
    actor: str,
    at: datetime,
    distance_m: float | None,
    truck: Row | None,
    words: AlertWords,
) -> dict[str, Any]:
    """The message a group receives: ids and evidence for machines, plate, carrier, the alert type in
    words (az, ru, en), the nearest place and the age for the person reading it."""
    a = alert_json(alert)
    return {
        "schema": DISPATCH_SCHEMA,
        "version": DISPATCH_VERSION,
        "kind": "dispatch",
        "group_id": group_id,
        "alert_id": a["id"],
        "type": a["type"],
        "severity": a["severity"],
        "transit_id": a["transit_id"],
        "seal_id": a["seal_id"],
        "lat": a["lat"],
        "lon": a["lon"],
        "t": a["last_t"],
        "evidence": a["evidence"],
        "late": bool(a.get("late", False)),
        "detected_at": a.get("detected_at") or a["raised_at"],
        "dispatched_by": actor,
        "dispatched_at": at.isoformat(),
        "distance_m": None if distance_m is None else round(distance_m),
        **brief(alert, truck, at, words),
    }


async def enqueue(conn: AnyConn, alert_id: int, topic: str, payload: dict[str, Any]) -> int:
    """Add an outbox row inside the caller's transaction; returns its id."""
    cur = await conn.execute(
        "INSERT INTO alert_outbox (alert_id, topic, payload) VALUES (%s, %s, %s) RETURNING id",
        (alert_id, topic, b""),
    )
    row = await cur.fetchone()
    assert row is not None
    outbox_id = int(row[0] if isinstance(row, tuple) else row["id"])
    body = orjson.dumps({**payload, "message_id": outbox_id})
    await conn.execute("UPDATE alert_outbox SET payload = %s WHERE id = %s", (body, outbox_id))
    await conn.execute("SELECT pg_notify(%s, %s)", (OUTBOX_CHANNEL, str(outbox_id)))
    return outbox_id


class OutboxPublishError(RuntimeError):
    """A publish failed; the row stays pending (its attempt recorded) and is retried later."""


async def publish_pending(conn: AnyConn, publish: Publish, limit: int) -> int:
    """Publish up to ``limit`` pending rows in one transaction; returns how many were sent.

    Raises OutboxPublishError after committing what was sent when a publish fails.
    """
    sent = 0
    failure: BaseException | None = None
    async with conn.transaction():
        rows = await fetch_all(
            conn,
            """SELECT id, topic, payload FROM alert_outbox WHERE sent_at IS NULL
               ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED""",
            (limit,),
        )
        for row in rows:
            try:
                await publish(row["topic"], bytes(row["payload"]))
            except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
                # Keep order: stop at the first failure, the rest waits for the next round.
                await conn.execute(
                    "UPDATE alert_outbox SET attempts = attempts + 1, last_error = %s WHERE id = %s",
                    (str(exc)[:500], row["id"]),
                )
                log.warning("outbox publish failed", outbox_id=row["id"], error=str(exc))
                failure = exc
                break
            await conn.execute(
                "UPDATE alert_outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = %s",
                (row["id"],),
            )
            sent += 1
    if failure is not None:
        raise OutboxPublishError(str(failure)) from failure
    if sent:
        log.info("outbox published", count=sent)
    return sent


@contextlib.asynccontextmanager
async def mqtt_publisher(mqtt_url: str, *, client_id: str | None = None) -> AsyncIterator[Publish]:
    """A QoS 1 publish callable that returns after the broker's PUBACK."""
    broker = mqtt_endpoint(mqtt_url)
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        username=broker.username,
        password=broker.password,
        identifier=client_id or f"sealwatch-alerts-{uuid.uuid4().hex[:8]}",
    ) as c:

        async def publish(topic: str, payload: bytes) -> None:
            await c.publish(topic, payload, qos=1, timeout=30)

        yield publish


async def run_outbox(database_url: str, publish: Publish, stop: asyncio.Event, poll_s: float, batch: int) -> None:
    """Publish pending outbox rows until ``stop``; woken by NOTIFY, polling as a safety net.

    Database outages are retried here; a publish failure raises OutboxPublishError to the caller,
    which owns the MQTT connection and knows whether to reconnect.
    """
    backoff = 0.5
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as listen_conn:
                await listen_conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
                async with await psycopg.AsyncConnection.connect(database_url) as work_conn:
                    backoff = 0.5
                    while not stop.is_set():
                        while await publish_pending(work_conn, publish, batch) == batch:
                            pass  # a full batch: there may be more
                        await _wait_for_notify(listen_conn, stop, poll_s)
        except psycopg.OperationalError as exc:
            log.warning("outbox lost its database connection", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, 10.0)


async def _wait_for_notify(conn: psycopg.AsyncConnection[Any], stop: asyncio.Event, wait_s: float) -> None:
    """Return on a notification, on ``stop``, or after ``wait_s``; short slices so stop is seen quickly
    (cancelling a connection mid-wait would leave it unusable)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while not stop.is_set():
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        async for _ in conn.notifies(timeout=min(0.5, remaining), stop_after=1):
            return
