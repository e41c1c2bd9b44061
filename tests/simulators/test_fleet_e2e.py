"""The simulator against the real broker and ingest: what the fleet publishes is what is stored."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from ingest.worker import IngestWorker
from launcher.servers import Mosquitto
from simulators.clock import SimClock
from simulators.faults import Fault, FaultKind
from simulators.fleet import Fleet, run_fleet
from simulators.keys import provision_plans
from simulators.plans import default_plans, with_faults
from tests.helpers import RunningWorker, count, ingest_settings, wait_until


async def test_fleet_publishes_every_fix_exactly_once_including_a_signal_loss_flush(
    migrated_db: str, broker: Mosquitto
) -> None:
    plans = with_faults(
        default_plans(12, seed=5),
        [("#3", Fault(FaultKind.SIGNAL_LOSS, at_s=60, duration_s=240)), ("#5", Fault(FaultKind.TAMPER, at_s=30))],
    )
    plans = provision_plans(migrated_db, plans)  # signed, as ingest requires by default
    # Replay 10 simulated minutes fast: 40 ticks of 15 simulated seconds each.
    fleet = Fleet.from_plans(plans, SimClock(start_ago_s=600, speedup=150))
    worker = await RunningWorker(IngestWorker(ingest_settings(), migrated_db, broker.url)).start()
    try:
        stats = await run_fleet(fleet, broker.url, 0.1, asyncio.Event(), duration_s=4.0)
        assert stats.ticks >= 20
        buffered = fleet.seals[3].buffer
        await wait_until(
            lambda: count(migrated_db, "SELECT count(*) FROM fixes") == stats.fixes - len(buffered), 30, "all fixes"
        )
    finally:
        await worker.halt()
    for seal in fleet.seals:
        rows = count(migrated_db, "SELECT count(DISTINCT seq) FROM fixes WHERE seal_id = %s", seal.seal_id)
        assert rows == seal.seq - _first_seq(migrated_db, seal.seal_id) - len(seal.buffer)
    assert count(migrated_db, "SELECT count(*) FROM dead_letters") == 0
    tampered = count(migrated_db, "SELECT count(*) FROM seal_latest WHERE seal_state = 'tampered'")
    assert tampered == 1


def _first_seq(url: str, seal_id: str) -> int:
    return count(url, "SELECT min(seq) FROM fixes WHERE seal_id = %s", seal_id)


@pytest.mark.timeout(120)
async def test_simulate_command_publishes_to_the_broker(migrated_db: str, broker: Mosquitto) -> None:
    worker = await RunningWorker(IngestWorker(ingest_settings(), migrated_db, broker.url)).start()
    try:
        env = {**os.environ, "MQTT_URL": broker.url, "DATABASE_URL": migrated_db}
        argv = [
            sys.executable,
            "-m",
            "launcher.cli",
            "simulate",
            "--seals",
            "4",
            "--interval",
            "0.2",
            "--provision-keys",
        ]
        argv += ["--duration", "2", "--routes", "AST-HAJ", "--fault", "opened:#2@0"]
        done = await asyncio.to_thread(subprocess.run, argv, env=env, capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr.decode()
        await wait_until(lambda: count(migrated_db, "SELECT count(*) FROM seal_latest") == 4, 30, "4 seals")
    finally:
        await worker.halt()
    assert count(migrated_db, "SELECT count(*) FROM fixes") >= 20
    opened = count(migrated_db, "SELECT count(*) FROM seal_latest WHERE seal_state = 'opened'")
    assert opened == 1


def test_simulate_command_rejects_a_bad_fault_spec() -> None:
    argv = [sys.executable, "-m", "launcher.cli", "simulate", "--fault", "explode:#1"]
    done = subprocess.run(argv, capture_output=True, timeout=60)
    assert done.returncode != 0
    assert b"unknown fault kind" in done.stderr
