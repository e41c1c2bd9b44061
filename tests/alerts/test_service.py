"""AlertService against a real PostgreSQL: each fault → one alert, dedup, timers, escalation, arrival, restart."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import psycopg
import pytest

from alerts.model import AlertEvent
from alerts.service import AlertService
from alerts.settings import AlertSettings
from geofence.model import Observation
from sealwatch.fixes import FixRecord
from tests.alerts.conftest import BAKU, Clock, at, fix, insert_transit, obs, rows
from tests.helpers import count

Batch = tuple[list[FixRecord], list[Observation]]


def fault(kind: str, seal: str, transit: str, n: int) -> Batch:
    """The n-th occurrence of a fault, as ingest + engine would hand it over."""
    s = 100.0 * n
    if kind == "route_deviation":
        return [fix(seal, s)], [obs(seal, transit, "corridor_exit", s, distance_m=2600.0)]
    if kind == "unauthorized_stop":
        return [fix(seal, s, speed=0)], [
            obs(seal, transit, "stop_start", s, started_at=at(s - 1000).timestamp(), authorized=False)
        ]
    if kind == "seal_opened":
        return [fix(seal, s - 50), fix(seal, s, state="opened")], []
    if kind == "seal_tampered":
        return [fix(seal, s - 50), fix(seal, s, state="tampered")], []
    if kind == "restricted_zone":
        return [fix(seal, s)], [obs(seal, transit, "zone_enter", s, zone_code="MIL-1", zone_kind="restricted_area")]
    if kind == "low_battery":
        return [fix(seal, s, battery=18.0)], []
    if kind == "gps_jump":
        return [fix(seal, s)], [obs(seal, transit, "jump", s, implied_speed_kmh=1200.0, distance_m=40000.0)]
    raise AssertionError(kind)


SEVERITY = {
    "route_deviation": "warning",
    "unauthorized_stop": "warning",
    "seal_opened": "critical",
    "seal_tampered": "critical",
    "restricted_zone": "critical",
    "low_battery": "warning",
    "gps_jump": "warning",
}


@pytest.mark.parametrize("kind", list(SEVERITY))
async def test_each_fault_makes_exactly_one_alert(migrated_db: str, service: AlertService, kind: str) -> None:
    tr = insert_transit(migrated_db, 1)
    events: list[AlertEvent] = []
    for n in (1, 2, 3):
        records, observations = fault(kind, tr.seal_id, tr.transit_id, n)
        events += await service.on_batch(records, observations)
    alerts = rows(migrated_db, "SELECT * FROM alerts")
    assert len(alerts) == 1, alerts
    a = alerts[0]
    assert (a["type"], a["severity"], a["status"], a["transit_id"], a["seal_id"]) == (
        kind,
        SEVERITY[kind],
        "open",
        tr.transit_id,
        tr.seal_id,
    )
    assert a["lat"] is not None and a["first_t"] == at(100)
    raised = [e for e in events if e.change == "raised"]
    assert len(raised) == 1 and raised[0].alert_id == a["id"]
    if kind == "low_battery":
        # Level-based: a battery staying low is one condition, not three.
        assert a["count"] == 1 and len(events) == 1
    else:
        assert a["count"] == 3 and a["last_t"] == at(300)
        assert [e.change for e in events] == ["raised", "updated", "updated"]
    # Every change is on the stream, in order, and the history records the raise.
    stream = rows(migrated_db, "SELECT id, change FROM alert_stream ORDER BY id")
    assert [s["id"] for s in stream] == [e.stream_id for e in events]
    history = rows(migrated_db, "SELECT kind, actor FROM alert_events WHERE alert_id = %s", a["id"])
    assert history[0] == {"kind": "raised", "actor": "system"}


async def test_unique_open_alert_is_enforced_by_the_database(migrated_db: str, service: AlertService) -> None:
    tr = insert_transit(migrated_db, 1)
    await service.on_batch(*fault("gps_jump", tr.seal_id, tr.transit_id, 1))
    with psycopg.connect(migrated_db) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            """INSERT INTO alerts (type, severity, transit_id, seal_id, first_t, last_t, raised_at, updated_at)
               VALUES ('gps_jump', 'warning', %s, %s, now(), now(), now(), now())""",
            (tr.transit_id, tr.seal_id),
        )


async def test_seals_without_active_transit_are_ignored(migrated_db: str, service: AlertService) -> None:
    insert_transit(migrated_db, 1)
    events = await service.on_batch(
        [fix("AZS-999999", 10, state="tampered", battery=3.0)],
        [obs("AZS-999999", "TR999999", "corridor_exit", 10)],
    )
    assert events == [] and rows(migrated_db, "SELECT * FROM alerts") == []


async def test_route_deviation_auto_resolves_and_reopens_within_window(migrated_db: str, service: AlertService) -> None:
    tr = insert_transit(migrated_db, 1)
    seal, transit = tr.seal_id, tr.transit_id
    await service.on_batch([fix(seal, 100)], [obs(seal, transit, "corridor_exit", 100)])
    ev = await service.on_batch([fix(seal, 200)], [obs(seal, transit, "corridor_reentry", 200)])
    assert [(e.change, e.status) for e in ev] == [("resolved", "resolved")]
    ev = await service.on_batch([fix(seal, 300)], [obs(seal, transit, "corridor_exit", 300)])
    assert [(e.change, e.status) for e in ev] == [("reopened", "open")]
    [a] = rows(migrated_db, "SELECT status, count, outcome, resolved_at FROM alerts")
    assert a == {"status": "open", "count": 2, "outcome": None, "resolved_at": None}


async def test_signal_lost_and_overdue_from_tick(migrated_db: str, service: AlertService) -> None:
    tr = insert_transit(migrated_db, 1, deadline=at(3600))
    quiet = insert_transit(migrated_db, 2, deadline=at(3600 * 10))
    await service.on_batch([fix(tr.seal_id, 0), fix(quiet.seal_id, 0)], [])
    assert await service.tick(at(600)) == []
    ev = await service.tick(at(601))
    assert sorted((e.type, e.transit_id) for e in ev) == [
        ("signal_lost", tr.transit_id),
        ("signal_lost", quiet.transit_id),
    ]
    assert await service.tick(at(900)) == []  # already open: ticks do not repeat it
    # The first transit reports again (fresh fix): its signal_lost resolves.
    ev = await service.on_batch([fix(tr.seal_id, 1000)], [])
    assert [(e.type, e.change) for e in ev] == [("signal_lost", "resolved")]
    ev = await service.tick(at(3601))
    assert sorted((e.type, e.transit_id) for e in ev) == [
        ("overdue", tr.transit_id),
        ("signal_lost", tr.transit_id),
    ]
    overdue = rows(migrated_db, "SELECT severity, evidence FROM alerts WHERE type = 'overdue'")
    assert overdue[0]["severity"] == "warning" and overdue[0]["evidence"]["overdue_s"] == 1


async def test_escalation_of_unacknowledged_critical_alert(
    migrated_db: str, service: AlertService, clock: Clock
) -> None:
    tr = insert_transit(migrated_db, 1)
    other = insert_transit(migrated_db, 2)
    raised_at = clock.now
    await service.on_batch([fix(tr.seal_id, 10, state="tampered"), fix(other.seal_id, 10, state="opened")], [])
    acked = rows(migrated_db, "SELECT id FROM alerts WHERE transit_id = %s", other.transit_id)[0]["id"]
    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        from alerts import lifecycle

        await lifecycle.acknowledge(conn, acked, "officer-7")
    # (The fixes are an hour old, so ticks at wall-clock time also raise signal_lost; only escalations matter here.)

    async def escalations(minutes: float) -> list[tuple[str, str, str]]:
        ev = await service.tick(raised_at + timedelta(minutes=minutes))
        return [(e.change, e.type, e.transit_id) for e in ev if e.change == "escalated"]

    assert await escalations(4 + 59 / 60) == []
    assert await escalations(5 + 1 / 60) == [("escalated", "seal_tampered", tr.transit_id)]
    assert await escalations(10) == []  # escalated once
    [a] = rows(migrated_db, "SELECT escalated_at, status FROM alerts WHERE id = 1")
    assert a["escalated_at"] == raised_at + timedelta(minutes=5, seconds=1) and a["status"] == "open"
    assert rows(migrated_db, "SELECT escalated_at FROM alerts WHERE id = %s", acked) == [{"escalated_at": None}]
    history = rows(migrated_db, "SELECT kind FROM alert_events WHERE alert_id = 1 ORDER BY id")
    assert [h["kind"] for h in history] == ["raised", "escalated"]


async def test_arrival_records_customs_arrival_and_closes_moot_alerts(migrated_db: str, service: AlertService) -> None:
    tr = insert_transit(migrated_db, 1, deadline=at(1000))
    seal, transit = tr.seal_id, tr.transit_id
    await service.on_batch([fix(seal, 0, state="tampered")], [obs(seal, transit, "corridor_exit", 0)])
    await service.tick(at(2000))  # overdue and silent
    ev = await service.on_batch(
        [fix(seal, 2100, lat=BAKU[0], lon=BAKU[1]), fix(seal, 2200, lat=BAKU[0], lon=BAKU[1], state="opened")],
        [obs(seal, transit, "arrival", 2100, lat=BAKU[0], lon=BAKU[1], deadline=at(1000).timestamp(), late=True)],
    )
    changes = sorted((e.type, e.change) for e in ev)
    assert ("arrival", "raised") in changes and ("arrival", "resolved") in changes
    assert {t for t, c in changes if c == "resolved"} == {"arrival", "overdue", "signal_lost", "route_deviation"}
    # Opening the seal at the office after arrival is the normal end of a transit, not an alert.
    assert not any(t == "seal_opened" for t, _ in changes)
    open_types = {r["type"] for r in rows(migrated_db, "SELECT type FROM alerts WHERE status <> 'resolved'")}
    assert open_types == {"seal_tampered"}
    [t] = rows(migrated_db, "SELECT status, arrived_at FROM transits WHERE transit_id = %s", transit)
    assert t == {"status": "arrived", "arrived_at": at(2100)}
    [d] = rows(migrated_db, "SELECT status FROM declarations WHERE mrn = %s", transit)
    assert d["status"] == "arrived"
    # After arrival the transit is no longer judged by timers (the open seal alert may still escalate).
    assert [e.change for e in await service.tick(at(9000))] == ["escalated"]


async def test_memory_survives_restart_and_late_fixes_stay_quiet(migrated_db: str, clock: Clock) -> None:
    tr = insert_transit(migrated_db, 1)
    seal = tr.seal_id
    async with AlertService(migrated_db, AlertSettings(), None, clock=clock) as first:
        await first.on_batch([fix(seal, 100, battery=15.0), fix(seal, 200, battery=30.0)], [])
    async with AlertService(migrated_db, AlertSettings(), None, clock=clock) as second:
        # A late fix from before the recovery, and the same batch redelivered after a restart.
        assert await second.on_batch([fix(seal, 150, battery=15.0, state="opened")], []) == []
        assert await second.on_batch([fix(seal, 100, battery=15.0), fix(seal, 200, battery=30.0)], []) == []
        # A new reading still works: hysteresis state came back from the database.
        ev = await second.on_batch([fix(seal, 300, battery=24.0)], [])
        assert ev == []  # 24 % from "ok" is above the warning threshold
    assert [r["status"] for r in rows(migrated_db, "SELECT status FROM alerts ORDER BY id")] == ["resolved"]


async def test_two_workers_judge_one_transit_with_the_same_memory(migrated_db: str, clock: Clock) -> None:
    """Each service keeps the rule memory it wrote; when the other one wrote since, it reads it back."""
    seal = insert_transit(migrated_db, 1).seal_id
    settings = AlertSettings()
    async with (
        AlertService(migrated_db, settings, None, clock=clock) as a,
        AlertService(migrated_db, settings, None, clock=clock) as b,
    ):
        assert [e.change for e in await a.on_batch([fix(seal, 100, battery=18.0)], [])] == ["raised"]
        # 30 % clears only a seal known to be low: b must see a's hysteresis state.
        assert [e.change for e in await b.on_batch([fix(seal, 200, battery=30.0)], [])] == ["resolved"]
        # a's own copy says "warning"; the database says "ok" since b wrote. 18 % raises again.
        assert [e.change for e in await a.on_batch([fix(seal, 300, battery=18.0)], [])] == ["raised"]
    versions = rows(migrated_db, "SELECT version FROM alert_transit_state")
    assert versions == [{"version": 3}]


async def test_a_lost_database_connection_delays_a_batch_instead_of_losing_its_alert(
    migrated_db: str, service: AlertService
) -> None:
    seal = insert_transit(migrated_db, 1).seal_id
    assert await service.on_batch([fix(seal, 100)], []) == []  # the pool now holds a connection
    with psycopg.connect(migrated_db, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert killed is not None and killed[0] >= 1
    events = await service.on_batch([fix(seal, 200, state="opened")], [])
    assert [(e.change, e.type) for e in events] == [("raised", "seal_opened")]


async def test_timers_wait_after_a_start_before_judging_silence(migrated_db: str, clock: Clock) -> None:
    insert_transit(migrated_db, 1)  # released two hours before the clock, never reported
    silent = "SELECT count(*) FROM alerts WHERE type = 'signal_lost'"

    async def run_timers_for(seconds: float, settings: AlertSettings) -> None:
        async with AlertService(migrated_db, settings, None, clock=clock) as svc:
            stop = asyncio.Event()
            timers = asyncio.create_task(svc.run_timers(stop, every_s=0.1))
            await asyncio.sleep(seconds)
            stop.set()
            await timers

    await run_timers_for(1.0, AlertSettings(timers_start_after_s=3600))
    assert count(migrated_db, silent) == 0  # still waiting for the broker's backlog
    await run_timers_for(1.0, AlertSettings(timers_start_after_s=0))
    assert count(migrated_db, silent) == 1


async def test_auto_dispatch_of_critical_alert_to_nearest_group(migrated_db: str, clock: Clock) -> None:
    tr = insert_transit(migrated_db, 1)
    with psycopg.connect(migrated_db) as conn:
        for gid, lat, lon, available in (
            ("G-FAR", 41.3, 45.1, True),
            ("G-NEAR", 40.62, 47.2, True),
            ("G-OFF", 40.618, 47.15, False),
        ):
            conn.execute(
                "INSERT INTO mobile_groups VALUES (%s, %s, %s, %s, %s, %s)", (gid, gid, lat, lon, available, clock.now)
            )
    async with AlertService(migrated_db, AlertSettings(auto_dispatch_critical=True), None, clock=clock) as svc:
        ev = await svc.on_batch([fix(tr.seal_id, 10, state="tampered")], [])
    assert [e.change for e in ev] == ["raised", "dispatched"]
    [a] = rows(migrated_db, "SELECT status, group_id, dispatched_by, acknowledged_at FROM alerts")
    assert a == {"status": "dispatched", "group_id": "G-NEAR", "dispatched_by": "system", "acknowledged_at": None}
    [o] = rows(migrated_db, "SELECT topic, sent_at FROM alert_outbox")
    assert o == {"topic": "alerts/groups/G-NEAR", "sent_at": None}


async def test_an_alert_raised_and_resolved_by_another_writer_mid_insert_is_raised_again(
    migrated_db: str, service: AlertService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between our insert's conflict and our second look, another worker resolved the alert it had raised."""
    tr = insert_transit(migrated_db, 1)
    real_insert = service._insert
    raced: list[int] = []

    async def insert_after_a_rival(*args: object) -> object:
        if not raced:
            with psycopg.connect(migrated_db) as other:
                (rival,) = other.execute(
                    """INSERT INTO alerts (type, severity, transit_id, seal_id, first_t, last_t, raised_at, updated_at)
                       VALUES ('gps_jump', 'warning', %s, %s, now(), now(), now(), now()) RETURNING id""",
                    (tr.transit_id, tr.seal_id),
                ).fetchone() or (0,)
                other.execute(
                    "UPDATE alerts SET status = 'resolved', resolved_at = now(), outcome = 'other' WHERE id = %s",
                    (rival,),
                )
            raced.append(rival)
            return None  # our insert lost to the rival's row
        return await real_insert(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "_insert", insert_after_a_rival)
    events = await service.on_batch(*fault("gps_jump", tr.seal_id, tr.transit_id, 1))
    assert [e.change for e in events] == ["raised"]
    alerts = rows(migrated_db, "SELECT id, status FROM alerts ORDER BY id")
    assert alerts == [{"id": raced[0], "status": "resolved"}, {"id": events[0].alert_id, "status": "open"}]
