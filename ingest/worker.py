"""The ingest worker: MQTT in, validated batches committed to PostgreSQL, batches handed on.

A message is acknowledged to the broker only after the batch holding it is committed, so a
crash loses nothing (the broker redelivers, storage is idempotent). The broker's in-flight
window bounds what is held in memory: when the database is slow, unacknowledged messages stop
the broker sending more (back-pressure) instead of growing a queue here. Committed batches go
to the hooks (geofence, alerts) through a short queue, so the next batch is written while the
hooks judge the last one.

Every message is authenticated as it is decoded (ingest/auth.py: per-seal keys cached in
memory); replays are screened against storage in the batch's write transaction. Only the fixes a
batch stores for the first time go on to judgment (ingest/judging.py), so a redelivered message
is never judged twice, and a crash between storing and judging leaves a record that the next
start judges.

``Worker`` is the source-independent part (batching, the write transaction, hand-off);
``IngestWorker`` receives from an MQTT broker (Mosquitto), ``ingest.partitioned`` from the
partitions of a NATS JetStream stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiomqtt
import psycopg

from ingest import metrics
from ingest.auth import KeyCache, Origin, ReplayGuard
from ingest.decode import Decoded, DecodeLimits, Reason, Reject, decode
from ingest.judging import (
    Committed,
    Downstream,
    Owns,
    PartitionLostError,
    keys_of,
    load_unjudged,
    record_unjudged,
)
from sealwatch.config import Settings, mqtt_credentials, mqtt_host_port
from sealwatch.fixes import FixRecord
from sealwatch.logging import get_logger
from store.db import connect
from store.dead_letters import DeadLetterLimits
from store.fixes import FixWriter, WriteResult
from store.migrate import storage_mode

log = get_logger(__name__)

BatchHook = Callable[[list[FixRecord]], Awaitable[object]]


@dataclass(slots=True)
class _Pending:
    """Messages received since the last commit, in arrival order."""

    acks: list[Any] = field(default_factory=list)  # what the source needs to acknowledge them
    records: list[FixRecord] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)  # per record: its message, for replay dead letters
    parts: list[int] = field(default_factory=list)  # per record: its partition
    rejects: list[Reject] = field(default_factory=list)
    reject_parts: list[int] = field(default_factory=list)
    messages: int = 0
    first_at: float = 0.0
    connection: int = 0  # acks are only valid on the connection that received the messages
    lost: set[int] = field(default_factory=set)  # partitions the write found taken over
    new: list[FixRecord] = field(default_factory=list)  # stored for the first time (set by the write)
    unjudged: dict[int, list[int]] = field(default_factory=dict)
    fence: dict[int, int] = field(default_factory=dict)
    decode_s: float = 0.0

    def add(self, decoded: Decoded, origin: Origin, partition: int) -> None:
        self.records.extend(decoded.records)
        self.origins.extend(origin for _ in decoded.records)
        self.parts.extend(partition for _ in decoded.records)
        self.rejects.extend(decoded.rejects)
        self.reject_parts.extend(partition for _ in decoded.rejects)


@dataclass(slots=True)
class IngestStats:
    messages: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0


class Worker:
    """Batches decoded messages, writes them, hands committed batches on. A subclass receives
    (``_receive``) and acknowledges (``_acknowledge``)."""

    def __init__(
        self,
        settings: Settings,
        database_url: str,
        hooks: Sequence[BatchHook] = (),
        downstream: Downstream | None = None,
    ) -> None:
        self.settings = settings
        self.database_url = database_url
        self.hooks = list(hooks)
        self.downstream = downstream
        self.limits = DecodeLimits(
            max_clock_skew=timedelta(seconds=settings.max_clock_skew_s),
            max_age=timedelta(days=settings.retention_days),
        )
        self.stats = IngestStats()
        # When a message is received; a bench running simulated time replaces it.
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.keys = KeyCache(settings, database_url)
        self.replays = ReplayGuard(settings.replay_window_seq)
        self.subscribed = asyncio.Event()
        self._pending = _Pending()
        self._flush_now = asyncio.Event()
        self._handoff: asyncio.Queue[Committed] = asyncio.Queue(maxsize=2)
        self._commit_lock = asyncio.Lock()
        self._connection = 0
        self._writer: FixWriter | None = None

    async def run(self, stop: asyncio.Event) -> IngestStats:
        """Consume until ``stop`` is set; commits and acknowledges what is pending before returning."""
        # The batch writer's thread makes a dozen database round trips per batch while the event
        # loop decodes messages; at the default 5 ms GIL switch interval each return from the
        # database can wait that long, and past capacity the writes fall behind the decoding.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))
        keys_stop = asyncio.Event()  # the key listener outlives ``stop`` until the last commit is done
        keys = asyncio.create_task(self.keys.maintain(keys_stop), name="ingest-keys")
        # Keys first, so the first messages are not refused; if the database is down, commit-time
        # rechecks (KeyCache.recheck) still find the keys of messages refused meanwhile.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.keys.ready.wait(), 10)
        flusher = asyncio.create_task(self._flush_loop(stop), name="ingest-flush")
        hooks = asyncio.create_task(self._run_hooks(), name="ingest-hooks")
        try:
            await self._receive(stop)
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

    async def drained(self, messages: int) -> None:
        """Return once ``messages`` messages in all have been committed and every committed batch
        judged: a bench that runs simulated time moves its clock on only then."""
        while self.stats.messages < messages:  # noqa: ASYNC110  # a bench's wait, not a hot path
            await asyncio.sleep(0.002)
        await self._handoff.join()

    async def _receive(self, stop: asyncio.Event) -> None:
        raise NotImplementedError

    async def _acknowledge(self, batch: _Pending) -> None:
        raise NotImplementedError

    def _take(self, topic: str, payload: bytes, ack: object, partition: int = 0) -> None:
        """Decode one message into the pending batch (``ack`` acknowledges it after the commit)."""
        started = time.perf_counter()
        try:
            decoded = decode(topic, payload, self.clock(), self.limits, self.keys.ring)
        except Exception as exc:  # decode never raises on bad input: this is a bug, keep the message
            log.exception("decoding failed", topic=topic)
            decoded = Decoded(rejects=[Reject(Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", payload, topic)])
        pending = self._pending
        if not pending.messages:
            pending.first_at = time.monotonic()
        pending.messages += 1
        pending.acks.append(ack)
        pending.add(decoded, (topic, payload), partition)
        pending.decode_s += time.perf_counter() - started
        if len(pending.records) >= self.settings.batch_max_fixes:
            self._flush_now.set()

    # -- recovering --------------------------------------------------------------------------

    async def _recover(self, partitions: list[int], owns: Owns | None, rebuild: Owns, fence: dict[int, int]) -> None:
        """Rebuild the downstream state of the seals ``rebuild`` accepts from storage, then judge
        what these partitions stored but never judged (a crash between the two transactions, here
        or at the partition's previous owner)."""
        if self.downstream is None:
            return
        unjudged = await asyncio.to_thread(self._load_unjudged, partitions)
        await self.downstream.own(owns, rebuild, keys_of(unjudged.records))
        if unjudged.unjudged:
            unjudged.fence = fence
            log.info("judging fixes stored but not judged before", fixes=len(unjudged.records), partitions=partitions)
            await self._judge(unjudged)

    def _load_unjudged(self, partitions: list[int]) -> Committed:
        with connect(self.database_url) as conn:
            return load_unjudged(conn, partitions)

    def _fence(self, conn: psycopg.Connection[Any], batch: _Pending) -> None:
        """In the write transaction, before anything is written: a partitioned source checks its
        epochs (sets ``batch.lost``/``batch.fence``) and records its stream positions."""

    def _partition_of(self, seal_id: str) -> int:
        return 0

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
            await self._acknowledge(batch)
            self._count(batch, result, time.monotonic() - started)
            metrics.STAGE_SECONDS.labels(stage="decode").inc(batch.decode_s)
            metrics.STAGE_SECONDS.labels(stage="write").inc(time.monotonic() - started)
            self._committed(batch)
            if self.hooks or self.downstream:
                # Still under the lock, so hooks see batches in commit order; a full hand-off
                # queue holds the next write back (hooks slower than storage slow ingest down).
                # Shielded: a committed batch is handed on even when stopping cancels the flusher.
                committed = Committed(batch.new, batch.unjudged, batch.fence)
                await asyncio.shield(self._handoff.put(committed))

    def _committed(self, batch: _Pending) -> None:
        """After the write and its acknowledgement (a source may let more messages in)."""

    async def _run_hooks(self) -> None:
        """Hand committed batches on in order, while the next batch is being written."""
        while True:
            committed = await self._handoff.get()
            try:
                for hook in self.hooks:
                    try:
                        await hook(committed.records)
                    except Exception:  # a downstream failure must not stop ingest
                        log.exception("batch hook failed", hook=getattr(hook, "__qualname__", repr(hook)))
                if self.downstream is not None and committed.records:
                    await self._judge(committed)
            finally:
                self._handoff.task_done()

    async def _judge(self, committed: Committed) -> None:
        assert self.downstream is not None
        while committed.records:
            try:
                await self.downstream.judge(committed)
                return
            except PartitionLostError as exc:  # their new owner judges them; the rest is still ours
                log.warning("fixes left to their partitions' new owner", partitions=sorted(exc.lost))
                committed = committed.without(exc.lost, self._partition_of)
            except Exception:  # stays in ingest_unjudged: judged at the next start or takeover
                log.exception("judging a committed batch failed")
                return

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
            self._writer = FixWriter(conn, storage_mode(conn), DeadLetterLimits.of(self.settings))
        writer, conn = self._writer, self._writer.conn
        # One transaction: the fence, the key recheck, the replay screen, the write, the watermark
        # and the unjudged record agree (FixWriter's own transaction nests as a savepoint).
        with conn.transaction():
            self._fence(conn, batch)
            records, origins, rejects = batch.records, batch.origins, batch.rejects
            if batch.lost:  # another worker owns these now; it receives them again
                kept = [i for i, p in enumerate(batch.parts) if p not in batch.lost]
                records, origins = [records[i] for i in kept], [origins[i] for i in kept]
                rejects = [r for r, p in zip(rejects, batch.reject_parts, strict=True) if p not in batch.lost]
            rechecked = self.keys.recheck(conn, rejects, self.clock(), self.limits)
            records, origins = [*records, *rechecked.records], [*origins, *rechecked.origins]
            screened = self.replays.screen(conn, records, origins)
            rejects = [*rechecked.rejects, *screened.rejects]
            result = writer.write(screened.records, rejects)
            self.replays.advance(conn, screened.records)
            new = _first_stored(screened.records, result.new_keys)
            unjudged = record_unjudged(conn, self._by_partition(new)) if self.downstream else {}
        # Only now (committed): what was stored goes on, metrics count what was rejected.
        batch.records, batch.rejects, batch.new = screened.records, rejects, new
        batch.unjudged = {p: [i] for p, i in unjudged.items()}
        return result

    def _by_partition(self, records: list[FixRecord]) -> dict[int, list[FixRecord]]:
        out: dict[int, list[FixRecord]] = {}
        for r in records:
            out.setdefault(self._partition_of(r.seal_id), []).append(r)
        return out

    async def _close_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            await asyncio.to_thread(writer.conn.close)

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


def _first_stored(records: list[FixRecord], new_keys: set[tuple[str, int]]) -> list[FixRecord]:
    """The records the write inserted, each once (a repeat in the same batch was not)."""
    if len(new_keys) == len(records):
        return records
    out = []
    for r in records:
        key = (r.seal_id, r.seq)
        if key in new_keys:
            new_keys.discard(key)
            out.append(r)
    return out


def _everything(seal_id: str) -> bool:
    return True


class IngestWorker(Worker):
    """Ingest from an MQTT broker (one subscription; one partition, 0)."""

    def __init__(
        self,
        settings: Settings,
        database_url: str,
        mqtt_url: str,
        hooks: Sequence[BatchHook] = (),
        downstream: Downstream | None = None,
    ) -> None:
        super().__init__(settings, database_url, hooks, downstream)
        self.host, self.port = mqtt_host_port(mqtt_url)
        self.username, self.password = mqtt_credentials(mqtt_url)
        self._client: aiomqtt.Client | None = None

    @property
    def topic(self) -> str:
        group = self.settings.mqtt_shared_group
        return f"$share/{group}/{self.settings.telemetry_topic}" if group else self.settings.telemetry_topic

    async def _receive(self, stop: asyncio.Event) -> None:
        # What a crash left stored but unjudged is judged before anything new. Workers sharing a
        # subscription group all hold "partition 0": only the unshared one recovers it.
        if not self.settings.mqtt_shared_group:
            await self._recover([0], None, _everything, {})
        await self._connection_loop(stop)

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
        self._take(message.topic.value, payload, (message.mid, message.qos))

    async def _acknowledge(self, batch: _Pending) -> None:
        client = self._client
        if client is None or batch.connection != self._connection:
            return
        for mid, qos in batch.acks:
            if qos:
                client._client.ack(mid, qos)


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
