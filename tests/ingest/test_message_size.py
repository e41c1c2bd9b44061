"""Message size: the largest valid message fits the receiver's limit, which fits the broker's.

The broker drops a message above its ``message_size_limit`` after acknowledging it, so the
receiver's own limit must sit below the broker's and every valid message below both.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from ingest.decode import DecodeLimits, Reason, decode
from ingest.worker import IngestWorker
from launcher.servers import MOSQUITTO_CONF, MOSQUITTO_SECURE_CONF, Mosquitto
from sealwatch.wire import MAX_BATCH_FIXES, MAX_MESSAGE_BYTES
from tests.helpers import RunningWorker, SealKeys, count, ingest_settings, publish_all, telemetry, wait_until

OLD_BROKER_LIMIT = 262_144
BAKU = timezone(timedelta(hours=4))


def _full_precision_fixes(start: datetime, n: int = MAX_BATCH_FIXES, seq0: int = 10**15) -> list[dict[str, Any]]:
    """Valid fixes as a seal might write them: 17 significant digits, offset timestamps."""
    return [
        {
            "seq": seq0 + i,
            "t": (start + timedelta(seconds=i, microseconds=123_456)).astimezone(BAKU).isoformat(),
            "lat": 40.12345678901234 + i * 1e-9,
            "lon": 49.123456789012345 - i * 1e-9,
            "speed_kmh": 61.234567890123456,
            "heading_deg": 123.45678901234567,
            "sats": 12,
            "hdop": 0.91234567890123456,
            "battery_pct": 88.123456789012345,
            "seal_state": "closed",
        }
        for i in range(n)
    ]


def _worst_case_batch() -> dict[str, Any]:
    """The longest valid batch: every field at its longest."""
    top = 2**63 - 1
    fix: dict[str, Any] = {
        "seq": top,
        "t": "2026-11-23T11:59:00.123456+05:45",
        "lat": -89.12345678901234,
        "lon": -179.1234567890123,
        "speed_kmh": 399.1234567890123,
        "heading_deg": 359.1234567890123,
        "sats": 64,
        "hdop": 99.12345678901234,
        "battery_pct": 99.12345678901234,
        "seal_state": "tampered",
    }
    fixes = [{**fix, "seq": top - i} for i in range(MAX_BATCH_FIXES)]
    return {"v": 1, "seal_id": "A" * 64, "kid": "k" * 64, "sig": "s" * 43, "fixes": fixes}


def _broker_limit(conf: str) -> int:
    match = re.search(r"^message_size_limit\s+(\d+)\s*$", conf, re.MULTILINE)
    assert match, "message_size_limit must be set explicitly"
    return int(match.group(1))


def test_the_largest_valid_batch_fits_the_receivers_limit_with_margin() -> None:
    body = _worst_case_batch()
    compact = orjson.dumps(body)
    indented = json.dumps(body, indent=2).encode()
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    limits = DecodeLimits(max_clock_skew=timedelta(minutes=5), max_age=timedelta(days=90))
    decoded = decode(f"seals/{'A' * 64}/telemetry", indented, now, limits)
    assert decoded.rejects == [] and len(decoded.records) == MAX_BATCH_FIXES
    assert len(compact) > OLD_BROKER_LIMIT  # the case the old broker limit dropped
    assert len(compact) * 1.5 < MAX_MESSAGE_BYTES
    assert len(indented) < MAX_MESSAGE_BYTES


@pytest.mark.parametrize("conf", [MOSQUITTO_CONF, MOSQUITTO_SECURE_CONF], ids=["demo", "secure"])
def test_both_broker_configs_accept_more_than_the_receiver(conf: Any) -> None:
    limit = _broker_limit(conf.read_text(encoding="utf-8"))
    assert limit >= 2 * MAX_MESSAGE_BYTES


def test_a_message_above_the_limit_is_rejected_too_large_before_parsing() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    limits = DecodeLimits(max_clock_skew=timedelta(minutes=5), max_age=timedelta(days=90))
    payload = b" " * MAX_MESSAGE_BYTES + b"{}"
    [reject] = decode("seals/AZS-000001/telemetry", payload, now, limits).rejects
    assert reject.reason is Reason.TOO_LARGE and reject.payload == payload
    assert str(MAX_MESSAGE_BYTES) in reject.detail
    # At the limit exactly, the message is judged on its content (here: not an object).
    at_limit = b" " * (MAX_MESSAGE_BYTES - 2) + b"{}"
    [other] = decode("seals/AZS-000001/telemetry", at_limit, now, limits).rejects
    assert other.reason is not Reason.TOO_LARGE


async def test_a_1000_fix_batch_above_256_kib_passes_the_broker_and_is_stored(
    migrated_db: str, broker: Mosquitto
) -> None:
    keys = SealKeys(migrated_db)
    seal = "AZS-BIG0001"
    start = datetime.now(UTC) - timedelta(hours=2)
    payload = keys.body({"v": 1, "seal_id": seal, "fixes": _full_precision_fixes(start)})
    assert OLD_BROKER_LIMIT < len(payload) < MAX_MESSAGE_BYTES
    worker = RunningWorker(IngestWorker(ingest_settings(), migrated_db, broker.url))
    await worker.start()
    try:
        await asyncio.to_thread(publish_all, broker.url, [telemetry(seal, payload)])
        await wait_until(
            lambda: count(migrated_db, "SELECT count(*) FROM fixes WHERE seal_id = %s", seal) >= MAX_BATCH_FIXES,
            within=30,
            what="the 1000-fix batch stored",
        )
    finally:
        await worker.halt()
    assert count(migrated_db, "SELECT count(*) FROM fixes WHERE seal_id = %s", seal) == MAX_BATCH_FIXES
    assert count(migrated_db, "SELECT count(*) FROM dead_letters") == 0


async def test_a_message_between_the_two_limits_is_dead_lettered_too_large(migrated_db: str, broker: Mosquitto) -> None:
    keys = SealKeys(migrated_db)
    seal = "AZS-BIG0002"
    start = datetime.now(UTC) - timedelta(hours=2)
    fixes = _full_precision_fixes(start)
    body = {"v": 1, "seal_id": seal, "fixes": fixes}
    # Valid JSON, signed, but padded with whitespace past the receiver's limit.
    payload = keys.body(body).replace(b",", b"," + b" " * 32)
    assert MAX_MESSAGE_BYTES < len(payload) < _broker_limit(MOSQUITTO_CONF.read_text(encoding="utf-8"))
    worker = RunningWorker(IngestWorker(ingest_settings(), migrated_db, broker.url))
    await worker.start()
    try:
        await asyncio.to_thread(publish_all, broker.url, [telemetry(seal, payload)])
        await wait_until(
            lambda: count(migrated_db, "SELECT count(*) FROM dead_letters") >= 1, within=30, what="a dead letter"
        )
    finally:
        await worker.halt()
    assert count(migrated_db, "SELECT count(*) FROM dead_letters WHERE reason = 'too_large'") == 1
    assert count(migrated_db, "SELECT count(*) FROM fixes WHERE seal_id = %s", seal) == 0
