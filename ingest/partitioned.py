"""Seal-partitioned ingest workers on NATS JetStream, with failover.

Seals publish MQTT to the NATS server's MQTT listener. The server maps each seal's topic to one
of N partitions (a subject mapping in config/nats-server.conf: ``seals.*.telemetry`` →
``sealwatch.part.{{partition(N,1)}}.{{wildcard(1)}}``, an FNV-1a hash of the seal id), and its
MQTT layer stores every QoS 1 message in the ``$MQTT_msgs`` stream (replicated in a cluster)
before it acknowledges the seal. Each partition has a durable consumer on that stream, so one
seal's messages come to one worker, in order.

Which worker reads which partition is decided by leases in a JetStream key-value bucket whose
entries expire (``SEALWATCH_LEASE_S``): a worker renews its leases every second, takes free
partitions up to its fair share of the live workers, and hands extra ones back when workers join.
A dead worker's leases expire and the survivors take its partitions over. Taking one over:

1. fence it in PostgreSQL: ``ingest_partitions.epoch`` := the lease's revision; the old owner's
   write and judging transactions check their epoch and fail from then on;
2. rebuild the engine state of its seals from storage and judge what the old owner stored but
   did not judge (ingest/judging.py);
3. read on from its stored position: a new durable consumer starting after
   ``ingest_positions.written_seq`` (written in each batch's transaction) replaces the old one.

A batch is acknowledged to the broker after it is committed; messages of a partition arrive in
order and a redelivered one below what was taken is skipped. Deliveries lost on the way (a gap
in the consumer's delivery numbers) are read again from a new consumer, never acknowledged past.

Stopping does not wait on a broker that is gone: what is pending is committed and judged, the
leases are handed back if the broker answers within ``GIVE_UP_S`` and otherwise expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import time
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

import aiomqtt
import nats
import orjson
import psycopg
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import (
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NotFoundError,
)
from nats.js.kv import KeyValue
from psycopg.rows import tuple_row

from ingest.judging import Downstream
from ingest.worker import BatchHook, Worker, _Pending, _sleep_or_stop
from sealwatch.config import Settings, mqtt_credentials, mqtt_host_port
from sealwatch.logging import get_logger
from store.db import connect

log = get_logger(__name__)

MQTT_STREAM = "$MQTT_msgs"  # the NATS MQTT layer's own stream of QoS 1 messages
MQTT_PREFIX = "$MQTT.msgs."
PARTITION_SUBJECT = "sealwatch.part"
LEASES = "sealwatch_ingest"
CONSUMER_PREFIX = "sealwatch-p"
RENEW_S = 1.0
ACK_WAIT_S = 60.0
CONSUMER_TIMEOUT_S = 20.0  # a replicated stream or consumer waits for its leader election in a degraded cluster
# Messages one pull request asks for. The broker pushes at most two requests' worth per partition
# ahead of the worker, so an overloaded worker leaves its backlog in the stream, not in its socket
# where lease renewals would queue behind it (with 2,000 its leases expired at 10,000 fixes/s).
FETCH_BATCH = 250
PULL_EXPIRES_S = 2.0  # how long a pull request waits on the server for messages to come
PULL_OVERLAP_S = 0.5  # the next request is queued this long before the last one expires
STATUS_HEADER = "Status"  # the broker's status on a pull (404/408: over, 409: gone, 100: heartbeat)
MAX_ACK_PENDING = 20_000
# How long a stopping worker waits for the broker at each step, and for leases it hands back: a
# request to a broker that is gone waits out its whole timeout, one partition after another.
GIVE_UP_S = 2.0

T = TypeVar("T")


def partition_of(seal_id: str, partitions: int) -> int:
    """The partition the broker maps a seal to: FNV-1a (32 bit) of its id, modulo N."""
    h = 0x811C9DC5
    for byte in seal_id.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h % partitions


def filter_subject(partition: int, partitions: int) -> str:
    """Partition N (one past the last) holds what the mapping leaves alone: malformed topics
    under ``seals/``, dead-lettered like any bad message."""
    if partition == partitions:
        return f"{MQTT_PREFIX}seals.>"
    return f"{MQTT_PREFIX}{PARTITION_SUBJECT}.{partition}.*"


def topic_of(subject: str) -> str:
    """The MQTT topic a seal published on, from the subject its message is stored under."""
    subject = subject.removeprefix(MQTT_PREFIX)
    if subject.startswith(PARTITION_SUBJECT + "."):
        seal_id = subject.split(".", 3)[3]
        return f"seals/{seal_id}/telemetry"
    return subject.replace(".", "/")


@dataclass(slots=True)
class _Lease:
    revision: int
    renewed: float
    fetcher: asyncio.Task[None] | None = None


@dataclass(slots=True)
class _View:
    members: list[str] = field(default_factory=list)
    holders: dict[int, str] = field(default_factory=dict)


class PartitionedWorker(Worker):
    """Ingest from the partitions of the NATS MQTT stream this worker holds leases on."""

    def __init__(
        self,
        settings: Settings,
        database_url: str,
        nats_url: str,
        mqtt_url: str | None = None,
        hooks: Sequence[BatchHook] = (),
        downstream: Downstream | None = None,
        worker_id: str | None = None,
    ) -> None:
        super().__init__(settings, database_url, hooks, downstream)
        self.nats_servers = [u.strip() for u in nats_url.split(",") if u.strip()]
        self.mqtt_url = mqtt_url
        self.partitions = settings.partitions
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.leases: dict[int, _Lease] = {}
        self.epochs: dict[int, int] = {}  # read by the write thread
        self._taken: dict[int, int] = {}  # partition → highest stream seq taken into a batch
        self._rereads = 0
        self._room = asyncio.Event()
        self._room.set()
        # The stream keeps what waits, durably: hold no more than two batches in memory.
        self._backlog_max = min(settings.ingest_queue_max, 2 * settings.batch_max_fixes)
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._kv: KeyValue | None = None
        self._slot: tuple[int, int] | None = None  # member slot and its revision
        self._broker_errors: set[str] = set()  # logged since the last connection: an outage logs each once
        self._partition_cache = lru_cache(maxsize=200_000)(lambda seal: partition_of(seal, self.partitions))

    @property
    def owned(self) -> list[int]:
        return sorted(self.leases)

    def owns(self, seal_id: str) -> bool:
        return self._partition_of(seal_id) in self.leases

    def _partition_of(self, seal_id: str) -> int:
        return int(self._partition_cache(seal_id))

    # -- the broker ----------------------------------------------------------------------------

    async def _connect(self, stop: asyncio.Event) -> NATS | None:
        """The first connection. nats.py tries the servers until one answers (a worker may come up
        before its brokers, as after a power cut); a stop ends the wait (None)."""
        connecting = asyncio.ensure_future(
            nats.connect(
                servers=self.nats_servers,
                name=f"sealwatch-ingest-{self.worker_id}",
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                connect_timeout=5,
                error_cb=self._on_broker_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
            )
        )
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if connecting.done():
            return connecting.result()
        log.warning("stopped before any broker answered", servers=self.nats_servers)
        connecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await connecting
        return None

    async def _receive(self, stop: asyncio.Event) -> None:
        nc = self._nc = await self._connect(stop)
        if nc is None:
            return
        log.info("broker reachable", server=nc.connected_url.netloc if nc.connected_url else None)
        try:
            self._nc = nc
            self._js = nc.jetstream(timeout=5)
            while True:  # a cluster serves JetStream once it has elected its leaders
                try:
                    await self._unless_stopped(self._setup(self._js), stop)
                    break
                except (nats.errors.Error, TimeoutError) as exc:
                    log.warning("broker not ready for partitioned ingest; retrying", error=repr(exc))
                    await _sleep_or_stop(stop, 1.0)
            if stop.is_set():
                return
            if self.downstream is not None:
                await self.downstream.own(self.owns, lambda _: False, set())
            self.subscribed.set()
            log.info("partitioned ingest started", worker=self.worker_id, partitions=self.partitions)
            renewing = asyncio.create_task(self._renew_until(stop), name="ingest-leases")
            try:
                while not stop.is_set():
                    try:
                        await self._unless_stopped(self._balance(), stop)
                    except (nats.errors.Error, TimeoutError) as exc:
                        log.warning("partition balancing failed; retrying", error=repr(exc))
                    await _sleep_or_stop(stop, RENEW_S)
            finally:
                renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewing
                await self._release(self.owned, stopping=True)
        finally:
            self.subscribed.clear()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), GIVE_UP_S)

    async def _unless_stopped(self, work: Coroutine[Any, Any, T], stop: asyncio.Event) -> T | None:
        """``work``, cancelled (None) once ``stop`` is set and the broker is gone or has not let it
        finish within ``GIVE_UP_S``: its requests would each wait out their timeout. (What it does
        in the database and the engine is shielded and runs to its end.)"""
        task = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done() and self._broker_connected:
                await asyncio.wait({task}, timeout=GIVE_UP_S)
        finally:
            stopping.cancel()
            if not task.done():
                log.warning("stopping without waiting for the broker", connected=self._broker_connected)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return None if task.cancelled() else task.result()

    @property
    def _broker_connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def _on_broker_error(self, exc: Exception) -> None:
        # nats.py logs each failed reconnection with its traceback, twice a second per node in an outage.
        if repr(exc) not in self._broker_errors and len(self._broker_errors) < 20:
            self._broker_errors.add(repr(exc))
            log.warning("broker error", error=repr(exc))

    async def _on_disconnected(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            log.warning("broker unreachable; reconnecting", servers=self.nats_servers)

    async def _on_reconnected(self) -> None:
        self._broker_errors.clear()
        url = self._nc.connected_url if self._nc is not None else None
        log.info("broker reachable again", server=url.netloc if url else None)

    async def _setup(self, js: JetStreamContext) -> None:
        """The MQTT stream (created by the server for the first MQTT client), the lease bucket,
        and a consumer for every partition, so no partition's messages go unkept."""
        info = await self._mqtt_stream(js)
        try:
            self._kv = await js.key_value(LEASES)
        except BucketNotFoundError:
            self._kv = await js.create_key_value(
                bucket=LEASES, ttl=self.settings.lease_s, history=1, replicas=info.config.num_replicas or 1
            )
        existing = {c.name for c in await js.consumers_info(MQTT_STREAM)}
        for p in range(self.partitions + 1):
            if not any(name.startswith(f"{CONSUMER_PREFIX}{p}-") for name in existing):
                await js.add_consumer(MQTT_STREAM, self._consumer_config(p, 0, 0))

    async def _mqtt_stream(self, js: JetStreamContext) -> Any:
        deadline = time.monotonic() + 30
        while True:
            try:
                return await js.stream_info(MQTT_STREAM)
            except NotFoundError:
                if time.monotonic() > deadline:
                    raise
                await self._touch_mqtt()
                await asyncio.sleep(0.2)

    async def _touch_mqtt(self) -> None:
        """The server sets up its MQTT streams when the first MQTT client connects."""
        if self.mqtt_url is None:
            return
        host, port = mqtt_host_port(self.mqtt_url)
        username, password = mqtt_credentials(self.mqtt_url)
        with contextlib.suppress(aiomqtt.MqttError):
            async with aiomqtt.Client(
                host,
                port,
                identifier=f"sealwatch-setup-{self.worker_id}",
                username=username,
                password=password,
                timeout=5,
            ):
                pass

    def _consumer_config(self, partition: int, epoch: int, written_seq: int, suffix: str = "") -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=f"{CONSUMER_PREFIX}{partition}-e{epoch}{suffix}",
            filter_subject=filter_subject(partition, self.partitions),
            ack_policy=AckPolicy.ALL,
            ack_wait=ACK_WAIT_S,
            max_ack_pending=MAX_ACK_PENDING,
            max_deliver=-1,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if written_seq else DeliverPolicy.ALL,
            opt_start_seq=written_seq + 1 if written_seq else None,
        )

    # -- leases ----------------------------------------------------------------------------------

    async def _renew_until(self, stop: asyncio.Event) -> None:
        kv = self._kv
        assert kv is not None
        while not stop.is_set():
            try:
                await self._renew_membership(kv)
            except (nats.errors.Error, TimeoutError) as exc:
                log.warning("cannot renew membership", error=repr(exc))
            lost = await asyncio.gather(*(self._renew(kv, p, lease) for p, lease in list(self.leases.items())))
            for p in (p for p in lost if p is not None):
                await self._drop(p)
            await _sleep_or_stop(stop, RENEW_S)

    async def _renew(self, kv: KeyValue, p: int, lease: _Lease) -> int | None:
        """Renew one lease; returns the partition if it is lost."""
        try:
            lease.revision = await kv.update(f"partition.{p}", self.worker_id.encode(), last=lease.revision)
            lease.renewed = time.monotonic()
        except KeyWrongLastSequenceError:
            log.warning("partition lease lost", partition=p)
            return p
        except (nats.errors.Error, TimeoutError) as exc:
            if time.monotonic() - lease.renewed > self.settings.lease_s:
                log.warning("partition lease expired unrenewed", partition=p, error=repr(exc))
                return p
        return None

    async def _renew_membership(self, kv: KeyValue) -> None:
        """A worker is a member while it holds one of N+1 member slots, leased like partitions:
        the live workers are then read with N+1 direct gets, not by listing the bucket (which
        creates a consumer each time, a cluster-wide operation)."""
        if self._slot is not None:
            try:
                self._slot = (
                    self._slot[0],
                    await kv.update(f"member.{self._slot[0]}", self.worker_id.encode(), last=self._slot[1]),
                )
                return
            except KeyWrongLastSequenceError:
                self._slot = None  # expired while this worker could not renew it
        for k in range(self.partitions + 1):
            with contextlib.suppress(KeyWrongLastSequenceError):
                self._slot = (k, await kv.create(f"member.{k}", self.worker_id.encode()))
                return

    async def _view(self) -> _View:
        kv = self._kv
        assert kv is not None
        total = self.partitions + 1
        values = await asyncio.gather(
            *(_value(kv, f"member.{k}") for k in range(total)), *(_value(kv, f"partition.{p}") for p in range(total))
        )
        return _View(
            members=sorted({v for v in values[:total] if v}),
            holders={p: v for p, v in enumerate(values[total:]) if v},
        )

    async def _balance(self) -> None:
        """Take free partitions up to this worker's share of the live workers; hand back extras."""
        kv = self._kv
        assert kv is not None
        stalled = [p for p, lease in self.leases.items() if lease.fetcher is not None and lease.fetcher.done()]
        if stalled:  # a fetcher must never end while its lease is held: start the partition afresh
            log.error("partition reader ended; handing the partitions back", partitions=stalled)
            await self._release(stalled)
        view = await self._view()
        if self.worker_id not in view.members:
            return  # not yet visible to the others
        total = self.partitions + 1
        base, extra = divmod(total, len(view.members))
        share = base + (1 if view.members.index(self.worker_id) < extra else 0)
        if len(self.leases) > share:
            await self._release(self.owned[share:])
            return
        won: dict[int, int] = {}
        for p in range(total):
            if len(self.leases) >= share:
                break
            if p in self.leases or p in view.holders:
                continue
            try:
                won[p] = await kv.create(f"partition.{p}", self.worker_id.encode())
            except KeyWrongLastSequenceError:
                continue  # another worker was quicker
            self.leases[p] = _Lease(won[p], time.monotonic())
        if won:
            try:
                await self._take_over(won)
            except Exception:
                log.exception("taking partitions over failed; handing them back", partitions=sorted(won))
                await self._release(sorted(won))

    async def _take_over(self, won: dict[int, int]) -> None:
        """Fence, rebuild and judge what was left, then read on: all the partitions won at once."""
        started = time.monotonic()
        written = await asyncio.to_thread(self._claim_all, won)
        self.epochs.update(won)
        # Shielded: a stop that gives up on the broker must not leave the engine half rebuilt.
        await asyncio.shield(self._recover(sorted(won), self.owns, lambda seal: self._partition_of(seal) in won, won))
        assert self._nc is not None
        # The stream's and each consumer's leader may be in an election (a node just died): wait for it.
        js = self._nc.jetstream(timeout=CONSUMER_TIMEOUT_S)
        last_seq = (await js.stream_info(MQTT_STREAM)).state.last_seq
        consumers = [c.name for c in await js.consumers_info(MQTT_STREAM)]

        async def read_on(p: int, revision: int) -> None:
            position = written[p]
            if position > last_seq:
                log.error("stored position beyond the broker's stream (reset?); reading all it has", partition=p)
                position = 0
            config = self._consumer_config(p, revision, position)
            # The old owner's (or a failed try's) go: messages up to the position are stored.
            stale = [n for n in consumers if n.startswith(f"{CONSUMER_PREFIX}{p}-")]
            durable = await _switch_consumer(js, config, stale)
            self._taken[p] = position
            self.leases[p].fetcher = asyncio.create_task(self._fetch(p, durable), name=f"ingest-p{p}")

        # Concurrently, and each on its own: in a degraded cluster every consumer waits for its own
        # leader election, and one that times out must not cost the others their takeover.
        outcomes = await asyncio.gather(*(read_on(p, revision) for p, revision in won.items()), return_exceptions=True)
        failed = sorted(p for p, outcome in zip(won, outcomes, strict=True) if isinstance(outcome, BaseException))
        if failed:
            log.warning(
                "no consumer for some partitions; handing them back",
                partitions=failed,
                error=repr(next(o for o in outcomes if isinstance(o, BaseException))),
            )
            await self._release(failed)
        log.info(
            "partitions taken over",
            partitions=sorted(set(won) - set(failed)),
            positions=[written[p] for p in sorted(won) if p not in failed],
            seconds=round(time.monotonic() - started, 2),
        )

    def _claim_all(self, won: dict[int, int]) -> dict[int, int]:
        """Fence each partition with its lease's revision; returns their stored positions."""
        with connect(self.database_url) as conn:
            positions = {}
            for p, epoch in won.items():
                position = self._claim(conn, p, epoch)
                if position is None:
                    raise RuntimeError(f"partition {p} has an epoch newer than lease revision {epoch} (broker reset?)")
                positions[p] = position
            return positions

    def _claim(self, conn: psycopg.Connection[Any], p: int, epoch: int) -> int | None:
        """Fence one partition with this epoch; its stored position (None: a newer epoch holds it)."""
        with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(
                """INSERT INTO ingest_partitions (partition, epoch, owner, taken_at) VALUES (%s, %s, %s, now())
                   ON CONFLICT (partition) DO UPDATE SET epoch = EXCLUDED.epoch, owner = EXCLUDED.owner,
                          taken_at = EXCLUDED.taken_at
                   WHERE ingest_partitions.epoch < EXCLUDED.epoch RETURNING epoch""",
                (p, epoch, self.worker_id),
            )
            if cur.fetchone() is None:
                return None
            row = cur.execute("SELECT written_seq FROM ingest_positions WHERE partition = %s", (p,)).fetchone()
            return int(row[0]) if row else 0

    async def _release(self, partitions: list[int], stopping: bool = False) -> None:
        """Stop reading, store and acknowledge what was read, let the judging finish, hand back."""
        if not partitions:
            return
        await asyncio.gather(*(self._stop_fetching(p) for p in partitions))
        await asyncio.shield(self._settle())  # a stop giving up on the broker must not cut a write short
        kv = self._kv
        handbacks: list[Coroutine[Any, Any, bool]] = []
        for p in partitions:
            lease = self.leases.pop(p, None)
            self.epochs.pop(p, None)
            if lease is not None and kv is not None:
                handbacks.append(kv.delete(f"partition.{p}", last=lease.revision))
        if kv is not None and stopping and self._slot is not None:
            handbacks.append(kv.delete(f"member.{self._slot[0]}", last=self._slot[1]))
        if handbacks:
            await self._hand_back(handbacks, partitions)
        if self.downstream is not None and not stopping:
            await asyncio.shield(self.downstream.own(self.owns, lambda _: False, set()))
        log.info("partitions handed back", partitions=partitions)

    async def _settle(self) -> None:
        """Store and acknowledge what was read, and let its judging finish."""
        await self._commit()
        await self._handoff.join()

    async def _hand_back(self, deletes: list[Coroutine[Any, Any, bool]], partitions: list[int]) -> None:
        """Delete leases, all at once; a broker that is gone or does not answer in time lets them
        expire instead (``SEALWATCH_LEASE_S``; the database fence holds meanwhile)."""
        if not self._broker_connected:
            for delete in deletes:
                delete.close()  # never sent: no request to wait out
            log.warning("broker unreachable; the leases expire instead", partitions=partitions)
            return
        try:
            results = await asyncio.wait_for(asyncio.gather(*deletes, return_exceptions=True), GIVE_UP_S)
        except TimeoutError:
            log.warning("broker not answering; the leases expire instead", partitions=partitions)
            return
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            log.warning("leases not handed back; they expire instead", partitions=partitions, error=repr(failed[0]))

    async def _drop(self, p: int) -> None:
        """Another worker has the partition: stop reading it; what is pending of it is fenced off."""
        await self._stop_fetching(p)
        self.leases.pop(p, None)
        self.epochs.pop(p, None)
        if self.downstream is not None:
            await asyncio.shield(self.downstream.own(self.owns, lambda _: False, set()))

    async def _stop_fetching(self, p: int) -> None:
        lease = self.leases.get(p)
        if lease is not None and lease.fetcher is not None:
            fetcher, lease.fetcher = lease.fetcher, None
            fetcher.cancel()
            await asyncio.wait({fetcher}, timeout=5)

    # -- messages --------------------------------------------------------------------------------

    async def _fetch(self, p: int, durable: str) -> None:
        """Read one partition with long pull requests on its consumer, each message handed to
        ingest as it arrives. (The client library's ``fetch`` starts a task and a timer per
        message and a request per call: at a few thousand fixes/s that was a fifth of a worker.)

        The next request goes out before the last one expires. NATS (2.9) ends an expired request
        with a 408 status only when its expiry timer finds it first; when a message finds it
        first, the request is dropped without a word, and a reader waiting for the 408 leaves
        the partition unread (about a tenth of expiries at a few hundred messages/s per
        partition: publish → receive p99 near 1 s). Each request has its own reply subject, so a
        late status of an earlier one is told apart.

        Deliveries are numbered per consumer without gaps. A gap means deliveries were lost on
        the way (a broker node died with them in flight, or a consumer's new leader resumed past
        them); acknowledging what follows would acknowledge them too (ack policy "all"), so the
        partition is read again from a new consumer starting after the last message taken."""
        nc = self._nc
        assert nc is not None
        done = asyncio.Event()
        received = 0
        taken = self._taken.get(p, 0)
        delivered = 0  # the consumer's delivery number of the last message taken
        gap = False

        async def arrived(msg: Msg) -> None:
            nonlocal received, taken, delivered, gap
            if msg.headers and msg.headers.get(STATUS_HEADER):
                # Not a heartbeat, and about the latest request (statuses come on its reply subject).
                if msg.headers[STATUS_HEADER] != "100" and msg.subject == reply:
                    done.set()
                return
            consumer, seq, number = _delivery(msg)
            if consumer != durable or gap:
                return  # from a consumer this partition has left, or past a gap it will reread
            received += 1
            if received >= FETCH_BATCH:
                done.set()
            if delivered and number != delivered + 1:
                gap = True
                done.set()
                return
            delivered = number
            if seq <= taken:
                return  # redelivered (ack wait ran out) while already in a batch
            taken = self._taken[p] = seq
            self._take(topic_of(msg.subject), msg.data, (p, seq, msg), p)
            if len(self._pending.records) >= self._backlog_max:
                self._room.clear()  # the database is behind: let the broker hold the rest

        inbox = nc.new_inbox()
        reply = ""
        subscription = await nc.subscribe(f"{inbox}.*", cb=arrived)
        request = orjson.dumps({"batch": FETCH_BATCH, "expires": int(PULL_EXPIRES_S * 1e9)})
        try:
            for n in itertools.count():
                if gap:
                    durable = await self._reread(p, durable, taken)
                    delivered, gap = 0, False
                await self._room.wait()
                done.clear()
                received = 0
                reply = f"{inbox}.{n}"
                try:
                    await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{MQTT_STREAM}.{durable}", request, reply=reply)
                except nats.errors.Error as exc:
                    log.warning("pull request failed; retrying", partition=p, error=repr(exc))
                    await asyncio.sleep(0.5)
                    continue
                # Also ends a request lost with a broker node, which never ends by itself.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), PULL_EXPIRES_S - PULL_OVERLAP_S)
        finally:
            with contextlib.suppress(nats.errors.Error):
                await subscription.unsubscribe()

    async def _reread(self, p: int, durable: str, taken: int) -> str:
        """A new consumer for partition ``p`` starting after stream seq ``taken``, the old one
        deleted; retried until the broker creates it (a degraded cluster elects leaders first)."""
        assert self._nc is not None
        js = self._nc.jetstream(timeout=CONSUMER_TIMEOUT_S)
        self._rereads += 1
        config = self._consumer_config(p, self.epochs.get(p, 0), taken, f"-r{self._rereads}")
        log.warning("deliveries lost on the way; rereading the partition", partition=p, after_seq=taken)
        while True:
            try:
                return await _switch_consumer(js, config, [durable])
            except (nats.errors.Error, TimeoutError) as exc:
                log.warning("cannot create the consumer yet; retrying", partition=p, error=repr(exc))
                await asyncio.sleep(1.0)

    def _committed(self, batch: _Pending) -> None:
        if len(self._pending.records) < self._backlog_max:
            self._room.set()
        for p in batch.lost:
            if p in self.leases:
                asyncio.get_running_loop().create_task(self._drop(p))

    async def _acknowledge(self, batch: _Pending) -> None:
        last: dict[int, tuple[int, Msg]] = {}
        for p, seq, msg in batch.acks:
            if p not in batch.lost and seq > last.get(p, (0, msg))[0]:
                last[p] = (seq, msg)
        for _, msg in last.values():  # ack policy "all": everything up to it
            with contextlib.suppress(nats.errors.Error):
                await msg.ack()

    def _fence(self, conn: psycopg.Connection[Any], batch: _Pending) -> None:
        top: dict[int, int] = {}
        for p, seq, _ in batch.acks:
            top[p] = max(seq, top.get(p, 0))
        with conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(
                "SELECT partition, epoch FROM ingest_partitions WHERE partition = ANY(%s) FOR SHARE", (list(top),)
            )
            current: dict[int, int] = dict(cur.fetchall())
            batch.lost = {p for p in top if current.get(p) != self.epochs.get(p)}
            batch.fence = {p: self.epochs[p] for p in top if p not in batch.lost}
            kept = [p for p in top if p not in batch.lost]
            if kept:
                cur.execute(
                    """INSERT INTO ingest_positions (partition, written_seq) SELECT * FROM unnest(%s::int[], %s::int8[])
                       ON CONFLICT (partition) DO UPDATE SET written_seq = greatest(ingest_positions.written_seq,
                                                                                     EXCLUDED.written_seq)""",
                    (kept, [top[p] for p in kept]),
                )


async def _switch_consumer(js: JetStreamContext, config: ConsumerConfig, old: list[str]) -> str:
    """Create a partition's consumer, then delete the ``old`` ones (best effort); returns its name."""
    assert config.durable_name is not None
    await js.add_consumer(MQTT_STREAM, config)
    for name in old:
        if name != config.durable_name:
            with contextlib.suppress(NotFoundError, nats.errors.Error, TimeoutError):
                await js.delete_consumer(MQTT_STREAM, name)
    return config.durable_name


async def _value(kv: KeyValue, key: str) -> str | None:
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:  # never written, deleted, or expired
        return None
    return entry.value.decode() if entry.value else None


def _delivery(msg: Msg) -> tuple[str, int, int]:
    """The consumer, stream seq and consumer delivery number of a message."""
    # The ack subject $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>
    # holds them; splitting it is several times cheaper than ``msg.metadata`` on every message.
    tokens = (msg.reply or "").split(".")
    if len(tokens) == 9:
        return tokens[3], int(tokens[5]), int(tokens[6])
    meta = msg.metadata  # the longer form, with domain and account
    return meta.consumer or "", int(meta.sequence.stream), int(meta.sequence.consumer)
