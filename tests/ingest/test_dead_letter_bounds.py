"""The dead-letter store stays bounded under a flood of large bad messages, and counts what it drops."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
import psycopg
import pytest

from api.app import create_app
from ingest.decode import Reason, Reject
from ingest.worker import IngestWorker
from launcher.servers import Mosquitto
from sealwatch.config import Settings
from store import dead_letters
from store.db import connect
from store.dead_letters import DeadLetterLimits
from store.fixes import FixWriter
from store.users import Role
from tests.helpers import RunningWorker, count, ingest_settings, publish_all, wait_until
from tests.login import auth

LARGE = 128 * 1024


def _garbage(i: int) -> bytes:
    """A large message that is not JSON: each one different, so each is its own dead letter."""
    return (b"%06d" % i) + b"x" * (LARGE - 6)


def _stored_bytes(url: str) -> int:
    return count(url, "SELECT coalesce(sum(octet_length(payload)), 0) FROM dead_letters")


async def test_200_large_messages_from_one_seal_stay_bounded_and_the_drops_are_counted(
    migrated_db: str, broker: Mosquitto
) -> None:
    settings = ingest_settings(dead_letter_max_per_source=50, dead_letter_payload_max_bytes=1024)
    worker = RunningWorker(IngestWorker(settings, migrated_db, broker.url))
    await worker.start()
    try:
        messages = [("seals/AZS-FLOOD1/telemetry", _garbage(i)) for i in range(200)]
        await asyncio.to_thread(publish_all, broker.url, messages)
        await wait_until(lambda: worker.worker.stats.messages >= 200, what="200 messages committed")
    finally:
        await worker.halt()
    assert worker.worker.stats.rejected == 200
    assert count(migrated_db, "SELECT count(*) FROM dead_letters") == 50
    assert _stored_bytes(migrated_db) == 50 * 1024  # not 200 x 128 KiB
    # The newest 50 are the ones kept, each with its full size and hash.
    with psycopg.connect(migrated_db) as conn:
        rows = conn.execute(
            "SELECT payload, payload_size, payload_sha256, reason, source_key FROM dead_letters ORDER BY id"
        ).fetchall()
    kept = [_garbage(i) for i in range(150, 200)]
    assert [bytes(r[0]) for r in rows] == [k[:1024] for k in kept]
    assert {r[1] for r in rows} == {LARGE}
    assert [bytes(r[2]) for r in rows] == [hashlib.sha256(k).digest() for k in kept]
    assert {(r[3], r[4]) for r in rows} == {(Reason.MALFORMED_JSON.value, "seals/AZS-FLOOD1")}
    assert count(migrated_db, "SELECT messages FROM dead_letter_drops WHERE cause = 'per_source'") == 150
    assert count(migrated_db, "SELECT bytes FROM dead_letter_drops WHERE cause = 'per_source'") == 150 * 1024
    # Another seal's dead letters are not pushed out by the flood.
    assert count(migrated_db, "SELECT count(*) FROM dead_letter_drops WHERE cause <> 'per_source'") == 0


def _rejects(topics: list[str], size: int = 2048) -> list[Reject]:
    return [Reject(Reason.MALFORMED_JSON, "not JSON", _garbage(i)[:size], t) for i, t in enumerate(topics)]


def test_many_sources_are_held_to_the_total_bytes_bound(migrated_db: str) -> None:
    limits = DeadLetterLimits(max_per_source=1000, max_bytes=20 * 1024, payload_max_bytes=1024, sweep_every_s=0)
    with connect(migrated_db) as conn:
        writer = FixWriter(conn, dead_letter_limits=limits)
        for n in range(4):  # a flood over 200 seal ids, in four batches
            writer.write([], _rejects([f"seals/AZS-R{n}{i:03d}/telemetry" for i in range(50)]))
    assert count(migrated_db, "SELECT count(*) FROM dead_letters") == 20
    assert _stored_bytes(migrated_db) == 20 * 1024
    assert count(migrated_db, "SELECT messages FROM dead_letter_drops WHERE cause = 'total_bytes'") == 180
    assert count(migrated_db, "SELECT bytes FROM dead_letter_drops WHERE cause = 'total_bytes'") == 180 * 1024


def test_old_dead_letters_are_dropped_by_age_and_counted(migrated_db: str) -> None:
    limits = DeadLetterLimits(retention_days=14)
    with connect(migrated_db) as conn:
        FixWriter(conn, dead_letter_limits=limits).write([], _rejects(["seals/AZS-OLD001/telemetry"] * 5, 100))
        conn.execute(
            "UPDATE dead_letters SET received_at = now() - interval '15 days'"
            " WHERE id IN (SELECT id FROM dead_letters ORDER BY id LIMIT 3)"
        )
        conn.commit()
        assert dead_letters.sweep(conn, limits)
    assert count(migrated_db, "SELECT count(*) FROM dead_letters") == 2
    assert count(migrated_db, "SELECT messages FROM dead_letter_drops WHERE cause = 'age'") == 3


@pytest.mark.backends("native")
async def test_the_api_and_metrics_show_the_drops_and_the_truncation(migrated_db: str) -> None:
    limits = DeadLetterLimits(max_per_source=2, payload_max_bytes=100)
    with connect(migrated_db) as conn:
        FixWriter(conn, dead_letter_limits=limits).write([], _rejects(["seals/AZS-API001/telemetry"] * 5, 300))
    app = create_app(Settings(database_url=migrated_db, mqtt_url=None))
    headers = auth(migrated_db, "ops", Role.OPERATOR)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        dropped = (await client.get("/api/dead-letters/dropped", headers=headers)).json()
        listed = (await client.get("/api/dead-letters", headers=headers)).json()
        metrics = (await client.get("/metrics", headers=headers)).text
    assert dropped["per_source"]["messages"] == 3 and dropped["per_source"]["bytes"] == 300
    assert dropped["age"]["messages"] == 0 and dropped["total_bytes"]["messages"] == 0
    assert len(listed) == 2
    assert all(d["truncated"] and d["payload_size"] == 300 and len(d["payload"]) == 100 for d in listed)
    assert {d["payload_sha256"] for d in listed} == {hashlib.sha256(_garbage(i)[:300]).hexdigest() for i in (3, 4)}
    assert 'sealwatch_dead_letters_dropped_total{cause="per_source"}' in metrics
