"""The ingest worker: MQTT in, validated batches committed to PostgreSQL, batches handed on.

A message is acknowledged to the broker only after the batch holding it is committed, so a
crash loses nothing (the broker redelivers, storage is idempotent). The broker's in-flight
window bounds what is held in memory: when the database is slow, unacknowledged messages stop
the broker sending more (back-pressure) instead of growing a queue here. Committed batches go
to the hooks (geofence, alerts) through a short queue, so the next batch is written while the
hooks judge the last one.

Every message is authenticated as it is decoded (ingest/auth.py: per-seal keys cached in
memory); replays are screened against storage in the batch's write transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiomqtt
import psycopg

from ingest import metrics
from ingest.auth import KeyCache, Origin, ReplayGuard
from ingest.decode import Decoded, DecodeLimits, Reason, Reject, decode
from sealwatch.config import Settings, mqtt_credentials, mqtt_host_port
from sealwatch.fixes import FixRecord
from sealwatch.logging import get_logger
from store.db import connect
from store.fixes import FixWriter, WriteResult
from store.migrate import storage_mode

log = get_logger(__name__)

BatchHook = Callable[[list[FixRecord]], Awaitable[object]]


@dataclass(slots=True)
class _Pending:
    """Messages received since the last commit, in arrival order."""

    acks: list[tuple[int, int]] = field(default_factory=list)  # (mid, qos) on the current connection
    records: list[FixRecord] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)  # per record: its message, for replay dead letters
    rejects: list[Reject] = field(default_factory=list)
    messages: int = 0
    first_at: float = 0.0
    connection: int = 0  # acks are only valid on the connection that received the messages


@dataclass(slots=True)
class IngestStats:
    messages: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0


class IngestWorker:
    def __init__(self, settings: Settings, database_url: str, mqtt_url: str, hooks: Sequence[BatchHook] = ()) -> None:
        self.settings = settings
        self.database_url = database_url
        self.host, self.port = mqtt_host_port(mqtt_url)
        self.username, self.password = mqtt_credentials(mqtt_url)
        self.hooks = list(hooks)
        self.limits = DecodeLimits(
            max_clock_skew=timedelta(seconds=settings.max_clock_skew_s),
            max_age=timedelta(days=settings.retention_days),
        )
        self.stats = IngestStats()
        self.keys = KeyCache(settings, database_url)
        self.replays = ReplayGuard(settings.replay_window_seq)
        self.subscribed = asyncio.Event()
        self._pending = _Pending()
        self._flush_now = asyncio.Event()
        self._handoff: asyncio.Queue[list[FixRecord]] = asyncio.Queue(maxsize=2)
        self._commit_lock = asyncio.Lock()
        self._client: aiomqtt.Client | None = None
        self._connection = 0
        self._writer: FixWriter | None = None

    @property
    def topic(self) -> str:
        group = self.settings.mqtt_shared_group
        return f"$share/{group}/{self.settings.telemetry_topic}" if group else self.settings.telemetry_topic

    async def run(self, stop: asyncio.Event) -> IngestStats:
        """Consume until ``stop`` is set; commits and acknowledges what is pending before returning."""
        keys_stop = asyncio.Event()  # the key listener outlives ``stop`` until the last commit is done
        keys = asyncio.create_task(self.keys.maintain(keys_stop), name="ingest-keys")
        # Keys first, so the first messages are not refused; if the database is down, commit-time
        # rechecks (KeyCache.recheck) still find the keys of messages refused meanwhile.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.keys.ready.wait(), 10)
        flusher = asyncio.create_task(self._flush_loop(stop), name="ingest-flush")
        hooks = asyncio.create_task(self._run_hooks(), name="ingest-hooks")
        try:
            await self._connection_loop(stop)
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            keys_stop.set()
            keys.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keys
            await self._commit()  # anything received after the last ack; redelivery would dedupe it anyway
            await self._close_writer()
            await self._handoff.join()
            hooks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hooks
        return self.stats

    # -- receiving -------------------------------------------------------------------------

    async def _connection_loop(self, stop: asyncio.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            client = aiomqtt.Client(
                self.host,
                self.port,
                identifier=self.settings.mqtt_client_id,
                clean_session=False,
                keepalive=30,
                timeout=10,
                username=self.username,
                password=self.password,
                queue_type=_inline_queue(self._on_message),
            )
            # paho acknowledges on receipt by default; we acknowledge after commit instead.
            client._client.manual_ack_set(True)
            try:
                async with client:
                    self._client = client
                    await client.subscribe(self.topic, qos=1)
                    self.subscribed.set()
                    log.info("ingest subscribed", topic=self.topic, broker=f"{self.host}:{self.port}")
                    backoff = 0.5
                    await self._consume_until(client, stop)
                    await self._commit()  # clean stop: commit and acknowledge while still connected
            except aiomqtt.MqttError as exc:
                log.warning("mqtt connection lost; reconnecting", error=str(exc), retry_in_s=backoff)
            finally:
                self._client = None
                self.subscribed.clear()
                # The broker redelivers unacknowledged messages in the resumed session, and
                # storage skips the duplicates; old message ids mean nothing on a new connection.
                self._connection += 1
                self._pending.acks.clear()
                self._pending.connection = self._connection
            if not stop.is_set():
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, 30.0)

    async def _consume_until(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        consumer = asyncio.create_task(self._consume(client))
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({consumer, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer  # re-raises MqttError when the connection dropped

    async def _consume(self, client: aiomqtt.Client) -> None:
        # Messages are handled as they arrive (see _inline_queue); iterating only surfaces a
        # lost connection as MqttError.
        async for message in client.messages:
            self._on_message(message)

    def _on_message(self, message: aiomqtt.Message) -> None:
        payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
        topic = message.topic.value
        try:
            decoded = decode(topic, payload, datetime.now(UTC), self.limits, self.keys.ring)
        except Exception as exc:  # decode never raises on bad input: this is a bug, keep the message
            log.exception("decoding failed", topic=topic)
            decoded = Decoded(rejects=[Reject(Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", payload, topic)])
        pending = self._pending
        if not pending.messages:
            pending.first_at = time.monotonic()
        pending.messages += 1
        pending.acks.append((message.mid, message.qos))
        pending.records.extend(decoded.records)
        pending.origins.extend((topic, payload) for _ in decoded.records)
        pending.rejects.extend(decoded.rejects)
        if len(pending.records) >= self.settings.batch_max_fixes:
            self._flush_now.set()

    # -- committing ------------------------------------------------------------------------

    async def _flush_loop(self, stop: asyncio.Event) -> None:
        max_wait = self.settings.batch_max_wait_ms / 1000
        while not stop.is_set():
            # A batch's age counts from its first message: under load, what arrived while the
            # last batch was being written is already old enough to go at once.
            first_at = self._pending.first_at if self._pending.messages else time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), timeout=max(0.0, first_at + max_wait - time.monotonic()))
            self._flush_now.clear()
            await self._commit()

    async def _commit(self) -> None:
        async with self._commit_lock:
            if not self._pending.messages:
                return
            batch, self._pending = self._pending, _Pending(connection=self._connection)
            # Metrics per batch, not per message: with PROMETHEUS_MULTIPROC_DIR every update is a
            # locked write to a shared file, a visible cost at thousands of messages a second.
            metrics.MESSAGES_RECEIVED.inc(batch.messages)
            metrics.PENDING.set(batch.messages)
            started = time.monotonic()
            result = await self._write_until_committed(batch)
            if batch.connection == self._connection:
                self._acknowledge(batch.acks)
            self._count(batch, result, time.monotonic() - started)
            if self.hooks:
                # Still under the lock, so hooks see batches in commit order; a full hand-off
                # queue holds the next write back (hooks slower than storage slow ingest down).
                # Shielded: a committed batch is handed on even when stopping cancels the flusher.
                await asyncio.shield(self._handoff.put(batch.records))

    async def _run_hooks(self) -> None:
        """Hand committed batches to the hooks in order, while the next batch is being written."""
        while True:
            records = await self._handoff.get()
            try:
                for hook in self.hooks:
                    try:
                        await hook(records)
                    except Exception:  # a downstream failure must not stop ingest
                        log.exception("batch hook failed", hook=getattr(hook, "__qualname__", repr(hook)))
            finally:
                self._handoff.task_done()

    async def _write_until_committed(self, batch: _Pending) -> WriteResult:
        backoff = 0.2
        while True:
            try:
                return await asyncio.to_thread(self._write, batch)
            except psycopg.Error as exc:
                metrics.WRITE_ERRORS.inc()
                log.error(
                    "batch write failed; retrying",
                    error=str(exc).strip(),
                    fixes=len(batch.records),
                    retry_in_s=backoff,
                )
                await self._close_writer()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def _write(self, batch: _Pending) -> WriteResult:
        if self._writer is None:
            conn = connect(self.database_url)
            self._writer = FixWriter(conn, storage_mode(conn))
        writer, conn = self._writer, self._writer.conn
        # One transaction: the key recheck, the replay screen, the write and the watermark agree
        # (FixWriter's own transaction nests as a savepoint).
        with conn.transaction():
            rechecked = self.keys.recheck(conn, batch.rejects, datetime.now(UTC), self.limits)
            records, origins = [*batch.records, *rechecked.records], [*batch.origins, *rechecked.origins]
            screened = self.replays.screen(conn, records, origins)
            rejects = [*rechecked.rejects, *screened.rejects]
            result = writer.write(screened.records, rejects)
            self.replays.advance(conn, screened.records)
        # Only now (committed): hooks see what was stored, metrics count what was rejected.
        batch.records, batch.rejects = screened.records, rejects
        return result

    async def _close_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            await asyncio.to_thread(writer.conn.close)

    def _acknowledge(self, acks: list[tuple[int, int]]) -> None:
        client = self._client
        if client is None:
            return
        for mid, qos in acks:
            if qos:
                client._client.ack(mid, qos)

    def _count(self, batch: _Pending, result: WriteResult, seconds: float) -> None:
        metrics.BATCH_SECONDS.observe(seconds)
        metrics.BATCH_FIXES.observe(len(batch.records))
        metrics.CONSUMER_LAG.set(time.monotonic() - batch.first_at)
        metrics.PENDING.set(self._pending.messages)
        metrics.FIXES_RECEIVED.inc(len(batch.records))
        metrics.FIXES_STORED.inc(result.inserted)
        metrics.FIXES_DUPLICATE.inc(result.duplicates)
        for r in batch.rejects:
            metrics.REJECTED.labels(reason=str(r.reason)).inc()
        self.stats.messages += batch.messages
        self.stats.stored += result.inserted
        self.stats.duplicates += result.duplicates
        self.stats.rejected += result.dead_letters


def _inline_queue(handle: Callable[[aiomqtt.Message], None]) -> type[asyncio.Queue[aiomqtt.Message]]:
    """aiomqtt's ``queue_type`` hook, turned into a direct call: each message is decoded and added
    to the pending batch as paho delivers it. Going through the queue and ``client.messages``
    costs a task and an ``asyncio.wait`` per message, a large share of ingest's CPU at thousands
    of messages a second."""

    class InlineQueue(asyncio.Queue[aiomqtt.Message]):
        def put_nowait(self, item: aiomqtt.Message) -> None:
            handle(item)

    return InlineQueue


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
