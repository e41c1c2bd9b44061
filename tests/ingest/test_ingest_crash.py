"""Ingest killed with SIGKILL mid-stream and restarted: nothing lost, nothing duplicated.

Messages are acknowledged only after their batch commits, so whatever the killed process had
received but not committed is redelivered by the broker to the restarted one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from launcher.servers import Mosquitto
from tests.helpers import SealKeys, count, make_fix, minutes_ago, publish_all, telemetry, wait_until


def _start_ingest(db: str, mqtt_url: str, client_id: str, log: Path) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        DATABASE_URL=db,
        MQTT_URL=mqtt_url,
        SEALWATCH_MQTT_CLIENT_ID=client_id,
        SEALWATCH_BATCH_MAX_FIXES="500",
        SEALWATCH_BATCH_MAX_WAIT_MS="100",
    )
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "launcher.cli", "ingest"], env=env, stdout=out, stderr=out)


async def test_sigkill_mid_stream_loses_and_duplicates_nothing(
    migrated_db: str, broker: Mosquitto, tmp_path: Path
) -> None:
    client_id = f"ingest-crash-{uuid.uuid4().hex[:6]}"
    log = tmp_path / "ingest.log"
    total = 20_000
    start = minutes_ago(30)
    keys = SealKeys(migrated_db)  # the ingest process requires signatures (the default)
    keys.provision(*{f"AZS-K{i:05d}" for i in range(50)})
    messages = [
        telemetry(
            f"AZS-K{i % 50:05d}", keys.single(f"AZS-K{i % 50:05d}", make_fix(i, start + timedelta(milliseconds=i)))
        )
        for i in range(total)
    ]
    proc = _start_ingest(migrated_db, broker.url, client_id, log)
    try:
        await wait_until(
            lambda: "ingest subscribed" in log.read_text(errors="replace"), within=30, what="ingest subscribed"
        )
        publisher = asyncio.create_task(asyncio.to_thread(publish_all, broker.url, messages))
        await wait_until(
            lambda: count(migrated_db, "SELECT count(*) FROM fixes") > total // 5,
            within=60,
            what="a fifth of the stream stored",
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed_at = count(migrated_db, "SELECT count(*) FROM fixes")
        await publisher
        proc = _start_ingest(migrated_db, broker.url, client_id, log)
        await wait_until(
            lambda: count(migrated_db, "SELECT count(*) FROM fixes") >= total,
            within=120,
            what="every fix stored after the restart",
        )
    finally:
        proc.terminate()
        proc.wait(30)
    assert killed_at < total, "the kill came too late to test anything"
    assert count(migrated_db, "SELECT count(*) FROM fixes") == total
    assert count(migrated_db, "SELECT count(DISTINCT seq) FROM fixes") == total
